/**
 * `shmarray bench`: the motivating job — zipped float32 datasets, extracted, delivered to a pool,
 * column statistics computed — run once per delivery mode and runtime, measured side by side:
 * - copy: the arrays travel in task messages (structured clone / v8 serialization);
 * - sab:  the parent reads each dataset into a SharedArrayBuffer (worker_threads only);
 * - map:  only handles travel; every worker maps the same tmpfs files.
 * Memory is PSS and anonymous memory from smaps_rollup, sampled while every worker holds its data.
 * Each scenario runs in a fresh process (scenario.ts).
 */import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { fork } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ShmArrayError } from '../core/errors.js';
import { checkOptions, filePath, func, integer, listOf } from '../core/options.js';
import { formatMiB } from '../core/units.js';
import type { Runtime } from '../jobs/pool.js';
import { emptyStats, finishStats, type ColumnStats } from '../jobs/stats-math.js';
import { generateDataset } from './dataset.js';
import { machineInfo, median, type MachineInfo } from './machine.js';
import { BENCH_MODES, type BenchMode, type BenchRow, type ScenarioResult, type ScenarioSpec } from './scenario.js';

export { BENCH_MODES, type BenchMode, type BenchRow } from './scenario.js';

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

/** Runs {@link runScenario} in a fresh Node process and returns its result. */
function inChild(spec: ScenarioSpec): Promise<ScenarioResult> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(new URL('./child.js', import.meta.url)), [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
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
export function benchPlan(modes: readonly BenchMode[], runtimes: readonly Runtime[]): { mode: BenchMode; runtime: Runtime }[] {
  return runtimes.flatMap((runtime) => modes.filter((m) => !(m === 'sab' && runtime === 'child_process')).map((mode) => ({ mode, runtime })));
}

/** Generates the dataset, runs every scenario `repeat` times, and reports medians. */
export async function runBenchmark(options: BenchOptions = {}): Promise<BenchReport> {
  checkOptions('runBenchmark', options, {
    files: integer(1), bytes: integer(1), columns: integer(1), workers: integer(1), runtimes: listOf(['worker_threads', 'child_process']),
    modes: listOf(BENCH_MODES), repeat: integer(1), workDir: filePath, onProgress: func,
  });
  const files = options.files ?? 15;
  const bytes = options.bytes ?? 240 * 2 ** 20;
  const columns = options.columns ?? 4;
  const workers = options.workers ?? availableParallelism();
  const repeat = options.repeat ?? 1;
  const plan = benchPlan(options.modes ?? BENCH_MODES, options.runtimes ?? ['worker_threads', 'child_process']);
  if (plan.length === 0) throw new ShmArrayError('ERR_SHM_BAD_ARGUMENT', 'No scenario to run: sab needs the worker_threads runtime.', {});
  const progress = options.onProgress ?? (() => {});
  const steps = 1 + plan.length * repeat;
  const work = options.workDir ?? mkdtempSync(join(tmpdir(), 'shmarray-bench-'));
  try {
    progress(0, steps, `generating ${files} archives of ${formatMiB(bytes)} in all`);
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
