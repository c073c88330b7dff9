// node:cluster: 2 HTTP workers serve rows — strings included — of ONE shared Arrow table (about
// 256 MiB: ids, product names, prices, categories) through the node-wide cache: the primary
// builds it once (any process that asks first would), each worker asks the cache for it and maps
// the same pages. apache-arrow comes with shmarray. Run: node examples/cluster-table.mjs
import cluster from 'node:cluster';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Dictionary, Int32, makeVector, Table, Utf8, vectorFromArray } from 'apache-arrow';
import { memoryUsage, SharedCache } from 'shmarray';

const ROWS = 2_400_000;
if (cluster.isPrimary) {
  const dir = mkdtempSync(join(tmpdir(), 'shmarray-cluster-table-')); // the cache's base, removed at the end
  const cache = await SharedCache.open({ name: 'products', dir });
  const entry = await cache.get('products-v1', (b) => b.writeTable('products', makeProducts()));
  const workers = [cluster.fork({ CACHE_DIR: dir }), cluster.fork({ CACHE_DIR: dir })];
  const ready = await Promise.all(workers.map((w) => new Promise((r) => w.once('message', r))));
  // Alternate between the workers' ports: both answer.
  const rows = await Promise.all([7, 1_234_567, ROWS - 1, 42].map((i, k) => fetch(`http://127.0.0.1:${ready[k % 2].port}/row/${i}`).then((r) => r.json())));
  const f = { example: 'cluster-table', rows, pids: new Set(rows.map((r) => r.pid)).size, builds: [entry, ...ready].filter((r) => r.built).length, anonymousGrowth: ready.map((r) => r.anonymousGrowth), datasetBytes: entry.bytes };
  console.log(`cluster-table: row 7 is ${JSON.stringify(rows[0].row)} (served by ${f.pids} workers); the table was built ${f.builds} time for 3 processes; worker anonymous memory +${f.anonymousGrowth.map((b) => (b / 2 ** 20).toFixed(1)).join(', +')} MiB for a ${(f.datasetBytes / 2 ** 20).toFixed(0)} MiB table`);
  console.log(JSON.stringify(f));
  for (const w of workers) w.kill();
  await Promise.all(workers.map((w) => new Promise((r) => w.once('exit', r))));
  entry.release();
  rmSync(dir, { recursive: true, force: true });
} else {
  const before = memoryUsage().anonymous;
  const cache = await SharedCache.open({ name: 'products', dir: process.env.CACHE_DIR });
  // Built by whoever asked first (the primary here); a process that found it missing would build it, the others wait.
  const entry = await cache.get('products-v1', (b) => b.writeTable('products', makeProducts()));
  const products = await entry.table();
  const server = http.createServer((req, res) => {
    const i = Number(req.url.split('/').pop());
    res.end(JSON.stringify({ pid: process.pid, row: products.table.get(i)?.toJSON() }));
  });
  server.listen(0, '127.0.0.1', () => {
    process.send({ port: server.address().port, pid: process.pid, built: entry.built, bytes: products.byteLength, anonymousGrowth: memoryUsage().anonymous - before });
  });
}

/** The products table, built by the one process that builds the cache entry. */
function makeProducts() {
  const pad = '-'.repeat(80);
  const categories = ['tools', 'toys', 'books', 'food', 'garden'];
  return new Table({
    id: makeVector(Int32Array.from({ length: ROWS }, (_, i) => i)),
    name: vectorFromArray(Array.from({ length: ROWS }, (_, i) => `product ${i} ${pad}`), new Utf8()),
    price: makeVector(Float32Array.from({ length: ROWS }, (_, i) => (i % 1000) / 4)),
    category: vectorFromArray(Array.from({ length: ROWS }, (_, i) => categories[i % 5]), new Dictionary(new Utf8(), new Int32())),
  });
}
