/**
 * How a store proves its owner alive, in any pid namespace, and the sweeps of what dead owners
 * left: the owner holds an exclusive flock on the store's lock file for life (the kernel drops it
 * when the owner dies); a sweep removes stores whose lock is free, and temporary files whose pid
 * is dead. Removal at exit is cleanup.ts's.
 */
import { closeSync, constants, lstatSync, openSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fsError } from './errors.js';
import { tryLock } from './native.js';

/** The file in a store whose flock its owner holds for life. */
export const LOCK_FILE = '.lock';

/**
 * Whether the owner of store `dir` (named with `pid`) is alive. A store with a lock file answers
 * by its lock, which the kernel releases when the owner dies, in whatever pid namespace it ran
 * (containers sharing /dev/shm see each other's pids as dead). A store without one (made by an
 * older shmarray) answers by `kill(pid, 0)`.
 */
function ownerAlive(dir: string, pid: number): boolean {
  let fd: number;
  try {
    fd = openSync(join(dir, LOCK_FILE), constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch {
    return pid === process.pid || alive(pid);
  }
  try {
    return !tryLock(fd);
  } finally {
    closeSync(fd);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the entries of `base` whose name matches `pattern` (its first group: the owner's pid),
 * that are of `kind`, belong to this user (never symlinks) and whose owner `isDead` says is gone.
 * Returns what it removed.
 */
function sweepOwned(base: string, pattern: RegExp, kind: 'directory' | 'file', isDead: (path: string, pid: number) => boolean): string[] {
  const uid = process.getuid?.();
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(base);
  } catch {
    return removed;
  }
  for (const name of names) {
    const pid = Number(pattern.exec(name)?.[1] ?? NaN);
    if (!Number.isSafeInteger(pid)) continue;
    const path = join(base, name);
    try {
      const st = lstatSync(path);
      if (!(kind === 'directory' ? st.isDirectory() : st.isFile()) || (uid !== undefined && st.uid !== uid)) continue;
      if (!isDead(path, pid)) continue;
      rmSync(path, { recursive: true, force: true });
      removed.push(path);
    } catch {
      // Vanished or unreadable meanwhile: not ours to worry about.
    }
  }
  return removed;
}

/**
 * Removes `<prefix>-<pid>-<hex>` directories directly in `base` whose owner is no longer alive
 * (its lock is free; see {@link ownerAlive}) and that belong to this user. Nothing else is
 * touched: not symlinks, not other users' directories, not names of another form, not stores of
 * live processes. Returns what it removed.
 */
export function sweepStale(base: string, prefix: string): string[] {
  const pattern = new RegExp(`^${prefix.replace(/[^A-Za-z0-9_]/g, '\\$&')}-(\\d+)-[0-9a-f]{8,}$`);
  return sweepOwned(base, pattern, 'directory', (dir, pid) => !ownerAlive(dir, pid));
}

/**
 * Removes temporary files `.<name>.<pid>-<hex>.tmp` directly in `dir` (unfinished createShared
 * and gzipParallel outputs) whose process is dead and that belong to this user. Such a file is
 * only ever open in the process that named it, so a dead pid means nobody will finish it.
 */
export function sweepStaleTemps(dir: string): string[] {
  return sweepOwned(dir, /^\..+\.(\d+)-[0-9a-f]{8}\.tmp$/, 'file', (_path, pid) => pid !== process.pid && !alive(pid));
}

/**
 * Creates `dir`'s lock file and takes its flock for the caller's life: the proof, for every
 * sweep, that the owner of `dir` is alive. Returns the fd to keep open (closing it ends the proof).
 */
export function holdLiveness(dir: string): number {
  let fd = -1;
  try {
    fd = openSync(join(dir, LOCK_FILE), 'wx', 0o600);
    tryLock(fd);
    return fd;
  } catch (err) {
    if (fd >= 0) closeSync(fd);
    throw fsError(err, 'lock the store directory', dir);
  }
}
