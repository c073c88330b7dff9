/** Parallel extraction of many archives into one directory, all or nothing. */
import { readdirSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ExtractTask } from './jobs/extract.js';
import { cleanupOnExit } from './lifecycle.js';
import { createPool, jobs, jobSignal, workerCount, type JobControl, type PoolOptions, type WorkerPool } from './pool.js';
import type { SharedHandle } from './shared-array.js';
import type { ExtractOptions } from './zip.js';

/**
 * Extracts each archive into `dir`, its files named `<prefix><index>-<entry>`, in a pool of
 * workers that return only handles (in archive order, then entry order). If any archive fails or
 * a worker dies, every file this call made is removed (files that were there before are never
 * touched) and the first error is thrown.
 * A given `pool` (any job module) is used and left running, so repeated calls skip its start-up.
 */
export async function extractInto(dir: string, archives: readonly { zip: string; prefix: string }[], options: ExtractOptions & PoolOptions & JobControl & { pool?: WorkerPool } = {}): Promise<SharedHandle[]> {
  const { workers, runtime, pool: given, signal: _signal, timeout: _timeout, ...extract } = options;
  const signal = jobSignal(options);
  const pool = given ?? createPool(jobs.extract, { workers: Math.min(workerCount(workers), Math.max(1, archives.length)), runtime });
  // What this call may remove: names with its prefixes that were not there before it started.
  const before = new Set(readdirSync(dir));
  const ours = (name: string): boolean => !before.has(name) && archives.some((a) => name.startsWith(a.prefix));
  // Interrupted half-way (Ctrl-C), the call leaves nothing either.
  const release = cleanupOnExit(() => {
    for (const name of readdirSync(dir).filter(ours)) rmSync(join(dir, name), { force: true });
  });
  try {
    const settled = await Promise.allSettled(
      archives.map(({ zip, prefix }) => pool.run<SharedHandle[]>({ zip, dir, prefix, options: extract } satisfies ExtractTask, { filename: jobs.extract, signal })),
    );
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed !== undefined) {
      // A worker that died mid-entry could not clean up after itself: remove by prefix.
      await Promise.all(readdirSync(dir).filter(ours).map((name) => rm(join(dir, name), { force: true })));
      throw failed.reason;
    }
    return settled.flatMap((s) => (s.status === 'fulfilled' ? s.value : []));
  } finally {
    release();
    if (given === undefined) await pool.destroy();
  }
}
