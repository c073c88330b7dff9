// Where a SharedCache lives and who may use it; bad input and full filesystems refused with a code, nothing left.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SharedCache, type ShmErrorCode } from '../dist/index.js';
import { NO_TMPFS, rejectsWithCode, smallTmpfs } from './helpers.js';
import { base, basePath } from './cache-helpers.js';

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
      const made = basePath(); // the base the call's base() makes
      await rejectsWithCode(call(), code);
      // Everything under the base the call was given: at most the cache directory a valid open made.
      assert.ok(existsSync(made), 'the base was made for this case');
      const left = readdirSync(made, { recursive: true }).map(String).filter((f) => f !== 'test');
      assert.deepEqual(left, [], 'no entry, no staging directory, no lock file, no budget');
    });
  }
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
      assert.deepEqual(readdirSync(cache.dir).filter((f) => f.startsWith('.build-') || f.startsWith('e-')), [], 'no staging directory, no entry, and (reclaimed) no lock file');
    } finally {
      few.dispose();
    }
  });
});
