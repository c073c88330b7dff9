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
