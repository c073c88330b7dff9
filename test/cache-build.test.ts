// SharedCache builds each key exactly once per machine: independent processes (spawned scripts, not a
// pool) and worker threads racing, builders killed, waits bounded — real locks, real kills.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { SharedCache } from '../dist/index.js';
import { rejectsWithCode } from './helpers.js';
import { base, child, killed, stagingLeft, table } from './cache-helpers.js';

describe('exactly once per key per machine', () => {
  test('8 independent processes racing on one key: one build, the same data in all, every waiter’s event loop kept ticking', async () => {
    const dir = base();
    const runs = Array.from({ length: 8 }, () => child(['race', dir, 'race-key', '400']));
    for (const c of runs) assert.equal(await c.line(), 'ready');
    for (const c of runs) c.proc.stdin?.write('go\n');
    const results = (await Promise.all(runs.map((c) => c.line()))).map((l) => JSON.parse(l) as { built: boolean; sum: number; ticks: number; waitedMs: number });
    await Promise.all(runs.map((c) => c.exit));
    assert.equal(results.filter((r) => r.built).length, 1, 'exactly one process built');
    for (const r of results) assert.equal(r.sum, table(1000));
    // Every waiter waited out most of the 400 ms build; a blocked event loop would not have ticked at all.
    for (const r of results.filter((x) => !x.built)) {
      assert.ok(r.waitedMs >= 200, `waited ${r.waitedMs} ms`);
      assert.ok(r.ticks >= r.waitedMs / 5 / 4, `a waiter's 5 ms timer ticked ${r.ticks} times in ${r.waitedMs} ms`);
    }
    assert.deepEqual(stagingLeft(dir), []);
  });

  test('concurrent get() calls in one event loop build once', async () => {
    const cache = await SharedCache.open({ name: 'test', dir: base() });
    let builds = 0;
    const entries = await Promise.all(Array.from({ length: 5 }, () => cache.get('same', async (b) => {
      builds++;
      b.create('x.f32', [16]).data.fill(3);
      await new Promise((r) => setTimeout(r, 50));
    })));
    assert.equal(builds, 1);
    assert.deepEqual(entries.map((e) => e.arrays[0]?.data[15]), [3, 3, 3, 3, 3]);
    for (const e of entries) e.release();
  });

  test('4 worker threads of one process racing on one key: one build, the same data in each', async () => {
    const dir = base();
    const src = `const { parentPort, workerData } = require('node:worker_threads');
      import(workerData.dist).then(async ({ SharedCache }) => {
        const cache = await SharedCache.open({ name: 'test', dir: workerData.dir });
        const e = await cache.get('threads', async (b) => {
          b.create('t.f32', [256]).data.fill(4);
          await new Promise((r) => setTimeout(r, 200));
        });
        parentPort.postMessage({ built: e.built, sum: e.arrays[0].data.reduce((s, x) => s + x, 0) });
        e.release();
      });`;
    const dist = new URL('../dist/index.js', import.meta.url).href;
    const results = await Promise.all(Array.from({ length: 4 }, () => new Promise<{ built: boolean; sum: number }>((resolve, reject) => {
      const w = new Worker(src, { eval: true, workerData: { dist, dir } });
      w.once('message', (m: { built: boolean; sum: number }) => {
        resolve(m);
        void w.terminate();
      });
      w.once('error', reject);
    })));
    assert.equal(results.filter((r) => r.built).length, 1);
    assert.deepEqual(results.map((r) => r.sum), [1024, 1024, 1024, 1024]);
  });

  test('a worker thread that exits holding an entry holds nothing after it', async () => {
    const dir = base();
    const src = `const { parentPort, workerData } = require('node:worker_threads');
      import(workerData.dist).then(async ({ SharedCache }) => {
        const cache = await SharedCache.open({ name: 'test', dir: workerData.dir });
        globalThis.kept = await cache.get('left-held', (b) => void b.create('t.f32', [16]));
        parentPort.postMessage('held');
        setInterval(() => {}, 1000); // alive, holding, until terminated
      });`;
    const w = new Worker(src, { eval: true, workerData: { dist: new URL('../dist/index.js', import.meta.url).href, dir } });
    assert.equal(await new Promise((r) => w.once('message', r)), 'held');
    const cache = await SharedCache.open({ name: 'test', dir });
    assert.deepEqual(cache.list().map((e) => e.holders), [[process.pid]], 'held while the thread lives');
    await w.terminate();
    assert.deepEqual(cache.list().map((e) => e.holders), [[]]);
  });

  test('a builder SIGKILLed mid-build leaves no entry: another process builds it, and no staging directory is left', async () => {
    const dir = base();
    const hung = child(['hang', dir, 'k']);
    assert.equal(await hung.line(), 'building');
    assert.equal(stagingLeft(dir).length, 1, 'the staging directory exists while it builds');
    const waiter = child(['race', dir, 'k', '0']);
    assert.equal(await waiter.line(), 'ready');
    waiter.proc.stdin?.write('go\n');
    await new Promise((r) => setTimeout(r, 200));
    await killed(hung);
    const r = JSON.parse(await waiter.line()) as { built: boolean; sum: number };
    assert.equal(r.built, true);
    assert.equal(r.sum, table(1000));
    assert.deepEqual(stagingLeft(dir), []);
  });

  test('a live build is listed as being built, with its bytes; once its builder is SIGKILLed, the next SharedCache.open removes its staging directory and lock file', async () => {
    const dir = base();
    const hung = child(['hang', dir, 'k']);
    assert.equal(await hung.line(), 'building');
    const cache = await SharedCache.open({ name: 'test', dir });
    const building = cache.building();
    assert.equal(building.builds, 1);
    assert.ok(building.bytes >= 16_000, `${building.bytes} bytes counted (a 1000×4 float32 table is being written)`);
    assert.equal(stagingLeft(dir).length, 1, 'a live builder\'s staging is not swept');
    await killed(hung);
    assert.equal(stagingLeft(dir).length, 1, 'left by the SIGKILLed builder');
    const reopened = await SharedCache.open({ name: 'test', dir });
    assert.deepEqual(stagingLeft(dir), [], 'swept at open');
    assert.deepEqual(readdirSync(reopened.dir).filter((f) => /^e-.*\.lock$/.test(f)), [], 'and its lock file reclaimed');
    assert.deepEqual(reopened.building(), { builds: 0, bytes: 0 });
  });

  test('rule 4: an evictor that gets in at the exclusive→shared conversion (the window widened by a seam) removes the new entry; the builder notices, builds again and hands out a whole entry', async () => {
    const dir = base();
    const pause = join(dir, 'pause');
    mkdirSync(pause);
    const builder = child(['race', dir, 'k', '0'], { SHMARRAY_CACHE_TEST_CONVERSION_PAUSE: pause });
    assert.equal(await builder.line(), 'ready');
    builder.proc.stdin?.write('go\n');
    while (!existsSync(join(pause, 'paused'))) await new Promise((r) => setTimeout(r, 5));
    // Sealed, and for this moment held by nobody: the evictor takes it.
    const cache = await SharedCache.open({ name: 'test', dir });
    assert.deepEqual(cache.clear().removed.map((e) => e.key), ['k']);
    rmSync(join(pause, 'paused'));
    writeFileSync(join(pause, 'resume'), '');
    const r = JSON.parse(await builder.line()) as { built: boolean; sum: number };
    assert.equal(r.sum, table(1000), 'a whole entry');
    assert.equal(await builder.exit, 0);
  });

  test('a build that throws leaves nothing; the next caller builds', async () => {
    const cache = await SharedCache.open({ name: 'test', dir: base() });
    await assert.rejects(cache.get('t', (b) => {
      b.create('x.f32', [4]);
      throw new Error('the build failed (expected by the test)');
    }), /expected by the test/);
    assert.deepEqual(cache.list(), []);
    assert.deepEqual(stagingLeft(cache.base), []);
    const e = await cache.get('t', (b) => void b.create('x.f32', [4]).data.fill(5));
    assert.equal(e.built, true);
    e.release();
  });

  test('a waiter’s timeout and signal end its wait with ERR_SHM_ABORTED; the build goes on', async () => {
    const dir = base();
    const hung = child(['hang', dir, 'slow']);
    assert.equal(await hung.line(), 'building');
    try {
      const cache = await SharedCache.open({ name: 'test', dir });
      const never = (): never => assert.fail('the waiter must not build');
      await rejectsWithCode(cache.get('slow', never, { timeout: 100 }), 'ERR_SHM_ABORTED');
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 50);
      await rejectsWithCode(cache.get('slow', never, { signal: ac.signal }), 'ERR_SHM_ABORTED');
      assert.equal(stagingLeft(dir).length, 1, "the builder's work is untouched");
      // The build goes on: its process lives and still holds the key's lock exclusively (/proc/locks).
      const pid = hung.proc.pid as number;
      process.kill(pid, 0);
      const [lock] = readdirSync(cache.dir).filter((f) => /^e-.*\.lock$/.test(f));
      const ino = statSync(join(cache.dir, lock as string)).ino;
      const held = readFileSync('/proc/locks', 'utf8').split('\n').some((l) => /\bFLOCK\s+ADVISORY\s+WRITE\b/.test(l) && l.split(/\s+/)[4] === String(pid) && l.includes(`:${ino} `));
      assert.ok(held, `pid ${pid} holds the exclusive lock of ${lock}`);
    } finally {
      await killed(hung);
    }
  });
});
