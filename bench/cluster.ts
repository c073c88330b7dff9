/**
 * A pre-fork server (node:cluster, 4 workers) holding a 256 MiB float32 lookup table: Σ PSS of the
 * workers when they all map one shared table (shmarray) vs when each loads its own copy
 * (readFileSync into its heap — what a pre-fork server does today), both measured once every
 * worker has touched every page of its table.
 *   npm run build && node --import tsx bench/cluster.ts [--workers 4] [--mib 256]
 */
import { stopwatch } from '../dist/bench/index.js';
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { memoryUsage, openShared, SharedStore, type SharedHandle } from '../dist/index.js';
import { printTable } from './report.js';

interface Ready { pid: number; seconds: number }

if (cluster.isPrimary) {
  const { values } = parseArgs({ options: { workers: { type: 'string', default: '4' }, mib: { type: 'string', default: '256' } } });
  const workers = Number(values.workers);
  const bytes = Number(values.mib) * 2 ** 20;
  const store = await SharedStore.create();
  const table = store.create('table.f32', [bytes / 16, 4]);
  table.data.fill(1.5);
  const handle = table.handle;
  table.close();
  const rows = [];
  for (const mode of ['shared', 'copy'] as const) {
    const forked = Array.from({ length: workers }, () => cluster.fork());
    // A worker says 'up' once its listener is there (a message sent before would be lost), then gets its task.
    const up = (w: (typeof forked)[number]): Promise<unknown> => new Promise((r) => w.once('message', r));
    const ready = await Promise.all(forked.map(async (w) => { await up(w); const done = up(w) as Promise<Ready>; w.send({ mode, handle }); return done; }));
    const pss = ready.reduce((s, r) => s + (memoryUsage(r.pid).pss ?? 0), 0);
    const anon = ready.reduce((s, r) => s + (memoryUsage(r.pid).pssAnon ?? 0), 0);
    rows.push({ mode, pss, anon, ready: Math.max(...ready.map((r) => r.seconds)) });
    await Promise.all(forked.map((w) => new Promise((r) => { w.once('exit', r); w.kill(); })));
  }
  const mib = (n: number): string => `${(n / 2 ** 20).toFixed(0)} MiB`;
  console.log(`${workers} cluster workers, a ${mib(bytes)} float32 table; Σ over the workers once each touched every page`);
  printTable(['workers hold', 'Σ PSS', 'Σ PSS anon (copies)', 'slowest worker ready'], rows.map((r) => [r.mode === 'shared' ? 'one shared table (shmarray)' : 'a copy each (readFileSync)', mib(r.pss), mib(r.anon), `${(r.ready * 1e3).toFixed(0)} ms`]));
  const [shared, copy] = rows as [(typeof rows)[number], (typeof rows)[number]];
  console.log(`copy ÷ shared Σ PSS: ${(copy.pss / shared.pss).toFixed(2)}×  (the table itself lives once on tmpfs: ${mib(bytes)})`);
  await store.dispose();
} else {
  process.once('message', ({ mode, handle }: { mode: 'shared' | 'copy'; handle: SharedHandle }) => {
    const elapsed = stopwatch();
    let data: Float32Array;
    if (mode === 'shared') data = openShared(handle).data as Float32Array;
    else { const b = readFileSync(handle.path); data = new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4); }
    let sum = 0;
    for (let i = 0; i < data.length; i += 1024) sum += data[i] ?? 0;
    process.send?.({ pid: process.pid, seconds: elapsed(), sum } satisfies Ready & { sum: number });
    setInterval(() => {}, 1 << 30); // keep serving (holding the table) until the primary kills it
  });
  process.send?.('up');
}
