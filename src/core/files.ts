/** File plumbing every layer needs: whole reads and writes, temporary names, free space. */
import { readSync, statfsSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Writes all of `data` at the file's current position: write(2) may take less than asked. */
export async function writeAll(fh: FileHandle, data: Uint8Array): Promise<void> {
  for (let done = 0; done < data.length; ) done += (await fh.write(data, done, data.length - done)).bytesWritten;
}

/** Reads `length` bytes at `position`, fewer only at the end of the file: read(2) may return less than asked. */
export function readAt(fd: number, position: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  return out.subarray(0, readInto(fd, out, position));
}

/** Fills `target` from `position` on; returns the bytes read, fewer than its length only at the end of the file. */
export function readInto(fd: number, target: Uint8Array, position: number): number {
  let done = 0;
  while (done < target.length) {
    const n = readSync(fd, target, done, target.length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

/**
 * A hidden temporary name beside `path`, unique to this call: `.<name>.<pid>-<8 hex>.tmp`. The pid
 * lets a sweep (cleanup.ts `sweepStaleTemps`) remove those of processes that died.
 */
export function tempName(path: string): string {
  // Web Crypto's global, not node:crypto: loading that module costs a worker ~5 ms at import (bench:import).
  const random = (globalThis.crypto.getRandomValues(new Uint32Array(1))[0] ?? 0).toString(16).padStart(8, '0');
  return join(dirname(path), `.${basename(path)}.${process.pid}-${random}.tmp`);
}

/** Free (for this user) and total bytes of the filesystem holding `dir` (statfs). */
export function diskSpace(dir: string): { free: number; size: number } {
  const st = statfsSync(dir);
  return { free: st.bavail * st.bsize, size: st.blocks * st.bsize };
}
