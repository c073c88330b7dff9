/** The data jobs users call: column statistics and normalisation, fanned out over a worker pool. */
import { ShmArrayError } from './errors.js';
import { checkOptions } from './options.js';
import { createPool, jobs, jobSignal, POOL_CONFLICTS, POOL_OPTIONS, splitRows, type JobControl, type PoolOptions, type WorkerPool } from './pool.js';
import { SharedArray, type SharedHandle } from './shared-array.js';
import { emptyStats, finishStats, mergeStats, type ColumnStats, type PartialStats } from './stats.js';
import type { StatsSegment, StatsTask } from './jobs/stats.js';
import type { NormalizeTask } from './jobs/normalize.js';

/** Where a job runs: an existing pool (any job module: the task names its own), or a new one. */
export interface JobOptions extends PoolOptions, JobControl {
  pool?: WorkerPool;
}

type ArrayLike2D = SharedArray | SharedHandle;

function handleOf(a: ArrayLike2D): SharedHandle {
  return a instanceof SharedArray ? a.handle : a;
}

function columnsOf(h: SharedHandle): number {
  if (h.shape.length > 2) {
    throw new ShmArrayError('ERR_SHM_BAD_SHAPE', `${h.path} has shape [${h.shape.join(', ')}]; column jobs take 1-D or 2-D arrays.`, { path: h.path });
  }
  return h.shape.length === 2 ? (h.shape[1] ?? 1) : 1;
}

async function withPool<T>(options: JobOptions, filename: string, run: (pool: WorkerPool) => Promise<T>): Promise<T> {
  if (options.pool !== undefined) return run(options.pool);
  const pool = createPool(filename, { workers: options.workers, runtime: options.runtime });
  try {
    return await run(pool);
  } finally {
    await pool.destroy();
  }
}

/** Rows [from, to) of the array at `index` of a list. */
export interface RowSegment {
  index: number;
  from: number;
  to: number;
}

/**
 * Splits the rows of several arrays, taken one after the other, into `parts` contiguous shares of
 * near-equal size; each share is a list of (array index, from, to) segments.
 */
export function shareRows(rowsPerArray: readonly number[], parts: number): RowSegment[][] {
  const total = rowsPerArray.reduce((a, b) => a + b, 0);
  return splitRows(total, parts).map(([lo, hi]) => {
    const segments: RowSegment[] = [];
    let base = 0;
    rowsPerArray.forEach((n, index) => {
      const from = Math.max(lo, base);
      const to = Math.min(hi, base + n);
      if (from < to) segments.push({ index, from: from - base, to: to - base });
      base += n;
    });
    return segments;
  });
}

/**
 * Per-column count, mean, min, max and standard deviation over one or many 1-D/2-D arrays with
 * the same number of columns. Rows are split into one share per worker; each worker maps the
 * arrays by handle and returns only its partial statistics, which are merged exactly.
 */
export async function columnStats(arrays: ArrayLike2D | readonly ArrayLike2D[], options: JobOptions = {}): Promise<ColumnStats> {
  checkOptions('columnStats', options, POOL_OPTIONS, POOL_CONFLICTS);
  const handles = (Array.isArray(arrays) ? arrays : [arrays]).map((a: ArrayLike2D) => handleOf(a));
  if (handles.length === 0) throw new ShmArrayError('ERR_SHM_BAD_ARGUMENT', 'columnStats needs at least one array.', {});
  const columns = columnsOf(handles[0] as SharedHandle);
  for (const h of handles) {
    if (columnsOf(h) !== columns) {
      throw new ShmArrayError('ERR_SHM_SHAPE_MISMATCH', `${h.path} has ${columnsOf(h)} columns, the first array ${columns}; all arrays must have the same columns.`, { path: h.path, expected: columns, actual: columnsOf(h) });
    }
  }
  return withPool(options, jobs.stats, async (pool) => {
    const shares = shareRows(handles.map((h) => h.shape[0] ?? 0), pool.workers).map((share) =>
      share.map(({ index, from, to }): StatsSegment => ({ data: handles[index] as SharedHandle, from, to })),
    );
    const signal = jobSignal(options);
    const parts = await Promise.all(shares.map((segments) => pool.run<PartialStats>({ segments, columns } satisfies StatsTask, { filename: jobs.stats, signal })));
    return finishStats(parts.reduce(mergeStats, emptyStats(columns)), columns);
  });
}

/**
 * Writes the z-scores of `input`'s rows, (x − mean) / std per column, into `output` (a writable
 * array of the same shape) in workers; nothing but row ranges travels in messages.
 */
export async function normalize(input: ArrayLike2D, output: ArrayLike2D, stats: Pick<ColumnStats, 'mean' | 'std'>, options: JobOptions = {}): Promise<void> {
  checkOptions('normalize', options, POOL_OPTIONS, POOL_CONFLICTS);
  const inH = handleOf(input);
  const outH = handleOf(output);
  if (outH.mode !== 'r+') throw new ShmArrayError('ERR_SHM_BAD_ARGUMENT', `normalize writes into ${outH.path}, which is open read-only; create it with createShared or store.create.`, { path: outH.path });
  if (inH.shape.join() !== outH.shape.join()) {
    throw new ShmArrayError('ERR_SHM_SHAPE_MISMATCH', `normalize needs an output of shape [${inH.shape.join(', ')}], not [${outH.shape.join(', ')}].`, { path: outH.path });
  }
  const columns = columnsOf(inH);
  if (stats.mean.length !== columns || stats.std.length !== columns) {
    throw new ShmArrayError('ERR_SHM_SHAPE_MISMATCH', `normalize got statistics for ${stats.mean.length} columns; ${inH.path} has ${columns}.`, { path: inH.path });
  }
  await withPool(options, jobs.normalize, async (pool) => {
    const ranges = splitRows(inH.shape[0] ?? 0, pool.workers);
    const signal = jobSignal(options);
    await Promise.all(ranges.map(([from, to]) => pool.run<number>({ input: inH, output: outH, mean: stats.mean, std: stats.std, from, to } satisfies NormalizeTask, { filename: jobs.normalize, signal })));
  });
}
