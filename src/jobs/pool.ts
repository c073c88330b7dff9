/** tinypool wiring shared by every data job: both runtimes, error revival, job signals and timeouts. */
import { rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Tinypool from 'tinypool';
import { abortedError, ShmArrayError } from '../core/errors.js';
import type { ReleaseTask } from './release-worker.js';
import { createShared } from '../core/create-shared.js';
import { tempName } from '../core/files.js';
import { checkOptions, integer, oneOf, type Check } from '../core/options.js';
import { CONTROL_OPTIONS, type JobControl } from '../core/abort.js';

/** Where workers run: threads of this process, or child processes. */
export type Runtime = 'worker_threads' | 'child_process';

const RUNTIMES: readonly Runtime[] = ['worker_threads', 'child_process'];

/** A pool a caller passes in: shmarray's WorkerPool, or anything with its `run` and `workers`. */
const isPool: Check = (v, what) => {
  const p = v as { run?: unknown; workers?: unknown } | null;
  if (typeof p !== 'object' || p === null || typeof p.run !== 'function' || !Number.isSafeInteger(p.workers)) {
    throw new ShmArrayError('ERR_SHM_BAD_ARGUMENT', `${what} must be a WorkerPool (createPool(…)), not ${p === null ? 'null' : typeof p}.`, { option: what });
  }
};

export { jobSignal, type JobControl } from '../core/abort.js';

/**
 * The options of a pool a job starts (workers, runtime), or the caller's own pool instead, and
 * the job's signal and timeout: the spec for {@link checkOptions}.
 */
export const POOL_OPTIONS = { workers: integer(1), runtime: oneOf(RUNTIMES), pool: isPool, ...CONTROL_OPTIONS } as const;
/** A given pool decides its own workers and runtime. */
export const POOL_CONFLICTS = [['pool', ['workers', 'runtime']]] as const;


function inheritedEnv(): Record<string, string> {
  return Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined));
}

/** The worker behind {@link WorkerPool.releaseMappings}; any job module's pool runs it by filename. */
const RELEASE_WORKER = fileURLToPath(new URL('./release-worker.js', import.meta.url));

/** Options of {@link createPool}. */
export interface PoolOptions {
  /** Number of workers (default: available cores). */
  workers?: number;
  runtime?: Runtime;
}

/**
 * Where a job runs and how it is stopped: a pool the job starts (`workers`, `runtime`), or the
 * caller's own `pool` (any job module; left running) instead; `signal` and `timeout`.
 */
export interface JobOptions extends PoolOptions, JobControl {
  /** Run in this pool instead of starting one per call. */
  pool?: WorkerPool;
}

/**
 * A worker count already checked by the caller's options (`POOL_OPTIONS.workers`), or the number
 * of cores. It checks nothing itself: each public entry checks its options once.
 */
export function workerCount(workers: number | undefined): number {
  return workers ?? availableParallelism();
}

/**
 * A tinypool of exactly `workers` workers for one job module, with two repairs:
 * - a worker's ShmArrayError comes back as a ShmArrayError (its code intact); any other failure
 *   becomes ERR_SHM_WORKER;
 * - a worker thread that exits mid-task (process.exit in a worker_threads worker) fails that task
 *   with ERR_SHM_WORKER. tinypool 2 only watches 'error' on threads, so its promise would hang.
 * Child processes use v8 ('advanced') serialization, so typed arrays travel as typed arrays.
 */
export class WorkerPool implements AsyncDisposable {
  // Private: tinypool's own .d.ts does not compile against current @types/node (skipLibCheck:
  // false), so no type of it may reach shmarray's declarations, or a user's program.
  readonly #tinypool: Tinypool;
  readonly runtime: Runtime;
  readonly workers: number;
  #closing = false;
  readonly #watched = new WeakSet<object>();

  constructor(filename: string, options: PoolOptions = {}) {
    checkOptions('createPool', options, { workers: POOL_OPTIONS.workers, runtime: POOL_OPTIONS.runtime });
    const runtime = options.runtime ?? 'worker_threads';
    this.runtime = runtime;
    this.workers = workerCount(options.workers);
    this.#tinypool = new Tinypool({
      filename, runtime, minThreads: this.workers, maxThreads: this.workers, isolateWorkers: false, serialization: 'advanced',
      // tinypool forks child processes with an empty environment unless given one: PATH, LANG,
      // NODE_OPTIONS and SHMARRAY_DIR / SHMARRAY_BINDING must reach the workers.
      env: inheritedEnv(),
    });
    // A worker lost between tasks is replaced by tinypool; the event must not crash the process.
    this.#tinypool.on('error', () => {});
  }

  /** Runs one task (in `options.filename`'s module if given); see the class comment for failures. */
  async run<T>(task: unknown, options: { filename?: string; signal?: AbortSignal | undefined } = {}): Promise<T> {
    this.#watchThreads();
    const { filename, signal } = options;
    try {
      return (await this.#tinypool.run(task, { ...(filename === undefined ? {} : { filename }), ...(signal === undefined ? {} : { signal }) })) as T;
    } catch (err) {
      if (signal?.aborted === true) throw abortedError(signal);
      const revived = ShmArrayError.from(err);
      if (revived !== undefined) throw revived;
      const message = err instanceof Error ? err.message : typeof err === 'object' && err !== null && 'message' in err ? String(err.message) : String(err);
      throw new ShmArrayError('ERR_SHM_WORKER', `A worker failed: ${message}`, { reason: message }, { cause: err });
    }
  }

  /**
   * Makes every worker drop its cached mappings (openSharedCached) of files that were removed or
   * replaced — a disposed store's pages — now, instead of at its next task. Runs one task on each
   * worker; any job module's pool will do.
   */
  async releaseMappings(): Promise<void> {
    const gate = createShared(tempName(join(tmpdir(), 'shmarray-release')), 1, { dtype: 'int32' });
    const handle = gate.handle;
    gate.close();
    try {
      await Promise.all(Array.from({ length: this.workers }, () => this.run({ gate: handle, parties: this.workers } satisfies ReleaseTask, { filename: RELEASE_WORKER })));
    } finally {
      rmSync(handle.path, { force: true });
    }
  }

  async destroy(): Promise<void> {
    this.#closing = true;
    await this.#tinypool.destroy();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.destroy();
  }

  #watchThreads(): void {
    if (this.runtime !== 'worker_threads') return;
    for (const worker of this.#tinypool.threads) {
      if (this.#watched.has(worker)) continue;
      this.#watched.add(worker);
      worker.on('exit', (code: unknown) => {
        if (this.#closing) return;
        // tinypool rejects a worker's tasks, and replaces it, on 'error'.
        worker.emit('error', new ShmArrayError('ERR_SHM_WORKER', `A worker thread exited (code ${String(code)}) in the middle of a task.`, { exitCode: Number(code) }));
      });
    }
  }
}

/** A {@link WorkerPool} of `options.workers` workers (default: cores) running `filename`. */
export function createPool(filename: string, options: PoolOptions = {}): WorkerPool {
  return new WorkerPool(filename, options);
}

/**
 * Runs `job` in the caller's pool (left running), or in a pool of `filename` started for it
 * (at most `maxWorkers` workers: no more than the job has tasks) and destroyed when it is done.
 */
export async function withPool<T>(options: PoolOptions & { pool?: WorkerPool | undefined }, filename: string, job: (pool: WorkerPool) => Promise<T>, maxWorkers = Infinity): Promise<T> {
  if (options.pool !== undefined) return job(options.pool);
  const pool = new WorkerPool(filename, { workers: Math.max(1, Math.min(workerCount(options.workers), maxWorkers)), runtime: options.runtime });
  try {
    return await job(pool);
  } finally {
    await pool.destroy();
  }
}
