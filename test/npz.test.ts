// .npz archives as numpy writes them (np.savez, np.savez_compressed), read by name: in place from
// the archive where an entry's data is aligned, extracted otherwise; hostile archives refused with
// a code and nothing left behind. numpy on the other side of every value.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { openNpz, openShared, SharedCache, SharedStore, type AnySharedArray } from '../dist/index.js';
import { makePool, mappingsOf, numpyPython, rejectsWithCode, RUNTIMES, tempDir, throwsWithCode } from './helpers.js';

const tmp = tempDir('shmarray-npz-');
after(() => tmp.dispose());
const skip = numpyPython === undefined && 'NO NUMPY: install python3-numpy (.ci/run installs it) to run the .npz tests';

/** Runs Python with numpy; `script` gets the temp directory as `d`. Returns what it prints. */
function py(script: string): string {
  return execFileSync(numpyPython as string, ['-c', `import json, sys, zipfile, io, numpy as np\nd = sys.argv[1]\n${script}`, tmp.dir], { encoding: 'utf8', maxBuffer: 64 << 20 });
}

/** Each array's elements as numpy prints them (floats as numbers, integers as decimal strings) and as shmarray reads them. */
const numpyValues = (file: string): Record<string, { dtype: string; shape: number[]; values: (number | string)[] }> =>
  JSON.parse(py(`z = np.load(f'{d}/${file}')
print(json.dumps({k: {'dtype': str(z[k].dtype), 'shape': list(z[k].shape), 'values': [str(v) if z[k].dtype.kind in 'iu' else float(v) for v in z[k].ravel().tolist()]} for k in z.files}))`));
const ours = (a: AnySharedArray): (number | string)[] =>
  Array.from(a.data as ArrayLike<number | bigint>, (v) => (typeof v === 'bigint' || (a.dtype.startsWith('int') || a.dtype.startsWith('uint')) ? String(v) : a.dtype === 'float16' && a.data instanceof Uint16Array ? NaN : Number(v)));

describe('np.savez and np.savez_compressed, by name', { skip }, () => {
  const made = (() => {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      py(`rng = np.random.default_rng(3)
X = rng.standard_normal((1000, 4)).astype(np.float32)
y = rng.integers(-2**62, 2**62, 1000, dtype=np.int64)
mask = rng.random(1000) < 0.5
w = rng.standard_normal((10, 8)).astype(np.float16)
np.savez(f'{d}/train.npz', X=X, y=y, mask=mask, w=w)
np.savez_compressed(f'{d}/train-c.npz', X=X, y=y, mask=mask, w=w)
np.savez(f'{d}/positional.npz', X, y)
np.savez(f'{d}/bytes.npz', a=np.arange(100, dtype=np.uint8), b=np.arange(50, dtype=np.int8).reshape(5, 10), m=np.ones(7, dtype=bool))
np.savez(f'{d}/proto.npz', **{'__proto__': np.arange(3, dtype=np.uint8), 'constructor': np.arange(2, dtype=np.uint8)})`);
    };
  })();

  test('store.extractNpz: np.savez(X=float32 2-D, y=int64, mask=bool, w=float16) by name, values equal numpy\'s; aligned entries map in place from the .npz, the rest are extracted', async () => {
    made();
    await using store = await SharedStore.create({ dir: tmp.dir });
    const arrays = await store.extractNpz(tmp.path('train.npz'));
    assert.deepEqual(Object.keys(arrays), ['X', 'y', 'mask', 'w']);
    const expected = numpyValues('train.npz');
    for (const [key, a] of Object.entries(arrays)) {
      const e = expected[key];
      assert.ok(e);
      assert.equal(a.dtype, e.dtype);
      assert.deepEqual(a.shape, e.shape);
      if (a.dtype !== 'float16' || !(a.data instanceof Uint16Array)) assert.deepEqual(ours(a), e.values, key);
      // In place: the array is the archive's own bytes; extracted: a file of the store.
      assert.equal(a.path === tmp.path('train.npz'), a.inPlace, key);
      if (!a.inPlace) assert.ok(a.path.startsWith(store.dir), key);
    }
    // numpy 2 pads each header to 64 bytes from the entry's start, not the file's: here only mask lands aligned.
    assert.deepEqual(Object.entries(arrays).filter(([, a]) => a.inPlace).map(([k]) => k), ['mask']);
    assert.equal(store.files().length, 3, 'only the three misaligned entries were written');
  });

  test('np.savez_compressed: every array extracted (none in place), values equal', async () => {
    made();
    await using store = await SharedStore.create({ dir: tmp.dir });
    const arrays = await store.extractNpz(tmp.path('train-c.npz'));
    const expected = numpyValues('train-c.npz');
    for (const [key, a] of Object.entries(arrays)) {
      assert.equal(a.inPlace, false, key);
      if (a.dtype !== 'float16' || !(a.data instanceof Uint16Array)) assert.deepEqual(ours(a), expected[key]?.values, key);
    }
  });

  test('positional arrays are arr_0, arr_1 …; names like __proto__ are arrays like any other', async () => {
    made();
    await using store = await SharedStore.create({ dir: tmp.dir });
    assert.deepEqual(Object.keys(await store.extractNpz(tmp.path('positional.npz'))), ['arr_0', 'arr_1']);
    const proto = await store.extractNpz(tmp.path('proto.npz'));
    assert.equal(Object.getPrototypeOf(proto), null);
    assert.deepEqual(Object.keys(proto), ['__proto__', 'constructor']);
    assert.deepEqual(ours(proto['__proto__'] as AnySharedArray), ['0', '1', '2']);
  });

  test('openNpz maps an all-in-place archive synchronously; close() unmaps each array at once', () => {
    made();
    const path = tmp.path('bytes.npz');
    const arrays = openNpz(path);
    assert.deepEqual(Object.keys(arrays), ['a', 'b', 'm']);
    assert.deepEqual(ours(arrays['b'] as AnySharedArray), numpyValues('bytes.npz')['b']?.values);
    assert.ok(Object.values(arrays).every((a) => a.inPlace && a.path === path));
    assert.ok(mappingsOf(path).length > 0, 'the archive is mapped');
    for (const a of Object.values(arrays)) a.close();
    assert.deepEqual(mappingsOf(path), [], 'nothing of the archive stays mapped');
    throwsWithCode(() => (arrays['a'] as AnySharedArray).data, 'ERR_SHM_CLOSED');
  });

  test('openNpz on an archive with entries that need extraction: ERR_SHM_NOT_IN_PLACE naming each and why, pointing to store.extractNpz; nothing stays mapped', () => {
    made();
    const path = tmp.path('train.npz');
    const err = throwsWithCode(() => openNpz(path), 'ERR_SHM_NOT_IN_PLACE');
    assert.match(err.message, /"X" \(misaligned\), "y" \(misaligned\), "w" \(misaligned\)/);
    assert.match(err.message, /store\.extractNpz/);
    assert.deepEqual(mappingsOf(path), []);
    assert.match(throwsWithCode(() => openNpz(tmp.path('train-c.npz')), 'ERR_SHM_NOT_IN_PLACE').message, /"X" \(compressed\)/);
  });

  for (const runtime of RUNTIMES) {
    test(`an in-place array's handle (the .npz and an offset) maps in a ${runtime} worker, which reads numpy's values`, async () => {
      made();
      const arrays = openNpz(tmp.path('bytes.npz'));
      const pool = makePool(runtime, 'read-values.mjs', 1);
      try {
        const b = arrays['b'] as AnySharedArray;
        assert.equal(b.handle.path, tmp.path('bytes.npz'));
        assert.equal(b.handle.inPlace, true);
        assert.ok(JSON.stringify(b.handle).length < 300);
        const r = (await pool.run({ handle: b.handle })) as { dtype: string; values: string[] };
        assert.equal(r.dtype, 'int8');
        assert.deepEqual(r.values, numpyValues('bytes.npz')['b']?.values);
      } finally {
        await pool.destroy();
        for (const a of Object.values(arrays)) a.close();
      }
    });
  }

  test('cache.extractNpz: in-place arrays from the archive, the rest extracted once into one cache entry, held until its arrays are closed', async () => {
    made();
    const cache = await SharedCache.open({ name: 'npz', dir: tmp.path('.') });
    const first = await cache.extractNpz(tmp.path('train.npz'));
    const second = await cache.extractNpz(tmp.path('train.npz'));
    assert.equal((first['X'] as AnySharedArray).path, (second['X'] as AnySharedArray).path, 'the same cache file, extracted once');
    assert.equal((first['mask'] as AnySharedArray).inPlace, true);
    const [entry] = cache.list();
    assert.deepEqual([cache.list().length, entry?.holders], [1, [process.pid, process.pid]], 'one entry, held by both calls');
    for (const a of [...Object.values(first), ...Object.values(second)]) a.close();
    assert.deepEqual(cache.list()[0]?.holders, []);
    cache.clear();
  });

  test('an in-place entry whose bytes fail the archive\'s CRC-32: ERR_SHM_BAD_ZIP, nothing mapped; verify: false maps it as it is', () => {
    made();
    const bad = tmp.path('bad-crc.npz');
    const bytes = readFileSync(tmp.path('bytes.npz'));
    const at = bytes.indexOf(Buffer.from('\x00\x01\x02\x03\x04\x05\x06\x07', 'latin1')) + 3; // inside a's data
    bytes[at] = 0xff;
    writeFileSync(bad, bytes);
    const err = throwsWithCode(() => openNpz(bad), 'ERR_SHM_BAD_ZIP');
    assert.equal(err.details['reason'], 'crc-mismatch');
    assert.deepEqual(mappingsOf(bad), []);
    const arrays = openNpz(bad, { verify: false });
    assert.equal((arrays['a'] as AnySharedArray).data[3], 0xff);
    for (const a of Object.values(arrays)) a.close();
  });
});

test('big-endian .npy entries (>f4, >i8, >f2): extraction makes the store\'s copy little-endian and says so in array.converted; openShared refuses such a file, naming the byte order and the numpy line that converts it', { skip }, async () => {
  py(`a = (np.arange(-6, 6) / 3).astype('>f4'); b = (np.arange(-3, 3) * 2**40).astype('>i8'); c = np.arange(4).astype('>f2')
assert a.dtype.str == '>f4' and b.dtype.str == '>i8' and c.dtype.str == '>f2'
np.savez(f'{d}/big.npz', a=a, b=b, c=c)
np.save(f'{d}/big.npy', a)`);
  await using store = await SharedStore.create({ dir: tmp.dir });
  const arrays = await store.extractNpz(tmp.path('big.npz'));
  const expected = numpyValues('big.npz');
  for (const [key, a] of Object.entries(arrays)) {
    assert.equal(a.inPlace, false, key);
    assert.match(a.converted ?? '', /big-endian \('>[fi][248]'\); this copy is little-endian/, key);
    if (a.dtype !== 'float16' || !(a.data instanceof Uint16Array)) assert.deepEqual(ours(a), expected[key]?.values, key);
  }
  const [zipped] = await store.extractZip(tmp.path('big.npz'));
  assert.match(zipped?.converted ?? '', /'>f4'/, 'store.extractZip converts too');
  const err = throwsWithCode(() => openShared(tmp.path('big.npy')), 'ERR_SHM_UNSUPPORTED_NPY');
  assert.match(err.message, /big-endian \(byte order '>'\).*np\.save\(path, arr\.astype\('<f4'\)\)/);
});

describe('hostile .npz archives: a code each, nothing left in the store', { skip }, () => {
  // Each archive made by Python's zipfile with entries numpy would not write.
  const cases: { name: string; code: Parameters<typeof rejectsWithCode>[1]; script: string; match: RegExp }[] = [
    { name: 'an entry whose header promises more data than it holds', code: 'ERR_SHM_SHAPE_MISMATCH', match: /needs 448/, script: `b = io.BytesIO(); np.save(b, np.zeros(80, dtype=np.float32)); raw = b.getvalue()[:-64]
with zipfile.ZipFile(out, 'w') as z: z.writestr('a.npy', raw)` },
    { name: 'two arrays of one name', code: 'ERR_SHM_BAD_ZIP', match: /two arrays named "a"/, script: `b = io.BytesIO(); np.save(b, np.zeros(4, dtype=np.uint8))
with zipfile.ZipFile(out, 'w') as z:
    z.writestr('a.npy', b.getvalue())
    z.writestr(zipfile.ZipInfo('a.npy'), b.getvalue())` },
    { name: 'an entry that is not a .npy', code: 'ERR_SHM_BAD_ZIP', match: /entry "notes.txt" is not a \.npy/, script: `with zipfile.ZipFile(out, 'w') as z: z.writestr('notes.txt', b'hello')` },
    { name: 'a 20 kB .npy header', code: 'ERR_SHM_BAD_NPY', match: /over numpy's limit/, script: `h = "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }" + ' ' * 20000 + '\\n'
raw = b'\\x93NUMPY\\x02\\x00' + len(h).to_bytes(4, 'little') + h.encode() + b'\\x00' * 4
with zipfile.ZipFile(out, 'w') as z: z.writestr('a.npy', raw)` },
    { name: 'a truncated archive', code: 'ERR_SHM_BAD_ZIP', match: /truncated|no end of central directory/, script: `b = io.BytesIO(); np.savez(b, a=np.zeros(1000)); open(out, 'wb').write(b.getvalue()[:5000])` },
    { name: 'a compressed entry whose .npy is corrupt', code: 'ERR_SHM_BAD_NPY', match: /not a valid \.npy/, script: `with zipfile.ZipFile(out, 'w', zipfile.ZIP_DEFLATED) as z: z.writestr('a.npy', b'\\x93NUMPY\\x01\\x00\\x10\\x00{"descr": 42}   \\n')` },
  ];
  for (const c of cases) {
    test(`${c.name}: ${c.code}`, async () => {
      const out = tmp.path(`hostile-${c.name.replace(/\W+/g, '-')}.npz`);
      py(`out = ${JSON.stringify(out)}\n${c.script}`);
      await using store = await SharedStore.create({ dir: tmp.dir });
      const err = await rejectsWithCode(store.extractNpz(out), c.code);
      assert.match(err.message, c.match);
      assert.deepEqual(readdirSync(store.dir).filter((f) => !f.startsWith('.')), [], 'nothing left in the store');
    });
  }
});

describe('shmarray info and stats on an .npz', { skip }, () => {
  const cli = new URL('../dist/cli/bin.js', import.meta.url).pathname;
  const run = (...args: string[]): { status: number | null; stdout: string; stderr: string } => {
    const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  test('info lists each array: name, dtype, shape, order, and in place or extracted with the reason (text and --json)', () => {
    py(`np.savez(f'{d}/cli.npz', X=np.zeros((10, 4), dtype=np.float32), mask=np.ones(10, dtype=bool), F=np.asfortranarray(np.zeros((3, 2))))`);
    const text = run('info', tmp.path('cli.npz'));
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /3 array\(s\), 1 mapped in place from the archive, 2 extracted when used/);
    assert.match(text.stdout, /\nX +float32 +\[10, 4\] +C .*extracted \(misaligned\)/);
    assert.match(text.stdout, /\nmask +bool +\[10\] +C .*in place/);
    assert.match(text.stdout, /\nF +float64 +\[3, 2\] +F /);
    const json = JSON.parse(run('info', tmp.path('cli.npz'), '--json').stdout) as { arrays: { key: string; inPlace: boolean; order: string }[] };
    assert.deepEqual(json.arrays.map((a) => [a.key, a.inPlace, a.order]), [['X', false, 'C'], ['mask', true, 'C'], ['F', false, 'F']]);
  });

  test('stats --array X gives the statistics of X (as numpy computes them); without --array, or with an unknown name, exit 2 listing the names', () => {
    py(`rng = np.random.default_rng(1); np.savez(f'{d}/st.npz', X=rng.standard_normal((300, 3)).astype(np.float32), y=np.arange(300))
X = np.load(f'{d}/st.npz')['X'].astype(np.float64); print(json.dumps({'mean': X.mean(axis=0).tolist(), 'std': X.std(axis=0).tolist()}), file=open(f'{d}/st.json', 'w'))`);
    const want = JSON.parse(readFileSync(tmp.path('st.json'), 'utf8')) as { mean: number[]; std: number[] };
    const r = run('stats', tmp.path('st.npz'), '--array', 'X', '--json');
    assert.equal(r.status, 0, r.stderr);
    const got = JSON.parse(r.stdout) as { rows: number; mean: number[]; std: number[] };
    assert.equal(got.rows, 300);
    got.mean.forEach((m, c) => assert.ok(Math.abs(m - (want.mean[c] as number)) <= 1e-9 * Math.abs(want.mean[c] as number) + 1e-12));
    got.std.forEach((s, c) => assert.ok(Math.abs(s - (want.std[c] as number)) <= 1e-9 * (want.std[c] as number)));
    const none = run('stats', tmp.path('st.npz'));
    assert.equal(none.status, 2);
    assert.match(none.stderr, /holds 2 arrays \("X", "y"\); choose one with --array NAME/);
    const unknown = run('stats', tmp.path('st.npz'), '--array', 'Z');
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /has no array "Z"; it has "X", "y"/);
    assert.equal(unknown.stderr.split('\n').filter(Boolean).length, 1, 'one line');
  });
});
