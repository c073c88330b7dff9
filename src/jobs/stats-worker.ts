/** Worker: partial column statistics over row ranges of mapped arrays. Returns numbers only. */
import { openSharedCached, pruneMapCache } from '../core/map-cache.js';
import type { SharedHandle } from '../core/shared-array.js';
import { emptyStats, mergeStats, partialStats, type PartialStats } from './stats-math.js';

/** Rows [from, to) of the array behind `data`. */
export interface StatsSegment {
  data: SharedHandle;
  from: number;
  to: number;
}

/** One task: consecutive segments, usually this worker's share of all rows. */
export interface StatsTask {
  segments: StatsSegment[];
  columns: number;
}

/** Maps each segment's array by handle (no copy; reused across tasks) and returns the merged partial statistics. */
export default function stats(task: StatsTask): PartialStats {
  pruneMapCache(); // a disposed store's pages are released by the next task at the latest
  let acc = emptyStats(task.columns);
  for (const s of task.segments) {
    const array = openSharedCached(s.data);
    acc = mergeStats(acc, partialStats(array.data, task.columns, s.from, s.to, array.dtype));
  }
  return acc;
}
