/**
 * `shmarray/bench`: the benchmark behind `shmarray bench` — copy vs SharedArrayBuffer vs map,
 * measured side by side — and the pieces its report and the scripts in bench/ use.
 */
export { runBenchmark, benchPlan, BENCH_MODES } from './run.js';
export type { BenchMode, BenchOptions, BenchRow, BenchReport } from './run.js';
export { benchChart } from './chart.js';
export { generateDataset, fillRows } from './dataset.js';
export { writeZip } from './zip-writer.js';
export type { DatasetOptions, DatasetFile } from './dataset.js';
export { machineInfo, median } from './machine.js';
export type { MachineInfo } from './machine.js';
export { formatMiB } from '../core/units.js';
// For benchmark scripts of their own (this repository's bench/ uses them): a timer and the tables the CLI prints.
export { stopwatch } from '../core/clock.js';
export { textTable } from '../core/text-table.js';
// The statistics kernels themselves (the addon's C for float32 and the JavaScript one), which bench:jobs times apart from any pool.
export { partialStats, partialStatsJs } from '../jobs/stats-math.js';
export type { PartialStats } from '../jobs/stats-math.js';
