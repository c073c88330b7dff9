// pm2 cluster mode for real: pm2 starts 4 instances of examples/pm2/app.mjs itself (none is the
// child of another); each asks the node-wide cache for the same 64 MiB archive.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { get } from 'node:http';
import { fileURLToPath } from 'node:url';
import { SharedStore } from '../dist/index.js';
import { blocksUnder, freePort, mappingsOf, tempDir } from './helpers.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const pm2 = `${root}node_modules/.bin/pm2`;
const tmp = tempDir('shmarray-pm2-');
after(() => tmp.dispose());
const MiB = 2 ** 20;

const fetchJson = (url: string): Promise<{ pid: number; row: number[] }> =>
  new Promise((resolve, reject) => {
    // agent: false — a new connection each time, so the cluster's round robin reaches every instance.
    get(url, { agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(JSON.parse(body) as { pid: number; row: number[] }));
    }).on('error', reject);
  });

test('pm2 -i 4: one extraction in all, the cache holds the dataset once (its files\' blocks, ± 10 %), every instance maps those same files and serves the same rows', { timeout: 180_000 }, async () => {
  const zip = execFileSync(process.execPath, [`${root}examples/pm2/make-data.mjs`, tmp.path('data')], { encoding: 'utf8' }).trim();
  const events = tmp.path('events');
  const port = await freePort();
  const env = { ...process.env, PM2_HOME: tmp.path('pm2-home'), DATA_ZIP: zip, PORT: String(port), SHMARRAY_CACHE_DIR: tmp.path('cache'), EVENTS: events };
  try {
    execFileSync(pm2, ['start', `${root}examples/pm2/ecosystem.config.cjs`], { env, stdio: 'ignore' });
    const lines = async (): Promise<{ pid: number; built: boolean }[]> => {
      for (let i = 0; i < 600; i++) {
        const got = existsSync(events) ? readFileSync(events, 'utf8').trim().split('\n').filter((l) => l !== '') : [];
        if (got.length >= 4) return got.map((l) => JSON.parse(l) as { pid: number; built: boolean });
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error('the 4 instances did not all start within 60 s');
    };
    const started = await lines();
    // The data's own pages: the cache's files, whatever else the machine puts on tmpfs meanwhile.
    const held = blocksUnder(env.SHMARRAY_CACHE_DIR);
    assert.equal(started.filter((e) => e.built).length, 1, 'exactly one instance extracted the archive');
    assert.ok(Math.abs(held - 64 * MiB) <= 6.4 * MiB, `the cache's files hold ${(held / MiB).toFixed(1)} MiB for a 64 MiB dataset`);
    // Every instance maps the same file (device and inode), so those pages are the only copy.
    const mapped = started.map((e) => new Set(mappingsOf(env.SHMARRAY_CACHE_DIR, [e.pid]).map((l) => l.split(/\s+/).slice(3, 5).join(' '))));
    for (const [i, files] of mapped.entries()) assert.deepEqual([...files], [...(mapped[0] ?? [])], `instance ${i} maps the same file as instance 0`);
    assert.equal(mapped[0]?.size, 1, 'one file, mapped by all four');

    const store = await SharedStore.create({ dir: tmp.dir });
    try {
      const [expected] = await store.extractZip(zip, { columns: 4, dtype: 'float32' });
      const pids = new Set<number>();
      for (let i = 0; i < 40 && pids.size < 4; i++) {
        const at = (i * 104_729) % 4_194_304;
        const r = await fetchJson(`http://127.0.0.1:${port}/row?i=${at}`);
        pids.add(r.pid);
        assert.deepEqual(r.row, Array.from(expected?.row(at) ?? []));
      }
      assert.deepEqual([...pids].sort(), started.map((e) => e.pid).sort(), 'every instance answered');
    } finally {
      await store.dispose();
    }
  } finally {
    execFileSync(pm2, ['kill'], { env, stdio: 'ignore' });
  }
});
