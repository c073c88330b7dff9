import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { createShared, openSharedCached, pruneMapCache } from '../dist/index.js';
import { tempDir } from './helpers.js';

const tmp = tempDir('shmarray-cache-');
after(() => tmp.dispose());

test('openSharedCached reuses a mapping while the file is unchanged', () => {
  const a = createShared(tmp.path('a.f32'), 4);
  const first = openSharedCached(a.handle);
  assert.equal(openSharedCached(a.handle), first);
  a.data[1] = 5;
  assert.equal(first.data[1], 5);
});

test('a replaced file gets a fresh mapping; the stale one is closed', () => {
  const path = tmp.path('b.f32');
  const a = createShared(path, 4);
  const first = openSharedCached(a.handle);
  const b = createShared(path, 4, { overwrite: true });
  b.data[0] = 7;
  const second = openSharedCached(b.handle);
  assert.notEqual(second, first);
  assert.equal(second.data[0], 7);
  assert.equal(first.closed, true);
});

test('a removed file is dropped from the cache, so its pages are not kept alive', () => {
  const a = createShared(tmp.path('c.f32'), (16 * 2 ** 20) / 4);
  a.data.fill(1);
  const cached = openSharedCached(a.handle);
  a.close();
  rmSync(cached.path);
  const mapped = (): number => readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.includes(cached.path)).length;
  assert.equal(mapped(), 1, 'only the cache maps the deleted file');
  pruneMapCache();
  assert.equal(cached.closed, true);
  assert.equal(mapped(), 0, 'no mapping keeps the deleted file\'s pages');
});
