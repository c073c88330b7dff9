/**
 * The public, versioned format of partial column statistics, `shmarray-partial-stats/1`: what one
 * machine (or job-array task) computes over its shards, small enough for a queue's job result, and
 * merged exactly anywhere else (Chan et al.), whatever the split and the order of the parts.
 *
 * Plain JSON. JSON has no NaN, ±Infinity or −0 (JSON.stringify writes null, null and 0), so those
 * four values travel as the strings "NaN", "Infinity", "-Infinity" and "-0"; every other number
 * as itself (a float64 survives a JSON round trip exactly). An empty part's min is "Infinity"
 * and its max "-Infinity", and so are those of a column whose values are all NaN (NaN is ignored
 * by min and max, as the kernels take them).
 */
import { ShmArrayError } from '../core/errors.js';
import { finishStats, mergeStats, type ColumnStats, type PartialStats } from './stats-math.js';

/** The format tag; a different major version is refused. */
export const PARTIAL_STATS_FORMAT = 'shmarray-partial-stats/1';

/** A float64 as JSON carries it here: a number, or one of the four values JSON cannot write. */
export type JsonFloat = number | 'NaN' | 'Infinity' | '-Infinity' | '-0';

/** Partial column statistics of some rows: counts, means, sums of squared deviations (M2), extremes. */
export interface PartialColumnStats {
  format: typeof PARTIAL_STATS_FORMAT;
  /** Rows counted. */
  rows: number;
  columns: number;
  mean: JsonFloat[];
  m2: JsonFloat[];
  min: JsonFloat[];
  max: JsonFloat[];
}

const FIELDS = ['mean', 'm2', 'min', 'max'] as const;

function encode(x: number): JsonFloat {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'Infinity';
  if (x === -Infinity) return '-Infinity';
  if (Object.is(x, -0)) return '-0';
  return x;
}

const SPECIAL: Readonly<Record<string, number>> = { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity, '-0': -0 };

/** The partial format of merged partial statistics. */
export function encodePartial(p: PartialStats, columns: number): PartialColumnStats {
  return { format: PARTIAL_STATS_FORMAT, rows: p.count, columns, mean: p.mean.map(encode), m2: p.m2.map(encode), min: p.min.map(encode), max: p.max.map(encode) };
}

/** How many characters of a string an error quotes: a hostile part can hold megabytes. */
const QUOTE_CHARS = 40;

/**
 * A value as an error message may show it: bounded, and never through JSON.stringify of the
 * whole value (a part nested 100k levels deep would overflow the stack).
 */
function quote(x: unknown): string {
  if (typeof x === 'string') return x.length <= QUOTE_CHARS ? JSON.stringify(x) : `${JSON.stringify(x.slice(0, QUOTE_CHARS))}… (a string of ${x.length} characters)`;
  if (typeof x === 'number') {
    if (Number.isNaN(x)) return 'the number NaN (the format writes it as the string "NaN")';
    if (!Number.isFinite(x)) return `${x < 0 ? '-' : ''}a number too large for float64 (JSON's 1e400 reads as ${x}; an infinite value is written as the string "${x < 0 ? '-' : ''}Infinity")`;
    return String(x);
  }
  if (Array.isArray(x)) return `an array of ${x.length} items`;
  if (x === null) return 'null';
  return typeof x === 'object' ? 'an object' : String(x);
}

function bad(part: number, field: string, why: string): ShmArrayError {
  return new ShmArrayError('ERR_SHM_BAD_ARGUMENT', `mergeColumnStats: part ${part}'s ${field} ${why}.`, { part, field, why });
}

/** The result of columnStats (or `shmarray stats --json`): it has `std`, and no format. */
function looksLikeFinalStats(v: Record<string, unknown>): boolean {
  return v['format'] === undefined && Array.isArray(v['std']) && Array.isArray(v['mean']) && typeof v['rows'] === 'number';
}

/** Checks one part (its index names it in errors) and decodes its numbers. */
function decode(value: unknown, part: number, columns: number | undefined): PartialStats & { columns: number } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad(part, 'value', `is ${quote(value)}, not an object (a partial from partialColumnStats or shmarray stats --partial)`);
  const v = value as Partial<Record<keyof PartialColumnStats, unknown>>;
  if (looksLikeFinalStats(v)) {
    throw new ShmArrayError(
      'ERR_SHM_BAD_ARGUMENT',
      `mergeColumnStats: part ${part} is finished statistics (columnStats' result, or shmarray stats --json output), not a partial: a std cannot be merged exactly. Take partials instead: partialColumnStats, or shmarray stats --partial.`,
      { part, field: 'format', why: 'is finished statistics, not a partial', finished: true },
    );
  }
  if (v.format !== PARTIAL_STATS_FORMAT) throw bad(part, 'format', `is ${v.format === undefined ? 'missing' : quote(v.format)}, not '${PARTIAL_STATS_FORMAT}'`);
  if (typeof v.rows !== 'number' || !Number.isSafeInteger(v.rows) || v.rows < 0) throw bad(part, 'rows', `must be a whole number from 0 to 2^53 − 1, not ${quote(v.rows)}`);
  if (typeof v.columns !== 'number' || !Number.isSafeInteger(v.columns) || v.columns < 1) throw bad(part, 'columns', `must be a whole number ≥ 1, not ${quote(v.columns)}`);
  if (columns !== undefined && v.columns !== columns) throw bad(part, 'columns', `is ${v.columns}, but part 0 has ${columns}: parts must have the same columns`);
  const out: Record<(typeof FIELDS)[number], number[]> = { mean: [], m2: [], min: [], max: [] };
  for (const field of FIELDS) {
    const list = v[field];
    if (!Array.isArray(list) || list.length !== v.columns) throw bad(part, field, `must be an array of ${v.columns} numbers (one per column), not ${quote(list)}`);
    const numbers = new Array<number>(v.columns);
    // An index loop, not map(): map skips an array's holes, which would then merge as 0.
    for (let c = 0; c < v.columns; c++) {
      if (!(c in list)) throw bad(part, `${field}[${c}]`, 'is a hole in the array (no value at all)');
      const x: unknown = list[c];
      if (typeof x === 'number' && Number.isFinite(x)) numbers[c] = x;
      else if (typeof x === 'string' && Object.hasOwn(SPECIAL, x)) numbers[c] = SPECIAL[x] as number;
      else throw bad(part, `${field}[${c}]`, `is ${quote(x)}, not a number (NaN, ±Infinity and -0 are written "NaN", "Infinity", "-Infinity", "-0")`);
    }
    out[field] = numbers;
  }
  for (let c = 0; c < v.columns; c++) {
    const lo = out.min[c] as number;
    const hi = out.max[c] as number;
    if ((out.m2[c] as number) < 0) throw bad(part, `m2[${c}]`, `is ${out.m2[c]}: a sum of squared deviations cannot be negative`);
    // min "Infinity" with max "-Infinity" is what a column without an ordered value gives (all NaN, or no rows).
    if (lo > hi && !(lo === Infinity && hi === -Infinity)) throw bad(part, `min[${c}]`, `(${lo}) is greater than max[${c}] (${hi})`);
  }
  return { count: v.rows, columns: v.columns, ...out };
}

/**
 * Merges partial statistics (from `partialColumnStats`, `shmarray stats --partial`, any machine,
 * in any order) into the column statistics of all their rows — the same as `columnStats` over all
 * the data, to float64 rounding. Bad parts are ERR_SHM_BAD_ARGUMENT naming the part and field.
 */
export function mergeColumnStats(partials: readonly PartialColumnStats[]): ColumnStats {
  const { merged, columns } = mergeDecoded(partials, 'mergeColumnStats');
  return finishStats(merged, columns);
}

/** {@link mergeColumnStats} stopped before the end: the partial of all the parts' rows, to merge again or write. */
export function mergePartials(partials: readonly PartialColumnStats[]): PartialColumnStats {
  const { merged, columns } = mergeDecoded(partials, 'mergePartials');
  return encodePartial(merged, columns);
}

/** The parts checked and merged. */
function mergeDecoded(partials: readonly PartialColumnStats[], fn: string): { merged: PartialStats; columns: number } {
  if (!Array.isArray(partials) || partials.length === 0) throw new ShmArrayError('ERR_SHM_BAD_ARGUMENT', `${fn} needs a non-empty array of partials.`, {});
  const first = decode(partials[0], 0, undefined);
  let merged: PartialStats = first;
  for (let i = 1; i < partials.length; i++) {
    const part = decode(partials[i], i, first.columns);
    // Past 2^53 − 1 a row count is no longer exact: 2^53 − 1 + 2 would read as 2^53.
    if (!Number.isSafeInteger(merged.count + part.count)) throw bad(i, 'rows', `(${part.count}) takes the parts' total past 2^53 − 1 rows, where counts are no longer exact`);
    merged = mergeStats(merged, part);
  }
  return { merged, columns: first.columns };
}
