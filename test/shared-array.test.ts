import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { createShared, DTYPES, ERROR_CODES, float16FromBits, float16ToBits, itemSize, maxArrayLength, openShared, ShmArrayError, type DType, type ShmErrorCode } from '../dist/index.js';
import { makeErrorCases } from './error-cases.js';
import { inChild, mappingsOf, NO_TMPFS, numbersOf, numpyPython, setNumbers, smallTmpfs, tempDir, throwsWithCode } from './helpers.js';

const vectors = fileURLToPath(new URL('./vectors/', import.meta.url));
const tmp = tempDir();
const MiB = 2 ** 20;
after(() => tmp.dispose());

/**
 * The values test/vectors/make.py wrote with numpy, as numbers: (i*3 - 17) cast to dtype (wrapped
 * for unsigned, nonzero for bool), floats divided by 7 in their own precision.
 */
function numpyValues(dtype: DType, n: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const v = i * 3 - 17;
    const bits = { uint8: 8, uint16: 16, uint32: 32, uint64: 64 }[dtype as string];
    out.push(
      dtype === 'float32' ? Math.fround(v / 7)
      : dtype === 'float64' ? v / 7
      : dtype === 'float16' ? float16FromBits(float16ToBits(v / 7))
      : dtype === 'bool' ? Number(v !== 0)
      : bits !== undefined ? Number(BigInt.asUintN(bits, BigInt(v)))
      : v,
    );
  }
  return out;
}

/** The dtypes numpy saves (bfloat16 is not one of numpy's). */
const NPY_DTYPES = DTYPES.filter((d) => d !== 'bfloat16');

describe('round trips', () => {
  for (const dtype of NPY_DTYPES) {
    test(`${dtype}: reads the .npy numpy wrote`, () => {
      const a = openShared(`${vectors}${dtype}.npy`);
      assert.equal(a.dtype, dtype);
      assert.deepEqual(a.shape, [4, 6]);
      assert.equal(a.mode, 'r');
      assert.deepEqual(numbersOf(a), numpyValues(dtype, 24));
    });
  }
  for (const dtype of DTYPES) {
    for (const format of ['raw', 'npy'] as const) {
      if (format === 'npy' && dtype === 'bfloat16') {
        test('bfloat16: createShared npy is ERR_SHM_BAD_DTYPE (numpy has no bfloat16), and nothing is created', () => {
          const path = tmp.path('rt-bfloat16.npy');
          const err = throwsWithCode(() => createShared(path, [3, 5], { dtype }), 'ERR_SHM_BAD_DTYPE');
          assert.match(err.message, /numpy has no bfloat16 dtype/);
          assert.equal(existsSync(path), false);
        });
        continue;
      }
      test(`${dtype}: createShared ${format} → openShared reads the same values`, () => {
        const path = tmp.path(`rt-${dtype}.${format === 'npy' ? 'npy' : 'bin'}`);
        const out = createShared(path, [3, 5], { dtype, npy: format === 'npy' });
        const values = Array.from({ length: 15 }, (_, i) => (dtype === 'bool' ? i % 2 : i - 7));
        setNumbers(out, values);
        out.flush();
        const back = format === 'npy' ? openShared(path) : openShared(path, [3, 5], { dtype });
        assert.equal(back.dtype, dtype);
        assert.deepEqual(numbersOf(back), numbersOf(out));
        // Negative values wrap in unsigned dtypes, as a cast does.
        assert.deepEqual(numbersOf(back), values.map((v) => (dtype.startsWith('uint') ? Number(BigInt.asUintN(itemSize(dtype) * 8, BigInt(v))) : v)));
        assert.equal(statSync(path).size, back.offset + 15 * itemSize(dtype));
      });
    }
  }

  test('numpy (np.load, mmap_mode="r") reads the .npy files shmarray writes, every dtype', { skip: numpyPython === undefined && 'NO NUMPY: install python3-numpy to run this test' }, () => {
    const checks = NPY_DTYPES.map((dtype) => {
      const path = tmp.path(`for-numpy-${dtype}.npy`);
      const a = createShared(path, [2, 3], { dtype });
      setNumbers(a, [1, 2, 3, 4, 5, 6].map((v, i) => (dtype === 'bool' ? i % 2 : dtype.startsWith('uint') ? v : i % 2 === 0 ? v : -v)));
      const expected = numbersOf(a);
      a.close();
      return { path, dtype, expected };
    });
    const script = `import json, sys, numpy as np
for path in sys.argv[1:]:
    a = np.load(path, mmap_mode='r')
    print(json.dumps({'dtype': str(a.dtype), 'shape': list(a.shape), 'values': a.ravel().astype('float64').tolist()}))`;
    const out = execFileSync(numpyPython as string, ['-c', script, ...checks.map((c) => c.path)], { encoding: 'utf8' }).trim().split('\n');
    checks.forEach((c, i) => {
      const got = JSON.parse(out[i] ?? '{}') as { dtype: string; shape: number[]; values: number[] };
      assert.equal(got.dtype, c.dtype);
      assert.deepEqual(got.shape, [2, 3]);
      assert.deepEqual(got.values, c.expected);
    });
  });

  test('the .npy header shmarray writes is version 1.0, 64-byte aligned, in numpy\'s own words', () => {
    const path = tmp.path('header.npy');
    const a = createShared(path, [2, 3], { dtype: 'int32' });
    const header = readFileSync(path).subarray(0, a.offset).toString('latin1');
    assert.ok(header.startsWith('\x93NUMPY\x01\x00'), 'magic and version 1.0');
    assert.equal(a.offset % 64, 0, 'data starts on a 64-byte boundary');
    assert.match(header, /\{'descr': '<i4', 'fortran_order': False, 'shape': \(2, 3\), \} *\n$/);
    a.close();
  });

  test('.npy versions 2.0 and 3.0 headers are read', () => {
    assert.deepEqual(numbersOf(openShared(`${vectors}v2.npy`)), [0, 1, 2, 3, 4]);
    assert.deepEqual(numbersOf(openShared(`${vectors}v3.npy`)), [0, 1, 2, 3, 4]);
  });

  test('a .npy file is recognised by its magic bytes, not its name', () => {
    const path = tmp.path('disguised.dat');
    writeFileSync(path, readFileSync(`${vectors}float64.npy`));
    const a = openShared(path);
    assert.equal(a.dtype, 'float64');
    assert.equal(a.npy, true);
  });

  test('a raw file is read at a byte offset', () => {
    const path = tmp.path('offset.f32');
    const bytes = new Float32Array([9, 9, 1, 2, 3]);
    writeFileSync(path, new Uint8Array(bytes.buffer));
    assert.deepEqual(numbersOf(openShared(path, 3, { offset: 8 })), [1, 2, 3]);
  });

  test('an offset beyond the first page maps from the page boundary below', () => {
    const path = tmp.path('page-offset.i32');
    const all = new Int32Array(3000).map((_, i) => i);
    writeFileSync(path, new Uint8Array(all.buffer));
    const a = openShared(path, 1000, { dtype: 'int32', offset: 2000 * 4 });
    assert.equal(a.data[0], 2000);
    assert.equal(a.data[999], 2999);
  });
});

describe('SharedArray', () => {
  test('data is a Float32Array view of the mapping, not a copy', () => {
    const path = tmp.path('view.f32');
    const w = createShared(path, [4, 2]);
    const r = openShared(path, [4, 2]);
    assert.ok(r.data instanceof Float32Array);
    w.data[5] = 42;
    assert.equal(r.data[5], 42, 'a write through one mapping is seen through another');
  });

  test('shape is frozen and row(i) is a subarray view', () => {
    const a = createShared(tmp.path('rows.f32'), [3, 4]);
    assert.ok(Object.isFrozen(a.shape));
    const row = a.row(2);
    row[1] = 5;
    assert.equal(a.data[9], 5);
    assert.equal(row.length, 4);
    throwsWithCode(() => a.row(3), 'ERR_SHM_BAD_ARGUMENT');
  });

  test('the handle is small plain JSON and reopens the same file in its mode', () => {
    const a = createShared(tmp.path('handle.f32'), [100, 4]);
    const json = JSON.stringify(a.handle);
    assert.ok(json.length < 400, `handle is ${json.length} bytes`);
    const b = openShared(JSON.parse(json));
    assert.equal(b.mode, 'r+');
    b.data[0] = 3;
    assert.equal(a.data[0], 3);
  });

  test('a structured clone of a SharedArray carries no data and opens as a handle', () => {
    const a = createShared(tmp.path('clone.f32'), [1000, 4]);
    const clone = structuredClone(a) as unknown as Record<string, unknown>;
    assert.equal(clone['data'], undefined);
    assert.ok(JSON.stringify(clone).length < 400);
    assert.equal(openShared(clone as never).length, 4000);
  });

  test('empty arrays are valid and map nothing', () => {
    const path = tmp.path('empty.f32');
    const a = createShared(path, [0, 4]);
    const b = openShared(path, [0, 4]);
    const c = openShared(`${vectors}empty.npy`);
    assert.deepEqual([a.data.length, b.length, c.data.length], [0, 0, 0]);
    // Nothing mapped: no mapping of either file in this process, and no pages to count.
    assert.deepEqual(mappingsOf(path), []);
    assert.deepEqual(mappingsOf(`${vectors}empty.npy`), []);
    assert.deepEqual(b.residency(), { resident: 0, total: 0 });
    for (const x of [a, b, c]) x.close();
  });

  test('close() is idempotent and any use after it throws ERR_SHM_CLOSED', () => {
    const a = openShared(`${vectors}float32.npy`);
    a.close();
    a.close();
    assert.equal(a.closed, true);
    throwsWithCode(() => a.data, 'ERR_SHM_CLOSED');
    throwsWithCode(() => a.handle, 'ERR_SHM_CLOSED');
    throwsWithCode(() => a.row(0), 'ERR_SHM_CLOSED');
    throwsWithCode(() => a.flush(), 'ERR_SHM_CLOSED');
  });

  test('createShared with overwrite replaces the file and leaves old mappings intact', () => {
    const path = tmp.path('replace.f32');
    const old = createShared(path, 4);
    old.data.fill(1);
    const fresh = createShared(path, 8, { overwrite: true });
    assert.equal(fresh.length, 8);
    assert.deepEqual(Array.from(old.data), [1, 1, 1, 1], 'the old mapping still reads its own pages');
    assert.equal(statSync(path).size, 32);
  });

  test('createShared makes files private to the user (0600)', () => {
    const path = tmp.path('private.f32');
    createShared(path, 4);
    assert.equal(statSync(path).mode & 0o777, 0o600);
  });
});

test('a second copy of the package recognises its errors: instanceof ShmArrayError holds across copies', async () => {
  const copy = tmp.path('second-copy');
  // dereference: where dist/ is a symlink (the arm64 check's installed package), copy its files, not the link.
  cpSync(fileURLToPath(new URL('../dist', import.meta.url)), `${copy}/dist`, { recursive: true, dereference: true });
  cpSync(fileURLToPath(new URL('../package.json', import.meta.url)), `${copy}/package.json`);
  // The one script the library imports (package.json "files" ships it): the addon's load advice.
  cpSync(fileURLToPath(new URL('../scripts/addon-advice.mjs', import.meta.url)), `${copy}/scripts/addon-advice.mjs`);
  symlinkSync(fileURLToPath(new URL('../node_modules', import.meta.url)), `${copy}/node_modules`);
  symlinkSync(fileURLToPath(new URL('../build', import.meta.url)), `${copy}/build`);
  const other = (await import(`${copy}/dist/index.js`)) as typeof import('../dist/index.js');
  assert.notEqual(other.ShmArrayError, ShmArrayError, 'two distinct classes');
  const theirs = throwsWithCode(() => other.openShared(tmp.path('nowhere.f32'), 4), 'ERR_SHM_NOT_FOUND' as never);
  assert.ok(theirs instanceof ShmArrayError, "this copy's class recognises the other copy's error");
  assert.ok(new ShmArrayError('ERR_SHM_IO', 'x') instanceof other.ShmArrayError, 'and the other way round');
  assert.ok(!(new Error('plain') instanceof ShmArrayError));
});

describe('errors in this process', () => {
  const dir = tempDir('shmarray-errors-');
  after(() => dir.dispose());
  const scenarios = makeErrorCases(dir.dir, vectors);

  for (const s of scenarios) {
    test(`${s.code}: ${s.name}`, () => {
      const before = readdirSync(dir.dir).sort();
      const err = throwsWithCode(() => {
        const [path, shape, options] = s.args as [string, never, never];
        if (s.fn === 'create') return createShared(path, shape, options);
        const a = openShared(path, shape, options);
        if (s.fn === 'use-after-close') {
          a.close();
          return a.data;
        }
        return a;
      }, s.code);
      assert.ok(err.message.length > 20, 'the message explains');
      assert.deepEqual(readdirSync(dir.dir).sort(), before, 'no partial or temporary file is left');
    });
  }

  test('every error code in ERROR_CODES has a core scenario, or is named as one the core cannot produce', () => {
    const codes = new Set(scenarios.map((s) => s.code));
    // Produced by the store, zip extraction, pools and the native door; each has tests of its own.
    // COMPRESSION: the engine failing on good input (out of memory) cannot be provoked here.
    const elsewhere = new Set(['ERR_SHM_HELD', 'ERR_SHM_BAD_ARROW', 'ERR_SHM_BAD_SAFETENSORS', 'ERR_SHM_NOT_IN_PLACE', 'ERR_SHM_BAD_ZIP', 'ERR_SHM_ZIP_UNSUPPORTED', 'ERR_SHM_WORKER', 'ERR_SHM_NO_SPACE', 'ERR_SHM_PERMISSION', 'ERR_SHM_BAD_ARGUMENT', 'ERR_SHM_IO', 'ERR_SHM_NATIVE', 'ERR_SHM_ABORTED', 'ERR_SHM_COMPRESSION']);
    for (const code of Object.keys(ERROR_CODES)) {
      assert.ok(codes.has(code as ShmErrorCode) || elsewhere.has(code), `${code} has a scenario`);
    }
  });

  test("the README's list of error codes is ERROR_CODES, no more and no less", () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const list = /Every failure is a \*\*`ShmArrayError`\*\* with a stable `code` \(([^)]*)\)/.exec(readme)?.[1] ?? '';
    assert.deepEqual([...list.matchAll(/`(ERR_SHM_[A-Z_]+)`/g)].map((m) => m[1]).sort(), Object.keys(ERROR_CODES).sort());
  });

  test('SHAPE_MISMATCH says the expected and actual byte counts', () => {
    const s = scenarios.find((x) => x.name === 'shape larger than file');
    assert.ok(s);
    const err = throwsWithCode(() => openShared(s.args[0] as string, s.args[1] as number[]), 'ERR_SHM_SHAPE_MISMATCH');
    assert.match(err.message, /16 bytes/);
    assert.match(err.message, /needs 20/);
    assert.equal(err.details['expectedBytes'], 20);
    assert.equal(err.details['actualBytes'], 16);
  });

  test('TOO_LARGE names the typed-array limit of this Node and creates no file', () => {
    const limit = maxArrayLength('float32');
    const err = throwsWithCode(() => createShared(dir.path('toolarge.f32'), [limit + 1]), 'ERR_SHM_TOO_LARGE');
    assert.match(err.message, new RegExp(`\\(${limit} elements of float32\\)`));
    assert.equal(err.details['limit'], limit);
    assert.equal(existsSync(dir.path('toolarge.f32')), false);
  });

  test('MAP_FAILED carries the errno name', () => {
    const s = scenarios.find((x) => x.code === 'ERR_SHM_MAP_FAILED');
    assert.ok(s);
    const err = throwsWithCode(() => openShared(s.args[0] as string, s.args[1] as number[], s.args[2] as never), 'ERR_SHM_MAP_FAILED');
    assert.match(String(err.details['errnoName']), /^E[A-Z]+$/);
  });

  test('ShmArrayError carries its code in the stack header', () => {
    const err = new ShmArrayError('ERR_SHM_EXISTS', 'x exists');
    assert.match(err.stack ?? '', /^ShmArrayError \[ERR_SHM_EXISTS\]: x exists/);
    assert.equal(err.name, 'ShmArrayError');
    assert.equal(ShmArrayError.from(structuredClone(err))?.code, 'ERR_SHM_EXISTS');
    assert.equal(ShmArrayError.from(new Error('other')), undefined);
  });
});

describe('a full filesystem is an error at creation, never a SIGBUS', () => {
  const fs = smallTmpfs(20);
  after(() => fs?.dispose());
  test('two 12 MiB arrays on a 20 MiB tmpfs: the second is ERR_SHM_NO_SPACE, and filling the first is safe', { skip: fs === undefined && NO_TMPFS }, () => {
    const dir = (fs as { dir: string }).dir;
    const r = inChild(tmp.dir, `
      const a = m.createShared(${JSON.stringify(join(dir, 'a.f32'))}, ${(12 * MiB) / 4});
      let second;
      try { m.createShared(${JSON.stringify(join(dir, 'b.f32'))}, ${(12 * MiB) / 4}); second = 'created'; } catch (e) { second = e.code; }
      a.data.fill(1);
      console.log(JSON.stringify({ second, sum: a.data[a.length - 1] }));`);
    assert.equal(r.signal, null, `the process died of ${r.signal}`);
    assert.deepEqual(JSON.parse(r.stdout), { second: 'ERR_SHM_NO_SPACE', sum: 1 });
    assert.deepEqual(readdirSync(dir), ['a.f32'], 'no partial or temporary file');
  });
});

test('createShared reserves its blocks: a new file is not sparse', () => {
  const a = createShared(tmp.path('reserved.f32'), (8 * MiB) / 4);
  const blocks = Number(execFileSync('stat', ['-c', '%b', a.path]).toString().trim()) * 512;
  assert.ok(blocks >= 8 * MiB, `${blocks} bytes allocated`);
  a.close();
});
