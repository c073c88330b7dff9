/** File plumbing every layer needs: whole reads and writes, temporary names, free space, directories made on demand. */
import { accessSync, constants, mkdirSync, openSync, readSync, statfsSync, statSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fsError, ShmArrayError } from './errors.js';

/** Writes all of `data` at the file's current position: write(2) may take less than asked. */
export async function writeAll(fh: FileHandle, data: Uint8Array): Promise<void> {
  for (let done = 0; done < data.length; ) done += (await fh.write(data, done, data.length - done)).bytesWritten;
}

/** open(2); its failure is the ShmArrayError of `doing` `path` (ERR_SHM_NOT_FOUND, ERR_SHM_PERMISSION, …). */
export function openFile(path: string, flags: number | string, doing: string, mode?: number): number {
  try {
    return openSync(path, flags, mode);
  } catch (err) {
    throw fsError(err, doing, path);
  }
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

/**
 * Makes directory `dir` (and its missing parents) unless it is there, and checks that this user can
 * write into it. Errors say what is true: a file in the way is ERR_SHM_NOT_A_FILE; a read-only
 * filesystem or a parent this user cannot write is ERR_SHM_PERMISSION (Node's recursive mkdir
 * reports both as ENOENT on Node 20, which must not read as "a file of that name exists").
 * Directories it makes get `mode` (before the umask).
 */
export function makeDirectory(dir: string, mode = 0o777): void {
  const inTheWay = (): ShmArrayError => new ShmArrayError('ERR_SHM_NOT_A_FILE', `${dir} is not a directory (a file of that name exists); choose another directory.`, { path: dir });
  try {
    mkdirSync(dir, { recursive: true, mode });
  } catch (err) {
    throw (err as NodeJS.ErrnoException).code === 'EEXIST' ? inTheWay() : whyNoDirectory(dir, err);
  }
  if (!statSync(dir).isDirectory()) throw inTheWay();
  try {
    accessSync(dir, constants.W_OK);
  } catch (err) {
    throw writeError(dir, err);
  }
}

/** Why `dir` could not be made, found from its nearest existing ancestor. */
function whyNoDirectory(dir: string, err: unknown): unknown {
  for (let at = dirname(dir), below = dir; at !== below; below = at, at = dirname(at)) {
    let isDir: boolean;
    try {
      isDir = statSync(at).isDirectory();
    } catch {
      continue; // missing too: look further up
    }
    if (!isDir) return new ShmArrayError('ERR_SHM_NOT_A_FILE', `Cannot make directory ${dir}: ${at} is a file, not a directory; choose another directory.`, { path: dir, blocker: at });
    try {
      accessSync(at, constants.W_OK);
    } catch (accessErr) {
      return writeError(at, accessErr, dir);
    }
    break;
  }
  return fsError(err, 'make directory', dir);
}

/** ERR_SHM_PERMISSION for directory `at`, in which `dir` (itself, or one to be made there) cannot be written. */
function writeError(at: string, err: unknown, dir = at): unknown {
  const errno = (err as NodeJS.ErrnoException | null)?.code;
  const what = dir === at ? dir : `directory ${dir}`;
  if (errno === 'EROFS') return new ShmArrayError('ERR_SHM_PERMISSION', `Cannot write into ${what}: ${at} is on a read-only filesystem; choose another directory.`, { path: dir, errnoName: errno });
  if (errno === 'EACCES' || errno === 'EPERM') return new ShmArrayError('ERR_SHM_PERMISSION', `Cannot write into ${what}: this user may not write in ${at}; choose another directory or change its permissions.`, { path: dir, errnoName: errno });
  return fsError(err, 'write into', dir);
}
