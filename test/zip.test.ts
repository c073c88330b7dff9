import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, fork, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { listZip, memoryUsage, SharedStore } from '../dist/index.js';
import { fixture, numpyPython, rejectsWithCode, tempDir } from './helpers.js';
import { buildZip } from '../dist/bench/zip-writer.js';
import { encodeNpyHeader } from '../dist/core/npy.js';

const MiB = 2 ** 20;
const tmp = tempDir('shmarray-zip-');
let store: SharedStore;
before(async () => {
  execFileSync('python3', [fixture('make_zips.py'), tmp.dir]);
  store = await SharedStore.create({ dir: tmp.dir });
});
after(async () => {
  await store.dispose();
  tmp.dispose();
});

const f32 = (n: number, f: (i: number) => number): Uint8Array => new Uint8Array(Float32Array.from({ length: n }, (_, i) => f(i)).buffer);
const zipFile = (name: string, bytes: Uint8Array): string => {
  const p = tmp.path(name);
  writeFileSync(p, bytes);
  return p;
};

/** The store holds exactly these files before and after a failing call: nothing partial is left. */
async function failsCleanly(promise: Promise<unknown>, code: Parameters<typeof rejectsWithCode>[1], reason?: string): Promise<void> {
  const before = store.files();
  const err = await rejectsWithCode(promise, code);
  if (reason !== undefined) assert.equal(err.details['reason'], reason, err.message);
  assert.deepEqual(store.files(), before, 'no partial file is left');
  const ok = await store.extractZip(tmp.path('python.zip'), { columns: 4 });
  assert.equal(ok.length, 3, 'the store stays usable');
}

describe('archives made by others', () => {
  test("Python's zipfile: deflated and stored raw entries, a .npy entry, a directory entry", async () => {
    const [values, ints, stored] = await store.extractZip(tmp.path('python.zip'), { columns: 4 });
    assert.ok(values && ints && stored);
    assert.deepEqual(values.shape, [1000, 4]);
    assert.equal(values.row(998)[1], (998 * 4 + 1) / 8);
    assert.equal(ints.dtype, 'int32');
    assert.deepEqual(ints.shape, [10, 3]);
    assert.equal(ints.data[29], 22);
    assert.deepEqual(stored.shape, [5, 4]);
    assert.equal(stored.data[19], 19 / 8);
  });

  const bsdtar = ['/usr/bin/bsdtar', 'bsdtar'].find((b) => {
    try {
      execFileSync(b, ['--version'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  });
  for (const [how, command] of [
    ['to stdout', 'bsdtar --format zip -cf - values.f32 counts.i32 > "$1"'],
    ['through a pipe', 'bsdtar --format zip -cf - values.f32 counts.i32 | cat > "$1"'],
  ] as const) {
    test(`bsdtar (libarchive) writing ${how}: the zero padding after the end record is accepted`, { skip: bsdtar === undefined && 'NOT RUN: bsdtar is missing (apt-get install libarchive-tools; .ci/run installs it)' }, async () => {
      const src = tmp.path(`bsdtar-src-${how.length}`);
      mkdirSync(src, { recursive: true });
      writeFileSync(join(src, 'values.f32'), f32(4000, (i) => i / 8));
      writeFileSync(join(src, 'counts.i32'), new Uint8Array(Int32Array.from({ length: 32 }, (_, i) => i - 7).buffer));
      const zip = tmp.path(`bsdtar-${how.length}.zip`);
      execFileSync('sh', ['-c', command.replace(/^bsdtar/, bsdtar as string), 'sh', zip], { cwd: src });
      const bytes = readFileSync(zip);
      assert.equal(bytes.length % 10240, 0, 'bsdtar padded its output to a block');
      assert.ok(bytes.subarray(-100).every((b) => b === 0), 'the archive ends in zero padding');
      const [values, counts] = await store.extractZip(zip, { dtype: 'int32', columns: 4 });
      assert.deepEqual(values?.shape, [1000, 4]);
      assert.equal(new Float32Array(values?.data.buffer ?? new ArrayBuffer(0))[3999], 3999 / 8);
      assert.deepEqual(Array.from(counts?.data ?? []), Array.from({ length: 32 }, (_, i) => i - 7));
    });
  }

  test('a Zip64 archive', async () => {
    const [a] = await store.extractZip(tmp.path('zip64.zip'), { shape: [1000, 4] });
    assert.ok(a);
    assert.equal(a.data[3999], 3999 / 8);
  });

  test('raw entries default to 1-D float32; dtype and shape options apply', async () => {
    const [a] = await store.extractZip(tmp.path('zip64.zip'));
    assert.deepEqual(a?.shape, [4000]);
    const [b] = await store.extractZip(tmp.path('zip64.zip'), { dtype: 'uint8', shape: [16000] });
    assert.equal(b?.dtype, 'uint8');
  });

  test('extracted files are read-only, named by the store, inside it', async () => {
    const arrays = await store.extractZip(tmp.path('python.zip'), { columns: 4 });
    for (const a of arrays) {
      assert.equal(dirname(a.path), store.dir);
      assert.equal(statSync(a.path).mode & 0o777, 0o400);
      assert.match(a.path, /\/z\d{4}-\d{3}-[A-Za-z0-9._-]+$/);
    }
  });
});

describe('bad archives: a clear error, no partial file, the store still usable', () => {
  test('not a zip', () => failsCleanly(store.extractZip(zipFile('text.zip', Buffer.from('hello, I am not an archive'))), 'ERR_SHM_BAD_ZIP', 'not-a-zip'));

  test('missing archive', () => failsCleanly(store.extractZip(tmp.path('nope.zip')), 'ERR_SHM_NOT_FOUND'));

  test('truncated archive (cut in half)', () => {
    const whole = readFileSync(tmp.path('python.zip'));
    return failsCleanly(store.extractZip(zipFile('half.zip', whole.subarray(0, whole.length >> 1))), 'ERR_SHM_BAD_ZIP', 'not-a-zip');
  });

  test('corrupt deflate data', () => {
    const payload = Buffer.from(deflateRawSync(f32(4096, (i) => i)));
    payload.fill(0xff, 10, 40);
    return failsCleanly(store.extractZip(zipFile('corrupt.zip', buildZip([{ name: 'a.f32', data: f32(4096, (i) => i), payload }]))), 'ERR_SHM_BAD_ZIP', 'corrupt-data');
  });

  test('CRC-32 mismatch', () =>
    failsCleanly(store.extractZip(zipFile('crc.zip', buildZip([{ name: 'a.f32', data: f32(1024, (i) => i), crc: 12345 }]))), 'ERR_SHM_BAD_ZIP', 'crc-mismatch'));

  test('data shorter than the declared size', () =>
    failsCleanly(store.extractZip(zipFile('short.zip', buildZip([{ name: 'a.f32', data: f32(1024, (i) => i), uncompressedSize: 8192 }]))), 'ERR_SHM_BAD_ZIP', 'size-mismatch'));

  test('zip bomb: inflates far past its declared size; stops at the declared size', () => {
    const bomb = new Uint8Array(64 * MiB);
    return failsCleanly(store.extractZip(zipFile('bomb.zip', buildZip([{ name: 'bomb.f32', data: bomb, uncompressedSize: 4096 }]))), 'ERR_SHM_BAD_ZIP', 'size-exceeded');
  });

  test('a later bad entry removes the earlier good ones of the same archive', () =>
    failsCleanly(
      store.extractZip(zipFile('half-good.zip', buildZip([{ name: 'good.f32', data: f32(16, (i) => i) }, { name: 'bad.f32', data: f32(16, (i) => i), crc: 1 }]))),
      'ERR_SHM_BAD_ZIP',
      'crc-mismatch',
    ));

  test('encrypted entry', () =>
    failsCleanly(store.extractZip(zipFile('enc.zip', buildZip([{ name: 'a.f32', data: f32(16, (i) => i), flags: 0x801 }]))), 'ERR_SHM_ZIP_UNSUPPORTED'));

  test('unsupported compression method (bzip2, made by Python)', () => failsCleanly(store.extractZip(tmp.path('bzip2.zip')), 'ERR_SHM_ZIP_UNSUPPORTED'));

  test('a size that does not fit the columns', () =>
    failsCleanly(store.extractZip(zipFile('odd.zip', buildZip([{ name: 'a.f32', data: new Uint8Array(20) }])), { columns: 4 }), 'ERR_SHM_SHAPE_MISMATCH'));

  test('a size that does not fit the given shape', () =>
    failsCleanly(store.extractZip(zipFile('shape.zip', buildZip([{ name: 'a.f32', data: f32(12, (i) => i) }])), { shape: [4, 4] }), 'ERR_SHM_SHAPE_MISMATCH'));

  test('a corrupt .npy entry', () =>
    failsCleanly(store.extractZip(zipFile('npy.zip', buildZip([{ name: 'a.npy', data: Buffer.from("\x93NUMPY\x01\x00\x10\x00{'descr': 42}   \n", 'latin1') }]))), 'ERR_SHM_BAD_NPY'));

  test('a declared size deflate cannot produce (2^50 bytes from 51) is refused before writing', () =>
    failsCleanly(store.extractZip(zipFile('huge.zip', buildZip([{ name: 'a.f32', data: f32(16, (i) => i), uncompressedSize: 2 ** 50 }]))), 'ERR_SHM_BAD_ZIP'));
});

describe('hostile directories: every field checked against the file before any read', () => {
  const one = (): Buffer => buildZip([{ name: 'a.f32', data: f32(16, (i) => i) }]);
  const eocdOf = (z: Buffer): number => z.length - 22;
  const u64 = (n: bigint): Buffer => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(n);
    return b;
  };
  const locator = (offset: bigint): Buffer => Buffer.concat([Buffer.from([0x50, 0x4b, 0x06, 0x07, 0, 0, 0, 0]), u64(offset), Buffer.from([1, 0, 0, 0])]);

  for (const offset of [2n ** 53n, 2n ** 60n]) {
    test(`a zip64 locator pointing at byte ${offset} is BAD_ZIP (yauzl read there from a callback: uncatchable)`, () => {
      const z = one();
      const bytes = Buffer.concat([z.subarray(0, eocdOf(z)), locator(offset), z.subarray(eocdOf(z))]);
      return failsCleanly(store.extractZip(zipFile(`locator-${offset}.zip`, bytes)), 'ERR_SHM_BAD_ZIP', 'bad-zip64');
    });
  }

  test('a zip64 central-directory offset of 2^62 is BAD_ZIP (was a plain RangeError)', () => {
    const z = one();
    const eocd = eocdOf(z);
    const cdSize = z.readUInt32LE(eocd + 12);
    const record = Buffer.concat([
      Buffer.from([0x50, 0x4b, 0x06, 0x06]), u64(44n), Buffer.from([45, 0, 45, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
      u64(1n), u64(1n), u64(BigInt(cdSize)), u64(2n ** 62n),
    ]);
    const tail = Buffer.from(z.subarray(eocd));
    tail.writeUInt32LE(0xffffffff, 16);
    const bytes = Buffer.concat([z.subarray(0, eocd), record, locator(BigInt(eocd)), tail]);
    return failsCleanly(store.extractZip(zipFile('cd-2-62.zip', bytes)), 'ERR_SHM_BAD_ZIP', 'bad-directory-offset');
  });

  test('the same archives in a worker pool are BAD_ZIP too, not ERR_SHM_WORKER', async () => {
    const z = one();
    const path = zipFile('locator-pool.zip', Buffer.concat([z.subarray(0, eocdOf(z)), locator(2n ** 60n), z.subarray(eocdOf(z))]));
    await rejectsWithCode(store.extractAll([path], { workers: 1 }), 'ERR_SHM_BAD_ZIP');
  });

  test('overlapping entries (two directory records, one local entry) are BAD_ZIP', () => {
    const z = one();
    const eocd = eocdOf(z);
    const cdOffset = z.readUInt32LE(eocd + 16);
    const record = z.subarray(cdOffset, eocd);
    const tail = Buffer.from(z.subarray(eocd));
    tail.writeUInt16LE(2, 8);
    tail.writeUInt16LE(2, 10);
    tail.writeUInt32LE(record.length * 2, 12);
    const bytes = Buffer.concat([z.subarray(0, eocd), record, tail]);
    return failsCleanly(store.extractZip(zipFile('overlap.zip', bytes)), 'ERR_SHM_BAD_ZIP', 'overlapping-entries');
  });

  test('an end-of-directory count that disagrees with the entries (1 of 2) is BAD_ZIP, not a dropped entry', () => {
    const z = buildZip([{ name: 'a.f32', data: f32(4, (i) => i) }, { name: 'b.f32', data: f32(4, (i) => i) }]);
    z.writeUInt16LE(1, eocdOf(z) + 8);
    z.writeUInt16LE(1, eocdOf(z) + 10);
    return failsCleanly(store.extractZip(zipFile('count.zip', z)), 'ERR_SHM_BAD_ZIP', 'count-mismatch');
  });

  test('a "directory" entry holding 16,000 bytes is BAD_ZIP, not skipped', () =>
    failsCleanly(store.extractZip(zipFile('dir-data.zip', buildZip([{ name: 'dir/', data: new Uint8Array(16_000) }]))), 'ERR_SHM_BAD_ZIP', 'directory-with-data'));

  test('a FIFO given as the archive is ERR_SHM_NOT_A_FILE at once, not a hang', async () => {
    const fifo = tmp.path('archive.fifo');
    execFileSync('mkfifo', [fifo]);
    await failsCleanly(store.extractZip(fifo), 'ERR_SHM_NOT_A_FILE');
  });
});

describe('hostile entry names are never used as paths', () => {
  for (const name of ['../../escape.f32', '/etc/abs-escape.f32', 'nul\0byte.f32', '..\\..\\win.f32', '.hidden', '']) {
    test(JSON.stringify(name), async () => {
      const archive = zipFile(`hostile-${Buffer.from(name).toString('hex')}.zip`, buildZip([{ name, data: f32(4, (i) => i) }]));
      const parent = readdirSync(dirname(store.dir));
      const [a] = await store.extractZip(archive);
      assert.ok(a);
      assert.equal(dirname(a.path), store.dir, 'the file is inside the store');
      assert.match(a.path.slice(store.dir.length + 1), /^z\d{4}-\d{3}-[A-Za-z0-9_][A-Za-z0-9._-]*$/);
      assert.deepEqual(readdirSync(dirname(store.dir)), parent, 'nothing appeared beside the store');
      assert.equal(existsSync('/etc/abs-escape.f32'), false);
    });
  }
});

test('streamed: extracting a 256 MiB entry grows memory by < 25% of it, no more than a 64 MiB entry does + 32 MiB', async () => {
  const peaks: number[] = [];
  for (const mib of [64, 256]) {
    const dir = tempDir('shmarray-zipmem-');
    try {
      execFileSync('python3', [fixture('make_zips.py'), dir.dir, String(mib)]);
      // Sampled from outside, so the sampling itself does not add to what is measured.
      const child = fork(fixture('extract-child.mjs'), [dir.path('big.zip'), dir.dir], { stdio: 'inherit' });
      await new Promise((r) => child.once('message', r));
      const base = memoryUsage(child.pid).anonymous ?? 0;
      let peak = 0;
      let done = false;
      const finished = new Promise<{ bytes: number }>((r) => child.once('message', r)).finally(() => (done = true));
      child.send('go');
      while (!done) {
        try {
          peak = Math.max(peak, (memoryUsage(child.pid).anonymous ?? 0) - base);
        } catch {
          break;
        }
        await new Promise((r) => setTimeout(r, 5));
      }
      assert.equal((await finished).bytes, mib * MiB);
      await new Promise((r) => child.once('exit', r));
      peaks.push(peak);
    } finally {
      dir.dispose();
    }
  }
  // Streaming holds a bounded amount whatever the entry size (the addon's reused buffers, plus
  // allocator noise that varies run to run); buffering would add the 192 MiB difference.
  const [small = 0, big = 0] = peaks;
  if (process.env["SHMARRAY_TEST_VERBOSE"]) console.error(`peak growth: ${peaks.map((p) => (p / MiB).toFixed(1)).join(" / ")} MiB`);
  assert.ok(big < 0.25 * 256 * MiB, `peak growth ${(big / MiB).toFixed(1)} MiB for a 256 MiB entry`);
  assert.ok(big < small + 32 * MiB, `peak growth ${(big / MiB).toFixed(1)} MiB (256 MiB entry) vs ${(small / MiB).toFixed(1)} MiB (64 MiB entry)`);
});

test('an archive truncated while its entry inflates: ERR_SHM_IO from the SIGBUS guard, the process lives, no partial file', async () => {
  const dir = tempDir('shmarray-zipcut-');
  try {
    // 128 MiB of random floats: deflate barely shrinks them and inflating them takes a few hundred
    // milliseconds, time enough to cut the archive under the addon's mapping.
    const floats = new Float32Array(32 * MiB);
    for (let i = 0; i < floats.length; i++) floats[i] = Math.random();
    const data = new Uint8Array(floats.buffer);
    const zip = dir.path('floats.zip');
    writeFileSync(zip, buildZip([{ name: 'floats.f32', data, payload: deflateRawSync(data, { level: 1 }) }]));
    const out = dir.path('out');
    mkdirSync(out);
    const script = `import { extractZips } from ${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)};
      try { await extractZips([process.argv[1]], process.argv[2]); console.log(JSON.stringify({ ok: true })); }
      catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, zip, out], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const exited = new Promise<[number | null, NodeJS.Signals | null]>((r) => child.once('exit', (code, signal) => r([code, signal])));
    // The output file is sized before the archive is mapped and inflated: once it has its full size, cut.
    let cut = false;
    for (const deadline = Date.now() + 60_000; !cut && child.exitCode === null && Date.now() < deadline; ) {
      const part = readdirSync(out).find((n) => n.endsWith('.part'));
      if (part !== undefined && statSync(join(out, part), { throwIfNoEntry: false })?.size === data.length) {
        await new Promise((r) => setTimeout(r, 2));
        truncateSync(zip, 4096);
        cut = true;
      } else {
        await new Promise((r) => setTimeout(r, 1));
      }
    }
    const [code, signal] = await exited;
    assert.ok(cut, 'the archive was cut while the entry was being extracted');
    assert.equal(signal, null, 'the child was not killed by SIGBUS');
    assert.equal(code, 0);
    const result = JSON.parse(stdout) as { ok?: boolean; code?: string; message?: string };
    assert.equal(result.code, 'ERR_SHM_IO', JSON.stringify(result));
    assert.match(result.message ?? '', /shrank/);
    assert.deepEqual(readdirSync(out), [], 'no partial file is left');
  } finally {
    dir.dispose();
  }
});

test("listZip: Python's zipfile writes .npy and raw entries, stored and deflated; each is listed with its size and kind, nothing is extracted", { skip: numpyPython === undefined && 'NOT RUN: no python3 with numpy (.ci/run installs python3-numpy)' }, async () => {
  const dir = tmp.path('listzip');
  mkdirSync(dir);
  const zip = join(dir, 'mixed.zip');
  execFileSync(numpyPython as string, ['-c', `
import io, sys, zipfile, numpy as np
with zipfile.ZipFile(sys.argv[1], 'w') as z:
    for method, tag in ((zipfile.ZIP_STORED, 'stored'), (zipfile.ZIP_DEFLATED, 'deflated')):
        b = io.BytesIO(); np.save(b, np.arange(12, dtype='<f4').reshape(3, 4))
        z.writestr(zipfile.ZipInfo(tag + '/a.npy'), b.getvalue(), compress_type=method)
        z.writestr(zipfile.ZipInfo(tag + '/b.f32'), np.arange(8, dtype='<f4').tobytes(), compress_type=method)
    z.writestr('empty.bin', b'')
    z.writestr('sub/', b'')
`, zip]);
  const entries = await listZip(zip);
  const npyBytes = 128 + 12 * 4; // numpy's 128-byte header (64-byte aligned), then 12 float32
  assert.deepEqual(entries, [
    { name: 'stored/a.npy', bytes: npyBytes, npy: true },
    { name: 'stored/b.f32', bytes: 32, npy: false },
    { name: 'deflated/a.npy', bytes: npyBytes, npy: true },
    { name: 'deflated/b.f32', bytes: 32, npy: false },
    { name: 'empty.bin', bytes: 0, npy: false },
  ]);
  assert.deepEqual(readdirSync(dir), ['mixed.zip']);
});

test('extraction given a dtype refuses a .npy entry of another dtype (ERR_SHM_BAD_DTYPE naming it), leaving nothing; without a dtype it takes the entry\'s own', async () => {
  const dir = tmp.path('dtype-promise');
  mkdirSync(dir);
  const npy = Buffer.concat([Buffer.from(encodeNpyHeader('float64', [2])), Buffer.from(Float64Array.from([1.5, 2.5]).buffer)]);
  const zip = join(dir, 'f64.zip');
  writeFileSync(zip, buildZip([{ name: 'f64.npy', data: npy }]));
  mkdirSync(join(dir, 'base'), { mode: 0o700 });
  await using store = await SharedStore.create({ dir: join(dir, 'base') });
  const err = await rejectsWithCode(store.extractZip(zip, { dtype: 'float32' }), 'ERR_SHM_BAD_DTYPE');
  assert.match(err.message, /entry "f64\.npy" is a \.npy of float64, not the float32 asked for; give dtype: 'float64', or leave dtype out/);
  assert.deepEqual(store.files(), []);
  const [own] = await store.extractZip(zip);
  assert.equal(own?.dtype, 'float64');
  assert.deepEqual(Array.from(own?.data ?? []), [1.5, 2.5]);
});
