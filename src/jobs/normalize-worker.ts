/** Worker: writes z-scored rows of a mapped input into a mapped, writable output. */
import { openSharedCached, pruneMapCache } from '../core/map-cache.js';
import type { SharedHandle } from '../core/shared-array.js';

/** Rows [from, to) of `input`, normalised with `mean` and `std` per column, into `output`. */
export interface NormalizeTask {
  input: SharedHandle;
  output: SharedHandle;
  mean: number[];
  std: number[];
  from: number;
  to: number;
}

/** Writes (x − mean) / std (0 where std is 0) for its rows; returns the number of rows written. */
export default function normalize(task: NormalizeTask): number {
  pruneMapCache(); // a disposed store's pages are released by the next task at the latest
  const input = openSharedCached(task.input);
  const output = openSharedCached(task.output);
  const columns = task.mean.length;
  const scale = task.std.map((s) => (s > 0 ? 1 / s : 0));
  const x = input.data;
  const y = output.data;
  for (let c = 0; c < columns; c++) {
    const m = task.mean[c] ?? 0;
    const k = scale[c] ?? 0;
    for (let i = task.from * columns + c, end = task.to * columns; i < end; i += columns) y[i] = ((x[i] as number) - m) * k;
  }
  output.flush();
  return task.to - task.from;
}
