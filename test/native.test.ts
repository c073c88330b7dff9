import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import Tinypool from 'tinypool';
import { createShared } from '../dist/index.js';
import { fixture, rejectsWithCode, RUNTIMES, tempDir } from './helpers.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const tmp = tempDir();
after(() => tmp.dispose());

test('the binding loads in two worker threads at once (mmap-io 1.1.7 died with "Module did not self-register")', async () => {
  const a = createShared(tmp.path('two-threads.f32'), 3);
  a.data.set([1, 2, 3]);
  // Raw Workers, started together, each its own isolate loading the addon for the first time.
  const run = (): Promise<{ sum: number }> =>
    new Promise((resolve, reject) => {
      const w = new Worker(
        `import(${JSON.stringify(fixture('load-binding.mjs'))}).then((m) => require('node:worker_threads').parentPort.postMessage(m.default({ handle: ${JSON.stringify(a.handle)} })))`,
        { eval: true },
      );
      w.once('message', (m: { sum: number }) => {
        resolve(m);
        void w.terminate();
      });
      w.once('error', reject);
      w.once('exit', (code) => code !== 0 && reject(new Error(`worker exited with ${code}`)));
    });
  const results = await Promise.all([run(), run()]);
  assert.deepEqual(results, [{ sum: 6 }, { sum: 6 }]);
});

describe('a missing binding is ERR_SHM_NATIVE, with how to rebuild', () => {
  // A copy of the package whose binding was never built (as after `npm install --ignore-scripts`).
  const broken = tempDir('shmarray-broken-');
  after(() => broken.dispose());
  cpSync(join(root, 'dist'), join(broken.dir, 'dist'), { recursive: true });
  cpSync(join(root, 'package.json'), join(broken.dir, 'package.json'));
  mkdirSync(join(broken.dir, 'node_modules/@riaskov/mmap-io'), { recursive: true });
  for (const name of readdirSync(join(root, 'node_modules'))) {
    if (name !== '@riaskov' && !name.startsWith('.')) symlinkSync(join(root, 'node_modules', name), join(broken.dir, 'node_modules', name));
  }
  const binding = join(root, 'node_modules/@riaskov/mmap-io');
  for (const name of readdirSync(binding)) {
    if (name !== 'build') cpSync(join(binding, name), join(broken.dir, 'node_modules/@riaskov/mmap-io', name), { recursive: true });
  }
  mkdirSync(join(broken.dir, 'fixtures'));
  cpSync(fixture('call.mjs'), join(broken.dir, 'fixtures/call.mjs'));
  const data = broken.path('data.f32');
  writeFileSync(data, new Uint8Array(16));

  test('in this process', async () => {
    const lib = (await import(join(broken.dir, 'dist/index.js'))) as typeof import('../dist/index.js');
    assert.throws(() => lib.openShared(data, 4), (err: unknown) => {
      assert.ok(err instanceof lib.ShmArrayError, 'the copy throws its own ShmArrayError class');
      assert.equal(err.code, 'ERR_SHM_NATIVE');
      assert.match(err.message, /npm rebuild @riaskov\/mmap-io/);
      return true;
    });
  });

  for (const runtime of RUNTIMES) {
    test(`across the worker boundary: ${runtime}`, async () => {
      const pool = new Tinypool({ filename: join(broken.dir, 'fixtures/call.mjs'), runtime, maxThreads: 1, minThreads: 1 });
      try {
        const err = await rejectsWithCode(pool.run({ fn: 'open', args: [data, 4] }), 'ERR_SHM_NATIVE');
        assert.match(err.message, /rebuild/);
      } finally {
        await pool.destroy();
      }
    });
  }
});
