/** `shmarray bench`: copy vs SharedArrayBuffer vs map, measured honestly, as a table, JSON and SVG. */
import { writeFileSync } from 'node:fs';
import { availableParallelism, freemem } from 'node:os';
import { benchChart, formatMiB as mib, runBenchmark, type BenchMode, type BenchReport } from '../../bench/index.js';
import { formatBytes, ShmArrayError, type Runtime } from '../../index.js';
import { progressBar } from '../progress.js';
import { textTable } from '../../bench/index.js';

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
    'footprint = Σ (PSS anon + PSS file) over the parent and its workers + what the store holds on tmpfs; copies = Σ PSS anon (private copies of the data).',
    "copy = arrays sent in task messages; sab = one SharedArrayBuffer (threads only: it cannot cross to a child process, so child_process has no sab row); map = handles, mapped by each worker; stats 'same' = every mode computed equal statistics.",
  ];
  for (const c of r.copyOverMap) out.push(`copy ÷ map footprint, ${c.runtime}: ${c.ratio.toFixed(2)}×`);
  for (const x of r.results.filter((y) => y.mode === 'map')) {
    out.push(`map, ${x.runtime}: footprint − idle baseline = ${((x.footprintBytes - x.baselineBytes) / d.bytes).toFixed(2)} × dataset; deliver ${((1000 * x.deliverSeconds) / x.workers).toFixed(1)} ms per worker (pool round trip included), mapping ${(1000 * x.workerLoadSeconds).toFixed(2)} ms in the slowest worker`);
  }
  return out.join('\n');
}

/**
 * Refuses a --size that cannot fit before anything is generated: the copy mode holds the data in
 * the parent and once per worker (plus the store's copy on tmpfs), sab and map about twice.
 */
function checkRoom(o: BenchCommandOptions): void {
  const workers = o.workers ?? availableParallelism();
  const times = o.modes.includes('copy') ? workers + 2 : 2;
  const available = freemem();
  if (o.size * times <= available) return;
  const fits = Math.floor(available / times / 2 ** 20) * 2 ** 20;
  throw new ShmArrayError(
    'ERR_SHM_NO_SPACE',
    `shmarray bench: --size ${formatBytes(o.size)} needs about ${formatBytes(o.size * times)} of memory (${o.modes.includes('copy') ? `the copy mode holds it ${times} times with ${workers} workers` : 'the data and the store hold it twice'}), but ${formatBytes(available)} is available; --size ${formatBytes(fits)} fits${o.modes.includes('copy') ? ', or leave out copy (--modes sab,map)' : ''}.`,
    { bytes: o.size * times, free: available },
  );
}

/** Runs the benchmark, prints the table, and writes JSON and SVG when asked. */
export async function benchCommand(o: BenchCommandOptions): Promise<void> {
  checkRoom(o);
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
  if (o.json !== undefined) {
    writeFileSync(o.json, `${JSON.stringify(report, null, 2)}\n`);
    console.log(`wrote the report as JSON to ${o.json}`);
  }
  if (o.svg !== undefined) {
    writeFileSync(o.svg, benchChart(report));
    console.log(`wrote the chart to ${o.svg} (open it in a browser)`);
  }
}
