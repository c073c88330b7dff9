// Beyond one machine on a real engine: a real redis-server (Debian's), real BullMQ, three "machine"
// processes (examples/bullmq/machine.mjs), each with its own cache directory standing for its
// own /dev/shm and 2 pool workers. Only partial statistics travel through Redis.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { columnStats, SharedStore, type ColumnStats } from '../dist/index.js';
import { generateDataset } from '../dist/bench/index.js';
import { freePort, tempDir } from './helpers.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const redisServer = ['/usr/bin/redis-server', '/usr/sbin/redis-server'].find((p) => existsSync(p));
const skip = redisServer === undefined && 'NOT RUN: redis-server is missing (apt-get install redis-server; .ci/run installs it)';
const tmp = tempDir('shmarray-dist-');


let redis: ChildProcess | undefined;
let port = 0;
let zips: string[] = [];
let reference: ColumnStats;
before(async () => {
  if (skip !== false) return;
  port = await freePort();
  redis = spawn(redisServer as string, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', tmp.dir], { stdio: 'ignore' });
  // Ready once it answers PING (it takes a moment to listen).
  for (let i = 0; ; i++) {
    const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    try {
      await client.connect();
      assert.equal(await client.ping(), 'PONG');
      break;
    } catch (err) {
      if (i === 100) throw new Error(`redis-server did not answer on 127.0.0.1:${port}`, { cause: err });
      await new Promise((r) => setTimeout(r, 100));
    } finally {
      client.disconnect();
    }
  }
  zips = (await generateDataset({ dir: tmp.path('shards'), files: 15, bytes: 15 * 2 ** 19, seed: 5 })).map((d) => d.path);
  const store = await SharedStore.create({ dir: tmp.dir });
  try {
    reference = await columnStats(await store.extractHandles(zips, { columns: 4 }), { workers: 2 });
  } finally {
    await store.dispose();
  }
});
after(() => {
  redis?.kill('SIGKILL');
  tmp.dispose();
});

interface Machine { name: string; proc: ChildProcess; exited: Promise<number | string | null> }
const events = tmp.path('events.jsonl');
function startMachine(name: string, env: Record<string, string> = {}): Promise<Machine> {
  const proc = spawn(process.execPath, [`${root}examples/bullmq/machine.mjs`], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, REDIS_PORT: String(port), CACHE_DIR: tmp.path(`cache-${name}`), MACHINE: name, EVENTS: events, LOCK_MS: '1000', STALLED_MS: '500', ...env },
  });
  const exited = new Promise<number | string | null>((r) => proc.once('exit', (code, signal) => r(code ?? signal)));
  return new Promise((resolve, reject) => {
    proc.stdout?.once('data', () => resolve({ name, proc, exited }));
    proc.once('exit', (code) => reject(new Error(`machine ${name} exited (${code}) before it was ready`)));
  });
}
async function stopAll(machines: Machine[]): Promise<(number | string | null)[]> {
  for (const m of machines) m.proc.kill('SIGTERM');
  return Promise.all(machines.map((m) => m.exited));
}
interface FlowResult { stats: ColumnStats; shards: number; failed: Record<string, string>; failedShards: Record<string, string> }
function runFlow(archives: string[]): FlowResult {
  const out = execFileSync(process.execPath, [`${root}examples/bullmq/producer.mjs`, ...archives], { env: { ...process.env, REDIS_PORT: String(port) }, encoding: 'utf8', timeout: 120_000 });
  return JSON.parse(out) as FlowResult;
}
const readEvents = (): { machine: string; zip: string; started?: boolean; built?: boolean; rows?: number }[] =>
  existsSync(events) ? readFileSync(events, 'utf8').trim().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as never) : [];
const flush = async (): Promise<void> => {
  const client = new Redis({ host: '127.0.0.1', port });
  await client.flushall();
  client.disconnect();
  rmSync(events, { force: true });
};
function assertExact(got: ColumnStats): void {
  assert.equal(got.rows, reference.rows, 'every shard counted exactly once');
  for (const field of ['mean', 'std', 'min', 'max'] as const) {
    got[field].forEach((x, c) => {
      const y = reference[field][c] as number;
      assert.ok(x === y || Math.abs(x - y) <= 1e-12 * Math.abs(y), `${field}[${c}]: ${x} vs ${y}`);
    });
  }
}

describe('BullMQ on a real Redis: shards fan out to 3 machines, partials fan in', { skip }, () => {
  test('15 shards twice: the merge equals one machine’s columnStats (1e-12); each machine extracted each shard it took exactly once; < 1 KiB per shard through Redis', { timeout: 180_000 }, async () => {
    await flush();
    const machines = await Promise.all(['m1', 'm2', 'm3'].map((n) => startMachine(n)));
    try {
      for (let round = 0; round < 2; round++) {
        const r = runFlow(zips);
        assert.equal(r.shards, 15);
        assert.deepEqual(r.failed, {});
        assertExact(r.stats);
      }
      const built = new Map<string, number>();
      for (const e of readEvents().filter((x) => x.built !== undefined)) built.set(`${e.machine} ${e.zip}`, (built.get(`${e.machine} ${e.zip}`) ?? 0) + (e.built === true ? 1 : 0));
      assert.equal(readEvents().filter((x) => x.built !== undefined).length, 30, '30 shard jobs done');
      for (const [pair, n] of built) assert.equal(n, 1, `${pair} extracted ${n} times`);
      const queue = new Queue('shards', { connection: { host: '127.0.0.1', port } });
      try {
        const jobs = await queue.getJobs(['completed']);
        assert.equal(jobs.length, 30);
        for (const j of jobs) {
          const bytes = Buffer.byteLength(JSON.stringify(j.data)) + Buffer.byteLength(JSON.stringify(j.returnvalue));
          assert.ok(bytes < 1024, `shard job ${j.id} carried ${bytes} bytes`);
        }
      } finally {
        await queue.close();
      }
    } finally {
      assert.deepEqual(await stopAll(machines), [0, 0, 0], 'every machine shut down cleanly');
    }
  });

  test('a machine SIGKILLed while it holds a shard: stalled-job recovery gives it to the others; the merge is still exact, every shard once', { timeout: 180_000 }, async () => {
    await flush();
    const machines = await Promise.all([startMachine('victim', { SLOW_MS: '4000' }), startMachine('m2'), startMachine('m3')]);
    const flow = new Promise<FlowResult>((resolve, reject) => {
      const p = spawn(process.execPath, [`${root}examples/bullmq/producer.mjs`, ...zips], { env: { ...process.env, REDIS_PORT: String(port) }, stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      p.stdout.on('data', (c: Buffer) => (out += c.toString()));
      p.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as FlowResult) : reject(new Error(`producer exited ${code}`))));
    });
    try {
      for (let i = 0; i < 200 && !readEvents().some((e) => e.machine === 'victim' && e.started === true); i++) await new Promise((r) => setTimeout(r, 50));
      const taken = readEvents().find((e) => e.machine === 'victim' && e.started === true);
      assert.ok(taken, 'the victim took a shard');
      machines[0]?.proc.kill('SIGKILL');
      const r = await flow;
      assert.equal(r.shards, 15);
      assertExact(r.stats);
      assert.ok(readEvents().some((e) => e.machine !== 'victim' && e.zip === taken.zip && e.built !== undefined), 'another machine did the killed one’s shard');
      assert.equal(readEvents().filter((e) => e.machine === 'victim' && e.built !== undefined).length, 0, 'the victim finished nothing');
    } finally {
      assert.deepEqual(await stopAll(machines.slice(1)), [0, 0]);
    }
  });

  test('a corrupt shard fails its job with ERR_SHM_BAD_ZIP in the reason; the flow names the shard and merges the rest; no machine crashes', { timeout: 180_000 }, async () => {
    await flush();
    const corrupt = tmp.path('corrupt.zip');
    writeFileSync(corrupt, readFileSync(zips[0] as string).subarray(0, 3000));
    const machines = await Promise.all(['m1', 'm2', 'm3'].map((n) => startMachine(n)));
    try {
      const r = runFlow([...zips.slice(0, 4), corrupt]);
      assert.equal(r.shards, 4);
      assert.deepEqual(Object.keys(r.failedShards), [corrupt]);
      assert.match(r.failedShards[corrupt] as string, /^\[ERR_SHM_BAD_ZIP\] /);
      for (const m of machines) assert.equal(m.proc.exitCode, null, `${m.name} is still running`);
    } finally {
      assert.deepEqual(await stopAll(machines), [0, 0, 0]);
    }
  });
});
