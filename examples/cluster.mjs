// node:cluster: 2 HTTP workers answer row lookups from ONE shared 256 MiB float32 table; then the
// table is replaced while serving (new file, new handle; workers reopen, close the old one).
// Run: node examples/cluster.mjs
import cluster from 'node:cluster';
import { readFileSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import { memoryUsage, openShared, SharedStore } from 'shmarray';
// What deleting a file frees, measured on what this example owns (never machine-wide Shmem, which
// other processes move): its allocated blocks, once no process of ours maps it.
const maps = (pids, path) => pids.some((pid) => readFileSync(`/proc/${pid}/maps`, 'utf8').includes(path));
if (cluster.isPrimary) {
  const store = await SharedStore.create(), workers = [cluster.fork(), cluster.fork()];
  const table = (v) => { const t = store.create(`table-v${v}.f32`, [(256 << 20) / 16, 4]); t.data.fill(v); const h = t.handle; t.close(); return h; };
  const port = await new Promise((r) => workers[0].once('listening', (a) => r(a.port)));
  const install = (handle) => Promise.all(workers.map((w) => new Promise((r) => { w.once('message', r); w.send(handle); })));
  const lookup = () => Promise.all([7, 7_000_000].map((row) => fetch(`http://127.0.0.1:${port}/${row}`).then((r) => r.json())));
  const first = await install(table(1)), v1 = await lookup();
  await install(table(2));
  const old = first[0].path, pids = [process.pid, ...workers.map((w) => w.process.pid)];
  const held = statSync(old).blocks * 512, stillMapped = maps(pids, old);
  rmSync(old); // no worker maps v1 any more: deleting it frees its pages
  const f = { example: 'cluster', v1, v2: await lookup(), anonymousGrowth: first.map((a) => a.anonymousGrowth), datasetBytes: 256 << 20, freedBytes: stillMapped ? 0 : held };
  console.log(`cluster: rows ${JSON.stringify(f.v1)} then, after the swap, ${JSON.stringify(f.v2)}; worker anonymous memory +${f.anonymousGrowth.map((b) => (b / 2 ** 20).toFixed(1)).join(', +')} MiB; the swap freed ${(f.freedBytes / 2 ** 20).toFixed(0)} MiB`);
  console.log(JSON.stringify(f));
  workers.forEach((w) => w.kill()); await store.dispose();
} else {
  let table;
  http.createServer((req, res) => res.end(JSON.stringify(Array.from(table.row(Number(req.url.slice(1))))))).listen(0, '127.0.0.1');
  process.on('message', (handle) => {
    const before = memoryUsage().anonymous, next = openShared(handle);
    let sum = 0; for (let i = 0; i < next.length; i += 1024) sum += next.data[i]; // touch every page: shared memory
    table?.close(); table = next;
    process.send({ path: handle.path, sum, anonymousGrowth: memoryUsage().anonymous - before });
  });
}
