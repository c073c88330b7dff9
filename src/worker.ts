/**
 * `shmarray/worker`: what worker code needs to map the handles it is sent (and to see what that
 * cost it: memoryUsage), the pure merge of partial statistics, and nothing more — no pool, no zip
 * reader, no store. Importing it loads the mapping core and the addon only.
 */
export { ShmArrayError } from './core/errors.js';
export type { ShmErrorCode, ShmErrorDetails } from './core/errors.js';
export { SharedArray, openShared } from './core/shared-array.js';
export type { SharedHandle, OpenOptions, Mode, Order, SharedArrayOf, AnySharedArray } from './core/shared-array.js';
export { openNpz } from './core/npz.js';
export { openSafetensors, readSafetensors } from './core/safetensors.js';
export { openSharedTable, SharedTable } from './core/table.js';
export type { SharedTableHandle } from './core/table.js';
export type { Safetensors } from './core/safetensors.js';
export type { OpenNpzOptions } from './core/npz.js';
export { openSharedCached } from './core/map-cache.js';
export { memoryUsage } from './core/memory.js';
export type { MemoryUsage } from './core/memory.js';
export type { DType, NumericArray, TypedArrayOf, Float16ArrayLike } from './core/dtype.js';
export { HAS_FLOAT16ARRAY } from './core/dtype.js';
export { bfloat16FromBits, bfloat16ToBits, float16FromBits, float16ToBits } from './core/numbers.js';
export { mergeColumnStats, PARTIAL_STATS_FORMAT } from './jobs/partial-stats.js';
export type { PartialColumnStats, JsonFloat } from './jobs/partial-stats.js';
export type { ColumnStats } from './jobs/stats-math.js';
