/** How rows are shared out among workers: contiguous, near-equal ranges. */

/** Splits `rows` into at most `parts` contiguous [from, to) ranges of near-equal size. */
export function splitRows(rows: number, parts: number): [number, number][] {
  const n = Math.max(1, Math.min(parts, rows));
  const out: [number, number][] = [];
  for (let i = 0; i < n; i++) out.push([Math.floor((rows * i) / n), Math.floor((rows * (i + 1)) / n)]);
  return rows === 0 ? [] : out;
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
