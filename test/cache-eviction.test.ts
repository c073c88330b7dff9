// SharedCache keeps what is held and evicts the rest, least recently used first, and nothing of
// it grows forever: lock files are reclaimed, a whole cache can be removed. Real processes and locks.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { SharedCache } from '../dist/index.js';
import { blocksUnder, rejectsWithCode } from './helpers.js';
import { base, child, killed, stagingLeft } from './cache-helpers.js';

describe('holders and eviction', () => {
  const MiB = 2 ** 20;
  test('budget of 2.5 entries: a held entry survives while unheld ones go LRU; once its holder is SIGKILLed it goes too; a process still mapping an evicted file reads it intact', async () => {
    const dir = base();
    const rows = MiB / 16; // 1 MiB entries
    const holder = child(['hold', dir, 'held', String(rows)], { CACHE_BUDGET: String(2.5 * MiB) });
    assert.equal(await holder.line(), 'held');
    const cache = await SharedCache.open({ name: 'test', dir, budget: 2.5 * MiB });
    assert.deepEqual(cache.list().map((e) => [e.key, e.holders]), [['held', [holder.proc.pid]]]);
    const make = async (key: string): Promise<string> => {
      const e = await cache.get(key, (b) => void b.create('t.f32', [rows, 4]).data.fill(key.length));
      const path = e.arrays[0]?.path as string;
      e.release();
      return path;
    };
    const aPath = await make('a');
    // Another process maps a's file before it is evicted.
    const reader = child(['map', aPath, String(rows)]);
    assert.equal(await reader.line(), 'mapped');
    await make('bb'); // held + a + bb = 3 MiB > 2.5: a (LRU, unheld) goes
    assert.deepEqual(cache.list().map((e) => e.key).sort(), ['bb', 'held']);
    assert.equal(existsSync(aPath), false, 'a was evicted');
    reader.proc.stdin?.write('read\n');
    assert.deepEqual(JSON.parse(await reader.line()), { sum: rows * 4 * 1 }, 'the evicted file still reads as it was');
    await make('ccc'); // bb goes, the held entry stays
    assert.deepEqual(cache.list().map((e) => e.key).sort(), ['ccc', 'held']);
    await killed(holder);
    assert.deepEqual(cache.list().find((e) => e.key === 'held')?.holders, []);
    await make('dddd'); // now the oldest, unheld, is 'held'
    assert.deepEqual(cache.list().map((e) => e.key).sort(), ['ccc', 'dddd']);
  });

  test('when held entries leave no room, the build is ERR_SHM_NO_SPACE naming the budget and the holder; nothing is left', async () => {
    const dir = base();
    const holder = child(['hold', dir, 'big', String(2 ** 16)], { CACHE_BUDGET: String(MiB + 1024) });
    assert.equal(await holder.line(), 'held');
    try {
      const cache = await SharedCache.open({ name: 'test', dir, budget: MiB + 1024 });
      const err = await rejectsWithCode(cache.get('more', (b) => void b.create('t.f32', [2 ** 10, 4])), 'ERR_SHM_NO_SPACE');
      assert.match(err.message, /budget of 1\.0 MiB/);
      assert.match(err.message, new RegExp(`"big" \\(1\\.0 MiB, held by pid ${holder.proc.pid}\\)`));
      assert.deepEqual(cache.list().map((e) => e.key), ['big']);
      assert.deepEqual(stagingLeft(dir), []);
    } finally {
      await killed(holder);
    }
  });

  test('prune() evicts to the budget, LRU first; clear() leaves held entries and says who holds them', async () => {
    const cache = await SharedCache.open({ name: 'test', dir: base(), budget: 4 * 4096 });
    const paths: string[] = [];
    for (const [i, key] of ['old', 'mid', 'new'].entries()) {
      const e = await cache.get(key, (b) => void b.create('t.f32', [1024]));
      utimesSync(join(e.dir, 'entry.json'), new Date(1000 * (i + 1)), new Date(1000 * (i + 1)));
      paths.push(e.dir);
      if (key !== 'new') e.release();
    }
    assert.deepEqual(cache.prune(2 * 4096).removed.map((e) => e.key), ['old']);
    const { removed, left } = cache.clear();
    assert.deepEqual(removed.map((e) => e.key), ['mid']);
    assert.deepEqual(left.map((e) => [e.key, e.holders]), [['new', [process.pid]]]);
  });

  test('uses within the same millisecond keep their order: list() gives them least recently used first', async () => {
    const cache = await SharedCache.open({ name: 'test', dir: base() });
    const keys = Array.from({ length: 16 }, (_, i) => `k${i}`);
    for (const key of keys) (await cache.get(key, (b) => void b.create('t.f32', [4]))).release();
    // Used again in another order, as fast as the loop runs (many uses fall in one millisecond).
    const order = [...keys].reverse();
    for (const key of order) (await cache.get(key, () => assert.fail('sealed: not rebuilt'))).release();
    assert.deepEqual(cache.list().map((e) => e.key), order);
  });
});


describe('a budget that holds under concurrency (the ledger)', () => {
  test('6 builders of 3 MiB each started together in an 8 MiB budget, each holding what it gets: 2 seal, 4 are ERR_SHM_NO_SPACE; the cache never takes more than its budget on disk, staging included (sampled every 2 ms)', async () => {
    const dir = base();
    const rows = (3 * 2 ** 20) / 16;
    const builders = Array.from({ length: 6 }, (_, i) => child(['reserve', dir, `k${i}`, String(rows)], { CACHE_BUDGET: '8MiB' }));
    try {
      for (const b of builders) assert.equal(await b.line(), 'ready');
      // What the cache takes on disk, sampled every 2 ms while they race (its own blocks, staging included).
      let peak = 0;
      const sampler = setInterval(() => {
        try {
          peak = Math.max(peak, blocksUnder(join(dir, 'test')));
        } catch {
          // a directory renamed between readdir and stat
        }
      }, 2);
      for (const b of builders) b.proc.stdin?.write('go\n');
      const got = (await Promise.all(builders.map((b) => b.line()))).map((l) => JSON.parse(l) as { held?: boolean; code?: string; message?: string });
      clearInterval(sampler);
      // The data within the budget; the slack is the small files (entry.json, lock files, the ledger).
      assert.ok(peak <= 8 * 2 ** 20 + 64 * 1024, `the cache took ${peak} bytes at its peak`);
      assert.equal(got.filter((g) => g.held === true).length, 2, JSON.stringify(got));
      for (const g of got.filter((x) => x.held !== true)) {
        assert.equal(g.code, 'ERR_SHM_NO_SPACE');
        assert.match(g.message ?? '', /within its budget of 8\.0 MiB/);
      }
      const cache = await SharedCache.open({ name: 'test', dir });
      assert.ok(cache.list().reduce((s, e) => s + e.bytes, 0) <= 8 * 2 ** 20, 'within the budget');
      assert.deepEqual(cache.building(), { builds: 0, bytes: 0 });
    } finally {
      await Promise.all(builders.map(killed));
    }
  });

  test('20 rounds of 8 processes building 8 keys of 0.3 × the budget at once, 2 of them SIGKILLed at random: the cache never takes more than its budget on disk; each build seals or is ERR_SHM_NO_SPACE; no staging is left', { timeout: 180_000 }, async () => {
    const dir = base();
    const budget = 8 * 2 ** 20;
    const rows = Math.floor((0.3 * budget) / 16);
    let seed = 7;
    const random = (n: number): number => (seed = (seed * 1103515245 + 12345) >>> 0) % n;
    let peak = 0;
    let snapshot = '';
    const sampler = setInterval(() => {
      try {
        const b = blocksUnder(join(dir, 'test'));
        if (b > peak) {
          peak = b;
          if (b > budget) snapshot = readdirSync(join(dir, 'test'), { recursive: true }).map(String).join(' ').slice(0, 2000); // what took the room, for the message
        }
      } catch {
        // renamed between readdir and stat
      }
    }, 3);
    try {
      for (let round = 0; round < 20; round++) {
        const builders = Array.from({ length: 8 }, (_, i) => child(['reserve', dir, `r${round}-k${i}`, String(rows)], { CACHE_BUDGET: '8MiB' }));
        for (const b of builders) assert.equal(await b.line(), 'ready');
        for (const b of builders) b.proc.stdin?.write('go\n');
        const victims = new Set([random(8), random(8)]);
        await new Promise((r) => setTimeout(r, random(250)));
        for (const v of victims) builders[v]?.proc.kill('SIGKILL');
        const outcomes = await Promise.all(builders.map((b, i) => (victims.has(i) ? b.exit.then(() => 'killed') : b.line().then((l) => { const o = JSON.parse(l) as { held?: boolean; code?: string }; return o.held === true ? 'held' : String(o.code); }))));
        for (const o of outcomes) assert.ok(['held', 'killed', 'ERR_SHM_NO_SPACE'].includes(o), `round ${round}: ${o}`);
        await Promise.all(builders.map(killed));
      }
    } finally {
      clearInterval(sampler);
    }
    assert.ok(peak <= budget + 128 * 1024, `the cache took ${peak} bytes at its peak, over its ${budget}-byte budget: ${snapshot}`);
    await SharedCache.open({ name: 'test', dir }); // sweeps what the killed builders left
    assert.deepEqual(stagingLeft(dir), []);
  });

  test('a build that writes more than it reserved (files straight into b.dir) is sealed only if it still fits; every staged byte counts', async () => {
    const cache = await SharedCache.open({ name: 'test', dir: base(), budget: '1MiB' });
    const err = await rejectsWithCode(cache.get('big', (b) => {
      b.create('small.f32', [4]);
      writeFileSync(join(b.dir, 'extra.bin'), new Uint8Array(2 * 2 ** 20)); // not reserved
    }), 'ERR_SHM_NO_SPACE');
    assert.match(err.message, /cannot take 2\.0 MiB within its budget of 1\.0 MiB/);
    assert.deepEqual(cache.list(), []);
    const ok = await cache.get('fits', (b) => {
      b.create('small.f32', [4]);
      writeFileSync(join(b.dir, 'extra.bin'), new Uint8Array(1000));
    });
    assert.equal(ok.bytes, 16 + 1000, 'the extra file counted');
    ok.release();
  });

  test('two openers of one cache with different budgets (as two processes would): the last one given is the cache\'s, and both evict against it', async () => {
    const dir = base();
    const a = await SharedCache.open({ name: 'test', dir, budget: '1MiB' });
    const b = await SharedCache.open({ name: 'test', dir, budget: '64KiB' });
    assert.deepEqual([a.budget, b.budget], [64 * 1024, 64 * 1024]);
    (await a.get('one', (x) => void x.create('t.f32', [8192]))).release(); // 32 KiB
    (await a.get('two', (x) => void x.create('t.f32', [8192]))).release();
    (await a.get('three', (x) => void x.create('t.f32', [8192]))).release(); // past 64 KiB: 'one' goes
    assert.deepEqual(a.list().map((e) => e.key).sort(), ['three', 'two']);
  });
});

describe('nothing grows forever: lock files are reclaimed, a whole cache can be removed', () => {
  const locks = (dir: string): string[] => readdirSync(dir).filter((f) => /^e-.*\.lock$/.test(f)).sort();

  test('after clear() only the held key has a lock file (1,000 keys used); a build that throws leaves none; an unheld key is found again after its lock file was reclaimed', async () => {
    const cache = await SharedCache.open({ name: 'locks', dir: base() });
    const held = await cache.get('held', (b) => void b.create('t.f32', [4]));
    for (let i = 0; i < 1000; i++) (await cache.get(`day-${i}`, (b) => void b.create('t.f32', [4]))).release();
    await assert.rejects(cache.get('fails', () => {
      throw new Error('no data today');
    }), /no data today/);
    assert.equal(locks(cache.dir).length, 1001, 'the failed build left no lock file');
    cache.clear();
    assert.deepEqual(locks(cache.dir), [`${basename(held.dir)}.lock`]);
    // A key whose lock file was reclaimed is built again, as a new key is.
    const again = await cache.get('day-7', (b) => void b.create('t.f32', [4]));
    assert.equal(again.built, true);
    again.release();
    held.release();
    cache.clear();
    assert.deepEqual(locks(cache.dir), []);
  });

  test('8 processes racing on one key while this one clears the cache in a loop (reclaiming its lock file): each gets the whole, correct table; none fails', async () => {
    const dir = base();
    const cache = await SharedCache.open({ name: 'test', dir });
    const children = Array.from({ length: 8 }, () => child(['race', dir, 'k', '30']));
    for (const c of children) assert.equal(await c.line(), 'ready');
    let clearing = true;
    let clears = 0;
    const loop = (async () => {
      while (clearing) {
        cache.clear();
        clears++;
        await new Promise((r) => setTimeout(r, 1));
      }
    })();
    for (const c of children) c.proc.stdin?.write('go\n');
    const lines = await Promise.all(children.map((c) => c.line()));
    clearing = false;
    await loop;
    assert.deepEqual(await Promise.all(children.map((c) => c.exit)), new Array(8).fill(0));
    assert.ok(clears > 1, `${clears} clears ran during the race`);
    const expected = Array.from({ length: 4000 }, (_, i) => i / 4).reduce((a, b) => a + b, 0);
    for (const l of lines) assert.equal((JSON.parse(l) as { sum: number }).sum, expected, l);
  });

  test('remove() takes the whole cache — entries, lock files, budget, directory — when nothing is held; with a held entry it removes the rest, keeps the directory, and says who holds it (CLI: ERR_SHM_HELD, exit 1)', async () => {
    const dir = base();
    const cache = await SharedCache.open({ name: 'gone', dir, budget: '1MiB' });
    (await cache.get('a', (b) => void b.create('t.f32', [4]))).release();
    const held = await cache.get('b', (b) => void b.create('t.f32', [4]));
    const cli = new URL('../dist/cli/bin.js', import.meta.url).pathname;
    const refused = spawnSync(process.execPath, [cli, 'cache', 'remove', '--name', 'gone', '--dir', dir], { encoding: 'utf8' });
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, new RegExp(`gone: not removed — 1 entry is held: b \\(pid ${process.pid}\\); stop those processes.*\\(1 unheld entry was removed\\)\\. \\[ERR_SHM_HELD\\]`));
    assert.ok(existsSync(cache.dir));
    held.release();
    const done = spawnSync(process.execPath, [cli, 'cache', 'remove', '--name', 'gone', '--dir', dir], { encoding: 'utf8' });
    assert.equal(done.status, 0, done.stderr);
    assert.match(done.stdout, /gone: removed the cache \(1 entry, .*\) and its directory/);
    assert.equal(existsSync(cache.dir), false);
  });
});
