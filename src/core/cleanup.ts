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
 * provided shmarray is loaded there too. If it is not, a stale-store sweep removes it later
 * (liveness.ts: how a store proves its owner alive, and the sweeps).
 */
import { rmSync } from 'node:fs';
import { BroadcastChannel, isMainThread } from 'node:worker_threads';

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
