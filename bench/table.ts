/**
 * A 256 MiB table with strings (float32 price, int64 qty, utf8 name of ~100 characters, a
 * dictionary-encoded category) sent to 2 worker processes (node's IPC channel, advanced
 * serialization: structured clone) three ways, side by side in one run:
 *  - clone: its columns as arrays (a Float32Array, a BigInt64Array, arrays of strings) in
 *    postMessage — what Node code does today (structured clone copies it into every worker);
 *  - ipc: `tableToIPC(table)` bytes in postMessage (copied), `tableFromIPC` in the worker;
 *  - shmarray: `store.writeTable` once, the ~100-byte handle in postMessage, `openSharedTable`.
 * Each mode runs in a fresh process that builds the same table; reported: the time to prepare
 * (serialise, or write the file), the time from sending until both workers have summed a column
 * and read a string, and the workers' own anonymous memory growth (Σ of the two, from
 * /proc/PID/smaps_rollup) while both hold their table. Modes alternate; medians of --repeat.
 *   npm run bench:table [-- --repeat 3 --rows 2400000]
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { machine, median, printTable, writeJson } from './report.js';

const { values } = parseArgs({
  options: {
    repeat: { type: 'string', default: '3' },
    rows: { type: 'string', default: '2400000' },
    mode: { type: 'string' },
    json: { type: 'string', default: 'bench/out/table.json' },
  },
});
const rows = Number(values.rows);
const MiB = 2 ** 20;
type Result = { prepare: number; deliver: number; anonymous: number; tableBytes: number; sums: number[] };

if (values.mode !== undefined) {
  // One mode, in this fresh process.
  const { Dictionary, Int32, makeVector, Table, tableToIPC, Utf8, vectorFromArray } = await import('apache-arrow');
  const { memoryUsage, SharedStore } = await import('../dist/index.js');
  const { fork } = await import('node:child_process');
  const pad = 'x'.repeat(90);
  const categories = ['tools', 'toys', 'books', 'food', 'garden'];
  const price = Float32Array.from({ length: rows }, (_, i) => (i % 1000) / 8);
  const qty = BigInt64Array.from({ length: rows }, (_, i) => BigInt(i % 97));
  const names = Array.from({ length: rows }, (_, i) => `product ${i} ${pad}`);
  const cats = Array.from({ length: rows }, (_, i) => categories[i % 5] as string);
  const table = new Table({ price: makeVector(price), qty: makeVector(qty), name: vectorFromArray(names, new Utf8()), category: vectorFromArray(cats, new Dictionary(new Utf8(), new Int32())) });
  const workerFile = fileURLToPath(new URL('./table-worker.mjs', import.meta.url));
  const workers = [0, 1].map(() => fork(workerFile, [], { serialization: 'advanced', execArgv: ['--expose-gc'] }));
  const next = (w: ChildProcess): Promise<Record<string, unknown>> => new Promise((resolve) => w.once('message', (m) => resolve(m as Record<string, unknown>)));
  await Promise.all(workers.map(next)); // each has loaded its modules
  const store = await SharedStore.create();
  let t = process.hrtime.bigint();
  let message: unknown;
  let tableBytes = 0;
  if (values.mode === 'clone') message = { mode: 'clone', columns: { price, qty, name: names, category: cats } };
  else if (values.mode === 'ipc') {
    const bytes = tableToIPC(table, 'file');
    tableBytes = bytes.byteLength;
    message = { mode: 'ipc', bytes };
  } else {
    const shared = await store.writeTable('table.arrow', table);
    tableBytes = shared.byteLength;
    message = { mode: 'shmarray', handle: shared.handle };
  }
  const prepare = Number(process.hrtime.bigint() - t) / 1e9;
  await Promise.all(workers.map((w) => {
    const done = next(w);
    w.send({ gc: true });
    return done;
  }));
  const own = (): number => workers.reduce((s, w) => s + (memoryUsage(w.pid).anonymous ?? 0), 0);
  const before = own();
  t = process.hrtime.bigint();
  const replies = (await Promise.all(workers.map((w) => {
    const done = next(w);
    w.send(message as never);
    return done;
  }))) as { sum: number; sample: string }[];
  const deliver = Number(process.hrtime.bigint() - t) / 1e9;
  const anonymous = own() - before;
  for (const w of workers) w.send({ exit: true });
  await store.dispose();
  if (replies.some((r) => r.sample !== `product 12345 ${pad}`)) throw new Error(`a worker read ${replies.map((r) => r.sample).join(', ')}`);
  console.log(JSON.stringify({ prepare, deliver, anonymous, tableBytes, sums: replies.map((r) => r.sum) } satisfies Result));
  process.exit(0);
}

const modes = ['clone', 'ipc', 'shmarray'] as const;
const labels = { clone: 'structured clone of the columns', ipc: 'tableToIPC bytes (copied), tableFromIPC', shmarray: "shmarray: store.writeTable once, the handle" };
const runs = new Map<string, Result[]>(modes.map((m) => [m, []]));
const here = fileURLToPath(import.meta.url);
for (let r = 0; r < Number(values.repeat); r++) {
  for (const mode of modes) {
    const child = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', here, '--mode', mode, '--rows', String(rows)], { encoding: 'utf8', maxBuffer: 1 << 20 });
    if (child.status !== 0) throw new Error(`${mode}: ${child.stderr}`);
    runs.get(mode)?.push(JSON.parse(child.stdout.trim().split('\n').pop() as string) as Result);
  }
}
const sums = [...runs.values()].flatMap((rs) => rs.flatMap((x) => x.sums));
if (new Set(sums).size !== 1) throw new Error(`the workers' sums disagree: ${[...new Set(sums)].join(', ')}`);
const med = (mode: string, k: keyof Omit<Result, 'sums'>): number => median((runs.get(mode) ?? []).map((x) => x[k]));
const cloneDeliver = med('clone', 'deliver');
const cloneMemory = med('clone', 'anonymous');
console.log(`a table of ${rows} rows (${(med('ipc', 'tableBytes') / MiB).toFixed(0)} MiB as an IPC file) to 2 worker processes; medians of ${values.repeat} runs, each mode in a fresh process, alternating`);
printTable(
  ['mode', 'prepare', 'send → both workers ready', 'clone ÷ this', "workers' own memory while they hold it", 'clone ÷ this'],
  modes.map((m) => [
    labels[m],
    `${(med(m, 'prepare') * 1000).toFixed(0)} ms`,
    `${(med(m, 'deliver') * 1000).toFixed(1)} ms`,
    `${(cloneDeliver / med(m, 'deliver')).toFixed(1)}×`,
    `${(med(m, 'anonymous') / MiB).toFixed(1)} MiB`,
    `${(cloneMemory / Math.max(med(m, 'anonymous'), MiB)).toFixed(1)}×`,
  ]),
);
writeJson(values.json, { machine: machine(), rows, repeat: Number(values.repeat), runs: Object.fromEntries(runs) });
