/**
 * columnStats speed: the statistics kernel (the addon's C for float32, and the JavaScript one the
 * other dtypes use, side by side) over mapped pages (resident) vs over in-heap arrays, in this
 * process; and the columnStats job with 1 vs 2 workers (warm pools, both runtimes).
 *   npm run bench:jobs [-- --size 240 --json bench/out/jobs.json]
 */
import { parseArgs } from 'node:util';
import { columnStats, createPool, workerFiles, SharedStore, type Runtime } from '../dist/index.js';
import { fillRows, partialStats, partialStatsJs, stopwatch } from '../dist/bench/index.js';
import { machine, median, printTable, timeIt, writeJson } from './report.js';

const { values } = parseArgs({ options: { size: { type: 'string', default: '240' }, repeat: { type: 'string', default: '5' }, json: { type: 'string', default: 'bench/out/jobs.json' } } });
const MiB = 2 ** 20;
const files = 15;
const rowsPerFile = Math.floor((Number(values.size) * MiB) / 16 / files);
const repeat = Number(values.repeat);

await using store = await SharedStore.create();
const arrays = Array.from({ length: files }, (_, i) => {
  const a = store.create(`part${i}.f32`, [rowsPerFile, 4]);
  fillRows(a.data, 4, i * rowsPerFile, 1);
  return a;
});
const heap = arrays.map((a) => new Float32Array(a.data));

const kernel = (list: readonly Float32Array[]): void => {
  for (const d of list) partialStats(d, 4, 0, d.length / 4);
};
kernel(heap); // warm the JIT and make every page resident
kernel(arrays.map((a) => a.data));
const jsKernel = (list: readonly Float32Array[]): void => {
  for (const d of list) partialStatsJs(d, 4, 0, d.length / 4);
};
jsKernel(heap);
// Interleaved, so drift in the machine's speed (JIT tiers, other load) hits all alike.
const heapRuns: number[] = [];
const mapRuns: number[] = [];
const jsRuns: number[] = [];
for (let r = 0; r < repeat; r++) {
  heapRuns.push(timeIt(() => kernel(heap)));
  mapRuns.push(timeIt(() => kernel(arrays.map((a) => a.data))));
  jsRuns.push(timeIt(() => jsKernel(arrays.map((a) => a.data))));
}
const heapS = median(heapRuns);
const mapS = median(mapRuns);
const jsS = median(jsRuns);

const pooled: Record<string, number> = {};
for (const runtime of ['worker_threads', 'child_process'] as Runtime[]) {
  // Both pools warm, runs interleaved 1-worker / 2-worker.
  await using one = createPool(workerFiles.stats, { workers: 1, runtime });
  await using two = createPool(workerFiles.stats, { workers: 2, runtime });
  for (const pool of [one, two]) await columnStats(arrays, { pool }); // start workers, load the module, map
  const runs: Record<number, number[]> = { 1: [], 2: [] };
  for (let r = 0; r < repeat; r++) {
    for (const pool of [one, two]) {
      const elapsed = stopwatch();
      await columnStats(arrays, { pool });
      runs[pool.workers]?.push(elapsed());
    }
  }
  pooled[`${runtime}/1`] = median(runs[1] ?? []);
  pooled[`${runtime}/2`] = median(runs[2] ?? []);
}

const bytes = files * rowsPerFile * 16;
const rate = (s: number): string => `${((bytes / MiB) / s).toFixed(0)} MiB/s (${(bytes / 1e9 / s).toFixed(2)} GB/s)`;
const rows: string[][] = [
  ['C kernel over in-heap arrays (1 thread)', `${(heapS * 1e3).toFixed(1)} ms`, rate(heapS), ''],
  ['C kernel over mapped pages (1 thread)', `${(mapS * 1e3).toFixed(1)} ms`, rate(mapS), `${(heapS / mapS).toFixed(2)}× heap (target ≥ 0.9×); ${(bytes / 1e9 / mapS).toFixed(2)} GB/s per core (target ≥ 3)`],
  ['JS kernel over mapped pages (1 thread)', `${(jsS * 1e3).toFixed(1)} ms`, rate(jsS), `C is ${(jsS / mapS).toFixed(2)}× it`],
];
for (const runtime of ['worker_threads', 'child_process']) {
  const one = pooled[`${runtime}/1`] ?? NaN;
  const two = pooled[`${runtime}/2`] ?? NaN;
  rows.push([`columnStats, ${runtime}, 1 worker`, `${(one * 1e3).toFixed(1)} ms`, rate(one), '']);
  rows.push([`columnStats, ${runtime}, 2 workers`, `${(two * 1e3).toFixed(1)} ms`, rate(two), `${(one / two).toFixed(2)}× one worker (target ≥ 1.8×)`]);
}
console.log(`${(bytes / MiB).toFixed(0)} MiB of float32 × 4 columns in ${files} arrays; median of ${repeat}\n`);
printTable(['measure', 'time', 'throughput', 'ratio'], rows);
writeJson(values.json, { machine: machine(), bytes, repeat, heapSeconds: heapS, mapSeconds: mapS, jsMapSeconds: jsS, pooledSeconds: pooled });
console.log(`\nJSON: ${values.json}`);
