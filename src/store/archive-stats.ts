/**
 * Column statistics of zip archives as they are extracted: each archive's partial statistics are
 * taken as soon as that archive is out (extractAll's onArchive), while the rest still inflate —
 * in this thread up to IN_THREAD_BYTES of data, else in one pool started before the extraction —
 * and merged exactly. What `shmarray stats` runs; the policy lives here, the CLI parses and prints.
 */
import type { SharedHandle } from '../core/handle.js';
import { createPool, type Runtime, type WorkerPool } from '../jobs/pool.js';
import { bytesOf, IN_THREAD_BYTES, partialColumnStats, STATS_WORKER } from '../jobs/column-stats.js';
import { mergePartials, type PartialColumnStats } from '../jobs/partial-stats.js';
import type { SharedStore } from './store.js';
import type { ExtractOptions } from './zip.js';
import { zipsUncompressedBytes } from './store.js';

/** Options of {@link archiveStats}. */
export interface ArchiveStatsOptions extends ExtractOptions {
  /** Extraction threads, and workers of the statistics' pool; 'auto' (default): none up to IN_THREAD_BYTES, every core past it. */
  workers?: number | 'auto';
  /** The pool's runtime (given, a pool is used whatever the size). */
  runtime?: Runtime;
  /** Called with each archive's handles as it is complete (before its statistics are started). */
  onArchive?: (handles: SharedHandle[], index: number) => void;
}

/**
 * The partial statistics of every array of `zips` (extracted into `store`) and of `files`,
 * pipelined with the extraction. If any archive's early part fails, or the parts disagree, the
 * statistics of all the arrays are taken again in one call, whose error then reads as a single
 * call's would (which array has which columns).
 */
export async function archiveStats(store: SharedStore, zips: readonly string[], files: readonly SharedHandle[], options: ArchiveStatsOptions = {}): Promise<PartialColumnStats> {
  const { workers = 'auto', runtime, onArchive: told, ...extract } = options;
  const bytes = (await zipsUncompressedBytes(zips)) + bytesOf(files);
  const here = workers === 'auto' && runtime === undefined && bytes <= IN_THREAD_BYTES;
  const pool: WorkerPool | undefined = here || workers === 0 ? undefined : createPool(STATS_WORKER, { ...(typeof workers === 'number' ? { workers } : {}), ...(runtime === undefined ? {} : { runtime }) });
  const of = (hs: readonly SharedHandle[]): Promise<PartialColumnStats> => partialColumnStats([...hs], pool === undefined ? { workers: 0 } : { pool });
  try {
    const parts: Promise<PartialColumnStats>[] = [];
    const onArchive = (hs: SharedHandle[], index: number): void => {
      told?.(hs, index);
      const part = of(hs);
      part.catch(() => undefined); // read below, or replaced by the one call's error
      parts[index] = part;
    };
    const extracted = await store.extractHandles(zips, { ...extract, ...(typeof workers === 'number' && workers > 0 ? { workers } : {}), onArchive });
    try {
      const all = await Promise.all([...parts, ...(files.length > 0 ? [of(files)] : [])]);
      return mergePartials(all);
    } catch {
      return await of([...extracted, ...files]);
    }
  } finally {
    await pool?.destroy();
  }
}
