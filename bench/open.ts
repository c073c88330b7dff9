/**
 * The mapping core, measured:
 *  1. openShared + first touch of every page vs fs.readFileSync (a private heap copy), 1 MiB … 4 GiB
 *     (readFileSync stops at 2 GiB), with the anonymous memory each adds;
 *  2. worker thread start to first map, and 15 × 16 MiB mapped in a fresh worker (time, full GCs);
 *  3. time from close() of a deleted tmpfs file, and from store.dispose(), to Shmem returned;
 *  4. with --huge: one 16 GiB float32 array (2^32 elements, Node 20's typed-array limit), written
 *     here and read back in two worker threads.
 * Sections 2 and 3 run the same steps with @riaskov/mmap-io (the binding shmarray used before its
 * own addon) when --old-binding names a directory where it is installed (see bench/RESULTS.md).
 *   npm run bench:open -- [--huge] [--old-binding /tmp/oldb/node_modules/@riaskov/mmap-io] [--json bench/out/open.json]
 */
import { stopwatch } from '../dist/bench/index.js';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { createShared, memoryUsage, openShared } from '../dist/index.js';
import { machine, median, printTable, timeIt, writeJson } from './report.js';

const { values } = parseArgs({
  options: {
    json: { type: 'string', default: 'bench/out/open.json' },
    dir: { type: 'string', default: '/dev/shm' },
    huge: { type: 'boolean', default: false },
    'old-binding': { type: 'string' },
  },
});
const MiB = 2 ** 20;
const GiB = 2 ** 30;
const PAGE_FLOATS = 1024;
// dist/ itself, not only the package's entries: this benchmark times the binding's door (dist/core/native.js)
// below the public API, against the old binding's calls.
const dist = new URL('../dist/', import.meta.url).href;
const oldBinding = values['old-binding'];
const ms = (s: number): string => `${(s * 1e3).toFixed(2)} ms`;

function writeDataset(path: string, bytes: number): void {
  const chunk = new Float32Array((4 * MiB) / 4).map((_, i) => i % 97);
  const fd = openSync(path, 'w');
  for (let done = 0; done < bytes; done += chunk.byteLength) writeSync(fd, chunk, 0, Math.min(chunk.byteLength, bytes - done));
  closeSync(fd);
}

function touch(data: Float32Array): number {
  let s = 0;
  for (let i = 0; i < data.length; i += PAGE_FLOATS) s += data[i] ?? 0;
  return s;
}

function shmem(): number {
  return Number(/^Shmem:\s+(\d+) kB$/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0) * 1024;
}

/** Seconds until Shmem is at most `target`, polled every 0.1 ms; `limit` s at most (then Infinity). */
async function untilShmem(target: number, limit: number): Promise<number> {
  const elapsed = stopwatch();
  for (;;) {
    const s = elapsed();
    if (shmem() <= target) return s;
    if (s > limit) return Infinity;
    await new Promise((r) => setTimeout(r, s < 0.01 ? 0 : 10));
  }
}

/** Runs `body` (a function body using `require`, `workerData`, `now()`) in a new worker thread; resolves with what it returns. */
function inWorker<T>(body: string, workerData: unknown): Promise<T & { started: bigint }> {
  const started = process.hrtime.bigint();
  const code = `const { parentPort, workerData } = require('node:worker_threads'); const now = () => process.hrtime.bigint();
    (async () => { ${body} })().then((r) => parentPort.postMessage(r), (e) => parentPort.postMessage({ error: String(e) }));`;
  return new Promise((resolve, reject) => {
    const w = new Worker(code, { eval: true, workerData });
    w.once('message', (m: T & { error?: string }) => {
      void w.terminate();
      if (m.error !== undefined) reject(new Error(m.error));
      else resolve({ ...m, started });
    });
    w.once('error', reject);
  });
}

const dir = mkdtempSync(join(values.dir, 'shmarray-bench-open-'));
const report: Record<string, unknown> = { machine: machine(), dir: values.dir, oldBinding: oldBinding ?? null };
try {
  // 1. open + touch vs readFileSync
  const sizes = [1, 16, 64, 256, 1024, 4096].map((m) => m * MiB);
  const open = [];
  for (const bytes of sizes) {
    const path = join(dir, `d${bytes}.f32`);
    writeDataset(path, bytes);
    const reps = bytes >= 256 * MiB ? 3 : 7;
    const mapS: number[] = [];
    const readS: number[] = [];
    let mapAnon = 0;
    let readAnon = 0;
    for (let r = 0; r < reps; r++) {
      const a0 = memoryUsage().anonymous ?? 0;
      let view: ReturnType<typeof openShared> | undefined;
      mapS.push(timeIt(() => {
        view = openShared(path, bytes / 4);
        touch(view.data as Float32Array);
      }));
      mapAnon = Math.max(mapAnon, (memoryUsage().anonymous ?? 0) - a0);
      view?.close();
      if (bytes > 2 * GiB - 1) continue; // readFileSync refuses files over 2 GiB
      const b0 = memoryUsage().anonymous ?? 0;
      let buf: Buffer | undefined;
      readS.push(timeIt(() => {
        buf = readFileSync(path);
        touch(new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4));
      }));
      readAnon = Math.max(readAnon, (memoryUsage().anonymous ?? 0) - b0);
      buf = undefined;
      globalThis.gc?.();
    }
    open.push({ bytes, reps, mapSeconds: median(mapS), readFileSeconds: readS.length > 0 ? median(readS) : null, mapAnonymousBytes: mapAnon, readFileAnonymousBytes: readS.length > 0 ? readAnon : null });
    rmSync(path);
  }
  report['open'] = open;
  console.log('\n1. openShared + touch every page vs readFileSync (tmpfs)');
  printTable(
    ['size', 'openShared+touch', 'readFileSync', 'speed-up', 'anon (map)', 'anon (read)'],
    open.map((r) => [
      r.bytes >= GiB ? `${r.bytes / GiB} GiB` : `${r.bytes / MiB} MiB`,
      ms(r.mapSeconds),
      r.readFileSeconds === null ? 'n/a (> 2 GiB)' : ms(r.readFileSeconds),
      r.readFileSeconds === null ? '' : `${(r.readFileSeconds / r.mapSeconds).toFixed(1)}×`,
      `${(r.mapAnonymousBytes / MiB).toFixed(1)} MiB`,
      r.readFileAnonymousBytes === null ? '' : `${(r.readFileAnonymousBytes / MiB).toFixed(1)} MiB`,
    ]),
  );

  // 2. worker start to first map; 15 × 16 MiB in a fresh worker
  const small = join(dir, 'first-map.f32');
  writeDataset(small, 16 * MiB);
  const files = Array.from({ length: 15 }, (_, i) => {
    const p = join(dir, `handover-${i}.f32`);
    writeDataset(p, 16 * MiB);
    return p;
  });
  const gcObserver = `const { constants, PerformanceObserver } = require('node:perf_hooks'); const majors = [];
    const obs = new PerformanceObserver((l) => { for (const e of l.getEntries()) if ((e.detail?.kind ?? e.kind) === constants.NODE_PERFORMANCE_GC_MAJOR) majors.push(e); });
    obs.observe({ entryTypes: ['gc'] });`;
  const addon = fileURLToPath(new URL('../build/Release/shmarray.node', import.meta.url));
  const bindings = {
    'shmarray addon': {
      load: `const b = require(${JSON.stringify(addon)}); b.setup(require('node:worker_threads').markAsUntransferable);`,
      map: `(fd, size) => b.map(fd, 0, size, false, b.MADV_NORMAL)`,
    },
    'shmarray door (ESM import)': {
      load: `const door = await import(${JSON.stringify(`${dist}core/native.js`)});`,
      map: `(fd, size) => door.mapFile(fd, size, 0, false, 'normal', 'bench').buffer`,
    },
    ...(oldBinding === undefined ? {} : {
      'mmap-io (old)': {
        load: `const m = require(${JSON.stringify(oldBinding)});`,
        map: `(fd, size) => m.map(size, m.PROT_READ, m.MAP_SHARED, fd, 0)`,
      },
    }),
  };
  const startRows = [];
  for (const [name, b] of Object.entries(bindings)) {
    const starts: { thread: number; load: number; map: number; total: number }[] = [];
    const handovers: { seconds: number; majorGcs: number }[] = [];
    for (let r = 0; r < 9; r++) {
      const t = await inWorker<{ a: bigint; b: bigint; c: bigint }>(
        `const t1 = now(); ${b.load} const t2 = now(); const fs = require('fs'); const fd = fs.openSync(workerData.small, 'r');
         const buf = (${b.map})(fd, 16 << 20); new Float32Array(buf)[0]; const t3 = now(); return { a: t1, b: t2, c: t3 };`,
        { small },
      );
      starts.push({ thread: Number(t.a - t.started) / 1e9, load: Number(t.b - t.a) / 1e9, map: Number(t.c - t.b) / 1e9, total: Number(t.c - t.started) / 1e9 });
      const h = await inWorker<{ seconds: number; majorGcs: number }>(
        `${b.load} const fs = require('fs'); const fds = workerData.files.map((f) => fs.openSync(f, 'r')); const map = ${b.map};
         ${gcObserver} const keep = []; const t0 = now();
         for (const fd of fds) { const buf = map(fd, 16 << 20); new Float32Array(buf)[0]; keep.push(buf); }
         const seconds = Number(now() - t0) / 1e9; const end = performance.now();
         await new Promise((r) => setTimeout(r, 50)); obs.disconnect();
         return { seconds, majorGcs: majors.filter((e) => e.startTime <= end).length };`,
        { files },
      );
      handovers.push(h);
    }
    startRows.push({
      binding: name,
      threadStartSeconds: median(starts.map((s) => s.thread)),
      loadSeconds: median(starts.map((s) => s.load)),
      firstMapSeconds: median(starts.map((s) => s.map)),
      startToFirstMapSeconds: median(starts.map((s) => s.total)),
      handoverSeconds: median(handovers.map((h) => h.seconds)),
      handoverMajorGcs: median(handovers.map((h) => h.majorGcs)),
    });
  }
  report['workerStart'] = startRows;
  console.log('\n2. a fresh worker thread: start, load the binding, first map (16 MiB); then 15 × 16 MiB mapped (medians of 9)');
  printTable(
    ['binding', 'thread start', 'load', 'first map', 'start → first map', '15 × 16 MiB', 'full GCs'],
    startRows.map((r) => [r.binding, ms(r.threadStartSeconds), ms(r.loadSeconds), ms(r.firstMapSeconds), ms(r.startToFirstMapSeconds), ms(r.handoverSeconds), String(r.handoverMajorGcs)]),
  );

  // 3. memory returned, in an idle child process (as a service between jobs): the child maps and
  // touches 1 GiB, deletes the file (or has a store), closes, reports, then sleeps; Shmem is
  // polled from here. The old binding's close() was MADV_DONTNEED + dropping the references.
  const variants: Record<string, string> = {
    'shmarray: close() of a deleted 1 GiB file': `const m = await import(${JSON.stringify(`${dist}index.js`)});
      const a = m.createShared(path, ${GiB / 4}); a.data.fill(1); require('fs').rmSync(path); ready();
      const t = now(); a.close(); closed(t);`,
    'shmarray: store.dispose() with a 1 GiB array': `const m = await import(${JSON.stringify(`${dist}index.js`)});
      const store = await m.SharedStore.create({ dir }); store.create('big.f32', ${GiB / 4}).data.fill(1); ready();
      const t = now(); await store.dispose(); closed(t);`,
    ...(oldBinding === undefined ? {} : {
      'mmap-io (old): close() of a deleted 1 GiB file': `const m = require(${JSON.stringify(oldBinding)}); const fs = require('fs');
        const fd = fs.openSync(path, 'w+'); fs.ftruncateSync(fd, ${GiB});
        let buf = m.map(${GiB}, m.PROT_READ | m.PROT_WRITE, m.MAP_SHARED, fd, 0); fs.closeSync(fd); buf.fill(1); fs.rmSync(path); ready();
        const t = now(); m.advise(buf, m.MADV_DONTNEED); buf = undefined; closed(t);`,
    }),
  };
  const returned = [];
  for (const [what, body] of Object.entries(variants)) {
    const script = `const now = () => process.hrtime.bigint(); const path = ${JSON.stringify(join(dir, 'idle.f32'))}, dir = ${JSON.stringify(dir)};
      const ready = () => process.stdout.write('ready\\n'); const closed = (t) => process.stdout.write('closed ' + (Number(now() - t) / 1e9) + '\\n');
      (async () => { ${body} setTimeout(() => {}, 3000); })();`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    await lines.next();
    const before = shmem();
    const closeLine = String((await lines.next()).value);
    const closeSeconds = Number(closeLine.split(' ')[1]);
    const back = await untilShmem(before - 0.98 * GiB, 2.5);
    child.kill();
    returned.push({ what, closeSeconds, seconds: back });
  }
  report['memoryReturned'] = returned;
  console.log('\n3. an idle process closes 1 GiB: how long the call takes, and until Shmem has dropped by 0.98 GiB (polled; "never" = not within 2.5 s)');
  printTable(['what', 'the call', 'memory back after'], returned.map((r) => [r.what, ms(r.closeSeconds), Number.isFinite(r.seconds) ? ms(r.seconds) : 'never']));

  // 4. one 16 GiB float32 array, written here, read back in two worker threads
  if (values.huge) {
    const path = join(dir, 'huge.f32');
    const length = 2 ** 32;
    const a = createShared(path, length);
    const write = timeIt(() => {
      const d = a.data as Float32Array;
      for (let i = 0; i < length; i += PAGE_FLOATS) d[i] = i % 1021;
      d[length - 1] = 7;
    });
    const handle = a.handle;
    a.close();
    const elapsed = stopwatch();
    const halves = await Promise.all([0, 1].map((k) => inWorker<{ sum: number; length: number; last: number }>(
      `const { openShared } = await import(${JSON.stringify(`${dist}index.js`)}); const a = openShared(workerData.handle);
       const d = a.data; const from = workerData.k * (d.length / 2), to = from + d.length / 2; let sum = 0;
       for (let i = from; i < to; i += ${PAGE_FLOATS}) sum += d[i];
       const r = { sum, length: d.length, last: d[d.length - 1] }; a.close(); return r;`,
      { handle, k },
    )));
    const read = elapsed();
    let expected = 0;
    for (let i = 0; i < length; i += PAGE_FLOATS) expected += i % 1021;
    const sum = halves.reduce((s, h) => s + h.sum, 0);
    report['huge'] = { bytes: length * 4, writeSeconds: write, readTwoWorkersSeconds: read, correct: sum === expected && halves.every((h) => h.length === length && h.last === 7) };
    rmSync(path);
    console.log('\n4. one 16 GiB Float32Array (2^32 elements)');
    printTable(['step', 'time', 'check'], [
      ['write one float per page (parent)', ms(write), ''],
      ['map + read back, 2 worker threads', ms(read), sum === expected ? 'sums match' : `MISMATCH ${sum} vs ${expected}`],
    ]);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
writeJson(values.json, report);
