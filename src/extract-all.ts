/** Parallel extraction of many archives into one directory, all or nothing. */
import { randomBytes } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { ExtractTask } from './jobs/extract.js';
import { cleanupOnExit } from './lifecycle.js';
import { createPool, jobs, jobSignal, workerCount, type JobControl, type PoolOptions, type WorkerPool } from './pool.js';
import type { SharedHandle } from './shared-array.js';
import type { ExtractOptions } from './zip.js';

/**
 * Extracts each archive into `dir`, its files named `<prefix><index>-<entry>`, in a pool of
 * workers that return only handles (in archive order, then entry order). If any archive fails or
 * a worker dies, every file this call made is removed (files that were there before, or that
 * another call made meanwhile, are never touched) and the first error is thrown.
 * A given `pool` (any job module) is used and left running, so repeated calls skip its start-up.
 */
export async function extractInto(dir: string, archives: readonly { zip: string; prefix: string }[], options: ExtractOptions & PoolOptions & JobControl & { pool?: WorkerPool } = {}): Promise<SharedHandle[]> {
  const { workers, runtime, pool: given, signal: _signal, timeout: _timeout, ...extract } = options;
  const signal = jobSignal(options);
  const pool = given ?? createPool(jobs.extract, { workers: Math.min(workerCount(workers), Math.max(1, archives.length)), runtime });
  // What this call may remove: only files it made — the archives that succeeded (their handles)
  // and temporary files named with its token (a worker that died could not remove its own). Files
  // of other calls into the same directory, even of the same names, are never touched.
  const token = `${process.pid}-${randomBytes(6).toString('hex')}`;
  const made = new Set<string>();
  const removeOurs = (): void => {
    for (const path of made) rmSync(path, { force: true });
    for (const name of readdirSync(dir)) if (name.endsWith(`.${token}.part`)) rmSync(join(dir, name), { force: true });
  };
  // Interrupted half-way (Ctrl-C), the call leaves nothing either.
  const release = cleanupOnExit(removeOurs);
  try {
    const settled = await Promise.allSettled(
      archives.map(async ({ zip, prefix }) => {
        const handles = await pool.run<SharedHandle[]>({ zip, dir, prefix, options: extract, token } satisfies ExtractTask, { filename: jobs.extract, signal });
        for (const h of handles) made.add(h.path);
        return handles;
      }),
    );
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed !== undefined) {
      removeOurs();
      throw failed.reason;
    }
    return settled.flatMap((s) => (s.status === 'fulfilled' ? s.value : []));
  } finally {
    release();
    if (given === undefined) await pool.destroy();
  }
}
