/** Parallel extraction of many archives into one directory, all or nothing. */
import { randomBytes } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SharedHandle } from '../core/handle.js';
import type { DType } from '../core/dtype.js';
import { makeDirectory } from '../core/files.js';
import { cleanupOnExit } from '../core/cleanup.js';
import { checkOptions, checkPath, func, integer, own } from '../core/options.js';
import { jobSignal, POOL_CONFLICTS, POOL_OPTIONS, workerCount, type JobOptions } from '../jobs/pool.js';
import type { ExtractTask } from './extract-worker.js';
import { extractArchive, safeName, type ExtractOptions, type InflateTurn } from './zip.js';

/** The worker module that extracts one archive (a file path, for a pool of the caller's own). */
export const EXTRACT_WORKER = fileURLToPath(new URL('./extract-worker.js', import.meta.url));

/** Options of {@link extractZips} (and of `store.extractAll`). */
export interface ExtractAllOptions<D extends DType = DType> extends ExtractOptions<D>, JobOptions {
  /**
   * Called with each archive's handles as soon as that archive is complete (in the order they
   * complete; `index` is its place in the list), so work on the first arrays can start while the
   * rest inflate. A throw fails the extraction like a bad archive: every file of the call goes.
   */
  onArchive?: (handles: SharedHandle[], index: number) => void;
}

/** shape and dtype are checked by the extraction with their own codes (ERR_SHM_BAD_SHAPE, ERR_SHM_BAD_DTYPE). */
export const EXTRACT_ALL_OPTIONS = { shape: own, columns: integer(1), dtype: own, onArchive: func, ...POOL_OPTIONS } as const;

/**
 * Extracts archives into `dir`, a directory the caller keeps (made if missing): the files stay
 * there, named `<archive name>-<index>-<entry name>` (sanitised; same-named archives from
 * different folders get `-2`, `-3`, …), and their handles are returned in archive order, then
 * entry order. Nothing is mapped in this process. All or nothing, as {@link extractArchives}.
 */
export async function extractZips(zipPaths: readonly string[], dir: string, options: ExtractAllOptions = {}): Promise<SharedHandle[]> {
  for (const [i, z] of zipPaths.entries()) checkPath(z, `extractZips's zipPaths[${i}]`);
  checkPath(dir, "extractZips's dir");
  checkOptions('extractZips', options, EXTRACT_ALL_OPTIONS, POOL_CONFLICTS);
  const target = resolve(dir);
  makeDirectory(target);
  const used = new Set<string>();
  const archives = zipPaths.map((zip, i) => {
    const stem = safeName(basename(zip).replace(/\.zip$/i, ''), `zip${i}`);
    let prefix = `${stem}-`;
    for (let n = 2; used.has(prefix); n++) prefix = `${stem}-${n}-`;
    used.add(prefix);
    return { zip, prefix };
  });
  return extractArchives(target, archives, options);
}

/**
 * Extracts each archive into `dir`, its files named `<prefix><index>-<entry>`, and returns the
 * handles (in archive order, then entry order). Without a `pool` the addon's threads do it in
 * this process (`workers` threads in all: no pool to start, nothing to send); with one, each
 * archive is a task in it (left running, so repeated calls skip its start-up). If any archive
 * fails, or a worker dies, every file this call made is removed (files that were there before,
 * or that another call made meanwhile, are never touched) and the first error is thrown.
 */
export async function extractArchives(dir: string, archives: readonly { zip: string; prefix: string }[], options: ExtractAllOptions = {}): Promise<SharedHandle[]> {
  const { workers, runtime: _runtime, pool, signal: _signal, timeout: _timeout, onArchive, ...extract } = options;
  const signal = jobSignal(options);
  // What this call may remove: only files it made — the archives that succeeded (their handles)
  // and temporary files named with its token (a worker that died could not remove its own). Files
  // of other calls into the same directory, even of the same names, are never touched.
  const token = `${process.pid}-${randomBytes(6).toString('hex')}`;
  const made = new Set<string>();
  const removeOurs = (): void => {
    for (const path of made) rmSync(path, { force: true });
    for (const name of readdirSync(dir)) if (name.endsWith(`.${token}.part`)) rmSync(join(dir, name), { force: true });
  };
  const keep = (handles: SharedHandle[], index: number): SharedHandle[] => {
    for (const h of handles) made.add(h.path);
    onArchive?.(handles, index);
    return handles;
  };
  // Interrupted half-way (Ctrl-C), the call leaves nothing either.
  const release = cleanupOnExit(removeOurs);
  try {
    let settled: PromiseSettledResult<SharedHandle[]>[];
    if (pool !== undefined) {
      settled = await Promise.allSettled(
        archives.map(async ({ zip, prefix }, i) => keep(await pool.run<SharedHandle[]>({ zip, dir, prefix, options: extract, token } satisfies ExtractTask, { filename: EXTRACT_WORKER, signal }), i)),
      );
    } else {
      // `workers` archives inflating at a time, one thread each (fewer archives share the threads),
      // and one more reading its directory and making its outputs meanwhile: when a thread is
      // done, the next archive is ready for it, and the last round starts as early as it can.
      const threads = workerCount(workers);
      const concurrent = Math.max(1, Math.min(threads, archives.length));
      const turn = turns(concurrent);
      settled = await settleLimited(archives, Math.min(archives.length, concurrent + 1), async ({ zip, prefix }, i) =>
        keep(await extractArchive(zip, dir, prefix, extract, token, Math.max(1, Math.floor(threads / concurrent)), signal, turn), i),
      );
    }
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed !== undefined) {
      removeOurs();
      throw failed.reason;
    }
    return settled.flatMap((s) => (s.status === 'fulfilled' ? s.value : []));
  } finally {
    release();
  }
}

/** At most `n` turns at once ({@link InflateTurn}); waiting archives get theirs in the order they asked. */
function turns(n: number): InflateTurn {
  let free = n;
  const waiting: (() => void)[] = [];
  const end = (): void => {
    const next = waiting.shift();
    if (next !== undefined) next();
    else free++;
  };
  return async () => {
    if (free > 0) free--;
    else await new Promise<void>((resolve) => waiting.push(resolve));
    let ended = false;
    return () => {
      if (!ended) end();
      ended = true;
    };
  };
}

/** Promise.allSettled over `items`, with at most `limit` of them running at once. */
async function settleLimited<T, R>(items: readonly T[], limit: number, run: (item: T, index: number) => Promise<R>): Promise<PromiseSettledResult<R>[]> {
  const results: PromiseSettledResult<R>[] = new Array(items.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    for (let i = next++; i < items.length; i = next++) {
      try {
        results[i] = { status: 'fulfilled', value: await run(items[i] as T, i) };
      } catch (reason) {
        results[i] = { status: 'rejected', reason };
      }
    }
  };
  await Promise.all(Array.from({ length: limit }, lane));
  return results;
}
