/**
 * What importing an entry costs a fresh worker: milliseconds from just before `import()` to its
 * resolution, in a new worker thread and in a new child process (binding load included), median
 * of --repeat fresh workers each. Entries are paths under dist/ (default: the worker entry and
 * the library entry; before the layout move, dist/shared-array.js stood for the mapping module).
 *   npm run bench:import [-- --entries worker.js,index.js --repeat 15 --dist /path/to/other/dist]
 */
import { fork } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { machine, median, printTable, writeJson } from './report.js';

const { values } = parseArgs({ options: { dist: { type: 'string' }, entries: { type: 'string', default: 'worker.js,index.js' }, repeat: { type: 'string', default: '15' }, json: { type: 'string', default: 'bench/out/import.json' } } });
const repeat = Number(values.repeat);
// --dist: another build to compare with (e.g. a worktree of an older commit, built with tsc).
const dist = values.dist === undefined ? new URL('../dist/', import.meta.url) : pathToFileURL(`${values.dist.replace(/\/$/, '')}/`);
// An entry is a path under dist/, or an absolute path (another build, e.g. an older commit's worktree).
const entries = values.entries.split(',').map((e) => e.trim()).map((e) => (isAbsolute(e) ? e : fileURLToPath(new URL(e, dist)))).filter((e) => existsSync(e));

// One probe file serves both runtimes: it times its own import and reports by whichever channel it has.
const work = mkdtempSync(join(tmpdir(), 'shmarray-import-'));
const probe = join(work, 'probe.mjs');
writeFileSync(
  probe,
  `import { parentPort, workerData } from 'node:worker_threads';
const url = workerData?.url ?? process.argv[2];
const t0 = performance.now();
await import(url);
const ms = performance.now() - t0;
if (parentPort) parentPort.postMessage(ms); else process.send(ms, () => process.exit(0));
`,
);

function inThread(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    // execArgv: [] — this script runs under tsx, whose loader hooks would slow every import measured.
    const w = new Worker(probe, { workerData: { url }, execArgv: [] });
    w.once('message', (ms: number) => void w.terminate().then(() => resolve(ms)));
    w.once('error', reject);
  });
}

function inChild(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const c = fork(probe, [url], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    c.once('message', (ms) => resolve(ms as number));
    c.once('error', reject);
  });
}

const rows: string[][] = [];
const results: Record<string, { thread: number; child: number }> = {};
const runs = new Map(entries.map((e) => [e, { thread: [] as number[], child: [] as number[] }]));
try {
  // Round-robin over the entries, so drift in the machine's speed hits each alike.
  for (let i = 0; i < repeat; i++) {
    for (const [entry, r] of runs) {
      const url = pathToFileURL(entry).href;
      r.thread.push(await inThread(url));
      r.child.push(await inChild(url));
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
for (const [entry, r] of runs) {
  results[entry] = { thread: median(r.thread), child: median(r.child) };
  rows.push([entry, `${median(r.thread).toFixed(1)} ms`, `${median(r.child).toFixed(1)} ms`]);
}
console.log(`import time in a fresh worker (median of ${repeat}), Node ${process.versions.node}`);
printTable(['entry', 'worker thread', 'child process'], rows);
writeJson(values.json, { machine: machine(), repeat, results });
