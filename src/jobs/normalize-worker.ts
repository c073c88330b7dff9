/** Worker: writes z-scored rows of a mapped input into a mapped, writable output. */
import { openSharedCached, pruneMapCache } from '../core/map-cache.js';
import { DECODE_BLOCK_ELEMENTS, decodeInto, readsAsNumbers } from '../core/numbers.js';
import type { SharedHandle } from '../core/shared-array.js';

/**
 * y[at + j] = (x[at + j + shift] − mean[c]) · scale[c] for the `count` elements from `at` (whole
 * rows of `columns`); `shift` maps y's index to x's (0 when x is the input itself, −at for scratch).
 */
function writeRows(x: ArrayLike<number>, shift: number, y: Float32Array | Float64Array, at: number, count: number, columns: number, mean: readonly number[], scale: readonly number[]): void {
  for (let c = 0; c < columns; c++) {
    const m = mean[c] ?? 0;
    const k = scale[c] ?? 0;
    for (let i = at + c, end = at + count; i < end; i += columns) y[i] = ((x[i + shift] as number) - m) * k;
  }
}

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
  // The output is a float array (normalize() checks it): its elements are written as numbers.
  const y = output.data as Float32Array | Float64Array;
  if (readsAsNumbers(input.dtype)) {
    writeRows(input.data as ArrayLike<number>, 0, y, task.from * columns, (task.to - task.from) * columns, columns, task.mean, scale);
  } else {
    // 64-bit integers, bfloat16, float16 bits: decoded a block at a time into float64 scratch.
    const rowsPer = Math.max(1, Math.floor(DECODE_BLOCK_ELEMENTS / columns));
    const scratch = new Float64Array(Math.min(task.to - task.from, rowsPer) * columns);
    for (let start = task.from; start < task.to; start += rowsPer) {
      const end = Math.min(task.to, start + rowsPer);
      decodeInto(input.dtype, input.data, start * columns, end * columns, scratch);
      writeRows(scratch, -start * columns, y, start * columns, (end - start) * columns, columns, task.mean, scale);
    }
  }
  output.flush();
  return task.to - task.from;
}
