/**
 * Removal of store directories and unfinished outputs when the process ends: normally, by
 * SIGINT/SIGTERM/SIGHUP, or by an uncaught exception or unhandled rejection. SIGKILL (and
 * `--abort-on-uncaught-exception`) cannot be caught; their leftovers are swept by the next store.
 *
 * An exception or rejection is left to the 'exit' event: Node emits it on the way out of a fatal
 * one (main thread and worker threads alike), and not at all when the application handles it and
 * goes on — then its stores must stay usable, as they do when it handles a signal itself.
 *
 * Signals reach only the main thread, so a directory registered in a worker thread is also
 * announced to the main thread (a BroadcastChannel), which removes it on a signal or at exit —
 * provided shmarray is loaded there too. If it is not, a stale-store sweep removes it later.
 */
import { closeSync, constants, lstatSync, openSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BroadcastChannel, isMainThread } from 'node:worker_threads';
import { tryLock } from './native.js';

const live = new Set<string>();
const cleanups = new Set<() => void>();
let installed = false;
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** What a worker thread tells the main thread about a directory it registered or forgot. */
interface Announcement {
  op: 'add' | 'forget';
  dir: string;
}
const channel = new BroadcastChannel('shmarray:lifecycle');
channel.unref(); // never what keeps a thread alive
if (isMainThread) {
  channel.onmessage = (event: unknown): void => {
    const m = (event as { data?: Partial<Announcement> }).data;
    if (typeof m?.dir !== 'string') return;
    if (m.op === 'add') {
      install();
      live.add(m.dir);
    } else if (m.op === 'forget') {
      live.delete(m.dir);
    }
  };
}

function removeAll(): void {
  for (const fn of cleanups) {
    try {
      fn();
    } catch {
      // An exit path must not throw; what could not be removed is left as it is.
    }
  }
  cleanups.clear();
  for (const dir of live) rmSync(dir, { recursive: true, force: true });
  live.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  // The application listens too: it decides what happens next, and its handler may still use its
  // stores (a graceful shutdown). They are removed when the process actually exits.
  if (process.listenerCount(signal) > 1) return;
  // Only our listener stands between the signal and its default outcome: clean up, step aside and
  // re-raise it, so the process ends as it would have (status 128 + n, or the parent sees the signal).
  removeAll();
  process.removeListener(signal, onSignal);
  process.kill(process.pid, signal);
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', removeAll);
  // Worker threads get no signals: their directories are announced to the main thread.
  // Prepended: ours runs before the app's own, while a `process.once` handler of the app's is
  // still registered (Node removes a once-listener just before calling it), so it is counted.
  if (isMainThread) for (const s of SIGNALS) process.prependListener(s, onSignal);
}

/**
 * Removes `dir` (recursively) when this process exits, however it exits short of SIGKILL; when
 * registered in a worker thread, also when that thread ends.
 */
export function removeOnExit(dir: string): void {
  install();
  live.add(dir);
  if (!isMainThread) channel.postMessage({ op: 'add', dir } satisfies Announcement);
}

/** Stops watching `dir` (it was disposed of normally). */
export function forget(dir: string): void {
  live.delete(dir);
  if (!isMainThread) channel.postMessage({ op: 'forget', dir } satisfies Announcement);
}

/**
 * Runs `fn` (synchronously) if the process exits before the returned function is called: for
 * work in progress whose files are not all known up front.
 */
export function cleanupOnExit(fn: () => void): () => void {
  install();
  cleanups.add(fn);
  return () => {
    cleanups.delete(fn);
  };
}

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
