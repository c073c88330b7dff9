import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, fork } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, renameSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createPool, workerFiles, openShared, SharedStore, ShmArrayError } from '../dist/index.js';
import { fixture, inChild, NO_TMPFS, rejectsWithCode, RUNTIMES, smallTmpfs, tempDir } from './helpers.js';
import { buildZip } from '../dist/bench/zip-writer.js';

const tmp = tempDir('shmarray-store-');
const MiB = 2 ** 20;
after(() => tmp.dispose());

describe('placement', () => {
  test('defaults to /dev/shm in a 0700 directory named <prefix>-<pid>-<random>, and says why', async () => {
    const store = await SharedStore.create();
    try {
      assert.equal(store.base, '/dev/shm');
      assert.match(store.dir, new RegExp(`^/dev/shm/shmarray-${process.pid}-[0-9a-f]{12}$`));
      assert.equal(statSync(store.dir).mode & 0o777, 0o700);
      assert.match(store.reason, /tmpfs/);
    } finally {
      await store.dispose();
    }
  });

  test('falls back to the temp directory when /dev/shm has no room for minFree', async () => {
    const store = await SharedStore.create({ minFree: 2 ** 50 });
    try {
      assert.equal(store.base, tmpdir());
      assert.match(store.reason, /\/dev\/shm has only/);
    } finally {
      await store.dispose();
    }
  });

  test('the dir option and SHMARRAY_DIR win, in that order', async () => {
    const a = tmp.path('by-env');
    const b = tmp.path('by-option');
    mkdirSync(a);
    mkdirSync(b);
    process.env['SHMARRAY_DIR'] = a;
    try {
      const byEnv = await SharedStore.create();
      const byOption = await SharedStore.create({ dir: b });
      assert.equal(byEnv.base, a);
      assert.match(byEnv.reason, /SHMARRAY_DIR/);
      assert.equal(byOption.base, b);
      await byEnv.dispose();
      await byOption.dispose();
    } finally {
      delete process.env['SHMARRAY_DIR'];
    }
  });

  test('an unusable dir is a clear error', async () => {
    await rejectsWithCode(SharedStore.create({ dir: tmp.path('missing') }), 'ERR_SHM_PERMISSION');
  });
});

describe('files and names', () => {
  test('store.create sanitises names, keeps them unique and inside the store, files 0600', async () => {
    await using store = await SharedStore.create({ dir: tmp.dir });
    const a = store.create('../../evil name.f32', 4);
    const b = store.create('../../evil name.f32', 4);
    const c = store.create('', 4);
    for (const x of [a, b, c]) assert.equal(dirname(x.path), store.dir);
    assert.equal(a.path, join(store.dir, 'evil_name.f32'));
    assert.equal(b.path, join(store.dir, 'evil_name-2.f32'));
    assert.equal(statSync(a.path).mode & 0o777, 0o600);
    assert.equal(store.files().length, 3);
    assert.equal(store.bytes(), 48);
  });

  test('dispose removes every file and the directory; it is idempotent; later use throws ERR_SHM_CLOSED', async () => {
    const store = await SharedStore.create({ dir: tmp.dir });
    store.create('x', [10, 4]);
    await store.dispose();
    await store.dispose();
    assert.equal(existsSync(store.dir), false);
    assert.throws(() => store.create('y', 4), { code: 'ERR_SHM_CLOSED' });
  });

  test('`await using` disposes at the end of the block', async () => {
    let dir: string;
    {
      await using store = await SharedStore.create({ dir: tmp.dir });
      dir = store.dir;
      store.create('x', 4);
    }
    assert.equal(existsSync(dir), false);
  });
});

describe('crash safety', () => {
  /** Runs store-child.mjs, returns its store directory and how it ended. */
  async function child(
    how: string,
    signal?: NodeJS.Signals,
    execArgv: string[] = [],
  ): Promise<{ dir: string; code: number | null; signal: NodeJS.Signals | null; said: string[] }> {
    const c = fork(fixture('store-child.mjs'), [how, tmp.dir], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], execArgv });
    const messages: string[] = [];
    const first = new Promise<string>((r) => c.once('message', (m) => r(String(m))));
    c.on('message', (m) => messages.push(String(m)));
    const dir = await first;
    assert.ok(existsSync(dir), 'the child made its store');
    c.send('go');
    if (signal !== undefined) c.kill(signal);
    const [code, sig] = (await new Promise((r) => c.once('exit', (...a) => r(a)))) as [number | null, NodeJS.Signals | null];
    return { dir, code, signal: sig, said: messages.slice(1) };
  }

  test('normal exit without dispose removes the store', async () => {
    const r = await child('exit');
    assert.equal(r.code, 0);
    assert.equal(existsSync(r.dir), false);
  });

  test('an uncaught exception removes the store and still fails the process', async () => {
    const r = await child('throw');
    assert.equal(r.code, 1);
    assert.equal(existsSync(r.dir), false);
  });

  test('an unhandled rejection removes the store and still fails the process', async () => {
    const r = await child('reject');
    assert.equal(r.code, 1);
    assert.equal(existsSync(r.dir), false);
  });

  const survivals = [
    ['an app that handles an uncaught exception itself', 'throw-handled', []],
    ['an app that handles an unhandled rejection itself', 'reject-handled', []],
    ['an app run with --unhandled-rejections=warn, after a rejection', 'reject-later', ['--unhandled-rejections=warn']],
  ] as const;
  for (const [who, how, execArgv] of survivals) {
    test(`${who} keeps its store usable; the store goes when it exits`, async () => {
      const r = await child(how, undefined, [...execArgv]);
      assert.deepEqual(r.said, ['dir exists: true, create: ok']);
      assert.equal(r.code, 0);
      assert.equal(existsSync(r.dir), false);
    });
  }

  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    test(`${signal} removes the store, then the process dies of ${signal} as it would have`, async () => {
      const r = await child('wait', signal);
      assert.equal(r.signal, signal);
      assert.equal(existsSync(r.dir), false);
    });
  }

  for (const [how, what] of [['app-handler', 'process.on'], ['app-once-first', 'process.once, registered before the store']] as const) {
    test(`an app that handles SIGINT itself (${what}) can still use its store in its handler; the store goes when it exits`, async () => {
      const c = fork(fixture('store-child.mjs'), [how, tmp.dir], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
      const messages: string[] = [];
      c.on('message', (m) => messages.push(String(m)));
      while (messages.length === 0) await new Promise((r) => setTimeout(r, 5));
      const dir = messages[0] as string;
      c.send('go');
      await new Promise((r) => setTimeout(r, 50));
      c.kill('SIGINT');
      const code = await new Promise<number | null>((r) => c.once('exit', (n) => r(n)));
      assert.equal(messages[1], 'the handler used its store');
      assert.equal(code, 0);
      assert.equal(existsSync(dir), false);
    });
  }

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    test(`a store made in a worker thread is removed by ${signal} to the process`, async () => {
      const r = await child('worker-store', signal);
      assert.equal(r.signal, signal);
      assert.equal(existsSync(r.dir), false);
    });
  }

  test('SIGKILL leaves the store; the next SharedStore.create() sweeps it', async () => {
    const r = await child('wait', 'SIGKILL');
    assert.equal(r.signal, 'SIGKILL');
    assert.ok(existsSync(r.dir), 'SIGKILL cannot be caught');
    const next = await SharedStore.create({ dir: tmp.dir });
    assert.equal(existsSync(r.dir), false, 'swept');
    await next.dispose();
  });

  test('the sweep removes nothing else: live pids, other names, other users, symlinks', async () => {
    const base = tmp.path('sweep');
    mkdirSync(base);
    const dead = execFileSync('sh', ['-c', 'echo $$']).toString().trim(); // a pid that has exited
    const keep = [
      `shmarray-${process.pid}-0123456789ab`, // alive (this process)
      `shmarray-1-0123456789ab`, // alive (init), even if not ours to signal
      `shmarray-${dead}-notHex!`, // wrong form
      `other-${dead}-0123456789ab`, // another prefix
      `shmarray-${dead}-0123456789ab-extra`, // wrong form
    ];
    for (const d of keep) mkdirSync(join(base, d));
    const foreign = join(base, `shmarray-${dead}-aaaaaaaaaaaa`);
    mkdirSync(foreign);
    chownSync(foreign, 65534, 65534);
    const link = join(base, `shmarray-${dead}-bbbbbbbbbbbb`);
    mkdirSync(tmp.path('link-target'));
    symlinkSync(tmp.path('link-target'), link);
    const stale = join(base, `shmarray-${dead}-cccccccccccc`);
    mkdirSync(stale);
    writeFileSync(join(stale, 'a.f32'), new Uint8Array(8));
    assert.deepEqual(SharedStore.sweep({ base }), [stale]);
    assert.deepEqual(readdirSync(base).sort(), [...keep, `shmarray-${dead}-aaaaaaaaaaaa`, `shmarray-${dead}-bbbbbbbbbbbb`].sort());
    assert.ok(existsSync(tmp.path('link-target')));
  });
});

/** onArchive over three archives: called once per archive with its handles, and a throw from it fails the call cleanly. */
async function onArchiveCase(options: { pool?: ReturnType<typeof createPool> }): Promise<void> {
  const zips = [0, 1, 2].map((k) => {
    const p = tmp.path(`each-${k}.zip`);
    writeFileSync(p, buildZip([{ name: `part${k}.f32`, data: new Uint8Array(Float32Array.from({ length: 400 }, (_, i) => i + 1000 * k).buffer) }]));
    return p;
  });
  await using store = await SharedStore.create({ dir: tmp.dir });
  const seen: [number, string[]][] = [];
  const all = await store.extractAll(zips, { columns: 4, ...options, onArchive: (hs, i) => seen.push([i, hs.map((h) => h.path)]) });
  assert.deepEqual(seen.sort((x, y) => x[0] - y[0]), zips.map((_, i) => [i, [all[i]?.path]]));
  const keep = store.create('kept.f32', 4);
  const stop = (): never => {
    throw new ShmArrayError('ERR_SHM_ABORTED', 'stop');
  };
  await rejectsWithCode(store.extractAll(zips, { columns: 4, ...options, onArchive: stop }), 'ERR_SHM_ABORTED');
  assert.deepEqual(store.files().filter((f) => !all.some((a) => a.path === f)), [keep.path], 'only the files of the first call and kept.f32');
}

test("on the addon's threads, onArchive is called once per archive with its handles and index; a throw from it fails the call and removes the files it made", async () => {
  await onArchiveCase({});
});

for (const runtime of RUNTIMES) {
  describe(`workers that die mid-job leave the store intact: ${runtime}`, () => {
    for (const how of runtime === 'child_process' ? ['exit', 'kill', 'throw'] : ['exit', 'throw']) {
      test(how, async () => {
        await using store = await SharedStore.create({ dir: tmp.dir });
        const a = store.create('data.f32', [1000, 4]);
        a.data.fill(1);
        const pool = createPool(fixture('die.mjs'), { runtime, workers: 1 });
        try {
          await rejectsWithCode(pool.run({ handle: a.handle, how }), 'ERR_SHM_WORKER');
        } finally {
          await pool.destroy();
        }
        assert.deepEqual(store.files(), [a.path]);
        assert.equal(openShared(a.handle).data[3999], 1, 'the data is intact');
        await store.dispose();
        assert.equal(existsSync(store.dir), false, 'and disposable');
      });
    }
  });

  describe(`extractAll: ${runtime}`, () => {
    const zips = [0, 1, 2].map((k) => {
      const p = tmp.path(`all-${runtime}-${k}.zip`);
      writeFileSync(p, buildZip([{ name: `part${k}.f32`, data: new Uint8Array(Float32Array.from({ length: 400 }, (_, i) => i + 1000 * k).buffer) }]));
      return p;
    });

    test(`extracts archives in a ${runtime} pool of 2; arrays come back in archive order`, async () => {
      await using store = await SharedStore.create({ dir: tmp.dir });
      await using pool = createPool(workerFiles.extract, { workers: 2, runtime });
      const all = await store.extractAll(zips, { columns: 4, pool });
      assert.deepEqual(all.map((a) => a.shape), [[100, 4], [100, 4], [100, 4]]);
      assert.deepEqual(all.map((a) => a.data[0]), [0, 1000, 2000]);
      for (const a of all) assert.equal(dirname(a.path), store.dir);
    });

    test('a given pool is used and left running for the next call', async () => {
      await using store = await SharedStore.create({ dir: tmp.dir });
      await using pool = createPool(workerFiles.extract, { workers: 2, runtime });
      // Counted where the tasks go: one per archive must reach this pool, in both calls.
      let tasks = 0;
      const run = pool.run.bind(pool);
      pool.run = (task, options) => {
        tasks++;
        return run(task, options);
      };
      const first = await store.extractAll(zips, { columns: 4, pool });
      assert.equal(tasks, zips.length, 'the first call ran its archives in the given pool');
      const second = await store.extractAll(zips, { columns: 4, pool });
      assert.equal(tasks, 2 * zips.length, 'and the second call in the same pool, still running');
      assert.equal(first.length + second.length, 6);
      assert.deepEqual(second.map((a) => a.data[0]), [0, 1000, 2000]);
    });

    test(`in a ${runtime} pool, onArchive is called once per archive with its handles and index; a throw from it fails the call and removes the files it made`, async () => {
      await using pool = createPool(workerFiles.extract, { workers: 2, runtime });
      await onArchiveCase({ pool });
    });

    test(`one bad archive fails the call in a ${runtime} pool and removes every file it made`, async () => {
      await using store = await SharedStore.create({ dir: tmp.dir });
      // runtime matters only for a pool: without one, archives inflate on the addon's threads.
      await using pool = createPool(workerFiles.extract, { workers: 2, runtime });
      const keep = store.create('keep.f32', 4);
      const bad = tmp.path(`bad-${runtime}.zip`);
      writeFileSync(bad, buildZip([{ name: 'x.f32', data: new Uint8Array(16), crc: 7 }]));
      await rejectsWithCode(store.extractAll([zips[0] ?? '', bad, zips[1] ?? ''], { columns: 4, pool }), 'ERR_SHM_BAD_ZIP');
      assert.deepEqual(store.files(), [keep.path]);
    });
  });
}

describe('a full filesystem is an error at creation, never a SIGBUS', () => {
  const fs = smallTmpfs(20);
  after(() => fs?.dispose());
  test('an archive that would not fit is ERR_SHM_NO_SPACE before anything is written', { skip: fs === undefined && NO_TMPFS }, async () => {
    const dir = (fs as { dir: string }).dir;
    const zip = tmp.path('zeros.zip');
    execFileSync('sh', ['-c', `head -c ${64 * MiB} /dev/zero > ${tmp.path('zeros.f32')} && cd ${tmp.dir} && python3 -m zipfile -c zeros.zip zeros.f32`]);
    await using store = await SharedStore.create({ dir });
    await rejectsWithCode(store.extractZip(zip), 'ERR_SHM_NO_SPACE');
    assert.deepEqual(store.files(), []);
  });
});

test('a live store whose name carries a pid this namespace cannot see (containers) is not swept; once its owner dies, it is', async () => {
  const base = tmp.path('namespaces');
  mkdirSync(base);
  const c = fork(fixture('store-child.mjs'), ['wait', base], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  const dir = await new Promise<string>((r) => c.once('message', (m) => r(String(m))));
  // What another pid namespace looks like from here: the name's pid is dead, the owner is not.
  const dead = execFileSync('sh', ['-c', 'echo $$']).toString().trim();
  const foreign = join(base, dir.slice(base.length + 1).replace(/-(\d+)-/, `-${dead}-`));
  renameSync(dir, foreign);
  assert.deepEqual(SharedStore.sweep({ base }), []);
  assert.ok(existsSync(foreign), 'the live store is still there');
  c.kill('SIGKILL');
  await new Promise((r) => c.once('exit', r));
  assert.deepEqual(SharedStore.sweep({ base }), [foreign]);
});

describe('a base directory another user could tamper with is refused', () => {
  test('world-writable without the sticky bit: ERR_SHM_PERMISSION; with it: accepted', async () => {
    const base = tmp.path('open-base');
    mkdirSync(base);
    chmodSync(base, 0o777);
    await rejectsWithCode(SharedStore.create({ dir: base }), 'ERR_SHM_PERMISSION');
    const env = { ...process.env, SHMARRAY_DIR: base };
    assert.match(inChild(tmp.dir, `try { await m.SharedStore.create(); } catch (e) { console.log(e.code); }`, env).stdout, /ERR_SHM_PERMISSION/);
    chmodSync(base, 0o1777);
    const store = await SharedStore.create({ dir: base });
    await store.dispose();
  });

  test('owned by another user: ERR_SHM_PERMISSION', { skip: process.getuid?.() !== 0 && 'NOT RUN: needs root to chown a directory to another user' }, async () => {
    const base = tmp.path('their-base');
    mkdirSync(base);
    chownSync(base, 65534, 65534);
    await rejectsWithCode(SharedStore.create({ dir: base }), 'ERR_SHM_PERMISSION');
  });
});

test("a store made with dir: '.' is removed by dispose() after process.chdir()", () => {
  const base = tmp.path('relative');
  mkdirSync(base);
  const r = inChild(tmp.dir, `
    process.chdir(${JSON.stringify(base)});
    const store = await m.SharedStore.create({ dir: '.' });
    store.create('x.f32', 4);
    process.chdir('/');
    await store.dispose();
    console.log(JSON.stringify(store.dir));`);
  assert.equal(r.status, 0, r.stderr);
  assert.ok((JSON.parse(r.stdout) as string).startsWith(`${base}/`), 'the store path is absolute');
  assert.deepEqual(readdirSync(base), []);
});
