import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createGunzip, gunzipSync, crc32 } from 'node:zlib';
import { createPool, createShared, gzipParallel, workerFiles } from '../dist/index.js';
import { crc32Combine } from '../dist/jobs/crc32-combine.js';
import { inChild, rejectsWithCode, RUNTIMES, tempDir } from './helpers.js';

const tmp = tempDir('shmarray-gzip-');
const MiB = 2 ** 20;
after(() => tmp.dispose());
const KiB = 1024;

/** Compressible but not trivial: text-like runs mixed with random bytes. */
function sample(n: number): Buffer {
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; ) {
    const run = randomBytes(1)[0] ?? 0;
    const piece = run % 3 === 0 ? randomBytes(64) : Buffer.from(`row ${i} value ${(i * 7) % 1000}\n`);
    piece.copy(out, i);
    i += piece.length;
  }
  return out;
}

/** gzip -t accepts the file; gzip -dc, Node's gunzipSync and Python's gzip module give back exactly `expected`. */
function checkWithGzip(file: string, expected: Buffer): void {
  execFileSync('gzip', ['-t', file]);
  assert.ok(execFileSync('gzip', ['-dc', file], { maxBuffer: 1 << 28 }).equals(expected), 'gzip -dc | cmp');
  assert.ok(gunzipSync(readFileSync(file)).equals(expected), "Node's gunzipSync reads every member");
  const python = execFileSync('python3', ['-c', 'import gzip, sys; sys.stdout.buffer.write(gzip.open(sys.argv[1]).read())', file], { maxBuffer: 1 << 28 });
  assert.ok(python.equals(expected), "Python's gzip module reads every member");
}

test('crc32Combine equals the CRC of the concatenation', () => {
  const a = randomBytes(1000);
  const b = randomBytes(70_001);
  assert.equal(crc32Combine(crc32(a), crc32(b), b.length), crc32(Buffer.concat([a, b])));
  assert.equal(crc32Combine(crc32(a), 0, 0), crc32(a));
});

for (const runtime of RUNTIMES) {
  describe(`gzipParallel: ${runtime}`, () => {
    const sizes: [string, number][] = [['empty', 0], ['1 byte', 1], ['not a multiple of the chunk size', 3 * 64 * KiB + 12_345], ['many chunks', 20 * 64 * KiB]];
    for (const single of [false, true]) {
      for (const [name, size] of sizes) {
        test(`${single ? 'single member' : 'multi-member'}, ${name}: file, SharedArray and stream inputs`, async () => {
          const data = sample(size);
          const file = tmp.path(`in-${size}.bin`);
          writeFileSync(file, data);
          const array = createShared(tmp.path(`arr-${runtime}-${single}-${size}.u8`), size, { dtype: 'uint8' });
          array.data.set(data);
          const inputs = { file, array, stream: createReadStream(file) };
          for (const [kind, input] of Object.entries(inputs)) {
            const out = tmp.path(`out-${runtime}-${single}-${size}-${kind}.gz`);
            const r = await gzipParallel(input, out, { workers: 2, runtime, chunkSize: 64 * KiB, singleMember: single, level: 6 });
            checkWithGzip(out, data);
            assert.equal(r.bytesIn, size);
            assert.equal(r.bytesOut, readFileSync(out).length);
            assert.equal(r.members, single ? 1 : Math.max(1, Math.ceil(size / (64 * KiB))), kind);
          }
        });
      }
    }

    test(`an input whose read fails, through a ${runtime} pool: ERR_SHM_IO, no output and no temporary file`, async () => {
      const dir = tempDir('shmarray-gzfail-');
      try {
        // A sysfs attribute says it is a 4096-byte file but reads far fewer bytes: the read of a chunk fails.
        const liar = '/sys/kernel/mm/transparent_hugepage/enabled';
        await using pool = createPool(workerFiles.compress, { workers: 2, runtime });
        await rejectsWithCode(gzipParallel(liar, dir.path('out.gz'), { pool }), 'ERR_SHM_IO');
        assert.deepEqual(readdirSync(dir.dir), []);
      } finally {
        dir.dispose();
      }
    });
  });
}

describe('bad output or options', () => {
  const input = tmp.path('small.bin');
  writeFileSync(input, 'hello');
  test('an unwritable output directory is ERR_SHM_PERMISSION and leaves nothing; a missing one is made', async () => {
    // /sys refuses new files even to root (plain permission bits would not stop root).
    await rejectsWithCode(gzipParallel(input, '/sys/out.gz'), 'ERR_SHM_PERMISSION');
    assert.equal(existsSync('/sys/out.gz'), false);
    await gzipParallel(input, tmp.path('missing/deeper/out.gz'));
    assert.ok(existsSync(tmp.path('missing/deeper/out.gz')));
  });

  test('bad level and chunk size are refused before anything is written', async () => {
    await rejectsWithCode(gzipParallel(input, tmp.path('l.gz'), { level: 12 }), 'ERR_SHM_BAD_ARGUMENT');
    await rejectsWithCode(gzipParallel(input, tmp.path('c.gz'), { chunkSize: 10 }), 'ERR_SHM_BAD_ARGUMENT');
    assert.deepEqual(readdirSync(tmp.dir).filter((n) => n.endsWith('.gz') && (n.startsWith('l') || n.startsWith('c'))), []);
  });

  test('aborting a file being compressed on the addon threads: ERR_SHM_ABORTED, no output, no temporary file', async () => {
    const dir = tempDir('shmarray-gzabort-');
    try {
      // 64 MiB of random bytes at level 9: seconds of work, aborted after 50 ms.
      const file = dir.path('random.bin');
      writeFileSync(file, randomBytes(64 * 1024 * KiB));
      const started = Date.now();
      await rejectsWithCode(gzipParallel(file, dir.path('out.gz'), { level: 9, workers: 2, signal: AbortSignal.timeout(50) }), 'ERR_SHM_ABORTED');
      if (process.env['SHMARRAY_TEST_VERBOSE']) console.error(`aborted after ${Date.now() - started} ms`);
      assert.deepEqual(readdirSync(dir.dir), ['random.bin']);
      const aborted = new AbortController();
      aborted.abort();
      await rejectsWithCode(gzipParallel(file, dir.path('out.gz'), { signal: aborted.signal }), 'ERR_SHM_ABORTED');
      assert.deepEqual(readdirSync(dir.dir), ['random.bin']);
    } finally {
      dir.dispose();
    }
  });

  test('SIGINT in the middle of a stream leaves no partial output and no temporary file', async () => {
    const dir = tempDir('shmarray-gzint-');
    try {
      const cli = fileURLToPath(new URL('../dist/cli/bin.js', import.meta.url));
      const child = spawn(process.execPath, [cli, 'gzip', '-', '-o', dir.path('out.gz'), '--chunk', '64KiB'], { stdio: ['pipe', 'ignore', 'pipe'] });
      child.stdin.on('error', () => {}); // EPIPE once the child is gone
      child.stdin.write(sample(1024 * KiB));
      // Wait until the writer has created its temporary file, then interrupt.
      while (readdirSync(dir.dir).length === 0) await new Promise((r) => setTimeout(r, 10));
      child.kill('SIGINT');
      const [code, signal] = (await new Promise((r) => child.once('exit', (...a) => r(a)))) as [number | null, string | null];
      assert.equal(signal ?? code, 'SIGINT');
      assert.deepEqual(readdirSync(dir.dir), []);
    } finally {
      dir.dispose();
    }
  });
});

test('a 3 GiB input compresses whole: chunks at offsets past 2^31 are read, and every byte comes back', async () => {
  const path = tmp.path('three-gib.bin');
  const big = createShared(path, [3 * 2 ** 30], { dtype: 'uint8' }); // reserved (fallocate): 3 GiB of tmpfs while the test runs
  const marks = [2 ** 31 + 5, 2.5 * 2 ** 30, 3 * 2 ** 30 - 1];
  for (const at of marks) big.data[at] = 0xa5;
  big.close();
  const out = tmp.path('three-gib.gz');
  const r = await gzipParallel(path, out, { level: 1, chunkSize: 64 * 2 ** 20, workers: 2 });
  assert.equal(r.bytesIn, 3 * 2 ** 30);
  // Decompressed as a stream, every byte counted; the marks come back where they were written.
  let offset = 0;
  const found: number[] = [];
  for await (const piece of createReadStream(out).pipe(createGunzip()) as AsyncIterable<Buffer>) {
    for (let i = piece.indexOf(0xa5); i >= 0; i = piece.indexOf(0xa5, i + 1)) found.push(offset + i);
    offset += piece.length;
  }
  assert.equal(offset, 3 * 2 ** 30);
  assert.deepEqual(found, marks);
});

test('gzip of an input that shrinks while it runs is ERR_SHM_IO, never SIGBUS, and leaves no temporary file', () => {
  const input = tmp.path('shrinking.bin');
  writeFileSync(input, Buffer.alloc(64 * MiB, 7));
  const out = tmp.path('shrinking.gz');
  const r = inChild(tmp.dir, `
    const { truncateSync } = await import('node:fs');
    const run = m.gzipParallel(${JSON.stringify(input)}, ${JSON.stringify(out)}, { workers: 1, runtime: 'worker_threads', chunkSize: 65536 });
    setTimeout(() => truncateSync(${JSON.stringify(input)}, 4096), 30);
    try { await run; console.log('finished'); } catch (e) { console.log(e.code); }`);
  assert.equal(r.signal, null, `the process died of ${r.signal}: ${r.stderr}`);
  assert.equal(r.stdout.trim(), 'ERR_SHM_IO', r.stderr);
  assert.deepEqual(readdirSync(tmp.dir).filter((n) => n.includes('shrinking') && n.endsWith('.tmp')), []);
});

test("a killed gzip's temporary output is swept by the next gzip into that directory", async () => {
  const dir = tmp.path('gz-sweep');
  mkdirSync(dir);
  const dead = Number(execFileSync('sh', ['-c', 'echo $$']).toString().trim());
  const stale = join(dir, `.out.gz.${dead}-0123abcd.tmp`);
  const live = join(dir, `.out.gz.${process.pid}-0123abcd.tmp`);
  writeFileSync(stale, 'x');
  writeFileSync(live, 'x');
  writeFileSync(join(dir, 'in.bin'), 'data');
  await gzipParallel(join(dir, 'in.bin'), join(dir, 'in.bin.gz'), { workers: 1 });
  assert.equal(existsSync(stale), false);
  assert.equal(existsSync(live), true, 'a live process keeps its temporary file');
});

for (const runtime of RUNTIMES) {
  test(`gzipParallel through a long-lived ${runtime} pool leaves no mapping of its input in this process (20 runs × 16 chunks)`, async () => {
    const input = tmp.path(`gz-pool-${runtime}.bin`);
    writeFileSync(input, Buffer.alloc(16 * 64 * 1024, 3));
    await using pool = createPool(workerFiles.compress, { workers: 2, runtime });
    for (let i = 0; i < 20; i++) await gzipParallel(input, tmp.path(`gz-pool-${runtime}.gz`), { pool, chunkSize: 64 * 1024 });
    const maps = readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.includes(input));
    assert.deepEqual(maps, []);
  });
}

test('gzipParallel with an aborted signal: ERR_SHM_ABORTED, no output and no temporary file', async () => {
  const dir = tmp.path('gz-abort');
  mkdirSync(dir);
  writeFileSync(join(dir, 'in.bin'), Buffer.alloc(4 * MiB, 1));
  const controller = new AbortController();
  controller.abort();
  await rejectsWithCode(gzipParallel(join(dir, 'in.bin'), join(dir, 'out.gz'), { workers: 1, signal: controller.signal }), 'ERR_SHM_ABORTED');
  assert.deepEqual(readdirSync(dir), ['in.bin']);
});

describe('bytes in memory are gzipped as they lie; what is not bytes is refused before anything is written', () => {
  const cases: [string, () => ArrayBufferView, Buffer][] = [
    ['a Buffer of 100 bytes', () => Buffer.alloc(100, 1), Buffer.alloc(100, 1)],
    ['a Float32Array (its bytes, little-endian)', () => Float32Array.from([1.5, -2, 3]), Buffer.from(Float32Array.from([1.5, -2, 3]).buffer)],
    ['a subarray of a larger buffer (only its own bytes)', () => sample(300 * KiB).subarray(1000, 200 * KiB + 7), Buffer.alloc(0)],
    ['an empty Uint8Array', () => new Uint8Array(0), Buffer.alloc(0)],
  ];
  for (const single of [false, true]) {
    for (const [what, make, expectedBytes] of cases) {
      test(`${what}${single ? ', one member' : ''}: gunzip gives back exactly its bytes, and the caller's array is untouched`, async () => {
        const input = make();
        const before = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
        const expected = expectedBytes.length > 0 || input.byteLength === 0 ? expectedBytes : Buffer.from(before);
        const out = tmp.path(`mem-${single ? 's' : 'm'}-${input.byteLength}.gz`);
        const r = await gzipParallel(input, out, { workers: 2, chunkSize: 64 * KiB, singleMember: single });
        assert.equal(r.bytesIn, input.byteLength);
        assert.ok(gunzipSync(readFileSync(out)).equals(expected), 'gunzip gives back the input');
        assert.equal(input.byteLength, expected.length, 'the caller’s array is not detached');
        assert.ok(Buffer.from(input.buffer, input.byteOffset, input.byteLength).equals(expected), 'and not changed');
      });
    }
  }
  const refused: [string, unknown, RegExp][] = [
    ['an array of numbers', [1, 2, 3], /not an array \(put numbers in a typed array, e\.g\. Float32Array\.from\(list\)/],
    ['a number', 42, /not a number/],
    ['a plain object that is not iterable', { bytes: 1 }, /, not an object\./],
  ];
  for (const [what, input, message] of refused) {
    test(`${what}: ERR_SHM_BAD_ARGUMENT naming what to give, and no output file`, async () => {
      const out = tmp.path(`refused-${what.replace(/\W/g, '')}.gz`);
      const err = await rejectsWithCode(gzipParallel(input as never, out), 'ERR_SHM_BAD_ARGUMENT');
      assert.match(err.message, message);
      assert.match(err.message, /a file path, a SharedArray, a Buffer or typed array, or an async iterable of bytes/);
      assert.equal(existsSync(out), false);
    });
  }
  test('a stream in text mode (strings): ERR_SHM_BAD_ARGUMENT saying to open it without an encoding; no output and no temporary file', async () => {
    const src = tmp.path('text-mode.txt');
    writeFileSync(src, 'hello\n'.repeat(1000));
    const dir = tmp.path('text-mode-out');
    mkdirSync(dir);
    const err = await rejectsWithCode(gzipParallel(createReadStream(src, { encoding: 'utf8' }), join(dir, 'o.gz'), { workers: 1 }), 'ERR_SHM_BAD_ARGUMENT');
    assert.match(err.message, /gave a string \(the stream is in text mode: open it without an encoding/);
    assert.deepEqual(readdirSync(dir), []);
  });
});
