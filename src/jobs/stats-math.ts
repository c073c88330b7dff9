/**
 * Column statistics of 2-D row-major data, computed in parts and merged exactly: each part keeps
 * count, mean, M2 (sum of squared deviations), min and max per column in float64, and parts merge
 * with Chan et al.'s parallel formula, so the split across workers does not change the answer.
 */
import type { DType, NumericArray } from '../core/dtype.js';
import { columnSums } from '../core/native.js';
import { DECODE_BLOCK_ELEMENTS, decodeInto, readsAsNumbers } from '../core/numbers.js';

/** Statistics of one part of the rows (plain data: it travels back from workers). */
export interface PartialStats {
  count: number;
  mean: number[];
  m2: number[];
  min: number[];
  max: number[];
}

/** Per-column statistics over all rows. `std` is the population standard deviation (ddof = 0, like numpy's default). */
export interface ColumnStats {
  rows: number;
  columns: number;
  mean: number[];
  std: number[];
  min: number[];
  max: number[];
}

/** Rows summed per block before the block joins the running totals: keeps float64 error ~ (B + n/B)·ε, not n·ε. */
const BLOCK_ROWS = 4096;

/** An empty part for `columns` columns. */
export function emptyStats(columns: number): PartialStats {
  return { count: 0, mean: new Array<number>(columns).fill(0), m2: new Array<number>(columns).fill(0), min: new Array<number>(columns).fill(Infinity), max: new Array<number>(columns).fill(-Infinity) };
}

/**
 * Statistics of rows [from, to) of `data` (row-major, `columns` per row, of `dtype`). Sums are
 * taken of x − shift (the part's first row, see {@link shiftOf}), blocked, in float64: one pass
 * over the data. Float32 data (the common case) goes to the addon's C kernel, about 5× this file's
 * JS; other dtypes to {@link partialStatsJs}; 64-bit integers, bfloat16 and float16 bits are
 * decoded to float64 a block at a time first. All give the same statistics up to float64 rounding.
 * `dtype` tells float16 bits from uint16 (both a Uint16Array); without it the array's type decides.
 */
export function partialStats(data: NumericArray, columns: number, from: number, to: number, dtype?: DType): PartialStats {
  if (dtype !== undefined && !readsAsNumbers(dtype)) return decodedStats(data, dtype, columns, from, to);
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) return decodedStats(data, data instanceof BigInt64Array ? 'int64' : 'uint64', columns, from, to);
  if (!(data instanceof Float32Array) || to <= from) return partialStatsJs(data, columns, from, to);
  return fromSums(columnSums(data, columns, from, to), data, columns, from, to);
}

/** {@link partialStats} of data that does not read as numbers: decoded a block of rows at a time, the blocks merged. */
function decodedStats(data: NumericArray, dtype: DType, columns: number, from: number, to: number): PartialStats {
  const rowsPer = Math.max(1, Math.floor(DECODE_BLOCK_ELEMENTS / columns));
  const scratch = new Float64Array(Math.min(to - from, rowsPer) * columns);
  let acc = emptyStats(columns);
  for (let start = from; start < to; start += rowsPer) {
    const end = Math.min(to, start + rowsPer);
    decodeInto(dtype, data, start * columns, end * columns, scratch);
    acc = mergeStats(acc, partialStatsJs(scratch, columns, 0, end - start));
  }
  return acc;
}

/** {@link partialStats} in JavaScript, for every dtype (and the benchmark's comparison). */
export function partialStatsJs(data: NumericArray, columns: number, from: number, to: number): PartialStats {
  if (to <= from) return emptyStats(columns);
  // Laid out as the C kernel's result (src/native/stats.h): Σ(x − k), Σ(x − k)², min, max per column.
  const sums = new Float64Array(4 * columns);
  for (let c = 0; c < columns; c++) {
    sums[4 * c + 2] = Infinity;
    sums[4 * c + 3] = -Infinity;
  }
  for (let start = from; start < to; start += BLOCK_ROWS) {
    const end = Math.min(to, start + BLOCK_ROWS);
    for (let c = 0; c < columns; c++) {
      const k = shiftOf(data[from * columns + c]);
      let s = 0;
      let q = 0;
      let lo = sums[4 * c + 2] ?? Infinity;
      let hi = sums[4 * c + 3] ?? -Infinity;
      for (let i = start * columns + c, stop = end * columns; i < stop; i += columns) {
        const x = data[i] as number;
        const d = x - k;
        s += d;
        q += d * d;
        if (x < lo) lo = x;
        if (x > hi) hi = x;
      }
      // The block's sums join the totals only now (see BLOCK_ROWS).
      sums[4 * c] = (sums[4 * c] ?? 0) + s;
      sums[4 * c + 1] = (sums[4 * c + 1] ?? 0) + q;
      sums[4 * c + 2] = lo;
      sums[4 * c + 3] = hi;
    }
  }
  return fromSums(sums, data, columns, from, to);
}

/**
 * The shift of a column: its value in the part's first row, or 0 where that is ±Infinity or NaN
 * (Infinity − Infinity would make the column's sums NaN where its mean is Infinity). The C kernel
 * (src/native/stats.cc) chooses the same.
 */
function shiftOf(x: number | bigint | undefined): number {
  const v = Number(x ?? 0);
  return Number.isFinite(v) ? v : 0;
}

/** A part's statistics from its sums (4 per column, as the kernels return them) and its shift, row `from`. */
function fromSums(sums: Float64Array, data: NumericArray, columns: number, from: number, to: number): PartialStats {
  const out = emptyStats(columns);
  const n = to - from;
  for (let c = 0; c < columns; c++) {
    const s = sums[4 * c] ?? 0;
    out.mean[c] = shiftOf(data[from * columns + c]) + s / n;
    out.m2[c] = Math.max(0, (sums[4 * c + 1] ?? 0) - (s * s) / n);
    out.min[c] = sums[4 * c + 2] ?? Infinity;
    out.max[c] = sums[4 * c + 3] ?? -Infinity;
  }
  out.count = n;
  return out;
}

/** Merges two parts (Chan, Golub & LeVeque): exact in exact arithmetic, stable in float64. */
export function mergeStats(a: PartialStats, b: PartialStats): PartialStats {
  if (a.count === 0) return b;
  if (b.count === 0) return a;
  const n = a.count + b.count;
  const out = emptyStats(a.mean.length);
  out.count = n;
  for (let c = 0; c < a.mean.length; c++) {
    const ma = a.mean[c] ?? 0;
    const mb = b.mean[c] ?? 0;
    if (Number.isFinite(ma) && Number.isFinite(mb)) {
      const delta = mb - ma;
      out.mean[c] = ma + (delta * b.count) / n;
      out.m2[c] = (a.m2[c] ?? 0) + (b.m2[c] ?? 0) + (delta * delta * a.count * b.count) / n;
    } else {
      // An infinite or NaN mean: Chan's delta would be Infinity − Infinity. The weighted sum keeps
      // Infinity (and gives NaN for +Infinity with −Infinity, as one pass does); the spread of a
      // column holding an infinity is NaN, as one pass gives it (and numpy's std).
      out.mean[c] = ma * (a.count / n) + mb * (b.count / n);
      out.m2[c] = NaN;
    }
    out.min[c] = Math.min(a.min[c] ?? Infinity, b.min[c] ?? Infinity);
    out.max[c] = Math.max(a.max[c] ?? -Infinity, b.max[c] ?? -Infinity);
  }
  return out;
}

/** Final statistics from merged parts. */
export function finishStats(p: PartialStats, columns: number): ColumnStats {
  return {
    rows: p.count,
    columns,
    mean: p.count === 0 ? new Array<number>(columns).fill(NaN) : [...p.mean],
    std: p.m2.map((m) => (p.count === 0 ? NaN : Math.sqrt(m / p.count))),
    min: p.count === 0 ? new Array<number>(columns).fill(NaN) : [...p.min],
    max: p.count === 0 ? new Array<number>(columns).fill(NaN) : [...p.max],
  };
}
