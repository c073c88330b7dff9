import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { serialize } from 'node:v8';
import { columnStats, createPool, workerFiles, normalize, SharedStore, type SharedArray } from '../dist/index.js';
import { fillRows } from '../dist/bench/index.js';
import { rejectsWithCode, RUNTIMES, tempDir } from './helpers.js';

const tmp = tempDir('shmarray-jobs-');
after(() => tmp.dispose());

/** Two-pass float64 reference over all rows of all arrays. */
function reference(arrays: readonly SharedArray[], columns: number): { mean: number[]; std: number[]; min: number[]; max: number[]; rows: number } {
  const rows = arrays.reduce((s, a) => s + (a.shape[0] ?? 0), 0);
  const mean = new Array<number>(columns).fill(0);
  const min = new Array<number>(columns).fill(Infinity);
  const max = new Array<number>(columns).fill(-Infinity);
  for (const a of arrays) for (let i = 0; i < a.data.length; i++) {
    const c = i % columns;
    const x = a.data[i] ?? 0;
    mean[c] = (mean[c] ?? 0) + x;
    min[c] = Math.min(min[c] ?? Infinity, x);
    max[c] = Math.max(max[c] ?? -Infinity, x);
  }
  for (let c = 0; c < columns; c++) mean[c] = (mean[c] ?? 0) / rows;
  const m2 = new Array<number>(columns).fill(0);
  for (const a of arrays) for (let i = 0; i < a.data.length; i++) {
    const d = (a.data[i] ?? 0) - (mean[i % columns] ?? 0);
    m2[i % columns] = (m2[i % columns] ?? 0) + d * d;
  }
  return { rows, mean, std: m2.map((m) => Math.sqrt(m / rows)), min, max };
}

function close(actual: readonly number[], expected: readonly number[], what: string): void {
  actual.forEach((a, i) => {
    const e = expected[i] ?? NaN;
    const rel = Math.abs(a - e) / Math.max(Math.abs(e), 1e-300);
    assert.ok(rel <= 1e-9, `${what}[${i}]: ${a} vs ${e} (relative error ${rel})`);
  });
}

for (const runtime of RUNTIMES) {
  describe(`data jobs: ${runtime}`, () => {
    test('columnStats over several arrays equals a float64 reference to 1e-9', async () => {
      await using store = await SharedStore.create({ dir: tmp.dir });
      const arrays = [100_003, 77_777, 5].map((rows, k) => {
        const a = store.create(`part${k}.f32`, [rows, 4]);
        fillRows(a.data, 4, k * 1_000_000, 11);
        return a;
      });
      const stats = await columnStats(arrays, { workers: 2, runtime });
      const ref = reference(arrays, 4);
      assert.equal(stats.rows, ref.rows);
      close(stats.mean, ref.mean, 'mean');
      close(stats.std, ref.std, 'std');
      assert.deepEqual(stats.min, ref.min);
      assert.deepEqual(stats.max, ref.max);
    });

    test('the split across workers does not change the answer (1, 2 and 3 workers, a shared pool)', async () => {
      await using store = await SharedStore.create({ dir: tmp.dir });
      const a = store.create('a.f32', [50_001, 3]);
      fillRows(a.data, 3, 0, 5);
      const results = [];
      for (const workers of [1, 2, 3]) results.push(await columnStats(a, { workers, runtime }));
      await using pool = createPool(workerFiles.stats, { workers: 2, runtime });
      results.push(await columnStats([a.handle], { pool }));
      for (const r of results.slice(1)) {
        close(r.mean, results[0]?.mean ?? [], 'mean');
        close(r.std, results[0]?.std ?? [], 'std');
      }
    });

    test('normalize writes z-scores into a shared output; each task message is under 2 KiB for 480 KB of rows', async () => {
      await using store = await SharedStore.create({ dir: tmp.dir });
      const input = store.create('in.f32', [30_000, 4]);
      fillRows(input.data, 4, 0, 3);
      const output = store.create('out.f32', [30_000, 4]);
      const stats = await columnStats(input, { workers: 2, runtime });
      // The pool is the user's own; what each task sends is measured as v8 serializes it.
      await using pool = createPool(workerFiles.normalize, { workers: 2, runtime });
      const sizes: number[] = [];
      const run = pool.run.bind(pool);
      pool.run = (task, options) => {
        sizes.push(serialize(task).length);
        return run(task, options);
      };
      await normalize(input, output, stats, { pool });
      assert.ok(sizes.length >= 2, `${sizes.length} tasks`);
      assert.ok(Math.max(...sizes) < 2048, `task messages of ${sizes.join(', ')} bytes`);
      for (let i = 0; i < input.data.length; i += 97) {
        const c = i % 4;
        const expected = Math.fround(((input.data[i] ?? 0) - (stats.mean[c] ?? 0)) / (stats.std[c] ?? 1));
        assert.ok(Math.abs((output.data[i] ?? NaN) - expected) <= 1e-5 * Math.max(1, Math.abs(expected)), `element ${i}`);
      }
      const after = await columnStats(output, { workers: 2, runtime });
      after.mean.forEach((m) => assert.ok(Math.abs(m) < 1e-5, `normalised mean ${m}`));
      after.std.forEach((s) => assert.ok(Math.abs(s - 1) < 1e-5, `normalised std ${s}`));
    });

    test('jobs refuse mismatched columns and read-only outputs with a clear code', async () => {
      await using store = await SharedStore.create({ dir: tmp.dir });
      const a = store.create('a.f32', [10, 4]);
      const b = store.create('b.f32', [10, 3]);
      await rejectsWithCode(columnStats([a, b], { workers: 1, runtime }), 'ERR_SHM_SHAPE_MISMATCH');
      const readOnly = { ...a.handle, mode: 'r' as const };
      await rejectsWithCode(normalize(a, readOnly, { mean: [0, 0, 0, 0], std: [1, 1, 1, 1] }, { workers: 1, runtime }), 'ERR_SHM_BAD_ARGUMENT');
    });
  });
}
