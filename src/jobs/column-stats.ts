/** The data jobs users call: column statistics and normalisation, fanned out over a worker pool (statistics with `workers: 0`: in the calling thread). */
import { HAS_FLOAT16ARRAY, itemSize, type DType } from '../core/dtype.js';
import { abortedError, kindOf, ShmArrayError } from '../core/errors.js';
import { checkOptions, integer, type Check } from '../core/options.js';
import { fileURLToPath } from 'node:url';
import { jobSignal, POOL_CONFLICTS, POOL_OPTIONS, withPool, type JobOptions } from './pool.js';
import { shareRows, splitRows } from './partition.js';
import { sameShape } from '../core/shape.js';
import { openShared, SharedArray, type SharedHandle } from '../core/shared-array.js';
import { checkHandle } from '../core/handle.js';
import { emptyStats, finishStats, mergeStats, partialStats, type ColumnStats, type PartialStats } from './stats-math.js';
import { encodePartial, type PartialColumnStats } from './partial-stats.js';
import type { StatsSegment, StatsTask } from './stats-worker.js';
import type { NormalizeTask } from './normalize-worker.js';


/** Options of {@link columnStats} and {@link partialColumnStats}. */
export interface StatsOptions extends Omit<JobOptions, 'workers'> {
  /**
   * Number of workers (default: available cores), or 0: no pool — the statistics are taken in
   * this thread by the addon's kernel (about 6 GB/s a core here), 64 MiB at a time with the event
   * loop free in between. Faster than starting workers for data under about 1 GB. `'auto'`: in
   * this thread up to {@link IN_THREAD_BYTES}, past it in a pool of every core.
   */
  workers?: number | 'auto';
}

/**
 * Data up to this size is read faster by one thread than by a pool it would first start (about
 * 6 GB/s a core for float32; a pool takes ~100 ms to start): `workers: 'auto'` takes it here.
 */
export const IN_THREAD_BYTES = 2 ** 30;

/** `workers` as a number or 'auto'. */
const workersOption: Check = (v, what) => {
  if (v !== 'auto') integer(0)(v, what);
};
const STATS_OPTIONS = { ...POOL_OPTIONS, workers: workersOption } as const;

/** Bytes of data behind `handles`. */
export function bytesOf(handles: readonly SharedHandle[]): number {
  return handles.reduce((sum, h) => sum + h.shape.reduce((n, d) => n * d, 1) * itemSize(h.dtype), 0);
}

/** Elements taken in this thread between two turns of the event loop (64 MiB of float32). */
const SLICE_ELEMENTS = 16 * 2 ** 20;

/** An array, or its handle: jobs send only handles, so either will do. */
type ArrayOrHandle = SharedArray | SharedHandle;

/** The worker modules of these jobs (file paths, for a pool of the caller's own). */
export const STATS_WORKER = fileURLToPath(new URL('./stats-worker.js', import.meta.url));
export const NORMALIZE_WORKER = fileURLToPath(new URL('./normalize-worker.js', import.meta.url));

/** The handle of a job's array argument; a typed array or anything else that is neither is refused, saying what to pass. */
function handleOf(a: unknown, fn: string): SharedHandle {
  if (a instanceof SharedArray) return a.handle;
  if (ArrayBuffer.isView(a)) {
    throw new ShmArrayError(
      'ERR_SHM_BAD_ARGUMENT',
      `${fn} got a ${a.constructor.name}: jobs send workers handles, never data, so they take SharedArrays or their handles; put the data in a shared file (createShared, store.create) and pass that.`,
      { got: a.constructor.name },
    );
  }
  if (typeof a !== 'object' || a === null) throw new ShmArrayError('ERR_SHM_BAD_ARGUMENT', `${fn} takes SharedArrays or their handles (array.handle), not ${kindOf(a)}.`, { got: kindOf(a) });
  return checkHandle(a, fn);
}

function columnsOf(h: SharedHandle): number {
  if (h.order === 'F' && h.shape.length > 1) {
    throw new ShmArrayError(
      'ERR_SHM_BAD_SHAPE',
      `${h.path} is in Fortran (column-major) order; column jobs read rows. Save it C-ordered (np.save(path, np.ascontiguousarray(arr))), or pass each column as a 1-D array.`,
      { path: h.path, order: 'F' },
    );
  }
  if (h.shape.length > 2) {
    throw new ShmArrayError('ERR_SHM_BAD_SHAPE', `${h.path} has shape [${h.shape.join(', ')}]; column jobs take 1-D or 2-D arrays.`, { path: h.path });
  }
  return h.shape.length === 2 ? (h.shape[1] ?? 1) : 1;
}

/**
 * Per-column count, mean, min, max and standard deviation over one or many 1-D/2-D arrays with
 * the same number of columns. Rows are split into one share per worker; each worker maps the
 * arrays by handle and returns only its partial statistics, which are merged exactly.
 */
export async function columnStats(arrays: ArrayOrHandle | readonly ArrayOrHandle[], options: StatsOptions = {}): Promise<ColumnStats> {
  checkOptions('columnStats', options, STATS_OPTIONS, POOL_CONFLICTS);
  const { stats, columns } = await statsOver(arrays, options, 'columnStats');
  return finishStats(stats, columns);
}

/**
 * The same work as {@link columnStats}, stopped before the end: partial statistics in the public
 * format `shmarray-partial-stats/1` (plain JSON, a few hundred bytes), which `mergeColumnStats`
 * merges exactly with the partials of other shards, on another machine, in any order.
 */
export async function partialColumnStats(arrays: ArrayOrHandle | readonly ArrayOrHandle[], options: StatsOptions = {}): Promise<PartialColumnStats> {
  checkOptions('partialColumnStats', options, STATS_OPTIONS, POOL_CONFLICTS);
  const { stats, columns } = await statsOver(arrays, options, 'partialColumnStats');
  return encodePartial(stats, columns);
}

/** The merged partial statistics of `arrays`, computed in a pool or here (options checked by the caller). */
async function statsOver(arrays: ArrayOrHandle | readonly ArrayOrHandle[], options: StatsOptions, fn: string): Promise<{ stats: PartialStats; columns: number }> {
  const handles = (Array.isArray(arrays) ? (arrays as unknown[]) : [arrays]).map((a) => handleOf(a, fn));
  if (handles.length === 0) throw new ShmArrayError('ERR_SHM_BAD_ARGUMENT', `${fn} needs at least one array.`, {});
  const columns = columnsOf(handles[0] as SharedHandle);
  for (const h of handles) {
    if (columnsOf(h) !== columns) {
      throw new ShmArrayError('ERR_SHM_SHAPE_MISMATCH', `${h.path} has ${columnsOf(h)} columns, the first array ${columns}; all arrays must have the same columns.`, { path: h.path, expected: columns, actual: columnsOf(h) });
    }
  }
  // 'auto': the size decides (a runtime asks for a pool, so it is one).
  const { workers: asked, ...rest } = options;
  const workers = asked === 'auto' ? (options.runtime === undefined && options.pool === undefined && bytesOf(handles) <= IN_THREAD_BYTES ? 0 : undefined) : asked;
  if (workers === 0 && options.pool === undefined) {
    if (options.runtime !== undefined) throw new ShmArrayError('ERR_SHM_BAD_ARGUMENT', `${fn} got both workers and runtime; with workers: 0 no pool is started, so it has no runtime: drop runtime.`, { option: 'runtime' });
    return { stats: await statsHere(handles, columns, jobSignal(options)), columns };
  }
  return withPool({ ...rest, ...(workers === undefined ? {} : { workers }) }, STATS_WORKER, async (pool) => {
    const shares = shareRows(handles.map((h) => h.shape[0] ?? 0), pool.workers).map((share) =>
      share.map(({ index, from, to }): StatsSegment => ({ data: handles[index] as SharedHandle, from, to })),
    );
    const signal = jobSignal(options);
    const parts = await Promise.all(shares.map((segments) => pool.run<PartialStats>({ segments, columns } satisfies StatsTask, { filename: STATS_WORKER, signal })));
    return { stats: parts.reduce(mergeStats, emptyStats(columns)), columns };
  });
}

/** Statistics of every row of `handles`, in this thread: mapped one at a time, SLICE_ELEMENTS per turn. */
async function statsHere(handles: readonly SharedHandle[], columns: number, signal: AbortSignal | undefined): Promise<PartialStats> {
  let acc = emptyStats(columns);
  const rowsPerSlice = Math.max(1, Math.floor(SLICE_ELEMENTS / columns));
  for (const h of handles) {
    const array = openShared(h);
    try {
      const rows = array.length / columns;
      for (let from = 0; from < rows; from += rowsPerSlice) {
        if (signal?.aborted === true) throw abortedError(signal);
        acc = mergeStats(acc, partialStats(array.data, columns, from, Math.min(rows, from + rowsPerSlice), array.dtype));
        await new Promise((resolve) => setImmediate(resolve)); // timers, signals and I/O between slices
      }
    } finally {
      array.close();
    }
  }
  return acc;
}

/** What normalize writes into: floats it writes as numbers (float16 where the runtime has Float16Array). */
const OUTPUT_DTYPES: readonly DType[] = HAS_FLOAT16ARRAY ? ['float32', 'float64', 'float16'] : ['float32', 'float64'];

/**
 * Writes the z-scores of `input`'s rows (of any dtype), (x − mean) / std per column, into `output` (a writable
 * array of the same shape) in workers; nothing but row ranges travels in messages.
 */
export async function normalize(input: ArrayOrHandle, output: ArrayOrHandle, stats: Pick<ColumnStats, 'mean' | 'std'>, options: JobOptions = {}): Promise<void> {
  checkOptions('normalize', options, POOL_OPTIONS, POOL_CONFLICTS);
  const inH = handleOf(input, 'normalize');
  const outH = handleOf(output, 'normalize');
  if (outH.mode !== 'r+') throw new ShmArrayError('ERR_SHM_BAD_ARGUMENT', `normalize writes into ${outH.path}, which is open read-only; create it with createShared or store.create.`, { path: outH.path });
  if (!sameShape(inH.shape, outH.shape)) {
    throw new ShmArrayError('ERR_SHM_SHAPE_MISMATCH', `normalize needs an output of shape [${inH.shape.join(', ')}], not [${outH.shape.join(', ')}].`, { path: outH.path });
  }
  if (!OUTPUT_DTYPES.includes(outH.dtype)) {
    throw new ShmArrayError('ERR_SHM_BAD_DTYPE', `normalize writes z-scores, which ${outH.dtype} cannot hold: make ${outH.path} ${OUTPUT_DTYPES.join(' or ')}.`, { path: outH.path, dtype: outH.dtype });
  }
  columnsOf(outH); // written row by row too: a Fortran-ordered output is refused as the input is
  const columns = columnsOf(inH);
  if (stats.mean.length !== columns || stats.std.length !== columns) {
    throw new ShmArrayError('ERR_SHM_SHAPE_MISMATCH', `normalize got statistics for ${stats.mean.length} columns; ${inH.path} has ${columns}.`, { path: inH.path });
  }
  await withPool(options, NORMALIZE_WORKER, async (pool) => {
    const ranges = splitRows(inH.shape[0] ?? 0, pool.workers);
    const signal = jobSignal(options);
    await Promise.all(ranges.map(([from, to]) => pool.run<number>({ input: inH, output: outH, mean: stats.mean, std: stats.std, from, to } satisfies NormalizeTask, { filename: NORMALIZE_WORKER, signal })));
  });
}
