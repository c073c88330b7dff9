/** Byte sizes as people write them (`480MB`, `2GiB`, `1.5 G`, `4096`) and as people read them. */
import { ShmArrayError } from './errors.js';

const UNITS: Readonly<Record<string, number>> = {
  '': 1, b: 1,
  k: 2 ** 10, kb: 1e3, kib: 2 ** 10,
  m: 2 ** 20, mb: 1e6, mib: 2 ** 20,
  g: 2 ** 30, gb: 1e9, gib: 2 ** 30,
  t: 2 ** 40, tb: 1e12, tib: 2 ** 40,
};

/** Parses a byte size: a number with an optional unit (KB/MB/GB are powers of 10, KiB/MiB/GiB and bare K/M/G powers of 2). */
export function parseBytes(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = m?.[2]?.toLowerCase() ?? '';
  const factor = UNITS[unit];
  if (m?.[1] === undefined || factor === undefined) {
    throw new ShmArrayError('ERR_SHM_BAD_ARGUMENT', `"${text}" is not a size; write it like 240MiB, 480MB or 2GiB.`, { value: text });
  }
  return Math.round(Number(m[1]) * factor);
}

/** A byte count in whole MiB, e.g. `240 MiB`: the unit of memory figures in reports. */
export function formatMiB(n: number): string {
  return `${(n / 2 ** 20).toFixed(0)} MiB`;
}

/** A byte count in binary units, e.g. `240.0 MiB`. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}
