/**
 * One scenario of `shmarray bench`: one delivery mode in one runtime, run in a process of its own
 * (bench/child.ts) — extract, deliver to a pool of hold workers, compute column statistics, and
 * sample PSS and anonymous memory while every worker holds its data.
 */
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { stopwatch } from '../core/clock.js';
import type { NumericArray } from '../core/dtype.js';
import { ShmArrayError } from '../core/errors.js';
import { readInto } from '../core/files.js';
import { memoryUsage } from '../core/memory.js';
import type { SharedHandle } from '../core/handle.js';
import { shareRows } from '../jobs/partition.js';
import { createPool, type Runtime, type WorkerPool } from '../jobs/pool.js';
import { emptyStats, finishStats, mergeStats, type ColumnStats, type PartialStats } from '../jobs/stats-math.js';
import { SharedStore } from '../store/store.js';
import type { Delivery, HoldReceipt, HoldTask } from './hold-worker.js';

import { BENCH_MODES, type BenchMode } from './modes.js';

export { BENCH_MODES, type BenchMode };

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

/** The bench worker: holds a delivered dataset, computes statistics over it, lets go. */
const HOLD_WORKER = fileURLToPath(new URL('./hold-worker.js', import.meta.url));

/** Reads a file into a SharedArrayBuffer-backed Float32Array (what a Node expert would do for threads). */
function readIntoSab(path: string): Float32Array {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const bytes = new Uint8Array(new SharedArrayBuffer(size));
    if (readInto(fd, bytes, 0) < size) throw new ShmArrayError('ERR_SHM_IO', `${path} shrank while it was read.`, { path });
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
  return Promise.all(Array.from({ length: pool.workers }, () => pool.run<HoldReceipt>(task(gate), { filename: HOLD_WORKER })));
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
  await using pool = createPool(HOLD_WORKER, { workers, runtime });
  const pids = (await everyWorker(pool, newGate(gates), (gate) => ({ phase: 'release', gate, parties: workers }))).map((w) => w.pid);

  let elapsed = stopwatch();
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
  const extractSeconds = elapsed();
  const storeBytes = store.disposed ? 0 : store.bytes();
  const idle = sample(pids, storeBytes);

  const loadGate = newGate(gates);
  elapsed = stopwatch();
  const receipts = await everyWorker(pool, loadGate, (gate) => ({ phase: 'load', data: delivery, gate, parties: workers }));
  const deliverSeconds = elapsed();
  const workerLoadSeconds = Math.max(...receipts.map((r) => r.loadSeconds));

  elapsed = stopwatch();
  const rows = handles.map((h) => h.shape[0] ?? 0);
  const parts = await Promise.all(shareRows(rows, workers).map((segments) => pool.run<PartialStats>({ phase: 'stats', segments, columns } satisfies HoldTask, { filename: HOLD_WORKER })));
  const stats = finishStats(parts.reduce(mergeStats, emptyStats(columns)), columns);
  const jobSeconds = elapsed();

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

