// Beyond one machine on a real engine: a real redis-server (Debian's), real BullMQ, three "machine"
// processes (examples/bullmq/machine.mjs), each with its own cache directory standing for its
// own /dev/shm and 2 pool workers. Only partial statistics travel through Redis.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
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

/** Starts redis-server on `port` without persistence (as the example's README runs it); resolves once it answers PING. */
async function startRedis(): Promise<ChildProcess> {
  const server = spawn(redisServer as string, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', tmp.dir], { stdio: 'ignore' });
  for (let i = 0; ; i++) {
    const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    try {
      await client.connect();
      assert.equal(await client.ping(), 'PONG');
      break;
    } catch (err) {
      if (i === 100) {
        server.kill('SIGKILL');
        throw new Error(`redis-server did not answer on 127.0.0.1:${port}`, { cause: err });
      }
      await new Promise((r) => setTimeout(r, 100));
    } finally {
      client.disconnect();
    }
  }
  return server;
}

before(async () => {
  if (skip !== false) return;
  port = await freePort();
  redis = await startRedis();
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
/** Runs the producer to its end; never rejects. */
function producer(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [`${root}examples/bullmq/producer.mjs`, ...args], { env: { ...process.env, REDIS_PORT: String(port), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    p.once('exit', (code) => resolve({ code, stdout, stderr, ms: Date.now() - started }));
  });
}
async function runFlow(archives: string[]): Promise<FlowResult> {
  const r = await producer(archives);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as FlowResult;
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
        const r = await runFlow(zips);
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
    const flow = runFlow(zips);
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

  test('a corrupt shard fails its job with ERR_SHM_BAD_ZIP in the reason; the flow names the shard and merges the rest, exit 3 (a partial answer), exit 0 with --allow-partial; no machine crashes', { timeout: 180_000 }, async () => {
    await flush();
    const corrupt = tmp.path('corrupt.zip');
    writeFileSync(corrupt, readFileSync(zips[0] as string).subarray(0, 3000));
    const machines = await Promise.all(['m1', 'm2', 'm3'].map((n) => startMachine(n)));
    try {
      const partial = await producer([...zips.slice(0, 4), corrupt]);
      assert.equal(partial.code, 3, partial.stderr);
      assert.match(partial.stderr, new RegExp(`producer: a partial answer: 1 of 5 shards failed \\(${corrupt}\\), so the statistics cover 4; exit 3 \\(--allow-partial accepts it with exit 0\\)`));
      const allowed = await producer(['--allow-partial', ...zips.slice(0, 4), corrupt]);
      assert.equal(allowed.code, 0, allowed.stderr);
      for (const r of [partial, allowed].map((x) => JSON.parse(x.stdout) as FlowResult)) {
        assert.equal(r.shards, 4);
        assert.deepEqual(Object.keys(r.failedShards), [corrupt]);
        assert.match(r.failedShards[corrupt] as string, /^\[ERR_SHM_BAD_ZIP\] /);
      }
      for (const m of machines) assert.equal(m.proc.exitCode, null, `${m.name} is still running`);
    } finally {
      assert.deepEqual(await stopAll(machines), [0, 0, 0]);
    }
  });

  test('every shard fails: the producer exits 1 with one line naming each shard and its reason, no stack', { timeout: 180_000 }, async () => {
    await flush();
    const bad = [0, 1, 2].map((i) => {
      const p = tmp.path(`all-bad-${i}.zip`);
      writeFileSync(p, readFileSync(zips[i] as string).subarray(0, 2000 + i));
      return p;
    });
    const machines = await Promise.all(['m1', 'm2'].map((n) => startMachine(n)));
    try {
      const r = await producer(bad);
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stdout, '');
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 2, r.stderr); // the start line, then the one failure line
      assert.match(lines[1] as string, /^producer: every shard failed, so there is nothing to merge: /);
      for (const b of bad) assert.match(lines[1] as string, new RegExp(`${b}: \\[ERR_SHM_BAD_ZIP\\] `));
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    } finally {
      assert.deepEqual(await stopAll(machines), [0, 0]);
    }
  });

  test('Redis SIGKILLed mid-flow and restarted without persistence: the producer notices the lost flow and exits 1 within its check interval, not never', { timeout: 180_000 }, async () => {
    await flush();
    const machines = await Promise.all([startMachine('slow1', { SLOW_MS: '3000' }), startMachine('slow2', { SLOW_MS: '3000' })]);
    try {
      const run = producer(zips, { CHECK_MS: '300', TIMEOUT_MS: '120000' });
      for (let i = 0; i < 200 && !readEvents().some((e) => e.started === true); i++) await new Promise((r) => setTimeout(r, 50));
      assert.ok(readEvents().some((e) => e.started === true), 'a machine took a shard');
      const killedAt = Date.now();
      redis?.kill('SIGKILL');
      await new Promise((r) => redis?.once('exit', r));
      redis = await startRedis();
      const r = await run;
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /producer: flow \S+ is gone from Redis \(was Redis restarted without persistence\?\): its shards' results are lost; run the producer again\n$/);
      assert.ok(Date.now() - killedAt < 30_000, `noticed ${Date.now() - killedAt} ms after the kill`);
      assert.equal(r.stdout, '');
    } finally {
      assert.deepEqual(await stopAll(machines), [0, 0]);
    }
  });

  test('no machine takes the flow: the producer says the bound it waits at the start and exits 1 when it passes', { timeout: 60_000 }, async () => {
    await flush();
    const r = await producer(zips.slice(0, 2), { TIMEOUT_MS: '1500' });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^producer: flow \S+ of 2 shards added; waiting up to 1\.5 s \(TIMEOUT_MS\)/);
    assert.match(r.stderr, /\nproducer: flow \S+ did not finish within 1\.5 s \(TIMEOUT_MS\): are the machines running, and is Redis up\?\n$/);
    assert.ok(r.ms < 15_000, `it took ${r.ms} ms`);
  });
});
