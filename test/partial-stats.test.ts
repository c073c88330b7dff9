// The public partial-statistics format: computed per shard, carried as JSON, merged in any order.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { columnStats, createPool, createShared, mergeColumnStats, partialColumnStats, workerFiles, type ColumnStats, type PartialColumnStats, type SharedArray } from '../dist/index.js';
import { mergeColumnStats as mergeFromWorkerEntry } from '../dist/worker.js';
import { tempDir, throwsWithCode } from './helpers.js';

const tmp = tempDir('shmarray-partial-');
const pool = createPool(workerFiles.stats, { workers: 2 });
after(async () => {
  await pool.destroy();
  tmp.dispose();
});

/** A deterministic pseudo-random generator (xorshift32), so every run checks the same data. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
}

const shards: SharedArray[] = [];
let reference: ColumnStats;
before(async () => {
  const r = rng(7);
  for (let i = 0; i < 15; i++) {
    const rows = 500 + Math.floor(r() * 3000);
    const a = createShared(tmp.path(`shard-${i}.f32`), [rows, 4]);
    for (let j = 0; j < a.data.length; j++) a.data[j] = (j % 4 === 0 ? 1e4 : 1) * (r() - 0.3) + i;
    shards.push(a);
  }
  reference = await columnStats(shards, { pool });
});

const shuffle = <T>(xs: T[], r: () => number): T[] => {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
};
const close = (a: number, b: number): boolean => a === b || Math.abs(a - b) <= 1e-12 * Math.max(Math.abs(a), Math.abs(b));

describe('merged partials equal columnStats over all the data (1e-12 relative)', () => {
  for (const parts of [1, 2, 7, 15]) {
    test(`${parts} parts, through JSON, shuffled, with an empty part`, async () => {
      const groups = Array.from({ length: parts }, (_, p) => shards.filter((_, i) => i % parts === p));
      const partials = await Promise.all(groups.map((g) => partialColumnStats(g, { pool })));
      partials.push(await partialColumnStats(createShared(tmp.path(`empty-${parts}.f32`), [0, 4]), { pool }));
      const carried = shuffle(partials, rng(parts)).map((p) => JSON.parse(JSON.stringify(p)) as PartialColumnStats);
      const merged = mergeColumnStats(carried);
      assert.equal(merged.rows, reference.rows);
      assert.equal(merged.columns, 4);
      for (const field of ['mean', 'std'] as const) {
        for (let c = 0; c < 4; c++) assert.ok(close(merged[field][c] as number, reference[field][c] as number), `${field}[${c}]: ${merged[field][c]} vs ${reference[field][c]}`);
      }
      assert.deepEqual(merged.min, reference.min);
      assert.deepEqual(merged.max, reference.max);
    });
  }

  test('shmarray/worker exports the same merge', async () => {
    const parts = await Promise.all([shards.slice(0, 5), shards.slice(5)].map((g) => partialColumnStats(g, { pool })));
    assert.deepEqual(mergeFromWorkerEntry(parts), mergeColumnStats(parts));
  });
});

test('NaN, ±Infinity and -0 survive a JSON round trip as strings', async () => {
  const a = createShared(tmp.path('special.f32'), [3, 4]);
  a.data.set([-0, 1, Infinity, NaN, -0, -Infinity, 2, 1, -0, 3, 5, 1]);
  const p = await partialColumnStats(a, { pool });
  const text = JSON.stringify(p);
  assert.match(text, /"-0"/);
  assert.match(text, /"NaN"/);
  assert.match(text, /"Infinity"/);
  assert.match(text, /"-Infinity"/);
  const merged = mergeColumnStats([JSON.parse(text) as PartialColumnStats]);
  const direct = await columnStats(a, { pool });
  for (const field of ['mean', 'std', 'min', 'max'] as const) {
    for (let c = 0; c < 4; c++) assert.ok(Object.is(merged[field][c], direct[field][c]), `${field}[${c}]: ${merged[field][c]} vs ${direct[field][c]}`);
  }
  assert.ok(Object.is(merged.min[0], -0), 'the -0 minimum of column 0 stays -0');
});

describe('a bad partial is ERR_SHM_BAD_ARGUMENT naming the part and the field', () => {
  let good: PartialColumnStats;
  before(async () => {
    good = await partialColumnStats(shards[0] as SharedArray, { pool });
  });
  const cases: [string, (p: PartialColumnStats) => unknown, RegExp][] = [
    ['a wrong format', (p) => ({ ...p, format: 'shmarray-partial-stats/2' }), /part 1's format/],
    ['columns that disagree with part 0', (p) => ({ ...p, columns: 3, mean: p.mean.slice(1), m2: p.m2.slice(1), min: p.min.slice(1), max: p.max.slice(1) }), /part 1's columns is 3, but part 0 has 4/],
    ['negative rows', (p) => ({ ...p, rows: -1 }), /part 1's rows/],
    ['fractional rows', (p) => ({ ...p, rows: 2.5 }), /part 1's rows/],
    ['m2 < 0', (p) => ({ ...p, m2: [-1, 0, 0, 0] }), /part 1's m2\[0\]/],
    ['an array of the wrong length', (p) => ({ ...p, max: p.max.slice(1) }), /part 1's max must be an array of 4/],
    ['min > max', (p) => ({ ...p, min: [5, 0, 0, 0], max: [1, 9, 9, 9] }), /part 1's min\[0\] \(5\) is greater than max\[0\] \(1\)/],
    ['a number written as null (plain JSON.stringify of NaN)', (p) => ({ ...p, mean: [null, 0, 0, 0] }), /part 1's mean\[0\] is null/],
  ];
  for (const [what, mutate, message] of cases) {
    test(what, () => {
      const err = throwsWithCode(() => mergeColumnStats([good, mutate(good) as PartialColumnStats]), 'ERR_SHM_BAD_ARGUMENT');
      assert.match(err.message, message);
      assert.equal(err.details['part'], 1);
    });
  }
  test('no partials at all', () => {
    throwsWithCode(() => mergeColumnStats([]), 'ERR_SHM_BAD_ARGUMENT');
  });
});

describe('merge accepts every partial that partialColumnStats produces: any split of any data merges to the one-shot result', () => {
  // Columns: ordinary values, all NaN, NaN here and there, ±Infinity among values, constant.
  const columnKinds = ['values', 'all-nan', 'some-nan', 'infinities', 'constant'] as const;
  for (const dtype of ['float32', 'float64'] as const) {
    test(`${dtype} (${dtype === 'float32' ? "the addon's kernel" : 'the JavaScript kernel'}): 40 random splits into 1–9 parts, empty parts included, through JSON`, async () => {
      const r = rng(dtype === 'float32' ? 3 : 4);
      for (let trial = 0; trial < 40; trial++) {
        const rows = Math.floor(r() * 300);
        const columns = 1 + Math.floor(r() * 5);
        const kinds = Array.from({ length: columns }, () => columnKinds[Math.floor(r() * columnKinds.length)] ?? 'values');
        const all = createShared(tmp.path(`prop-${dtype}-${trial}.bin`), [rows, columns], { dtype });
        for (let i = 0; i < rows; i++) {
          for (let c = 0; c < columns; c++) {
            const kind = kinds[c];
            const x = (r() - 0.5) * 1000;
            all.data[i * columns + c] = kind === 'all-nan' ? NaN : kind === 'some-nan' && r() < 0.2 ? NaN : kind === 'infinities' && r() < 0.1 ? (r() < 0.5 ? Infinity : -Infinity) : kind === 'constant' ? 7 : x;
          }
        }
        // Cut points anywhere, repeated cuts giving empty parts.
        const cuts = [0, ...Array.from({ length: Math.floor(r() * 9) }, () => Math.floor(r() * (rows + 1))), rows].sort((a, b) => a - b);
        const partials: PartialColumnStats[] = [];
        for (let k = 0; k + 1 < cuts.length; k++) {
          const from = cuts[k] as number;
          const to = cuts[k + 1] as number;
          const part = createShared(tmp.path(`prop-${dtype}-${trial}-${k}.bin`), [to - from, columns], { dtype });
          part.data.set(all.data.subarray(from * columns, to * columns));
          partials.push(JSON.parse(JSON.stringify(await partialColumnStats(part, { workers: 0 }))) as PartialColumnStats);
          part.close();
        }
        const merged = mergeColumnStats(shuffle(partials, r));
        const direct = await columnStats(all, { workers: 0 });
        all.close();
        assert.equal(merged.rows, direct.rows);
        for (const field of ['mean', 'std', 'min', 'max'] as const) {
          for (let c = 0; c < columns; c++) {
            const a = merged[field][c] as number;
            const b = direct[field][c] as number;
            assert.ok(Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b)) || close(a, b) || Math.abs(a - b) <= 1e-9, `trial ${trial} (${kinds[c]}), ${field}[${c}]: ${a} vs ${b}`);
          }
        }
      }
    });
  }

  test('an all-NaN column: its partial carries min "Infinity" and max "-Infinity", and merges', async () => {
    const a = createShared(tmp.path('all-nan.f32'), [3, 2]);
    a.data.set([NaN, 1, NaN, 2, NaN, 3]);
    const p = await partialColumnStats(a, { workers: 0 });
    assert.equal(p.min[0], 'Infinity');
    assert.equal(p.max[0], '-Infinity');
    const merged = mergeColumnStats([p, p]);
    assert.equal(merged.rows, 6);
    assert.ok(Number.isNaN(merged.mean[0]));
    assert.deepEqual([merged.min[1], merged.max[1]], [1, 3]);
  });
});

describe('hostile partials: a bounded message naming the real problem, never a crash', () => {
  let good: PartialColumnStats;
  before(async () => {
    good = await partialColumnStats(shards[0] as SharedArray, { workers: 0 });
  });
  const withHole = (list: number[], at: number): number[] => {
    const out = [...list];
    delete out[at]; // a hole, not undefined (eslint refuses a sparse literal)
    return out;
  };
  const deep = (levels: number): unknown => {
    let v: unknown = 1;
    for (let i = 0; i < levels; i++) v = [v];
    return v;
  };
  const cases: [string, (p: PartialColumnStats) => unknown, RegExp][] = [
    ['a value nested 100,000 levels deep', (p) => ({ ...p, mean: [deep(100_000), 0, 0, 0] }), /part 1's mean\[0\] is an array of 1 items, not a number/],
    ['a whole part nested 100,000 levels deep', () => deep(100_000), /part 1's value is an array of 1 items, not an object/],
    ['a 10 MB string', (p) => ({ ...p, format: 'x'.repeat(10_000_000) }), /part 1's format is "x{40}"… \(a string of 10000000 characters\)/],
    ['an array with a hole', (p) => ({ ...p, m2: withHole([0, 0, 0, 0], 1) }), /part 1's m2\[1\] is a hole in the array/],
    ['1e400 in the JSON (read as Infinity)', (p) => JSON.parse(JSON.stringify(p).replace(/"mean":\[[^,]+/, '"mean":[1e400')), /part 1's mean\[0\] is a number too large for float64 \(JSON's 1e400 reads as Infinity; an infinite value is written as the string "Infinity"\)/],
    ['rows past 2^53 − 1', (p) => ({ ...p, rows: 2 ** 53 }), /part 1's rows must be a whole number from 0 to 2\^53 − 1/],
    ['finished statistics (columnStats, stats --json) in place of a partial', () => ({ rows: 3, columns: 4, mean: [0, 0, 0, 0], std: [0, 0, 0, 0], min: [0, 0, 0, 0], max: [0, 0, 0, 0] }), /part 1 is finished statistics \(columnStats' result, or shmarray stats --json output\), not a partial[^]*partialColumnStats, or shmarray stats --partial/],
  ];
  for (const [what, mutate, message] of cases) {
    test(what, () => {
      const err = throwsWithCode(() => mergeColumnStats([good, mutate(good) as PartialColumnStats]), 'ERR_SHM_BAD_ARGUMENT');
      assert.match(err.message, message);
      assert.ok(err.message.length < 400, `a message of ${err.message.length} characters`);
    });
  }
  test('row counts that add up past 2^53 − 1 are refused, naming the part that took the total past it', () => {
    const big = { ...good, rows: 2 ** 53 - 1 };
    const err = throwsWithCode(() => mergeColumnStats([big, { ...good, rows: 2 }]), 'ERR_SHM_BAD_ARGUMENT');
    assert.match(err.message, /part 1's rows \(2\) takes the parts' total past 2\^53 − 1 rows/);
  });
});
