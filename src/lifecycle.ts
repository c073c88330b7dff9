/**
 * Removal of store directories and unfinished outputs when the process ends: normally, by SIGINT/SIGTERM/SIGHUP, or by
 * an uncaught exception. SIGKILL cannot be caught; its leftovers are swept by the next store.
 */
import { lstatSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { isMainThread } from 'node:worker_threads';

const live = new Set<string>();
const cleanups = new Set<() => void>();
let installed = false;
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

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
  removeAll();
  // If only our listener stands between the signal and its default outcome, step aside and
  // re-raise it, so the process ends as it would have (status 128 + n, or the parent sees the
  // signal). If the application listens too, the application decides what happens next.
  if (process.listenerCount(signal) === 1) {
    process.removeListener(signal, onSignal);
    process.kill(process.pid, signal);
  }
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', removeAll);
  process.on('uncaughtExceptionMonitor', removeAll);
  // Worker threads get no signals; the process's main thread handles them for everyone.
  if (isMainThread) for (const s of SIGNALS) process.on(s, onSignal);
}

/** Removes `dir` (recursively) when this process exits, however it exits short of SIGKILL. */
export function removeOnExit(dir: string): void {
  install();
  live.add(dir);
}

/** Stops watching `dir` (it was disposed of normally). */
export function forget(dir: string): void {
  live.delete(dir);
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
 * Removes `<prefix>-<pid>-<hex>` directories directly in `base` whose pid is no longer alive and
 * that belong to this user. Nothing else is touched: not symlinks, not other users' directories,
 * not names of another form, not directories of live processes. Returns what it removed.
 */
export function sweepStale(base: string, prefix: string): string[] {
  const pattern = new RegExp(`^${prefix.replace(/[^A-Za-z0-9_]/g, '\\$&')}-(\\d+)-[0-9a-f]{8,}$`);
  const uid = process.getuid?.();
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(base);
  } catch {
    return removed;
  }
  for (const name of names) {
    const m = pattern.exec(name);
    if (m?.[1] === undefined) continue;
    const pid = Number(m[1]);
    const dir = join(base, name);
    try {
      const st = lstatSync(dir);
      if (!st.isDirectory() || (uid !== undefined && st.uid !== uid)) continue;
      if (pid === process.pid || alive(pid)) continue;
      rmSync(dir, { recursive: true, force: true });
      removed.push(dir);
    } catch {
      // Vanished or unreadable meanwhile: not ours to worry about.
    }
  }
  return removed;
}
