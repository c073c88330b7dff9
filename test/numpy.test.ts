// numpy on the other side, both ways, on the same pages: numpy writes into a file that a live
// shmarray worker has mapped 'r+', and the worker sees the writes without reopening anything.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { columnStats, createShared, DTYPES, float16FromBits, HAS_FLOAT16ARRAY, openShared, type DType } from '../dist/index.js';
import { makePool, numpyPython, rejectsWithCode, RUNTIMES, tempDir, throwsWithCode } from './helpers.js';

const tmp = tempDir('shmarray-numpy-');
after(() => tmp.dispose());
const skip = numpyPython === undefined && 'NO NUMPY: install python3-numpy (.ci/run does) to run the numpy tests';

for (const runtime of RUNTIMES) {
  test(`numpy writes (np.load mmap_mode="r+") into a .npy a live ${runtime} worker has mapped 'r+'; the worker sees them`, { skip }, async () => {
    const path = tmp.path(`shared-${runtime}.npy`);
    const a = createShared(path, [100, 4], { dtype: 'float64' });
    a.data[5] = 1;
    const handle = a.handle;
    a.close();
    const pool = makePool(runtime, 'hold-open.mjs', 1);
    try {
      await pool.run({ op: 'open', handle });
      assert.equal(await pool.run({ op: 'read', index: 5 }), 1);
      execFileSync(numpyPython as string, ['-c', `import numpy as np\na = np.load(${JSON.stringify(path)}, mmap_mode='r+')\nassert a.shape == (100, 4) and a.dtype == np.float64\na[1, 1] = 42.5\na.flush()`]);
      assert.equal(await pool.run({ op: 'read', index: 5 }), 42.5, 'the same mapping shows numpy\'s write');
      await pool.run({ op: 'close' });
    } finally {
      await pool.destroy();
    }
  });
}

/** Every dtype numpy has that shmarray maps (bfloat16 is not numpy's). */
const NPY_DTYPES = DTYPES.filter((d) => d !== 'bfloat16');

/**
 * numpy writes, for each dtype, a C-ordered and a Fortran-ordered .npy of seeded random values
 * (64-bit integers past 2^53, float16 across its range, bool), and prints each array's elements in
 * memory order (exact: integers as decimal strings, floats as float64) and its float64 statistics.
 */
function numpyWrites(dir: string, rows: number, columns: number): Record<string, { values: string[]; mean: number[]; std: number[]; min: number[]; max: number[] }> {
  const script = `import json, sys, numpy as np
rng = np.random.default_rng(7)
out = {}
for name in sys.argv[2:]:
    shape = (${rows}, ${columns})
    if name == 'bool':
        a = rng.random(shape) < 0.3
    elif name.startswith('float'):
        a = (rng.standard_normal(shape) * 1000).astype(name)
    else:
        info = np.iinfo(name)
        a = rng.integers(info.min, info.max, shape, dtype=name, endpoint=True)
    for order in 'CF':
        np.save(f'{sys.argv[1]}/{name}-{order}.npy', a if order == 'C' else np.asfortranarray(a))
        flat = a.ravel(order=order)
        values = [str(v) for v in flat.tolist()] if a.dtype.kind in 'iu' else [repr(float(v)) for v in flat.astype(np.float64)]
        f = a.astype(np.float64)
        out[f'{name}-{order}'] = {'values': values, 'mean': f.mean(axis=0).tolist(), 'std': f.std(axis=0).tolist(), 'min': f.min(axis=0).tolist(), 'max': f.max(axis=0).tolist()}
print(json.dumps(out))`;
  return JSON.parse(execFileSync(numpyPython as string, ['-c', script, dir, ...NPY_DTYPES], { encoding: 'utf8', maxBuffer: 256 << 20 }));
}

/** Floats (and bool) compare as numbers; integers as decimal strings, exact past 2^53. */
const isFloat = (dtype: DType): boolean => dtype === 'float16' || dtype === 'float32' || dtype === 'float64' || dtype === 'bool';
const exact = (dtype: DType, v: number | bigint | string): number | string => (isFloat(dtype) ? Number(v) : String(v));

describe('every numpy dtype, C and Fortran order, both ways', { skip }, () => {
  const dir = tmp.path('dtypes');
  mkdirSync(dir);
  const printed = numpy(() => numpyWrites(dir, 500, 3));

  for (const dtype of NPY_DTYPES) {
    test(`${dtype}: shmarray reads the C- and F-ordered .npy numpy wrote, element for element in memory order; order says which`, () => {
      for (const order of ['C', 'F'] as const) {
        const want = printed()[`${dtype}-${order}`]?.values ?? [];
        const a = openShared(`${dir}/${dtype}-${order}.npy`);
        try {
          assert.equal(a.dtype, dtype);
          assert.equal(a.order, order);
          assert.deepEqual(a.shape, [500, 3]);
          const bits = dtype === 'float16' && !HAS_FLOAT16ARRAY;
          const got = Array.from(a.data as ArrayLike<number | bigint>, (v) => exact(dtype, bits ? float16FromBits(v as number) : v));
          assert.equal(got.length, 1500);
          assert.deepEqual(got, want.map((v) => exact(dtype, v)));
        } finally {
          a.close();
        }
      }
    });

    test(`${dtype}: columnStats equals numpy's float64 mean, std, min and max to 1e-9`, async () => {
      const expected = printed()[`${dtype}-C`];
      assert.ok(expected);
      const stats = await columnStats(openShared(`${dir}/${dtype}-C.npy`), { workers: 0 });
      for (const k of ['mean', 'std', 'min', 'max'] as const) {
        stats[k].forEach((v, c) => {
          const e = expected[k][c] as number;
          assert.ok(Math.abs(v - e) <= 1e-9 * Math.max(Math.abs(e), 1e-300), `${k}[${c}]: ${v} vs numpy ${e}`);
        });
      }
    });
  }

  test('an F-ordered array: row() and columnStats are ERR_SHM_* errors that say why; its handle carries the order', async () => {
    printed();
    const a = openShared(`${dir}/float32-F.npy`);
    try {
      assert.equal(a.handle.order, 'F');
      assert.match(throwsWithCode(() => a.row(0), 'ERR_SHM_BAD_ARGUMENT').message, /Fortran \(column-major\) order/);
      const err = await rejectsWithCode(columnStats(a, { workers: 0 }), 'ERR_SHM_BAD_SHAPE');
      assert.match(err.message, /np\.ascontiguousarray/);
      assert.equal(openShared(a.handle).order, 'F');
    } finally {
      a.close();
    }
  });

  for (const runtime of RUNTIMES) {
    test(`a ${runtime} worker reads int64 and float16 arrays numpy wrote through their handles (shmarray/worker)`, async () => {
      printed();
      const pool = makePool(runtime, 'read-values.mjs', 1);
      try {
        for (const dtype of ['int64', 'float16'] as const) {
          const a = openShared(`${dir}/${dtype}-C.npy`);
          const r = (await pool.run({ handle: a.handle })) as { dtype: string; view: string; values: string[] };
          a.close();
          assert.equal(r.dtype, dtype);
          assert.equal(r.view, dtype === 'int64' ? 'BigInt64Array' : HAS_FLOAT16ARRAY ? 'Float16Array' : 'Uint16Array');
          const want = printed()[`${dtype}-C`]?.values ?? [];
          assert.deepEqual(r.values.map((v) => exact(dtype, v)), want.map((v) => exact(dtype, v)));
        }
      } finally {
        await pool.destroy();
      }
    });
  }
});

/** `fn` run once, on first use (the describe body runs even when skipped: numpy may be missing). */
function numpy<T>(fn: () => T): () => T {
  let value: T | undefined;
  return () => (value ??= fn());
}
