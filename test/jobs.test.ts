import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import { serialize } from 'node:v8';
import { archiveStats, columnStats, createPool, mergeColumnStats, normalize, openShared, partialColumnStats, SharedStore, workerFiles, type SharedArray } from '../dist/index.js';
import { fillRows } from '../dist/bench/index.js';
import { finishStats, mergeStats, partialStats, partialStatsJs } from '../dist/jobs/stats-math.js';
import { buildZip } from '../dist/bench/zip-writer.js';
import { fixture, mappingsOf, numbersOf, processTree, setNumbers, pssShmem, rejectsWithCode, RUNTIMES, tempDir } from './helpers.js';

const tmp = tempDir('shmarray-jobs-');
const MiB = 2 ** 20;
after(() => tmp.dispose());

/** Two-pass float64 reference over all rows of all arrays. */
function reference(arrays: readonly SharedArray[], columns: number): { mean: number[]; std: number[]; min: number[]; max: number[]; rows: number } {
  const rows = arrays.reduce((s, a) => s + (a.shape[0] ?? 0), 0);
  const mean = new Array<number>(columns).fill(0);
  const min = new Array<number>(columns).fill(Infinity);
  const max = new Array<number>(columns).fill(-Infinity);
  const values = arrays.map(numbersOf);
  for (const data of values) for (let i = 0; i < data.length; i++) {
    const c = i % columns;
    const x = data[i] ?? 0;
    mean[c] = (mean[c] ?? 0) + x;
    min[c] = Math.min(min[c] ?? Infinity, x);
    max[c] = Math.max(max[c] ?? -Infinity, x);
  }
  for (let c = 0; c < columns; c++) mean[c] = (mean[c] ?? 0) / rows;
  const m2 = new Array<number>(columns).fill(0);
  for (const data of values) for (let i = 0; i < data.length; i++) {
    const d = (data[i] ?? 0) - (mean[i % columns] ?? 0);
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

describe("the statistics kernels: the addon's for float32, JavaScript's for every dtype", () => {
  for (const columns of [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 16]) {
    test(`${columns} columns, rows 5 to 20,005 of 20,011 (tails past whole vector groups): both equal a float64 reference to 1e-9`, async () => {
      await using store = await SharedStore.create({ dir: tmp.dir });
      const a = store.create(`k${columns}.f32`, [20_011, columns]);
      fillRows(a.data, columns, 3, 5);
      const part = store.create(`k${columns}-part.f32`, [20_000, columns]);
      part.data.set(a.data.subarray(5 * columns, 20_005 * columns));
      const ref = reference([part], columns);
      for (const [name, kernel] of [['C', partialStats], ['JS', partialStatsJs]] as const) {
        const stats = finishStats(kernel(a.data, columns, 5, 20_005), columns);
        assert.equal(stats.rows, 20_000, name);
        close(stats.mean, ref.mean, `${name} mean`);
        close(stats.std, ref.std, `${name} std`);
        assert.deepEqual(stats.min, ref.min, `${name} min`);
        assert.deepEqual(stats.max, ref.max, `${name} max`);
      }
    });
  }

  test('a NaN makes its column\'s mean and std NaN; min and max pass over it, in both kernels', () => {
    const data = Float32Array.from({ length: 4 * 1000 }, (_, i) => (i % 4) * 10 + Math.floor(i / 4));
    data[4 * 500 + 2] = NaN;
    for (const kernel of [partialStats, partialStatsJs]) {
      const stats = finishStats(kernel(data, 4, 0, 1000), 4);
      assert.ok(Number.isNaN(stats.mean[2]) && Number.isNaN(stats.std[2]));
      assert.deepEqual([stats.min[2], stats.max[2]], [20, 20 + 999]);
      assert.deepEqual(stats.mean.filter((_, c) => c !== 2), [499.5, 509.5, 529.5]);
    }
  });

  test('±Infinity, in the first row or later: the mean is ±Infinity as numpy gives it (NaN for both signs), std NaN, in both kernels and merged', () => {
    // Column 0: +Infinity in the first row; 1: +Infinity later; 2: -Infinity first; 3: both signs.
    const data = Float32Array.from({ length: 4 * 1000 }, (_, i) => 1 + (i % 7));
    data[0] = Infinity;
    data[4 * 600 + 1] = Infinity;
    data[2] = -Infinity;
    data[4 * 10 + 3] = Infinity;
    data[4 * 900 + 3] = -Infinity;
    for (const [name, kernel] of [['C', partialStats], ['JS', partialStatsJs]] as const) {
      const whole = finishStats(kernel(data, 4, 0, 1000), 4);
      const merged = finishStats(mergeStats(kernel(data, 4, 0, 333), kernel(data, 4, 333, 1000)), 4);
      for (const [how, stats] of [['one pass', whole], ['merged', merged]] as const) {
        assert.deepEqual(stats.mean.slice(0, 3), [Infinity, Infinity, -Infinity], `${name} ${how} mean`);
        assert.ok(Number.isNaN(stats.mean[3]), `${name} ${how}: +Infinity with -Infinity has a NaN mean`);
        assert.ok(stats.std.every(Number.isNaN), `${name} ${how} std`);
      }
    }
  });
});

test('workers: 0 takes the statistics in this thread: no worker starts, timers run between 64 MiB slices, and they equal a 2-worker run', async () => {
  await using store = await SharedStore.create({ dir: tmp.dir });
  const a = store.create('here.f32', [4_250_000, 4]); // 68 MB: two slices
  fillRows(a.data, 4, 0, 9);
  const threads = (): number => readdirSync('/proc/self/task').length;
  const before = threads();
  let ticks = 0;
  const timer = setInterval(() => ticks++, 0);
  const running = columnStats(a, { workers: 0 });
  const during = threads();
  const here = await running;
  clearInterval(timer);
  assert.equal(during, before, 'no thread was started');
  assert.ok(ticks > 0, 'the event loop turned while the statistics were taken');
  const pooled = await columnStats(a, { workers: 2 });
  close(here.mean, pooled.mean, 'mean');
  close(here.std, pooled.std, 'std');
  assert.deepEqual([here.rows, here.min, here.max], [pooled.rows, pooled.min, pooled.max]);
});

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
        // Rows, min and max are exact whatever the split.
        assert.deepEqual([r.rows, r.min, r.max], [results[0]?.rows, results[0]?.min, results[0]?.max]);
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

    test('int64 (past 2^53), uint64, bool, float16 and bfloat16 inputs: columnStats in workers equals a float64 reference to 1e-9; normalize of int64 into float64 has mean 0 and std 1', async () => {
      await using store = await SharedStore.create({ dir: tmp.dir });
      const rows = 40_001;
      let seed = 99;
      const random = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
      for (const dtype of ['int64', 'uint64', 'bool', 'float16', 'bfloat16'] as const) {
        const a = store.create(`typed-${dtype}.bin`, [rows, 3], { dtype });
        const scale = { int64: 2 ** 60, uint64: 2 ** 62, bool: 0, float16: 1000, bfloat16: 1e6 }[dtype];
        setNumbers(a, Array.from({ length: rows * 3 }, () => (dtype === 'bool' ? Number(random() < 0.3) : dtype === 'uint64' ? Math.floor(random() * scale) : Math.round((random() - 0.5) * scale))));
        const stats = await columnStats(a, { workers: 2, runtime });
        const ref = reference([a], 3);
        close(stats.mean, ref.mean, `${dtype} mean`);
        close(stats.std, ref.std, `${dtype} std`);
        assert.deepEqual([stats.min, stats.max], [ref.min, ref.max], dtype);
      }
      const input = store.create('z-in.bin', [rows, 3], { dtype: 'int64' });
      setNumbers(input, Array.from({ length: rows * 3 }, (_, i) => (i % 7) * 2 ** 55 - 3 * 2 ** 55));
      const output = store.create('z-out.f64', [rows, 3], { dtype: 'float64' });
      await normalize(input, output, await columnStats(input, { workers: 2, runtime }), { workers: 2, runtime });
      const z = await columnStats(output, { workers: 2, runtime });
      z.mean.forEach((m) => assert.ok(Math.abs(m) < 1e-9, `normalised mean ${m}`));
      z.std.forEach((s) => assert.ok(Math.abs(s - 1) < 1e-9, `normalised std ${s}`));
      const intOut = store.create('z-out.i32', [rows, 3], { dtype: 'int32' });
      const err = await rejectsWithCode(normalize(input, intOut, { mean: [0, 0, 0], std: [1, 1, 1] }, { workers: 1, runtime }), 'ERR_SHM_BAD_DTYPE');
      assert.match(err.message, /z-scores, which int32 cannot hold/);
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

describe('a long-lived pool does not keep a disposed store in memory', () => {
  for (const runtime of RUNTIMES) {
    test(`${runtime}: the worker's next task releases the disposed 64 MiB`, async () => {
      await using pool = createPool(workerFiles.stats, { workers: 1, runtime });
      const store = await SharedStore.create({ dir: tmp.dir });
      const big = store.create('big.f32', [(64 * MiB) / 16, 4]);
      big.data.fill(1);
      await columnStats(big, { pool });
      const path = big.path;
      await store.dispose();
      // What this process and its workers map: no other process on the machine moves these figures.
      assert.ok(mappingsOf(path, processTree()).length > 0, 'the worker still maps the deleted file');
      const held = pssShmem();
      assert.ok(held >= 60 * MiB, `the worker holds ${(held / MiB).toFixed(1)} MiB of it`);
      await using other = await SharedStore.create({ dir: tmp.dir });
      const small = other.create('small.f32', [8, 4]);
      await columnStats(small, { pool });
      assert.deepEqual(mappingsOf(path, processTree()), [], 'no process of this test maps it after the next task');
      assert.ok(held - pssShmem() >= 60 * MiB, `the tree's Pss_Shmem dropped by ${((held - pssShmem()) / MiB).toFixed(1)} MiB after the next task`);
    });

    test(`${runtime}: pool.releaseMappings() releases it at once, on every worker`, async () => {
      await using pool = createPool(workerFiles.stats, { workers: 2, runtime });
      const store = await SharedStore.create({ dir: tmp.dir });
      const big = store.create('big.f32', [(64 * MiB) / 16, 4]);
      big.data.fill(1);
      await columnStats(big, { pool });
      await columnStats(big, { pool });
      const path = big.path;
      const held = pssShmem();
      await store.dispose();
      await pool.releaseMappings();
      assert.deepEqual(mappingsOf(path, processTree()), [], 'no process of this test maps it');
      assert.ok(held - pssShmem() >= 60 * MiB, `the tree's Pss_Shmem dropped by ${((held - pssShmem()) / MiB).toFixed(1)} MiB`);
    });
  }
});

describe('every job takes an AbortSignal and a timeout, and ends with ERR_SHM_ABORTED, the store intact', () => {
  const zip = tmp.path('ok.zip');
  writeFileSync(zip, buildZip([{ name: 'ok.f32', data: new Uint8Array(4096) }]));
  for (const runtime of RUNTIMES) {
    test(`${runtime}: a task that spins forever is stopped by its timeout; the pool replaces the worker and goes on`, async () => {
      await using pool = createPool(fixture('spin.mjs'), { workers: 1, runtime });
      const err = await rejectsWithCode(pool.run({}, { signal: AbortSignal.timeout(300) }), 'ERR_SHM_ABORTED');
      assert.equal(err.details['timedOut'], true);
      const env = (await pool.run({ names: ['PATH'] }, { filename: fixture('env.mjs') })) as { PATH: string };
      assert.equal(typeof env.PATH, 'string', 'the pool still runs tasks');
    });

    test(`${runtime}: columnStats with a 1 ms timeout, normalize and extractAll (in a pool) with an aborted signal`, async () => {
      await using store = await SharedStore.create({ dir: tmp.dir });
      const big = store.create('big.f32', [(64 * MiB) / 16, 4]);
      big.data.fill(2);
      const out = store.create('out.f32', [(64 * MiB) / 16, 4]);
      await rejectsWithCode(columnStats(big, { workers: 2, runtime, timeout: 1 }), 'ERR_SHM_ABORTED');
      const controller = new AbortController();
      controller.abort();
      await rejectsWithCode(normalize(big, out, { mean: [0, 0, 0, 0], std: [1, 1, 1, 1] }, { workers: 1, runtime, signal: controller.signal }), 'ERR_SHM_ABORTED');
      // In a pool of this runtime (without one, runtime does nothing: archives inflate on the addon's threads).
      await using pool = createPool(workerFiles.extract, { workers: 1, runtime });
      await rejectsWithCode(store.extractAll([zip], { pool, signal: controller.signal }), 'ERR_SHM_ABORTED');
      assert.deepEqual(store.files().map((f) => f.slice(store.dir.length + 1)), ['big.f32', 'out.f32'], 'the store is intact');
      assert.equal(big.data[big.length - 1], 2);
      const stats = await columnStats(big, { workers: 1, runtime });
      assert.deepEqual(stats.mean, [2, 2, 2, 2], 'and usable');
    });
  }
});

describe('a job given data rather than a shared array is ERR_SHM_BAD_ARGUMENT saying what to pass', () => {
  const cases: [string, () => Promise<unknown>, RegExp][] = [
    ['columnStats(new Float32Array(8))', () => columnStats(new Float32Array(8) as never), /^columnStats got a Float32Array: jobs send workers handles, never data, so they take SharedArrays or their handles; put the data in a shared file \(createShared, store\.create\)/],
    ['partialColumnStats([a Buffer])', () => partialColumnStats([Buffer.alloc(8)] as never, { workers: 0 }), /^partialColumnStats got a Buffer/],
    ['columnStats(42)', () => columnStats(42 as never), /^columnStats takes SharedArrays or their handles \(array\.handle\), not a number\./],
    ['columnStats({ path: 1 })', () => columnStats({ path: 1 } as never), /^columnStats got an object that is not a handle \(missing shape, offset, npy; path must be a string\)/],
  ];
  for (const [what, call, message] of cases) {
    test(what, async () => {
      const err = await rejectsWithCode(call(), 'ERR_SHM_BAD_ARGUMENT');
      assert.match(err.message, message);
    });
  }
});

describe("workers: 'auto' and archiveStats: the library decides where statistics run", () => {
  test("workers: 'auto' takes small data in this thread (no thread started) and equals a pool's answer; a bad value is ERR_SHM_BAD_ARGUMENT", async () => {
    await using store = await SharedStore.create({ dir: tmp.dir });
    const a = store.create('auto.f32', [100_000, 4]);
    fillRows(a.data, 4, 0, 3);
    const threads = (): number => readdirSync('/proc/self/task').length;
    const before = threads();
    const running = partialColumnStats(a, { workers: 'auto' });
    assert.equal(threads(), before, 'no worker was started');
    const auto = mergeColumnStats([await running]);
    const pooled = await columnStats(a, { workers: 2 });
    close(auto.mean, pooled.mean, 'mean');
    assert.deepEqual([auto.min, auto.max], [pooled.min, pooled.max]);
    await rejectsWithCode(columnStats(a, { workers: 'fast' as never }), 'ERR_SHM_BAD_ARGUMENT');
  });

  for (const runtime of RUNTIMES) {
    test(`archiveStats of 3 archives and a file, statistics in a ${runtime} pool: the merged partial equals columnStats over every array`, async () => {
      await using store = await SharedStore.create({ dir: tmp.dir });
      const zips = [0, 1, 2].map((k) => {
        const p = tmp.path(`as-${runtime}-${k}.zip`);
        writeFileSync(p, buildZip([{ name: `p${k}.f32`, data: new Uint8Array(Float32Array.from({ length: 4000 }, (_, i) => i * (k + 1)).buffer) }]));
        return p;
      });
      const file = store.create('extra.f32', [10, 4]);
      file.data.fill(7);
      const part = await archiveStats(store, zips, [file.handle], { columns: 4, workers: 2, runtime });
      const all = await columnStats([...store.files().map((f) => openShared(f, [f.endsWith('extra.f32') ? 10 : 1000, 4]))], { workers: 0 });
      const merged = mergeColumnStats([part]);
      assert.equal(merged.rows, 3010);
      close(merged.mean, all.mean, 'mean');
      close(merged.std, all.std, 'std');
      assert.deepEqual([merged.min, merged.max], [all.min, all.max]);
    });
  }
});
