/** The worker modules shmarray's jobs run, for a pool of the caller's own. */
import { COMPRESS_WORKER } from './jobs/gzip.js';
import { NORMALIZE_WORKER, STATS_WORKER } from './jobs/column-stats.js';
import { EXTRACT_WORKER } from './store/extract-all.js';

/**
 * The worker modules shmarray ships, as absolute file paths for `createPool(workerFiles.stats)`
 * or `new Tinypool({ filename })`. A pool of any of them runs every job: each task names its own.
 */
export const workerFiles = {
  /** `extract({ zip, dir, prefix, options, token })` → handles of the extracted arrays. */
  extract: EXTRACT_WORKER,
  /** `stats({ segments, columns })` → partial column statistics of those rows. */
  stats: STATS_WORKER,
  /** `normalize({ input, output, mean, std, from, to })` → rows written into `output`. */
  normalize: NORMALIZE_WORKER,
  /** `compress({ source, level, format, last })` → one compressed chunk (gzipParallel). */
  compress: COMPRESS_WORKER,
} as const;
