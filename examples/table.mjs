// Shared by the pool examples: the parent's side (a table in a store, the expected answer, the
// report) and the worker's side (sum some rows of the table, mapped by handle, and say how much
// anonymous memory — copies — that cost this process).
import { serialize } from 'node:v8';
import { memoryUsage, openShared } from 'shmarray/worker';

/** A float32 table of `mib` MiB (4 columns) in `store`, filled with i % 7; and the sum of it all. */
export function makeTable(store, mib = 256) {
  const table = store.create('table.f32', [(mib << 20) / 16, 4]);
  let expected = 0;
  for (let i = 0; i < table.data.length; i++) expected += table.data[i] = i % 7;
  return { table, expected };
}

/** Worker side: sums part `part` of `parts` of the rows, by handle. */
export function sumRows({ handle, part, parts }) {
  const before = memoryUsage().anonymous;
  const table = openShared(handle);
  const rows = table.shape[0];
  const [from, to] = [Math.floor((rows * part) / parts) * 4, Math.floor((rows * (part + 1)) / parts) * 4];
  let sum = 0;
  for (let i = from; i < to; i++) sum += table.data[i];
  const anonymousGrowth = memoryUsage().anonymous - before;
  table.close();
  return { sum, anonymousGrowth, pid: process.pid };
}

/** Parent side: prints what the example proved, then the same as one JSON line (tests read it). */
export function report(name, { table, expected }, task, results) {
  const facts = {
    example: name,
    correct: results.reduce((s, r) => s + r.sum, 0) === expected,
    datasetBytes: table.byteLength,
    anonymousGrowth: results.map((r) => r.anonymousGrowth),
    messageBytes: serialize(task).length,
  };
  const mib = (n) => (n / 2 ** 20).toFixed(1);
  console.log(`${name}: ${results.length} workers summed ${mib(facts.datasetBytes)} MiB by handle: ${facts.correct ? 'correct' : 'WRONG'}; ` +
    `anonymous memory per worker +${facts.anonymousGrowth.map(mib).join(', +')} MiB; each task message ${facts.messageBytes} bytes`);
  console.log(JSON.stringify(facts));
}
