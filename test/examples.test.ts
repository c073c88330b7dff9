// The examples a user copies: each runs as a user would run it (node examples/<x>.mjs) with real
// pools and servers, and what it prints is checked — correct values, each worker's anonymous
// memory grows by < 10 % of the dataset, and only a handle travels in the task messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

function runExample(name: string): Record<string, unknown> {
  const out = execFileSync(process.execPath, [fileURLToPath(new URL(`../examples/${name}`, import.meta.url))], { encoding: 'utf8', timeout: 120_000 });
  const lines = out.trim().split('\n');
  assert.ok(lines.length >= 2, `it prints what it proved, then its facts: ${out}`);
  return JSON.parse(lines.at(-1) ?? '{}') as Record<string, unknown>;
}

for (const name of ['piscina.mjs', 'workerpool.mjs', 'worker-threads.mjs', 'child-process.mjs']) {
  test(`examples/${name}: correct sums, each worker's anonymous memory < 10 % of the 256 MiB table, task messages under 1 KiB`, () => {
    const f = runExample(name) as { correct: boolean; datasetBytes: number; anonymousGrowth: number[]; messageBytes: number };
    assert.equal(f.correct, true);
    assert.equal(f.anonymousGrowth.length, 2);
    for (const g of f.anonymousGrowth) assert.ok(g < 0.1 * f.datasetBytes, `anonymous memory grew by ${g} bytes`);
    assert.ok(f.messageBytes < 1024, `${f.messageBytes}-byte messages`);
  });
}

test('examples/cluster.mjs: both HTTP workers serve rows of one shared 256 MiB table, each grows < 10 % of it, and swapping the table frees the old one', () => {
  const f = runExample('cluster.mjs') as { v1: number[][]; v2: number[][]; anonymousGrowth: number[]; datasetBytes: number; freedBytes: number };
  assert.deepEqual(f.v1, [[1, 1, 1, 1], [1, 1, 1, 1]]);
  assert.deepEqual(f.v2, [[2, 2, 2, 2], [2, 2, 2, 2]]);
  for (const g of f.anonymousGrowth) assert.ok(g < 0.1 * f.datasetBytes, `anonymous memory grew by ${g} bytes`);
  assert.ok(f.freedBytes > 0.9 * f.datasetBytes, `the swap freed ${f.freedBytes} bytes`);
});

test('examples/parent.mjs (the README example) runs and prints the doubled rows', () => {
  const out = execFileSync(process.execPath, [fileURLToPath(new URL('../examples/parent.mjs', import.meta.url))], { encoding: 'utf8' });
  assert.match(out, /row 0 in: Float32Array\(4\) \[[^\]]+\] out: Float32Array\(4\) \[/);
});

test('examples/cluster-table.mjs: both HTTP workers serve rows (strings included) of one cached Arrow table, built once for 3 processes; each worker grows < 10 % of it', () => {
  const f = runExample('cluster-table.mjs') as { rows: { pid: number; row: { id: number; name: string; price: number; category: string } }[]; pids: number; builds: number; anonymousGrowth: number[]; datasetBytes: number };
  assert.equal(f.pids, 2, 'both workers answered');
  assert.equal(f.builds, 1);
  assert.deepEqual(f.rows.map((r) => [r.row.id, r.row.name.split(' ').slice(0, 2).join(' '), r.row.price, r.row.category]), [
    [7, 'product 7', 7 / 4, 'books'],
    [1_234_567, 'product 1234567', 567 / 4, 'books'],
    [2_399_999, 'product 2399999', 999 / 4, 'garden'],
    [42, 'product 42', 42 / 4, 'books'],
  ]);
  assert.ok(f.datasetBytes > 200 * 2 ** 20, `${f.datasetBytes} bytes`);
  for (const g of f.anonymousGrowth) assert.ok(g < 0.1 * f.datasetBytes, `anonymous memory grew by ${g} bytes`);
});
