#!/bin/bash
# Another process using tmpfs, for proving the suite does not depend on a quiet machine:
# writes and removes 100 MiB files in /dev/shm every half second until stopped (Ctrl-C).
#   scripts/churn-shm.sh & npm test; kill %1
trap 'rm -f /dev/shm/churn-$$-*; exit 0' INT TERM
i=0
while true; do
  f=/dev/shm/churn-$$-$((i % 3))
  head -c 104857600 /dev/zero > "$f"
  sleep 0.5
  rm -f "$f"
  i=$((i + 1))
done
