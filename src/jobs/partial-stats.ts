/**
 * The public, versioned format of partial column statistics, `shmarray-partial-stats/1`: what one
 * machine (or job-array task) computes over its shards, small enough for a queue's job result, and
 * merged exactly anywhere else (Chan et al.), whatever the split and the order of the parts.
 *
 * Plain JSON. JSON has no NaN, ±Infinity or −0 (JSON.stringify writes null, null and 0), so those
 * four values travel as the strings "NaN", "Infinity", "-Infinity" and "-0"; every other number
 * as itself (a float64 survives a JSON round trip exactly). An empty part's min is "Infinity"
 * and its max "-Infinity".
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

function bad(part: number, field: string, why: string): ShmArrayError {
  return new ShmArrayError('ERR_SHM_BAD_ARGUMENT', `mergeColumnStats: part ${part}'s ${field} ${why}.`, { part, field });
}

/** Checks one part (its index names it in errors) and decodes its numbers. */
function decode(value: unknown, part: number, columns: number | undefined): PartialStats & { columns: number } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad(part, 'value', 'is not an object (a partial from partialColumnStats or shmarray stats --partial)');
  const v = value as Partial<Record<keyof PartialColumnStats, unknown>>;
  if (v.format !== PARTIAL_STATS_FORMAT) throw bad(part, 'format', `is ${JSON.stringify(v.format)}, not '${PARTIAL_STATS_FORMAT}'`);
  if (typeof v.rows !== 'number' || !Number.isSafeInteger(v.rows) || v.rows < 0) throw bad(part, 'rows', `must be a whole number ≥ 0, not ${JSON.stringify(v.rows)}`);
  if (typeof v.columns !== 'number' || !Number.isSafeInteger(v.columns) || v.columns < 1) throw bad(part, 'columns', `must be a whole number ≥ 1, not ${JSON.stringify(v.columns)}`);
  if (columns !== undefined && v.columns !== columns) throw bad(part, 'columns', `is ${v.columns}, but part 0 has ${columns}: parts must have the same columns`);
  const out: Record<(typeof FIELDS)[number], number[]> = { mean: [], m2: [], min: [], max: [] };
  for (const field of FIELDS) {
    const list = v[field];
    if (!Array.isArray(list) || list.length !== v.columns) throw bad(part, field, `must be an array of ${v.columns} numbers (one per column)`);
    out[field] = list.map((x: unknown, c) => {
      if (typeof x === 'number' && Number.isFinite(x)) return x;
      if (typeof x === 'string' && Object.hasOwn(SPECIAL, x)) return SPECIAL[x] as number;
      throw bad(part, `${field}[${c}]`, `is ${JSON.stringify(x)}, not a number (NaN, ±Infinity and -0 are written "NaN", "Infinity", "-Infinity", "-0")`);
    });
  }
  for (let c = 0; c < v.columns; c++) {
    if ((out.m2[c] as number) < 0) throw bad(part, `m2[${c}]`, `is ${out.m2[c]}: a sum of squared deviations cannot be negative`);
    if (v.rows > 0 && (out.min[c] as number) > (out.max[c] as number)) throw bad(part, `min[${c}]`, `(${out.min[c]}) is greater than max[${c}] (${out.max[c]})`);
  }
  return { count: v.rows, columns: v.columns, ...out };
}

/**
 * Merges partial statistics (from `partialColumnStats`, `shmarray stats --partial`, any machine,
 * in any order) into the column statistics of all their rows — the same as `columnStats` over all
 * the data, to float64 rounding. Bad parts are ERR_SHM_BAD_ARGUMENT naming the part and field.
 */
export function mergeColumnStats(partials: readonly PartialColumnStats[]): ColumnStats {
  if (!Array.isArray(partials) || partials.length === 0) throw new ShmArrayError('ERR_SHM_BAD_ARGUMENT', 'mergeColumnStats needs a non-empty array of partials.', {});
  const first = decode(partials[0], 0, undefined);
  let merged: PartialStats = first;
  for (let i = 1; i < partials.length; i++) merged = mergeStats(merged, decode(partials[i], i, first.columns));
  return finishStats(merged, first.columns);
}
