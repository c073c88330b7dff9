/**
 * `shmarray bench`: the motivating job — zipped float32 datasets, extracted, delivered to a pool,
 * column statistics computed — run once per delivery mode and runtime, measured side by side:
 * - copy: the arrays travel in task messages (structured clone / v8 serialization);
 * - sab:  the parent reads each dataset into a SharedArrayBuffer (worker_threads only);
 * - map:  only handles travel; every worker maps the same tmpfs files.
 * Memory is PSS and anonymous memory from smaps_rollup, sampled while every worker holds its data.
 */
import { closeSync, fstatSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { fork } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { shareRows } from './column-stats.js';
import { generateDataset } from './dataset.js';
import type { NumericArray } from './dtype.js';
import { ShmArrayError } from './errors.js';
import type { Delivery, HoldReceipt, HoldTask } from './jobs/hold.js';
import { checkOptions, func, integer, listOf, nonEmptyString } from './options.js';
import { memoryUsage } from './memory.js';
import { machineInfo, median, secondsSince, type MachineInfo } from './measure.js';
import { createPool, jobs, type Runtime, type WorkerPool } from './pool.js';
import type { SharedHandle } from './shared-array.js';
import { emptyStats, finishStats, mergeStats, type ColumnStats, type PartialStats } from './stats.js';
import { SharedStore } from './store.js';

/** How the dataset reaches the workers. */
export type BenchMode = 'copy' | 'sab' | 'map';

/** Every mode, in report order. */
export const BENCH_MODES: readonly BenchMode[] = ['copy', 'sab', 'map'];

/** Options of {@link runBenchmark}. */
export interface BenchOptions {
  files?: number;
  /** Uncompressed dataset size in bytes (default 240 MiB). */
  bytes?: number;
  columns?: number;
  workers?: number;
  runtimes?: readonly Runtime[];
  modes?: readonly BenchMode[];
  /** Runs of each scenario; the report gives medians. */
  repeat?: number;
  /** Where the generated archives go (default: a new temp directory, removed afterwards). */
  workDir?: string;
  /** Called before each step, for a progress display. */
  onProgress?: (done: number, total: number, label: string) => void;
}

/** One scenario's measurements (medians over the repeats). Bytes and seconds are plain numbers. */
export interface BenchRow {
  mode: BenchMode;
  runtime: Runtime;
  workers: number;
  extractSeconds: number;
  /** Wall time from sending the data (or handles) to every worker holding it: pool round trip included. */
  deliverSeconds: number;
  /** Inside the slowest worker, from the task's start to its data usable (map: every file mapped). */
  workerLoadSeconds: number;
  jobSeconds: number;
  totalSeconds: number;
  /** PSS of the parent process (with worker_threads: of the one process that holds every thread). */
  parentPss: number;
  /** Σ PSS of the worker processes (0 with worker_threads: threads live in the parent). */
  workersPss: number;
  /** Σ pssAnon over parent and workers: heap, ArrayBuffers and message copies. */
  copiesBytes: number;
  /** Σ (pssAnon + pssFile) over all processes + the bytes the store holds on tmpfs. */
  footprintBytes: number;
  /** The same footprint measured with the pool idle, before delivery: the processes' baseline. */
  baselineBytes: number;
  /** Bytes on tmpfs while the workers hold the data. */
  storeBytes: number;
  /** Anonymous memory growth of each worker process (one entry for all threads) during delivery. */
  workerAnonymousGrowth: number[];
  /** The statistics are identical to the first scenario's. */
  statsMatch: boolean;
}

/** What `shmarray bench --json` writes. */
export interface BenchReport {
  machine: MachineInfo;
  dataset: { files: number; bytes: number; columns: number; rows: number; compressedBytes: number };
  workers: number;
  repeat: number;
  results: BenchRow[];
  /** Per runtime: copy's footprint ÷ map's. */
  copyOverMap: { runtime: Runtime; ratio: number }[];
  stats: ColumnStats;
}


/** Reads a file into a SharedArrayBuffer-backed Float32Array (what a Node expert would do for threads). */
function readIntoSab(path: string): Float32Array {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const bytes = new Uint8Array(new SharedArrayBuffer(size));
    for (let done = 0; done < size; ) {
      const n = readSync(fd, bytes, done, size - done, done);
      if (n === 0) throw new ShmArrayError('ERR_SHM_IO', `${path} shrank while it was read.`, { path });
      done += n;
    }
    return new Float32Array(bytes.buffer);
  } finally {
    closeSync(fd);
  }
}

/** A fresh gate (an int32 counter on tmpfs) for one {@link everyWorker} phase; made before any timer starts. */
function newGate(gates: SharedStore): SharedHandle {
  const gate = gates.create('gate.i32', 1, { dtype: 'int32' });
  const handle = gate.handle;
  gate.close();
  return handle;
}

/** Runs one phase that every worker must take exactly once (the gate makes them wait for each other). */
async function everyWorker(pool: WorkerPool, gate: SharedHandle, task: (gate: SharedHandle) => HoldTask): Promise<HoldReceipt[]> {
  return Promise.all(Array.from({ length: pool.workers }, () => pool.run<HoldReceipt>(task(gate), { filename: jobs.hold })));
}

interface Sample {
  parentPss: number;
  workersPss: number;
  copies: number;
  footprint: number;
  anonymous: Map<number, number>;
}

function sample(pids: readonly number[], storeBytes: number): Sample {
  const all = [...new Set([process.pid, ...pids])];
  let parentPss = 0;
  let workersPss = 0;
  let copies = 0;
  let footprint = storeBytes;
  const anonymous = new Map<number, number>();
  for (const pid of all) {
    const m = memoryUsage(pid);
    if (pid === process.pid) parentPss = m.pss ?? m.rss;
    else workersPss += m.pss ?? m.rss;
    copies += m.pssAnon ?? 0;
    footprint += (m.pssAnon ?? 0) + (m.pssFile ?? 0);
    anonymous.set(pid, m.anonymous ?? 0);
  }
  return { parentPss, workersPss, copies, footprint, anonymous };
}

/** What one scenario needs to run on its own. */
export interface ScenarioSpec {
  mode: BenchMode;
  runtime: Runtime;
  zips: readonly string[];
  bytes: number;
  columns: number;
  workers: number;
}

/** One scenario's measurements and the statistics it computed. */
export interface ScenarioResult {
  row: Omit<BenchRow, 'statsMatch'>;
  stats: ColumnStats;
}

/**
 * Runs one scenario in this process. {@link runBenchmark} runs each in a fresh child process,
 * so that no scenario measures the garbage or the retained memory of the one before it.
 */
export async function runScenario(spec: ScenarioSpec): Promise<ScenarioResult> {
  const { mode, runtime, zips, workers, columns } = spec;
  await using gates = await SharedStore.create({ prefix: 'shmarray-gates' });
  await using store = await SharedStore.create({ minFree: spec.bytes });
  await using pool = createPool(jobs.hold, { workers, runtime });
  const pids = (await everyWorker(pool, newGate(gates), (gate) => ({ phase: 'release', gate, parties: workers }))).map((w) => w.pid);

  let t = process.hrtime.bigint();
  const handles = await store.extractHandles(zips, { workers, runtime, columns });
  let delivery: Delivery;
  if (mode === 'map') {
    delivery = handles;
  } else {
    // The naive program holds its data in its own memory; no file stays behind on tmpfs.
    delivery = handles.map((h): NumericArray => {
      if (mode === 'sab') return readIntoSab(h.path);
      const b = readFileSync(h.path);
      return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
    });
    await store.dispose();
  }
  const extractSeconds = secondsSince(t);
  const storeBytes = store.disposed ? 0 : store.bytes();
  const idle = sample(pids, storeBytes);

  const loadGate = newGate(gates);
  t = process.hrtime.bigint();
  const receipts = await everyWorker(pool, loadGate, (gate) => ({ phase: 'load', data: delivery, gate, parties: workers }));
  const deliverSeconds = secondsSince(t);
  const workerLoadSeconds = Math.max(...receipts.map((r) => r.loadSeconds));

  t = process.hrtime.bigint();
  const rows = handles.map((h) => h.shape[0] ?? 0);
  const parts = await Promise.all(shareRows(rows, workers).map((segments) => pool.run<PartialStats>({ phase: 'stats', segments, columns } satisfies HoldTask, { filename: jobs.hold })));
  const stats = finishStats(parts.reduce(mergeStats, emptyStats(columns)), columns);
  const jobSeconds = secondsSince(t);

  const held = sample(pids, storeBytes);
  await everyWorker(pool, newGate(gates), (gate) => ({ phase: 'release', gate, parties: workers }));
  const growth = [...new Set(pids)].map((pid) => (held.anonymous.get(pid) ?? 0) - (idle.anonymous.get(pid) ?? 0));
  return {
    stats,
    row: {
      mode,
      runtime,
      workers,
      extractSeconds,
      deliverSeconds,
      workerLoadSeconds,
      jobSeconds,
      totalSeconds: extractSeconds + deliverSeconds + jobSeconds,
      parentPss: held.parentPss,
      workersPss: held.workersPss,
      copiesBytes: held.copies,
      footprintBytes: held.footprint,
      baselineBytes: idle.footprint - storeBytes,
      storeBytes,
      workerAnonymousGrowth: growth,
    },
  };
}

/** Runs {@link runScenario} in a fresh Node process and returns its result. */
function inChild(spec: ScenarioSpec): Promise<ScenarioResult> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(new URL('./bench-child.js', import.meta.url)), [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let result: ScenarioResult | undefined;
    child.once('message', (m: { ok: true; result: ScenarioResult } | { ok: false; error: unknown }) => {
      if (m.ok) result = m.result;
      else reject(ShmArrayError.from(m.error) ?? new ShmArrayError('ERR_SHM_WORKER', `The ${spec.mode} · ${spec.runtime} scenario failed: ${String((m.error as Error | undefined)?.message ?? m.error)}`, {}));
    });
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (result !== undefined) resolve(result);
      else reject(new ShmArrayError('ERR_SHM_WORKER', `The ${spec.mode} · ${spec.runtime} scenario's process ended (${signal ?? `exit code ${String(code)}`}) without a result.`, { mode: spec.mode, runtime: spec.runtime }));
    });
    child.send(spec);
  });
}

/** The scenarios a run covers: every mode × runtime asked for, except sab with child processes. */
export function scenarios(modes: readonly BenchMode[], runtimes: readonly Runtime[]): { mode: BenchMode; runtime: Runtime }[] {
  return runtimes.flatMap((runtime) => modes.filter((m) => !(m === 'sab' && runtime === 'child_process')).map((mode) => ({ mode, runtime })));
}

/** Generates the dataset, runs every scenario `repeat` times, and reports medians. */
export async function runBenchmark(options: BenchOptions = {}): Promise<BenchReport> {
  checkOptions('runBenchmark', options, {
    files: integer(1), bytes: integer(1), columns: integer(1), workers: integer(1), runtimes: listOf(['worker_threads', 'child_process']),
    modes: listOf(BENCH_MODES), repeat: integer(1), workDir: nonEmptyString, onProgress: func,
  });
  const files = options.files ?? 15;
  const bytes = options.bytes ?? 240 * 2 ** 20;
  const columns = options.columns ?? 4;
  const workers = options.workers ?? availableParallelism();
  const repeat = options.repeat ?? 1;
  const plan = scenarios(options.modes ?? BENCH_MODES, options.runtimes ?? ['worker_threads', 'child_process']);
  if (plan.length === 0) throw new ShmArrayError('ERR_SHM_BAD_ARGUMENT', 'No scenario to run: sab needs the worker_threads runtime.', {});
  const progress = options.onProgress ?? (() => {});
  const steps = 1 + plan.length * repeat;
  const work = options.workDir ?? mkdtempSync(join(tmpdir(), 'shmarray-bench-'));
  try {
    progress(0, steps, `generating ${files} archives of ${(bytes / 2 ** 20).toFixed(0)} MiB in all`);
    const dataset = await generateDataset({ dir: work, files, bytes, columns });
    const zips = dataset.map((d) => d.path);
    const compressedBytes = zips.reduce((s, z) => s + statSync(z).size, 0);
    const results: BenchRow[] = [];
    let first: ColumnStats | undefined;
    let step = 1;
    for (const { mode, runtime } of plan) {
      const runs: Omit<BenchRow, 'statsMatch'>[] = [];
      let match = true;
      for (let r = 0; r < repeat; r++) {
        progress(step++, steps, `${mode} · ${runtime}${repeat > 1 ? ` (run ${r + 1}/${repeat})` : ''}`);
        const { row, stats } = await inChild({ mode, runtime, zips, bytes, columns, workers });
        first ??= stats;
        match &&= JSON.stringify(stats) === JSON.stringify(first);
        runs.push(row);
      }
      const med = (k: keyof Omit<BenchRow, 'mode' | 'runtime' | 'workers' | 'statsMatch' | 'workerAnonymousGrowth'>): number => median(runs.map((x) => x[k]));
      const last = runs[runs.length - 1];
      results.push({
        mode,
        runtime,
        workers,
        extractSeconds: med('extractSeconds'),
        deliverSeconds: med('deliverSeconds'),
        workerLoadSeconds: med('workerLoadSeconds'),
        jobSeconds: med('jobSeconds'),
        totalSeconds: med('totalSeconds'),
        parentPss: med('parentPss'),
        workersPss: med('workersPss'),
        copiesBytes: med('copiesBytes'),
        footprintBytes: med('footprintBytes'),
        baselineBytes: med('baselineBytes'),
        storeBytes: med('storeBytes'),
        workerAnonymousGrowth: last?.workerAnonymousGrowth ?? [],
        statsMatch: match,
      });
    }
    progress(steps, steps, 'done');
    const copyOverMap = (['worker_threads', 'child_process'] as const).flatMap((runtime) => {
      const c = results.find((x) => x.runtime === runtime && x.mode === 'copy');
      const m = results.find((x) => x.runtime === runtime && x.mode === 'map');
      return c && m ? [{ runtime, ratio: c.footprintBytes / m.footprintBytes }] : [];
    });
    const rows = dataset.reduce((s, d) => s + d.rows, 0);
    return {
      machine: machineInfo(),
      dataset: { files, bytes: dataset.reduce((s, d) => s + d.bytes, 0), columns, rows, compressedBytes },
      workers,
      repeat,
      results,
      copyOverMap,
      stats: first ?? finishStats(emptyStats(columns), columns),
    };
  } finally {
    if (options.workDir === undefined) rmSync(work, { recursive: true, force: true });
  }
}
