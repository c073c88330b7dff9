import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync, openSync, closeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { MessageChannel, Worker } from 'node:worker_threads';
import Tinypool from 'tinypool';
import { createShared, openShared, ShmArrayError, type SharedHandle } from '../dist/index.js';
import { fixture, inChild, makePool, mappingsOf, pssShmem, rejectsWithCode, RUNTIMES, tempDir } from './helpers.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const tmp = tempDir();
after(() => tmp.dispose());
const GiB = 2 ** 30;
const MiB = 2 ** 20;

/** Lines of /proc/self/maps that map `path` (a deleted file shows as "path (deleted)"). */

function startWorker(file: string, workerData: unknown): Promise<{ worker: Worker; first: unknown }> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(file, { workerData });
    worker.once('message', (m: { first: unknown }) => resolve({ worker, first: m.first }));
    worker.once('error', reject);
  });
}

test('the binding loads in two worker threads at once (mmap-io 1.1.7 died with "Module did not self-register")', async () => {
  const a = createShared(tmp.path('two-threads.f32'), 3);
  a.data.set([1, 2, 3]);
  // Raw Workers, started together, each its own isolate loading the addon for the first time.
  const run = (): Promise<{ sum: number }> =>
    new Promise((resolve, reject) => {
      const w = new Worker(
        `import(${JSON.stringify(fixture('load-binding.mjs'))}).then((m) => require('node:worker_threads').parentPort.postMessage(m.default({ handle: ${JSON.stringify(a.handle)} })))`,
        { eval: true },
      );
      w.once('message', (m: { sum: number }) => {
        resolve(m);
        void w.terminate();
      });
      w.once('error', reject);
      w.once('exit', (code) => code !== 0 && reject(new Error(`worker exited with ${code}`)));
    });
  const results = await Promise.all([run(), run()]);
  assert.deepEqual(results, [{ sum: 6 }, { sum: 6 }]);
  a.close();
});

describe('a missing addon is ERR_SHM_NATIVE, with how to rebuild', () => {
  // As after `npm install --ignore-scripts`: nothing at the path the addon is loaded from.
  const missing = tmp.path('not-built/shmarray.node');
  const data = tmp.path('native-missing.f32');
  writeFileSync(data, new Uint8Array(16));

  test('in a process', () => {
    const script = `import(${JSON.stringify(`${root}dist/index.js`)}).then((m) => {
      try { m.openShared(${JSON.stringify(data)}, 4); console.log('{}'); }
      catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message, own: e instanceof m.ShmArrayError })); }
    })`;
    const out = execFileSync(process.execPath, ['-e', script], { env: { ...process.env, SHMARRAY_BINDING: missing }, encoding: 'utf8' });
    const err = JSON.parse(out) as { code: string; message: string; own: boolean };
    assert.equal(err.code, 'ERR_SHM_NATIVE');
    assert.equal(err.own, true);
    // This checkout is a repository, not a dependency: its own rebuild command.
    assert.match(err.message, /not-built\/shmarray\.node does not load: there is no file there: nothing was built .*Build it with `npm run build:native`/);
  });

  for (const runtime of RUNTIMES) {
    test(`across the worker boundary: ${runtime}`, async () => {
      const pool = new Tinypool({ filename: fixture('call.mjs'), runtime, maxThreads: 1, minThreads: 1, env: { ...process.env, SHMARRAY_BINDING: missing } as Record<string, string> });
      try {
        const err = await rejectsWithCode(pool.run({ fn: 'open', args: [data, 4] }), 'ERR_SHM_NATIVE');
        assert.match(err.message, /does not load: there is no file there.*Build it with/);
      } finally {
        await pool.destroy();
      }
    });
  }
});

describe('arrays past 2 GiB (64-bit sizes and offsets)', () => {
  // Sparse on tmpfs: only the pages written take memory.
  const big = createShared(tmp.path('three-gib.f32'), [(3 * GiB) / 4]);
  const at = (2.5 * GiB) / 4;
  const last = big.length - 1;
  big.data[at] = 2.5;
  big.data[last] = -1;
  const handle = big.handle;
  after(() => big.close());

  test('a 3 GiB file maps with its full length', () => {
    assert.equal(big.length, (3 * GiB) / 4);
    assert.equal(big.byteLength, 3 * GiB);
  });

  for (const runtime of RUNTIMES) {
    test(`values written at 2.5 GiB and at the last element read back in a worker: ${runtime}`, async () => {
      const pool = makePool(runtime, 'read-at.mjs', 1);
      try {
        const r = (await pool.run({ handle, indices: [0, at, last] })) as { length: number; values: number[] };
        assert.equal(r.length, (3 * GiB) / 4);
        assert.deepEqual(r.values, [0, 2.5, -1]);
      } finally {
        await pool.destroy();
      }
    });
  }

  test('a window at a byte offset past 2^31 (page-aligned or not) sees the same values', () => {
    for (const offset of [2.5 * GiB, 2.5 * GiB - 8]) {
      const w = openShared(big.path, [4], { offset, window: true });
      assert.equal(w.data[(2.5 * GiB - offset) / 4], 2.5);
      w.close();
    }
  });
});

describe('close() unmaps at once', () => {
  test("this process's Pss_Shmem drops by at least 250 MiB right after close() of a deleted 256 MiB tmpfs file, without gc()", () => {
    const path = tmp.path('close-frees.f32');
    const a = createShared(path, (256 * MiB) / 4);
    a.data.fill(1); // every page now exists in tmpfs
    const view = a.data;
    rmSync(path); // deleted while mapped: only the mapping keeps its pages
    const before = pssShmem([process.pid]);
    a.close();
    const dropped = before - pssShmem([process.pid]);
    assert.ok(dropped >= 250 * MiB, `Pss_Shmem dropped by ${(dropped / MiB).toFixed(1)} MiB`);
    assert.equal(view.length, 0, 'a view kept from before close() is detached');
    assert.equal(view[0], undefined, 'reading it gives undefined');
    assert.equal(mappingsOf(path).length, 0, 'the mapping is gone from /proc/self/maps');
  });

  test('row() views and subarrays kept from before close() read length 0 after it', () => {
    const a = createShared(tmp.path('close-rows.f32'), [4, 2]);
    const row = a.row(1);
    const sub = a.data.subarray(2);
    a.close();
    assert.deepEqual([row.length, sub.length, row[0], sub[0]], [0, 0, undefined, undefined]);
    assert.throws(() => a.data, (e: unknown) => e instanceof ShmArrayError && e.code === 'ERR_SHM_CLOSED');
  });

  test('10,000 open/close cycles leave /proc/self/maps and open fds where they were', () => {
    const path = tmp.path('cycles.f32');
    createShared(path, 1024).close();
    const fds = (): number => readdirSync('/proc/self/fd').length;
    const lines = (): number => readFileSync('/proc/self/maps', 'utf8').split('\n').length;
    for (let i = 0; i < 1000; i++) openShared(path, 1024).close(); // the heap settles first
    const before = { fds: fds(), lines: lines() };
    for (let i = 0; i < 10_000; i++) openShared(path, 1024).close();
    assert.equal(mappingsOf(path).length, 0);
    // A leak would add one line per cycle (10,000); V8's heap adds a few dozen of its own as it grows.
    assert.ok(lines() <= before.lines + 100, `maps lines ${before.lines} -> ${lines()}`);
    assert.equal(fds(), before.fds);
  });

  for (const how of ['returns', 'is terminated'] as const) {
    test(`a worker thread that ${how} without closing leaves no mapping behind`, async () => {
      const path = tmp.path(`thread-${how.replace(' ', '-')}.f32`);
      const a = createShared(path, 4096);
      a.data[0] = 7;
      const handle = { ...a.handle, mode: 'r' };
      a.close();
      assert.equal(mappingsOf(path).length, 0);
      const { worker, first } = await startWorker(fixture('leave-mapped.mjs'), { handle });
      assert.equal(first, 7);
      assert.equal(mappingsOf(path).length, 1, 'the worker maps it while it runs');
      const exited = new Promise((r) => worker.once('exit', r));
      if (how === 'returns') worker.postMessage('end');
      else await worker.terminate();
      await exited;
      assert.equal(mappingsOf(path).length, 0);
    });
  }

  test('a mapping that is never closed is unmapped when its array is garbage-collected', () => {
    const path = tmp.path('gc.f32');
    createShared(path, 4096).close();
    const script = `import(${JSON.stringify(`${root}dist/index.js`)}).then(async (m) => {
      const count = () => require('fs').readFileSync('/proc/self/maps', 'utf8').split('\\n').filter((l) => l.includes(${JSON.stringify(path)})).length;
      (() => { m.openShared(${JSON.stringify(path)}, 4096); })();
      const mapped = count();
      await new Promise((r) => setTimeout(r, 0));
      globalThis.gc(); globalThis.gc();
      console.log(JSON.stringify([mapped, count()]));
    })`;
    const out = execFileSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8' });
    assert.deepEqual(JSON.parse(out), [1, 0]);
  });
});

describe('hand-over without garbage collection', () => {
  const handles: SharedHandle[] = [];
  for (let i = 0; i < 15; i++) {
    const a = createShared(tmp.path(`handover-${i}.f32`), (16 * MiB) / 4);
    a.data[0] = i;
    handles.push(a.handle);
    a.close();
  }
  for (const runtime of RUNTIMES) {
    test(`mapping 15 × 16 MiB in a worker triggers no full GC: ${runtime}`, async () => {
      const pool = makePool(runtime, 'gc-count.mjs', 1);
      try {
        const r = (await pool.run({ handles: handles.map((h) => ({ ...h, mode: 'r' })) })) as { majorGcs: number; sum: number; mapped: number };
        assert.equal(r.mapped, 15);
        assert.equal(r.sum, 105);
        assert.equal(r.majorGcs, 0);
      } finally {
        await pool.destroy();
      }
    });
  }
});

describe('a mapped buffer is never transferred or detached from JS', () => {
  test('postMessage with the buffer in the transfer list does not abort, and the array stays intact', () => {
    const a = createShared(tmp.path('transfer-list.f32'), 4);
    a.data[1] = 3;
    const { port1, port2 } = new MessageChannel();
    try {
      port1.postMessage(a.data, [a.data.buffer as ArrayBuffer]);
    } catch (err) {
      // Node 22 and later refuse it; Node 20 clones the bytes instead of moving them.
      assert.equal((err as Error).name, 'DataCloneError');
    } finally {
      port1.close();
      port2.close();
    }
    assert.equal(a.data.length, 4);
    assert.equal(a.data[1], 3);
    a.close();
  });

  test('buffer.transfer() is ERR_SHM_BAD_ARGUMENT that says to send the handle (Node 22 would abort)', () => {
    const a = createShared(tmp.path('transfer-method.f32'), 4);
    const buffer = a.data.buffer as ArrayBuffer & { transfer: () => ArrayBuffer };
    assert.throws(() => buffer.transfer(), (e: unknown) => e instanceof ShmArrayError && e.code === 'ERR_SHM_BAD_ARGUMENT' && /handle/.test(e.message));
    assert.equal(a.data.length, 4);
    a.close();
  });
});

describe('a write into a read-only array', () => {
  for (const runtime of RUNTIMES) {
    test(`stays private to the writer and never reaches the file (no SIGSEGV): ${runtime}`, async () => {
      const path = tmp.path(`readonly-write-${runtime}.f32`);
      const a = createShared(path, 4);
      a.data.set([1, 2, 3, 4]);
      const handle = { ...a.handle, mode: 'r' };
      a.close();
      const pool = makePool(runtime, 'write-readonly.mjs', 1);
      try {
        const r = (await pool.run({ handle, index: 2, value: 99 })) as { seen: number };
        assert.equal(r.seen, 99, 'the writer sees its own write');
      } finally {
        await pool.destroy();
      }
      assert.deepEqual([...new Float32Array(new Uint8Array(readFileSync(path)).buffer)], [1, 2, 3, 4]);
    });
  }
});

describe('the addon checks every argument itself (src/core/native.ts checks them first)', () => {
  // Loaded directly, to reach the C++ checks that the TypeScript door never lets a bad value get to.
  const b = createRequire(import.meta.url)(process.env['SHMARRAY_BINDING'] ?? `${root}build/Release/shmarray.node`) as {
    map(fd: unknown, offset: unknown, length: unknown, shared: unknown, advice: unknown): ArrayBuffer;
    close(buffer: unknown): void;
    sync(buffer: unknown): void;
    residency(buffer: unknown): [number, number];
    liveMappings(): number;
    inflateEntries(archiveFd: unknown, specs: unknown, threads: unknown): [Promise<unknown>, number];
    gzipFile(inFd: unknown, offset: unknown, length: unknown, outFd: unknown, level: unknown, chunk: unknown, threads: unknown): [Promise<unknown>, number];
    columnSums(data: unknown, columns: unknown, fromRow: unknown, toRow: unknown): Float64Array;
    PAGE_SIZE: number;
    MADV_NORMAL: number;
  };
  const path = tmp.path('addon-args.bin');
  writeFileSync(path, new Uint8Array(8192));
  openShared(path, 8192, { dtype: 'uint8' }).close(); // setup() has run in this thread
  const fd = openSync(path, 'r');
  after(() => closeSync(fd));
  const N = b.MADV_NORMAL;
  const bad: [string, unknown[]][] = [
    ['fd not a number', ['3', 0, 4096, false, N]],
    ['negative fd', [-1, 0, 4096, false, N]],
    ['NaN length', [fd, 0, NaN, false, N]],
    ['zero length', [fd, 0, 0, false, N]],
    ['fractional length', [fd, 0, 1.5, false, N]],
    ['negative offset', [fd, -4096, 4096, false, N]],
    ['unaligned offset', [fd, 100, 4096, false, N]],
    ['offset past 2^53', [fd, 2 ** 60, 4096, false, N]],
    ['Infinity length', [fd, 0, Infinity, false, N]],
    ['length past the end of the file', [fd, 0, 8193, false, N]],
    ['offset + length past the end of the file', [fd, 4096, 8192, false, N]],
    ['shared not a boolean', [fd, 0, 4096, 1, N]],
    ['unknown advice (MADV_REMOVE = 9)', [fd, 0, 4096, false, 9]],
  ];
  for (const [name, args] of bad) {
    test(`map refuses: ${name}`, () => {
      const live = b.liveMappings();
      assert.throws(() => b.map(...(args as [unknown, unknown, unknown, unknown, unknown])), Error);
      assert.equal(b.liveMappings(), live, 'nothing was mapped');
    });
  }

  const spec = (v: number[]): Float64Array => new Float64Array(v);
  const badInflate: [string, unknown[]][] = [
    ['archive fd not a number', ['3', spec([0, 10, 8, fd, 10]), 1]],
    ['specs not a Float64Array', [fd, [0, 10, 8, fd, 10], 1]],
    ['specs not whole entries (4 values)', [fd, spec([0, 10, 8, fd]), 1]],
    ['negative data start', [fd, spec([-1, 10, 8, fd, 10]), 1]],
    ['NaN compressed size', [fd, spec([0, NaN, 8, fd, 10]), 1]],
    ['fractional size', [fd, spec([0, 10, 8, fd, 10.5]), 1]],
    ['size past 2^53', [fd, spec([0, 10, 8, fd, 2 ** 60]), 1]],
    ['method 9 (neither stored nor deflate)', [fd, spec([0, 10, 9, fd, 10]), 1]],
    ['output fd past int32', [fd, spec([0, 10, 8, 2 ** 40, 10]), 1]],
    ['data start + compressed size past 2^53', [fd, spec([2 ** 52, 2 ** 52, 8, fd, 10]), 1]],
    ['0 threads', [fd, spec([0, 10, 8, fd, 10]), 0]],
    ['257 threads', [fd, spec([0, 10, 8, fd, 10]), 257]],
  ];
  for (const [name, args] of badInflate) {
    test(`inflateEntries refuses: ${name}`, () => {
      assert.throws(() => b.inflateEntries(...(args as [unknown, unknown, unknown])), TypeError);
    });
  }
  const badGzip: [string, unknown[]][] = [
    ['negative input fd', [-1, 0, 10, fd, 6, 4096, 1]],
    ['output fd a string', [fd, 0, 10, '1', 6, 4096, 1]],
    ['NaN offset', [fd, NaN, 10, fd, 6, 4096, 1]],
    ['offset + length past 2^53', [fd, 2 ** 52, 2 ** 52, fd, 6, 4096, 1]],
    ['level 10', [fd, 0, 10, fd, 10, 4096, 1]],
    ['level -1', [fd, 0, 10, fd, -1, 4096, 1]],
    ['level 6.5', [fd, 0, 10, fd, 6.5, 4096, 1]],
    ['chunk 0', [fd, 0, 10, fd, 6, 0, 1]],
    ['chunk past 512 MiB', [fd, 0, 10, fd, 6, 512 * MiB + 1, 1]],
    ['Infinity threads', [fd, 0, 10, fd, 6, 4096, Infinity]],
  ];
  for (const [name, args] of badGzip) {
    test(`gzipFile refuses: ${name}`, () => {
      assert.throws(() => b.gzipFile(...(args as [unknown, unknown, unknown, unknown, unknown, unknown, unknown])), TypeError);
    });
  }

  const f32 = new Float32Array(40);
  const badSums: [string, unknown[]][] = [
    ['data a Float64Array', [new Float64Array(40), 4, 0, 10]],
    ['data a plain array', [[1, 2, 3, 4], 4, 0, 1]],
    ['0 columns', [f32, 0, 0, 10]],
    ['NaN columns', [f32, NaN, 0, 10]],
    ['columns past 2^24', [f32, 2 ** 24 + 1, 0, 0]],
    ['fromRow after toRow', [f32, 4, 5, 4]],
    ['negative fromRow', [f32, 4, -1, 4]],
    ['fractional toRow', [f32, 4, 0, 2.5]],
    ['toRow past the end (11 of 10 rows)', [f32, 4, 0, 11]],
    ['toRow × columns past 2^53', [f32, 2 ** 24, 0, 2 ** 40]],
    ['a closed array (detached: length 0)', [(() => { const a = openShared(path, 2048, { dtype: 'float32' }); const d = a.data; a.close(); return d; })(), 4, 0, 1]],
  ];
  for (const [name, args] of badSums) {
    test(`columnSums refuses: ${name}`, () => {
      assert.throws(() => b.columnSums(...(args as [unknown, unknown, unknown, unknown])), TypeError);
    });
  }

  test('columnSums reads only rows fromRow to toRow of a view that starts inside its buffer', () => {
    const all = Float32Array.from({ length: 64 }, (_, i) => i);
    const view = all.subarray(8, 40); // rows of 4: values 8 … 39
    const out = b.columnSums(view, 4, 1, 3); // values 12 … 19
    assert.deepEqual([out[2], out[3], out[14], out[15]], [12, 16, 15, 19], "min and max of columns 0 and 3");
    assert.deepEqual([out[0], out[1]], [0 + 4, 0 + 16], 'Σ(x − k) and Σ(x − k)² with k = 12 for column 0');
  });

  test('map refuses a device that mmap(2) itself would map (/dev/zero)', () => {
    const z = openSync('/dev/zero', 'r');
    try {
      assert.throws(() => b.map(z, 0, 4096, false, N), /regular file/);
    } finally {
      closeSync(z);
    }
  });

  test('close, sync and residency refuse buffers the addon did not map', () => {
    for (const foreign of [new ArrayBuffer(4096), new Uint8Array(8).buffer, {}, 1, undefined]) {
      assert.throws(() => b.close(foreign), TypeError);
      assert.throws(() => b.sync(foreign), TypeError);
      assert.throws(() => b.residency(foreign), TypeError);
    }
  });

  test('a closed buffer: close again is a no-op, the rest refuse it', () => {
    const ab = b.map(fd, 0, 4096, false, N);
    assert.deepEqual(b.residency(ab)[1], 1);
    b.close(ab);
    b.close(ab);
    assert.equal(ab.byteLength, 0);
    assert.throws(() => b.residency(ab), TypeError);
  });
});

test('statistics of a mapped file truncated under them: ERR_SHM_IO from the SIGBUS guard, the process lives', () => {
  const path = tmp.path('truncated-stats.f32');
  const kernel = JSON.stringify(new URL('../dist/jobs/stats-math.js', import.meta.url).href);
  const r = inChild(tmp.dir, `
    const { truncateSync } = await import('node:fs');
    const { partialStats } = await import(${kernel});
    const a = m.createShared(${JSON.stringify(path)}, [65536, 4]);
    a.data.fill(1);
    truncateSync(${JSON.stringify(path)}, 4096);
    try { partialStats(a.data, 4, 0, 65536); console.log('read'); } catch (e) { console.log(e.code); }`);
  assert.equal(r.signal, null, `the process died of ${r.signal}`);
  assert.equal(r.stdout.trim(), 'ERR_SHM_IO', r.stderr);
});
