/**
 * shmarray: share large numeric arrays between Node workers without copying them. This entry is
 * the documented library API (README "API"); worker code that only maps handles imports the
 * lighter `shmarray/worker`, and the benchmark lives in `shmarray/bench`.
 */
export { ShmArrayError, ERROR_CODES } from './core/errors.js';
export type { ShmErrorCode, ShmErrorDetails } from './core/errors.js';
export { DTYPES, itemSize } from './core/dtype.js';
export type { DType, NumericArray, TypedArrayOf, Float16ArrayLike } from './core/dtype.js';
export { HAS_FLOAT16ARRAY } from './core/dtype.js';
export { bfloat16FromBits, bfloat16ToBits, float16FromBits, float16ToBits } from './core/numbers.js';
export type { ShapeLike } from './core/shape.js';
export type { Advice } from './core/native.js';
export { addonPath, engine as compressionEngine } from './core/native.js';

// One file ↔ one typed array.
export { SharedArray, openShared, maxArrayLength } from './core/shared-array.js';
export type { SharedHandle, OpenOptions, Mode, Order, SharedArrayOf, AnySharedArray } from './core/shared-array.js';
export { createShared } from './core/create-shared.js';
export type { CreateOptions } from './core/create-shared.js';
export { describeShared } from './core/handle.js';
export type { DescribeOptions } from './core/handle.js';
export { listNpz, openNpz } from './core/npz.js';
export { openSafetensors, readSafetensors } from './core/safetensors.js';
export { createSharedTable, openSharedTable, SharedTable } from './core/table.js';
export type { CreateTableOptions, SharedTableHandle } from './core/table.js';
export type { Safetensors } from './core/safetensors.js';
export type { NpzArrayInfo, NpzExtractReason, OpenNpzOptions } from './core/npz.js';
export { openSharedCached, pruneMapCache } from './core/map-cache.js';
export { memoryUsage } from './core/memory.js';
export type { MemoryUsage } from './core/memory.js';
export { parseBytes, formatBytes } from './core/units.js';

// Datasets extracted once, removed however the process ends.
export { SharedStore, zipsUncompressedBytes, listZip } from './store/store.js';
export type { StoreOptions } from './store/store.js';
export { extractZips } from './store/extract-all.js';
export type { ExtractAllOptions } from './store/extract-all.js';
export type { ExtractOptions, ZipEntryInfo } from './store/zip.js';
export { choosePlacement } from './store/placement.js';
export { archiveStats } from './store/archive-stats.js';
export type { ArchiveStatsOptions } from './store/archive-stats.js';

// One copy per machine: datasets shared by every process of the user, by key.
export { SharedCache, CacheEntry } from './store/cache.js';
export type { CacheOptions, CacheExtractOptions, CacheBuilder, CacheEntryInfo, WaitOptions } from './store/cache.js';
export type { Placement } from './store/placement.js';

// Data jobs over worker pools.
export { createPool, WorkerPool } from './jobs/pool.js';
export type { Runtime, PoolOptions, JobControl } from './jobs/pool.js';
export { splitRows } from './jobs/partition.js';
export { columnStats, normalize, partialColumnStats } from './jobs/column-stats.js';
export type { StatsOptions } from './jobs/column-stats.js';
export { mergeColumnStats, mergePartials, PARTIAL_STATS_FORMAT } from './jobs/partial-stats.js';
export type { PartialColumnStats, JsonFloat } from './jobs/partial-stats.js';
export type { JobOptions } from './jobs/pool.js';
export type { ColumnStats } from './jobs/stats-math.js';
export { gzipParallel } from './jobs/gzip.js';
export type { GzipOptions, GzipResult, GzipInput } from './jobs/gzip.js';
export { workerFiles } from './worker-files.js';
