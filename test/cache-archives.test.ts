// SharedCache keys a zip archive by its identity: mapped again after restarts, rebuilt when the file changes.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SharedCache } from '../dist/index.js';
import { makePool, RUNTIMES } from './helpers.js';
import { base, child, tmp } from './cache-helpers.js';

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
