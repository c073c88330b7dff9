// safetensors files mapped in place: every dtype the format and a typed array share, values as
// numpy wrote them, handles that workers open, and hostile headers refused as the format's
// reference loader refuses them — a code each, never a view past the data.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { statSync, writeFileSync } from 'node:fs';
import { bfloat16FromBits, HAS_FLOAT16ARRAY, openShared, openSafetensors, SharedCache, type AnySharedArray } from '../dist/index.js';
import { makePool, mappingsOf, numbersOf, numpyPython, rejectsWithCode, RUNTIMES, tempDir, throwsWithCode } from './helpers.js';

const tmp = tempDir('shmarray-safetensors-');
after(() => tmp.dispose());
const skip = numpyPython === undefined && 'NO NUMPY: install python3-numpy (.ci/run installs it) to run the safetensors tests';

/**
 * A safetensors writer after the format's definition and safetensors.numpy.save_file's layout
 * (tensors by descending alignment then name, the header padded with spaces to 8 bytes); the
 * `safetensors` package itself is used instead where it is installed.
 */
const WRITER = `import json, struct, sys, numpy as np
CODES = {'float64': 'F64', 'float32': 'F32', 'float16': 'F16', 'int64': 'I64', 'int32': 'I32', 'int16': 'I16', 'int8': 'I8', 'uint64': 'U64', 'uint32': 'U32', 'uint16': 'U16', 'uint8': 'U8', 'bool': 'BOOL'}
def save(tensors, path, metadata=None, dtypes={}):
    try:
        from safetensors.numpy import save_file
        if not dtypes:
            return save_file(tensors, path, metadata=metadata)
    except ImportError:
        pass
    order = sorted(tensors, key=lambda k: (-tensors[k].dtype.itemsize, k))
    header, at, blobs = {}, 0, []
    for k in order:
        b = np.ascontiguousarray(tensors[k]).astype(tensors[k].dtype.newbyteorder('<')).tobytes()
        header[k] = {'dtype': dtypes.get(k, CODES[str(tensors[k].dtype)]), 'shape': list(tensors[k].shape), 'data_offsets': [at, at + len(b)]}
        at += len(b); blobs.append(b)
    if metadata: header['__metadata__'] = metadata
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * (-len(h) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h + b''.join(blobs))
`;

function py(script: string): string {
  return execFileSync(numpyPython as string, ['-c', `${WRITER}\nd = sys.argv[1]\n${script}`, tmp.dir], { encoding: 'utf8', maxBuffer: 64 << 20 });
}

const asNumbers = (a: AnySharedArray): number[] => (a.dtype === 'float16' && !HAS_FLOAT16ARRAY ? numbersOf(a) : a.dtype === 'bfloat16' ? Array.from(a.data as Uint16Array, bfloat16FromBits) : numbersOf(a));

describe('a model file: every dtype mapped in place, by name, with its metadata', { skip }, () => {
  let expected: Record<string, { shape: number[]; values: number[] }> | undefined;
  const made = (): Record<string, { shape: number[]; values: number[] }> =>
    (expected ??= JSON.parse(py(`rng = np.random.default_rng(5)
t = {}
for name in ['float64', 'float32', 'float16', 'int64', 'int32', 'int16', 'int8', 'uint64', 'uint32', 'uint16', 'uint8', 'bool']:
    if name == 'bool': a = rng.random((3, 5)) < 0.5
    elif name.startswith('float'): a = rng.standard_normal((3, 5)).astype(name)
    else:
        i = np.iinfo(name); a = rng.integers(max(i.min, -2**40), min(i.max, 2**40), (3, 5), dtype=name)
    t['w.' + name] = a
t['scalar'] = np.array(2.5, dtype=np.float32)
t['empty'] = np.zeros((0, 4), dtype=np.float32)
# bfloat16: the upper halves of float32 values (numpy has no bfloat16): the same bits as U16
bf = (rng.standard_normal(6).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
t['w.bfloat16'] = bf
save(t, f'{d}/model.safetensors', metadata={'format': 'np', 'note': 'test'}, dtypes={'w.bfloat16': 'BF16'})
out = {k: {'shape': list(v.shape), 'values': [float(x) for x in v.astype(np.float64).ravel()]} for k, v in t.items() if k != 'w.bfloat16'}
out['w.bfloat16'] = {'shape': [6], 'values': [float(x) for x in (bf.astype(np.uint32) << 16).view(np.float32)]}
print(json.dumps(out))`)));

  test('openSafetensors: every tensor (F64 F32 F16 BF16 I64 I32 I16 I8 U64 U32 U16 U8 BOOL, a scalar, an empty one) maps in place with numpy\'s values; metadata as written', () => {
    const want = made();
    const path = tmp.path('model.safetensors');
    const { tensors, metadata } = openSafetensors(path);
    assert.equal(Object.getPrototypeOf(tensors), null);
    assert.deepEqual({ ...metadata }, { format: 'np', note: 'test' });
    assert.deepEqual(Object.keys(tensors).sort(), Object.keys(want).sort());
    for (const [name, a] of Object.entries(tensors)) {
      const w = want[name];
      assert.ok(w, name);
      assert.deepEqual(a.shape, w.shape, name);
      assert.deepEqual(asNumbers(a), w.values, name);
      assert.equal(a.path, path, name);
      assert.equal(a.inPlace, true, name);
    }
    assert.equal(tensors['w.int64']?.dtype, 'int64');
    assert.ok(tensors['w.int64']?.data instanceof BigInt64Array);
    for (const a of Object.values(tensors)) a.close();
    assert.deepEqual(mappingsOf(path), [], 'close() unmapped every tensor');
  });

  for (const runtime of RUNTIMES) {
    test(`a tensor's handle (the file and an offset, under 300 bytes) maps in a ${runtime} worker, which reads the same values`, async () => {
      const want = made();
      const { tensors } = openSafetensors(tmp.path('model.safetensors'));
      const pool = makePool(runtime, 'read-values.mjs', 1);
      try {
        for (const name of ['w.int64', 'w.float16', 'w.float32']) {
          const t = tensors[name] as AnySharedArray;
          assert.ok(JSON.stringify(t.handle).length < 300);
          const r = (await pool.run({ handle: t.handle })) as { values: string[] };
          assert.deepEqual(r.values.map(Number), want[name]?.values, name);
        }
      } finally {
        await pool.destroy();
        for (const t of Object.values(tensors)) t.close();
      }
    });
  }

  test('a handle of a tensor opens with openShared and views the same bytes', () => {
    made();
    const { tensors } = openSafetensors(tmp.path('model.safetensors'));
    const t = tensors['w.float32'] as AnySharedArray;
    const again = openShared(t.handle);
    assert.deepEqual(numbersOf(again), numbersOf(t));
    again.close();
    for (const x of Object.values(tensors)) x.close();
  });
});

describe('hostile safetensors files: ERR_SHM_BAD_SAFETENSORS naming the field, nothing mapped', () => {
  /** A file of an 8-byte length `n` (default: the header's), the header text, then `data` bytes. */
  const file = (name: string, header: string, data = 0, n?: bigint): string => {
    // Padded with spaces to 8 bytes, as writers do: the data area then starts 8-aligned.
    const h = Buffer.from(header + ' '.repeat(-header.length & 7));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(n ?? BigInt(h.length));
    const path = tmp.path(name);
    writeFileSync(path, Buffer.concat([len, h, Buffer.alloc(data)]));
    return path;
  };
  const t = (dtype: string, shape: number[], begin: number, end: number): string => JSON.stringify({ dtype, shape, data_offsets: [begin, end] });
  const cases: { name: string; path: () => string; match: RegExp; code?: 'ERR_SHM_BAD_SAFETENSORS' | 'ERR_SHM_MISALIGNED' }[] = [
    { name: 'shorter than the length field', path: () => { const p = tmp.path('tiny.safetensors'); writeFileSync(p, Buffer.alloc(5)); return p; }, match: /shorter than the 8-byte header length/ },
    { name: 'a header length past the file', path: () => file('long.safetensors', '{}', 0, 1000n), match: /runs past the end .* truncated/ },
    { name: 'a header length of 2^63', path: () => file('huge.safetensors', '{}', 0, 2n ** 63n), match: /over the format's limit of 100000000/ },
    { name: 'a header that is not JSON', path: () => file('notjson.safetensors', '{"a": '), match: /is not JSON/ },
    { name: 'a header that does not start with {', path: () => file('array.safetensors', '[1, 2]'), match: /does not start with '\{'/ },
    { name: 'an unknown dtype', path: () => file('dtype.safetensors', `{"a": ${t('F8_E4M3', [4], 0, 4)}}`, 4), match: /"a"\.dtype .*F8_E4M3/ },
    { name: 'offsets past the data', path: () => file('past.safetensors', `{"a": ${t('F32', [4], 0, 16)}}`, 8), match: /"a"\.data_offsets .*outside the 8-byte data area/ },
    { name: 'a size that does not fit the shape', path: () => file('size.safetensors', `{"a": ${t('F32', [5], 0, 16)}}`, 16), match: /hold 16 bytes, but shape \[5\] of F32 needs 20/ },
    { name: 'overlapping tensors', path: () => file('overlap.safetensors', `{"a": ${t('U8', [8], 0, 8)}, "b": ${t('U8', [8], 4, 12)}}`, 12), match: /"b"\.data_offsets overlap the tensor before it/ },
    { name: 'a gap between tensors', path: () => file('gap.safetensors', `{"a": ${t('U8', [4], 0, 4)}, "b": ${t('U8', [4], 8, 12)}}`, 12), match: /leave a gap of 4 bytes/ },
    { name: 'bytes after the last tensor', path: () => file('tail.safetensors', `{"a": ${t('U8', [4], 0, 4)}}`, 100), match: /longer than its header says/ },
    { name: 'a name given twice', path: () => file('dup.safetensors', `{"a": ${t('U8', [4], 0, 4)}, "a": ${t('U8', [4], 0, 4)}}`, 4), match: /"a" is named twice/ },
    { name: 'metadata that is not strings', path: () => file('meta.safetensors', `{"__metadata__": {"k": 1}}`), match: /__metadata__\["k"\] is not a string/ },
    { name: 'a negative shape', path: () => file('neg.safetensors', `{"a": ${t('U8', [-4], 0, 4)}}`, 4), match: /"a"\.shape is not a list of non-negative integers/ },
    { name: 'a tensor its dtype cannot view in place', path: () => file('misaligned.safetensors', `{"a": ${t('U8', [1], 0, 1)},"b":${t('F32', [1], 1, 5)}}`, 5), match: /"b" starts at byte \d+, not a multiple of 4/, code: 'ERR_SHM_MISALIGNED' },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const path = c.path();
      const err = throwsWithCode(() => openSafetensors(path), c.code ?? 'ERR_SHM_BAD_SAFETENSORS');
      assert.match(err.message, c.match);
      assert.ok(err.message.length < 400, 'a bounded message');
      assert.deepEqual(mappingsOf(path), []);
    });
  }

  test('a __proto__ tensor is a tensor like any other', () => {
    const path = file('proto.safetensors', `{"__proto__": ${t('U8', [4], 0, 4)}}`, 4);
    const { tensors } = openSafetensors(path);
    assert.deepEqual(Object.keys(tensors), ['__proto__']);
    assert.deepEqual(numbersOf(tensors['__proto__'] as AnySharedArray), [0, 0, 0, 0]);
    tensors['__proto__']?.close();
  });
});

test('shmarray info model.safetensors lists the tensors and the metadata; stats --array takes one tensor', { skip }, () => {
  py(`save({'emb': np.arange(12, dtype=np.float32).reshape(4, 3), 'ids': np.arange(4, dtype=np.int64)}, f'{d}/cli.safetensors', metadata={'format': 'pt'})`);
  const cli = new URL('../dist/cli/bin.js', import.meta.url).pathname;
  const info = execFileSync(process.execPath, [cli, 'info', tmp.path('cli.safetensors')], { encoding: 'utf8' });
  assert.match(info, /2 tensor\(s\), 80 B, every one mapped in place/);
  assert.match(info, /\nemb +float32 +\[4, 3\] +48 B/);
  assert.match(info, /\nids +int64 +\[4\] +32 B/);
  assert.match(info, /format: pt/);
  const stats = JSON.parse(execFileSync(process.execPath, [cli, 'stats', tmp.path('cli.safetensors'), '--array', 'emb', '--json'], { encoding: 'utf8' })) as { mean: number[] };
  assert.deepEqual(stats.mean, [4.5, 5.5, 6.5]);
});

test('cache.openSafetensors: copied once per machine into the cache, every tensor mapped in place from the copy, held until each is closed; a hostile file is refused before any copy', { skip }, async () => {
  py(`save({'a': np.arange(6, dtype=np.float32), 'b': np.arange(3, dtype=np.int64), 'c': np.ones((2, 2), dtype=np.float16)}, f'{d}/cached.safetensors', metadata={'k': 'v'})`);
  const cache = await SharedCache.open({ name: 'st', dir: tmp.path('.') });
  const first = await cache.openSafetensors(tmp.path('cached.safetensors'));
  const second = await cache.openSafetensors(tmp.path('cached.safetensors'));
  const a = first.tensors['a'] as AnySharedArray;
  assert.ok(a.path.startsWith(cache.dir), 'the tensors are the cache copy\'s pages');
  assert.equal((second.tensors['a'] as AnySharedArray).path, a.path, 'one copy');
  assert.deepEqual(Object.keys(first.tensors).sort(), ['a', 'b', 'c']);
  assert.deepEqual(numbersOf(a), [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(numbersOf(first.tensors['b'] as AnySharedArray), [0, 1, 2]);
  assert.deepEqual({ ...first.metadata }, { k: 'v' });
  const [entry] = cache.list();
  assert.equal(cache.list().length, 1);
  assert.equal(entry?.bytes, statSync(tmp.path('cached.safetensors')).size, 'the file counted once, not once per tensor');
  for (const t of [...Object.values(first.tensors), ...Object.values(second.tensors)]) t.close();
  assert.deepEqual(cache.list()[0]?.holders, []);
  const hostile = tmp.path('hostile-cache.safetensors');
  writeFileSync(hostile, Buffer.from('\x10\x00\x00\x00\x00\x00\x00\x00{"a": 1}        ', 'latin1'));
  await rejectsWithCode(cache.openSafetensors(hostile), 'ERR_SHM_BAD_SAFETENSORS');
  assert.equal(cache.list().length, 1, 'nothing was added');
  cache.clear();
});
