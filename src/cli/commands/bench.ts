/** `shmarray bench`: copy vs SharedArrayBuffer vs map, measured honestly, as a table, JSON and SVG. */
import { writeFileSync } from 'node:fs';
import { benchChart, formatMiB as mib, runBenchmark, type BenchMode, type BenchReport } from '../../bench/index.js';
import type { Runtime } from '../../index.js';
import { progressBar } from '../progress.js';
import { textTable } from '../table.js';

/** Options of the bench command. */
export interface BenchCommandOptions {
  files: number;
  size: number;
  columns: number;
  workers?: number;
  runtime: Runtime[];
  modes: BenchMode[];
  repeat: number;
  json?: string;
  svg?: string;
}

/** The report as the table printed on stdout. */
function formatReport(r: BenchReport): string {
  const head = ['mode', 'runtime', 'extract s', 'deliver s', 'job s', 'total s', 'parent PSS', 'workers PSS', 'copies', 'footprint', 'stats'];
  const rows = r.results.map((x) => [
    x.mode,
    x.runtime,
    x.extractSeconds.toFixed(2),
    x.deliverSeconds.toFixed(3),
    x.jobSeconds.toFixed(3),
    x.totalSeconds.toFixed(2),
    mib(x.parentPss),
    x.runtime === 'worker_threads' ? '(in parent)' : mib(x.workersPss),
    mib(x.copiesBytes),
    mib(x.footprintBytes),
    x.statsMatch ? 'same' : 'DIFFER',
  ]);
  const d = r.dataset;
  const out = [
    `dataset: ${d.files} zip files, ${mib(d.bytes)} of float32 (${d.rows} rows × ${d.columns}), ${mib(d.compressedBytes)} zipped; ${r.workers} workers; ${r.machine.cores} cores; Node ${r.machine.node}; engine ${r.machine.engine}${r.repeat > 1 ? `; median of ${r.repeat}` : ''}`,
    '',
    ...textTable(head, rows, 2),
    '',
    'footprint = Σ (PSS anon + PSS file) over the parent and its workers + what the store holds on tmpfs; copies = Σ PSS anon.',
  ];
  for (const c of r.copyOverMap) out.push(`copy ÷ map footprint, ${c.runtime}: ${c.ratio.toFixed(2)}×`);
  for (const x of r.results.filter((y) => y.mode === 'map')) {
    out.push(`map, ${x.runtime}: footprint − idle baseline = ${((x.footprintBytes - x.baselineBytes) / d.bytes).toFixed(2)} × dataset; deliver ${((1000 * x.deliverSeconds) / x.workers).toFixed(1)} ms per worker (pool round trip included), mapping ${(1000 * x.workerLoadSeconds).toFixed(2)} ms in the slowest worker`);
  }
  return out.join('\n');
}

/** Runs the benchmark, prints the table, and writes JSON and SVG when asked. */
export async function benchCommand(o: BenchCommandOptions): Promise<void> {
  const bar = progressBar();
  let report: BenchReport;
  try {
    report = await runBenchmark({
      files: o.files,
      bytes: o.size,
      columns: o.columns,
      workers: o.workers,
      runtimes: o.runtime,
      modes: o.modes,
      repeat: o.repeat,
      onProgress: (done, total, label) => bar.update(done, total, label),
    });
  } finally {
    bar.finish();
  }
  console.log(formatReport(report));
  if (o.json !== undefined) writeFileSync(o.json, `${JSON.stringify(report, null, 2)}\n`);
  if (o.svg !== undefined) writeFileSync(o.svg, benchChart(report));
}
