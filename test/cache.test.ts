// SharedCache with real, independent processes (spawned scripts, not a pool), real locks, real kills.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';
import { Worker } from 'node:worker_threads';
import { SharedCache, type ShmErrorCode } from '../dist/index.js';
import { fixture, makePool, NO_TMPFS, rejectsWithCode, RUNTIMES, smallTmpfs, tempDir } from './helpers.js';

const tmp = tempDir('shmarray-cache-test-');
after(() => tmp.dispose());
let n = 0;
/** A fresh cache base for one test. */
const base = (): string => {
  const d = tmp.path(`base-${++n}`);
  mkdirSync(d, { mode: 0o700 });
  return d;
};

interface Child {
  proc: ChildProcess;
  /** The next line the child prints. */
  line: () => Promise<string>;
  exit: Promise<number | null>;
}
function child(args: string[], env: Record<string, string> = {}): Child {
  const proc = spawn(process.execPath, [fixture('cache-child.mjs'), ...args], { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  const lines: string[] = [];
  const waiting: ((l: string) => void)[] = [];
  createInterface({ input: proc.stdout as NonNullable<ChildProcess['stdout']> }).on('line', (l) => {
    const w = waiting.shift();
    if (w !== undefined) w(l);
    else lines.push(l);
  });
  const exit = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return { proc, exit, line: () => new Promise((r) => (lines.length > 0 ? r(lines.shift() as string) : waiting.push(r))) };
}
const killed = (c: Child): Promise<number | null> => {
  c.proc.kill('SIGKILL');
  return c.exit;
};
const stagingLeft = (dir: string): string[] => readdirSync(join(dir, 'test')).filter((f) => f.startsWith('.build-') || f.startsWith('.evict-'));
const table = (rows: number): number => (rows * 4 * (rows * 4 - 1)) / 2 / 4; // Σ i/4 over the 1000×4 race table

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
      const [lock] = readdirSync(cache.dir).filter((f) => f.endsWith('.lock'));
      const ino = statSync(join(cache.dir, lock as string)).ino;
      const held = readFileSync('/proc/locks', 'utf8').split('\n').some((l) => /\bFLOCK\s+ADVISORY\s+WRITE\b/.test(l) && l.split(/\s+/)[4] === String(pid) && l.includes(`:${ino} `));
      assert.ok(held, `pid ${pid} holds the exclusive lock of ${lock}`);
    } finally {
      await killed(hung);
    }
  });
});

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

describe('zip archives by identity', () => {
  const zipDir = tmp.path('zips');
  mkdirSync(zipDir);
  const makeZip = (value: number): string => {
    const src = join(zipDir, 'data.f32');
    writeFileSync(src, new Uint8Array(Float32Array.from({ length: 4000 }, (_, i) => (i % 4 === 1 ? value : i)).buffer));
    execFileSync('python3', ['-m', 'zipfile', '-c', join(zipDir, 'data.zip'), src]);
    return join(zipDir, 'data.zip');
  };

  test('the same archive after every process restarted is mapped, not re-extracted; a modified archive makes a new entry', async () => {
    const dir = base();
    const zip = makeZip(1);
    const run = async (): Promise<{ built: boolean; rows: number; first: number }> => {
      const c = child(['zip', dir, zip]);
      const r = JSON.parse(await c.line()) as { built: boolean; rows: number; first: number };
      await c.exit;
      return r;
    };
    assert.deepEqual(await run(), { built: true, rows: 1000, first: 1 });
    assert.deepEqual(await run(), { built: false, rows: 1000, first: 1 });
    makeZip(2);
    utimesSync(zip, new Date(), new Date(Date.now() + 5000));
    assert.deepEqual(await run(), { built: true, rows: 1000, first: 2 });
    const cache = await SharedCache.open({ name: 'test', dir });
    assert.equal(cache.list().length, 2);
  });

  for (const runtime of RUNTIMES) {
    test(`${runtime}: the entry's handles map in pool workers, who read the same values`, async () => {
      const cache = await SharedCache.open({ name: 'test', dir: base() });
      const [a] = await cache.extractZip(makeZip(3), { columns: 4, dtype: 'float32' });
      assert.ok(a);
      const pool = makePool(runtime, 'read-at.mjs', 2);
      try {
        const indices = Array.from({ length: a.length }, (_, i) => i);
        const read = (await Promise.all([0, 1].map(() => pool.run({ handle: a.handle, indices })))) as { values: number[] }[];
        for (const r of read) assert.deepEqual(r.values, Array.from(a.data));
      } finally {
        await pool.destroy();
        a.close();
      }
    });
  }
});

describe('where it lives, and who may use it', () => {
  test('cache.dir is <base>/<name>, 0700; reason says why; the budget is recorded for the CLI', async () => {
    const b = base();
    const cache = await SharedCache.open({ name: 'my-app', dir: b, budget: '8MiB' });
    assert.equal(cache.dir, join(b, 'my-app'));
    assert.equal(statSync(cache.dir).mode & 0o777, 0o700);
    assert.equal(cache.reason, 'given as the dir option');
    assert.equal(cache.budget, 8 * 2 ** 20);
    assert.equal((await SharedCache.open({ name: 'my-app', dir: b })).budget, 8 * 2 ** 20);
  });

  test('without a dir it lives in /dev/shm/shmarray-cache-<uid>/<name> when tmpfs has room, and says so', async () => {
    const name = `t-${process.pid}`;
    const userBase = `/dev/shm/shmarray-cache-${process.getuid?.()}`;
    const hadBase = existsSync(userBase);
    const cache = await SharedCache.open({ name, budget: '1MiB' });
    try {
      assert.equal(cache.dir, `${userBase}/${name}`);
      assert.match(cache.reason, /tmpfs \/dev\/shm has room/);
    } finally {
      // Leave /dev/shm as it was: the base too, when this test made it.
      execFileSync('rm', ['-r', hadBase ? cache.dir : userBase]);
    }
  });

  test('a base writable by all without the sticky bit, or a cache directory writable by others, is ERR_SHM_PERMISSION', async () => {
    const open = base();
    chmodSync(open, 0o777);
    await rejectsWithCode(SharedCache.open({ name: 'x', dir: open }), 'ERR_SHM_PERMISSION');
    const b = base();
    mkdirSync(join(b, 'loose'), { mode: 0o777 });
    chmodSync(join(b, 'loose'), 0o777);
    await rejectsWithCode(SharedCache.open({ name: 'loose', dir: b }), 'ERR_SHM_PERMISSION');
  });

  test("another user's cache (chowned to nobody) is refused: nothing in it is opened, locked or changed", { skip: process.getuid?.() !== 0 && 'NOT RUN: needs root to give a cache to another user' }, async () => {
    const b = base();
    const cache = await SharedCache.open({ name: 'theirs', dir: b });
    (await cache.get('secret', (bb) => void bb.create('t.f32', [4]).data.fill(9))).release();
    const nobody = 65534;
    execFileSync('chown', ['-R', `${nobody}:${nobody}`, cache.dir]);
    // Files with their size, mtime and atime (what reading them would change); directories by mtime
    // only (find itself reads them).
    const snapshot = (): string => execFileSync('find', [cache.dir, '(', '-type', 'f', '-printf', '%p %s %T@ %A@\\n', ')', '-o', '-printf', '%p %T@\\n'], { encoding: 'utf8' });
    const before = snapshot();
    await rejectsWithCode(SharedCache.open({ name: 'theirs', dir: b }), 'ERR_SHM_PERMISSION');
    assert.deepEqual(SharedCache.find({ dir: b }), [], 'find lists only caches of this user');
    assert.equal(snapshot(), before, 'no file was added, changed or read');
  });
});

describe('bad input is ERR_SHM_BAD_ARGUMENT, and nothing is created', () => {
  const bad: [string, () => Promise<unknown>, ShmErrorCode][] = [
    ['an empty key', async () => (await SharedCache.open({ name: 'test', dir: base() })).get('', () => {}), 'ERR_SHM_BAD_ARGUMENT'],
    ['a key that is not a string', async () => (await SharedCache.open({ name: 'test', dir: base() })).get(7 as never, () => {}), 'ERR_SHM_BAD_ARGUMENT'],
    ['a build that creates nothing', async () => (await SharedCache.open({ name: 'test', dir: base() })).get('k', () => {}), 'ERR_SHM_BAD_ARGUMENT'],
    ['a name with a slash', () => SharedCache.open({ name: 'a/b', dir: base() }), 'ERR_SHM_BAD_ARGUMENT'],
    ['a name of 65 characters', () => SharedCache.open({ name: 'x'.repeat(65), dir: base() }), 'ERR_SHM_BAD_ARGUMENT'],
    ['a name of ..', () => SharedCache.open({ name: '..', dir: base() }), 'ERR_SHM_BAD_ARGUMENT'],
    ['a budget of 0', () => SharedCache.open({ name: 'test', dir: base(), budget: 0 }), 'ERR_SHM_BAD_ARGUMENT'],
    ['a budget of NaN', () => SharedCache.open({ name: 'test', dir: base(), budget: NaN }), 'ERR_SHM_BAD_ARGUMENT'],
    ['a negative budget', () => SharedCache.open({ name: 'test', dir: base(), budget: -1 }), 'ERR_SHM_BAD_ARGUMENT'],
    ['a budget of "lots"', () => SharedCache.open({ name: 'test', dir: base(), budget: 'lots' }), 'ERR_SHM_BAD_ARGUMENT'],
  ];
  for (const [what, call, code] of bad) {
    test(what, async () => {
      const before = n;
      await rejectsWithCode(call(), code);
      // Everything under the base the call was given: at most the cache directory a valid open made.
      const made = join(tmp.dir, `base-${before + 1}`);
      assert.ok(existsSync(made), 'the base was made for this case');
      const left = readdirSync(made, { recursive: true }).map(String).filter((f) => f !== 'test');
      assert.deepEqual(left, [], 'no entry, no staging directory, no lock file, no budget');
    });
  }
});

describe('nothing grows forever: lock files are reclaimed, a whole cache can be removed', () => {
  const locks = (dir: string): string[] => readdirSync(dir).filter((f) => f.endsWith('.lock')).sort();

  test('after clear() only the held key has a lock file (100 keys used); a build that throws leaves none; an unheld key is found again after its lock file was reclaimed', async () => {
    const cache = await SharedCache.open({ name: 'locks', dir: base() });
    const held = await cache.get('held', (b) => void b.create('t.f32', [4]));
    for (let i = 0; i < 100; i++) (await cache.get(`day-${i}`, (b) => void b.create('t.f32', [4]))).release();
    await assert.rejects(cache.get('fails', () => {
      throw new Error('no data today');
    }), /no data today/);
    assert.equal(locks(cache.dir).length, 101, 'the failed build left no lock file');
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

describe('a full filesystem is ERR_SHM_NO_SPACE, never a raw ENOSPC', () => {
  test('SharedCache.open recording its budget on a full tmpfs; a build whose staging directory finds no inode left; nothing half-made is left', { skip: process.getuid?.() !== 0 && NO_TMPFS }, async () => {
    const full = smallTmpfs(1);
    assert.ok(full, NO_TMPFS);
    try {
      mkdirSync(join(full.dir, 'c'), { mode: 0o700 });
      // Fill the data blocks: cache.json then has no page to go in.
      try {
        writeFileSync(join(full.dir, 'filler'), new Uint8Array(2 * 2 ** 20));
      } catch {
        // ENOSPC once it is full: that is the point
      }
      const err = await rejectsWithCode(SharedCache.open({ name: 'n', dir: join(full.dir, 'c'), budget: '1MiB' }), 'ERR_SHM_NO_SPACE');
      assert.match(err.message, /cache\.json|budget/);
      assert.deepEqual(readdirSync(join(full.dir, 'c', 'n')).filter((f) => f.endsWith('.tmp')), [], 'no half-written cache.json');
    } finally {
      full.dispose();
    }
    const few = smallTmpfs(8, 12);
    assert.ok(few, NO_TMPFS);
    try {
      mkdirSync(join(few.dir, 'c'), { mode: 0o700 });
      const cache = await SharedCache.open({ name: 'n', dir: join(few.dir, 'c') });
      // Use up the inodes (the key's lock file is made first, then the staging directory).
      for (let i = 0; ; i++) {
        try {
          writeFileSync(join(few.dir, `f${i}`), '');
        } catch {
          break;
        }
      }
      rmSync(join(few.dir, 'f0'));
      const err = await rejectsWithCode(cache.get('k', (b) => void b.create('t.f32', [4])), 'ERR_SHM_NO_SPACE');
      assert.match(err.message, /staging directory|no space|inode/i);
      assert.deepEqual(readdirSync(cache.dir).filter((f) => f.startsWith('.build-') || (f.startsWith('e-') && !f.endsWith('.lock'))), [], 'no staging directory and no entry (the key\'s lock file stays: issue 31, item 3)');
    } finally {
      few.dispose();
    }
  });
});

describe('shmarray cache', () => {
  const cli = new URL('../dist/cli/bin.js', import.meta.url).pathname;
  const run = (...args: string[]): string => execFileSync(process.execPath, [cli, 'cache', ...args], { encoding: 'utf8' });
  test('list shows key, bytes and holders; prune --budget evicts LRU; clear leaves the held entry and names its holder', async () => {
    const dir = base();
    const cache = await SharedCache.open({ name: 'cli', dir, budget: '1MiB' });
    (await cache.get('unheld-old', (b) => void b.create('t.f32', [1024]))).release();
    (await cache.get('unheld-new', (b) => void b.create('t.f32', [1024]))).release();
    const held = await cache.get('held', (b) => void b.create('t.f32', [1024]));
    const listed = JSON.parse(run('list', '--dir', dir, '--json')) as { name: string; entries: { key: string; bytes: number; holders: number[] }[] }[];
    assert.deepEqual(listed.map((c) => c.name), ['cli']);
    assert.deepEqual(listed[0]?.entries.map((e) => [e.key, e.bytes, e.holders]).sort(), [['held', 4096, [process.pid]], ['unheld-new', 4096, []], ['unheld-old', 4096, []]]);
    assert.match(run('list', '--dir', dir), /held +4\.0 KiB +1 \(pid \d+\)/);
    assert.match(run('list', '--dir', dir), /^cli: .* \(given with --dir\); 3 entries, /);
    assert.match(run('prune', '--dir', dir, '--name', 'cli', '--budget', '8KiB'), /removed 1 entry \(/);
    assert.deepEqual(cache.list().map((e) => e.key).sort(), ['held', 'unheld-new']);
    const cleared = run('clear', '--dir', dir);
    assert.match(cleared, /removed 1 entry \(/);
    assert.match(cleared, new RegExp(`left held \\(4\\.0 KiB\\): held by pid ${process.pid}`));
    held.release();
    assert.match(run('clear', '--dir', dir), /removed 1 entry \(/);
    assert.deepEqual(cache.list(), []);
  });

  test("list names a zip entry by its archive and shaping, not a cut JSON key; without --dir it does not claim one was given; a --dir it cannot read is an error, not 'no caches'", async () => {
    const dir = base();
    const cache = await SharedCache.open({ name: 'keys', dir });
    const src = join(dir, 'keys.f32');
    writeFileSync(src, new Uint8Array(16 * 4));
    const zip = join(dir, 'keys.zip');
    execFileSync('python3', ['-m', 'zipfile', '-c', zip, src]);
    await cache.extractZip(zip, { columns: 4 }).then((arrays) => arrays.forEach((a) => a.close()));
    assert.match(run('list', '--dir', dir), new RegExp(`\n +zip ${zip.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}, columns 4 +`));
    const name = `cli-default-${process.pid}`;
    const mine = await SharedCache.open({ name });
    try {
      (await mine.get('k', (b) => void b.create('t.f32', [4]))).release();
      const listed = run('list', '--name', name);
      assert.doesNotMatch(listed, /given/);
      assert.match(listed, new RegExp(`^${name}: .* \\(one of this user's default places\\); 1 entry, `));
    } finally {
      mine.clear();
      rmSync(mine.dir, { recursive: true, force: true });
    }
    const file = join(dir, 'a-file');
    writeFileSync(file, '');
    const r = spawnSync(process.execPath, [cli, 'cache', 'list', '--dir', join(file, 'below')], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.doesNotMatch(r.stdout, /no caches/);
    assert.match(r.stderr, /\[ERR_SHM_NOT_FOUND\]/);
  });
});
