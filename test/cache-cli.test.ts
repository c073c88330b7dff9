// `shmarray cache list | prune | clear | remove` against real caches.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SharedCache } from '../dist/index.js';
import { base } from './cache-helpers.js';

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
