/**
 * The BullMQ fan-out of examples/bullmq on a real redis-server: 3 "machine" processes (each its own
 * cache directory and 2 pool workers) vs 1 doing all the shards, in one run. Figures: the flow's
 * wall time (producer start to merged result), the bytes through Redis (INFO stats: what clients
 * sent and received, BullMQ's own bookkeeping and polling included), and the job payloads per
 * shard (its data plus its partial: what the application itself sends). On 2 cores the point is
 * correctness and traffic, not speed: 3 machines here share the same 2 cores.
 *   npm run build && node --import tsx bench/distributed.ts [--shards 15] [--mib 240]
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { generateDataset, stopwatch } from '../dist/bench/index.js';
import { machine, printTable } from './report.js';

const { values } = parseArgs({ options: { shards: { type: 'string', default: '15' }, mib: { type: 'string', default: '240' } } });
const root = fileURLToPath(new URL('..', import.meta.url));
const work = mkdtempSync('/dev/shm/shmarray-bench-dist-');
const port = await new Promise<number>((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const p = (s.address() as { port: number }).port;
    s.close(() => resolve(p));
  });
});
const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', work], { stdio: 'ignore' });
try {
  const client = new Redis({ host: '127.0.0.1', port, retryStrategy: (n) => (n > 100 ? null : 50) });
  await client.ping();
  const zips = (await generateDataset({ dir: join(work, 'shards'), files: Number(values.shards), bytes: Number(values.mib) * 2 ** 20 })).map((d) => d.path);
  const traffic = async (): Promise<number> => {
    const info = await client.info('stats');
    const n = (k: string): number => Number(new RegExp(`^${k}:(\\d+)`, 'm').exec(info)?.[1] ?? 0);
    return n('total_net_input_bytes') + n('total_net_output_bytes');
  };
  const rows: string[][] = [];
  for (const count of [1, 3]) {
    await client.flushall();
    const machines: ChildProcess[] = await Promise.all(Array.from({ length: count }, (_, i) => new Promise<ChildProcess>((resolve) => {
      const p = spawn(process.execPath, [`${root}examples/bullmq/machine.mjs`], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, REDIS_PORT: String(port), CACHE_DIR: join(work, `cache-${count}-${i}`), MACHINE: `m${i}` } });
      p.stdout?.once('data', () => resolve(p));
    })));
    const before = await traffic();
    const elapsed = stopwatch();
    const out = JSON.parse(execFileSync(process.execPath, [`${root}examples/bullmq/producer.mjs`, ...zips], { env: { ...process.env, REDIS_PORT: String(port) }, encoding: 'utf8' })) as { shards: number; stats: { rows: number } };
    const wall = elapsed();
    const bytes = (await traffic()) - before;
    const queue = new Queue('shards', { connection: { host: '127.0.0.1', port } });
    const jobs = await queue.getJobs(['completed']);
    const payload = jobs.map((j) => Buffer.byteLength(JSON.stringify(j.data)) + Buffer.byteLength(JSON.stringify(j.returnvalue)));
    await queue.close();
    await Promise.all(machines.map((p) => new Promise((r) => { p.once('exit', r); p.kill('SIGTERM'); })));
    rows.push([`${count} machine${count > 1 ? 's' : ''} × 2 workers`, String(out.shards), String(out.stats.rows), `${wall.toFixed(2)} s`, `${(bytes / 1024).toFixed(0)} KiB`, `${(bytes / out.shards / 1024).toFixed(1)} KiB`, `${Math.max(...payload)} B`]);
  }
  client.disconnect();
  const m = machine();
  console.log(`${m.cores} cores ${m.cpu}, Node ${m.node}; ${zips.length} shards, ${values.mib} MiB of float32 in all; redis-server on 127.0.0.1`);
  printTable(['machines', 'shards', 'rows', 'flow wall', 'Redis traffic (INFO)', 'per shard', 'largest shard payload'], rows);
} finally {
  redis.kill('SIGTERM');
  await new Promise((r) => redis.once('exit', r));
  rmSync(work, { recursive: true, force: true });
}
