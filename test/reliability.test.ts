// Hostile files and unlucky neighbours: full filesystems, inputs that shrink, stores of other pid
// namespaces, tampered base directories, chdir, long-lived pools. No crash, no lost data.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, fork, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { columnStats, createPool, createShared, gzipParallel, workerFiles, normalize, SharedStore } from '../dist/index.js';
import { fixture, NO_TMPFS, rejectsWithCode, RUNTIMES, smallTmpfs, tempDir } from './helpers.js';

const tmp = tempDir('shmarray-reliability-');
after(() => tmp.dispose());
const MiB = 2 ** 20;
const dist = fileURLToPath(new URL('../dist/index.js', import.meta.url));

let scripts = 0;
/**
 * Runs `body` (ESM, with `m` = shmarray) in a fresh node process; returns its status, signal and
 * output. A script file, not `--input-type=module -e`: worker threads inherit execArgv, and that
 * flag stops them from starting.
 */
function inChild(body: string, env: NodeJS.ProcessEnv = process.env): { status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string } {
  const script = tmp.path(`child-${scripts++}.mjs`);
  writeFileSync(script, `const m = await import(${JSON.stringify(dist)});\n${body}`);
  const r = spawnSync(process.execPath, [script], { encoding: 'utf8', env });
  rmSync(script);
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

describe('a full filesystem is an error at creation, never a SIGBUS', () => {
  const fs = smallTmpfs(20);
  after(() => fs?.dispose());
  test('two 12 MiB arrays on a 20 MiB tmpfs: the second is ERR_SHM_NO_SPACE, and filling the first is safe', { skip: fs === undefined && NO_TMPFS }, () => {
    const dir = (fs as { dir: string }).dir;
    const r = inChild(`
      const a = m.createShared(${JSON.stringify(join(dir, 'a.f32'))}, ${(12 * MiB) / 4});
      let second;
      try { m.createShared(${JSON.stringify(join(dir, 'b.f32'))}, ${(12 * MiB) / 4}); second = 'created'; } catch (e) { second = e.code; }
      a.data.fill(1);
      console.log(JSON.stringify({ second, sum: a.data[a.length - 1] }));`);
    assert.equal(r.signal, null, `the process died of ${r.signal}`);
    assert.deepEqual(JSON.parse(r.stdout), { second: 'ERR_SHM_NO_SPACE', sum: 1 });
    assert.deepEqual(readdirSync(dir), ['a.f32'], 'no partial or temporary file');
  });

  test('an archive that would not fit is ERR_SHM_NO_SPACE before anything is written', { skip: fs === undefined && NO_TMPFS }, async () => {
    const dir = (fs as { dir: string }).dir;
    const zip = tmp.path('zeros.zip');
    execFileSync('sh', ['-c', `head -c ${64 * MiB} /dev/zero > ${tmp.path('zeros.f32')} && cd ${tmp.dir} && python3 -m zipfile -c zeros.zip zeros.f32`]);
    await using store = await SharedStore.create({ dir });
    await rejectsWithCode(store.extractZip(zip), 'ERR_SHM_NO_SPACE');
    assert.deepEqual(store.files(), []);
  });
});

test('gzip of an input that shrinks while it runs is ERR_SHM_IO, never SIGBUS, and leaves no temporary file', () => {
  const input = tmp.path('shrinking.bin');
  writeFileSync(input, Buffer.alloc(64 * MiB, 7));
  const out = tmp.path('shrinking.gz');
  const r = inChild(`
    const { truncateSync } = await import('node:fs');
    const run = m.gzipParallel(${JSON.stringify(input)}, ${JSON.stringify(out)}, { workers: 1, runtime: 'worker_threads', chunkSize: 65536 });
    setTimeout(() => truncateSync(${JSON.stringify(input)}, 4096), 30);
    try { await run; console.log('finished'); } catch (e) { console.log(e.code); }`);
  assert.equal(r.signal, null, `the process died of ${r.signal}: ${r.stderr}`);
  assert.equal(r.stdout.trim(), 'ERR_SHM_IO', r.stderr);
  assert.deepEqual(readdirSync(tmp.dir).filter((n) => n.includes('shrinking') && n.endsWith('.tmp')), []);
});

test("a killed gzip's temporary output is swept by the next gzip into that directory", async () => {
  const dir = tmp.path('gz-sweep');
  mkdirSync(dir);
  const dead = Number(execFileSync('sh', ['-c', 'echo $$']).toString().trim());
  const stale = join(dir, `.out.gz.${dead}-0123abcd.tmp`);
  const live = join(dir, `.out.gz.${process.pid}-0123abcd.tmp`);
  writeFileSync(stale, 'x');
  writeFileSync(live, 'x');
  writeFileSync(join(dir, 'in.bin'), 'data');
  await gzipParallel(join(dir, 'in.bin'), join(dir, 'in.bin.gz'), { workers: 1 });
  assert.equal(existsSync(stale), false);
  assert.equal(existsSync(live), true, 'a live process keeps its temporary file');
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
    assert.match(inChild(`try { await m.SharedStore.create(); } catch (e) { console.log(e.code); }`, env).stdout, /ERR_SHM_PERMISSION/);
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
  const r = inChild(`
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

for (const runtime of RUNTIMES) {
  test(`gzipParallel through a long-lived ${runtime} pool leaves no mapping of its input in this process (20 runs × 16 chunks)`, async () => {
    const input = tmp.path(`gz-pool-${runtime}.bin`);
    writeFileSync(input, Buffer.alloc(16 * 64 * 1024, 3));
    await using pool = createPool(workerFiles.compress, { workers: 2, runtime });
    for (let i = 0; i < 20; i++) await gzipParallel(input, tmp.path(`gz-pool-${runtime}.gz`), { pool, chunkSize: 64 * 1024 });
    const maps = readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.includes(input));
    assert.deepEqual(maps, []);
  });

  test(`${runtime} pool workers inherit the parent's environment (PATH, LANG, NODE_OPTIONS, SHMARRAY_DIR)`, async () => {
    const env = { PATH: process.env['PATH'] ?? '', LANG: 'C.UTF-8', NODE_OPTIONS: '--max-old-space-size=4096', SHMARRAY_DIR: tmp.dir };
    const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
    Object.assign(process.env, env);
    try {
      await using pool = createPool(fixture('env.mjs'), { workers: 1, runtime });
      assert.deepEqual(await pool.run({ names: Object.keys(env) }), env);
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });
}

test('createShared reserves its blocks: a new file is not sparse', () => {
  const a = createShared(tmp.path('reserved.f32'), (8 * MiB) / 4);
  const blocks = Number(execFileSync('stat', ['-c', '%b', a.path]).toString().trim()) * 512;
  assert.ok(blocks >= 8 * MiB, `${blocks} bytes allocated`);
  a.close();
});

/** Shmem in /proc/meminfo, bytes: tmpfs pages in use system-wide. */
function shmem(): number {
  return Number(/^Shmem:\s+(\d+) kB$/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? NaN) * 1024;
}

describe('a long-lived pool does not keep a disposed store in memory', () => {
  for (const runtime of RUNTIMES) {
    test(`${runtime}: the worker's next task releases the disposed 64 MiB`, async () => {
      await using pool = createPool(workerFiles.stats, { workers: 1, runtime });
      const store = await SharedStore.create({ dir: tmp.dir });
      const big = store.create('big.f32', [(64 * MiB) / 16, 4]);
      big.data.fill(1);
      await columnStats(big, { pool });
      const held = shmem();
      await store.dispose();
      assert.ok(held - shmem() < 16 * MiB, 'the worker still maps the deleted file');
      await using other = await SharedStore.create({ dir: tmp.dir });
      const small = other.create('small.f32', [8, 4]);
      await columnStats(small, { pool });
      assert.ok(held - shmem() >= 60 * MiB, `Shmem dropped by ${((held - shmem()) / MiB).toFixed(1)} MiB after the next task`);
    });

    test(`${runtime}: pool.releaseMappings() releases it at once, on every worker`, async () => {
      await using pool = createPool(workerFiles.stats, { workers: 2, runtime });
      const store = await SharedStore.create({ dir: tmp.dir });
      const big = store.create('big.f32', [(64 * MiB) / 16, 4]);
      big.data.fill(1);
      await columnStats(big, { pool });
      await columnStats(big, { pool });
      const held = shmem();
      await store.dispose();
      await pool.releaseMappings();
      assert.ok(held - shmem() >= 60 * MiB, `Shmem dropped by ${((held - shmem()) / MiB).toFixed(1)} MiB`);
    });
  }
});

describe('CLI extract: a bad --dir is one line, and a failed extract leaves no directory behind', () => {
  const cli = fileURLToPath(new URL('../dist/cli/bin.js', import.meta.url));
  const zip = tmp.path('cli-ok.zip');
  execFileSync('sh', ['-c', `cd ${tmp.dir} && head -c 4096 /dev/zero > cli-ok.f32 && python3 -m zipfile -c cli-ok.zip cli-ok.f32`]);
  const run = (...args: string[]): { status: number | null; stderr: string } => {
    const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
    return { status: r.status, stderr: r.stderr };
  };

  test('--dir naming a regular file: ERR_SHM_NOT_A_FILE', () => {
    const file = tmp.path('a-file');
    writeFileSync(file, 'x');
    const r = run('extract', zip, '--dir', file);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^shmarray: .*\[ERR_SHM_NOT_A_FILE\]\n$/);
  });

  const ro = smallTmpfs(1);
  after(() => ro?.dispose());
  test('--dir on a read-only mount: ERR_SHM_PERMISSION', { skip: ro === undefined && NO_TMPFS }, () => {
    const dir = (ro as { dir: string }).dir;
    execFileSync('mount', ['-o', 'remount,ro', dir]);
    const r = run('extract', zip, '--dir', dir);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^shmarray: .*\[ERR_SHM_PERMISSION\]\n$/);
  });

  test('--dir naming a new directory on a read-only mount: ERR_SHM_PERMISSION that says read-only, and nothing about a file', { skip: ro === undefined && NO_TMPFS }, () => {
    const dir = (ro as { dir: string }).dir;
    execFileSync('mount', ['-o', 'remount,ro', dir]);
    const r = run('extract', zip, '--dir', join(dir, 'new', 'sub'));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^shmarray: .*is on a read-only filesystem.*\[ERR_SHM_PERMISSION\]\n$/);
    assert.doesNotMatch(r.stderr, /a file of that name/);
  });

  test('--dir below a regular file: ERR_SHM_NOT_A_FILE naming that file', () => {
    const file = tmp.path('a-file-in-the-way');
    writeFileSync(file, 'x');
    const r = run('extract', zip, '--dir', join(file, 'sub'));
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`^shmarray: .*${file} is a file, not a directory.*\\[ERR_SHM_NOT_A_FILE\\]\n$`));
  });

  test('a failed extract without --dir leaves no shmarray-extract-* directory', () => {
    const bad = tmp.path('cli-bad.zip');
    writeFileSync(bad, 'not a zip at all, but long enough to be read as one...');
    const before = readdirSync('/dev/shm').filter((n) => n.startsWith('shmarray-extract-'));
    const r = run('extract', bad);
    assert.equal(r.status, 1);
    assert.deepEqual(readdirSync('/dev/shm').filter((n) => n.startsWith('shmarray-extract-')), before);
  });
});

describe('every job takes an AbortSignal and a timeout, and ends with ERR_SHM_ABORTED, the store intact', () => {
  for (const runtime of RUNTIMES) {
    test(`${runtime}: a task that spins forever is stopped by its timeout; the pool replaces the worker and goes on`, async () => {
      await using pool = createPool(fixture('spin.mjs'), { workers: 1, runtime });
      const err = await rejectsWithCode(pool.run({}, { signal: AbortSignal.timeout(300) }), 'ERR_SHM_ABORTED');
      assert.equal(err.details['timedOut'], true);
      const env = (await pool.run({ names: ['PATH'] }, { filename: fixture('env.mjs') })) as { PATH: string };
      assert.equal(typeof env.PATH, 'string', 'the pool still runs tasks');
    });

    test(`${runtime}: columnStats with a 1 ms timeout, normalize and extractAll with an aborted signal`, async () => {
      await using store = await SharedStore.create({ dir: tmp.dir });
      const big = store.create('big.f32', [(64 * MiB) / 16, 4]);
      big.data.fill(2);
      const out = store.create('out.f32', [(64 * MiB) / 16, 4]);
      await rejectsWithCode(columnStats(big, { workers: 2, runtime, timeout: 1 }), 'ERR_SHM_ABORTED');
      const controller = new AbortController();
      controller.abort();
      await rejectsWithCode(normalize(big, out, { mean: [0, 0, 0, 0], std: [1, 1, 1, 1] }, { workers: 1, runtime, signal: controller.signal }), 'ERR_SHM_ABORTED');
      await rejectsWithCode(store.extractAll([tmp.path('cli-ok.zip')], { workers: 1, runtime, signal: controller.signal }), 'ERR_SHM_ABORTED');
      assert.deepEqual(store.files().map((f) => f.slice(store.dir.length + 1)), ['big.f32', 'out.f32'], 'the store is intact');
      assert.equal(big.data[big.length - 1], 2);
      const stats = await columnStats(big, { workers: 1, runtime });
      assert.deepEqual(stats.mean, [2, 2, 2, 2], 'and usable');
    });
  }

  test('gzipParallel with an aborted signal: ERR_SHM_ABORTED, no output and no temporary file', async () => {
    const dir = tmp.path('gz-abort');
    mkdirSync(dir);
    writeFileSync(join(dir, 'in.bin'), Buffer.alloc(4 * MiB, 1));
    const controller = new AbortController();
    controller.abort();
    await rejectsWithCode(gzipParallel(join(dir, 'in.bin'), join(dir, 'out.gz'), { workers: 1, signal: controller.signal }), 'ERR_SHM_ABORTED');
    assert.deepEqual(readdirSync(dir), ['in.bin']);
  });
});
