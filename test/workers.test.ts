import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { createPool, createShared, ShmArrayError } from '../dist/index.js';
// @ts-expect-error: a plain .mjs fixture, without types
import call from './fixtures/call.mjs';
import { makeErrorCases } from './error-cases.js';
import { fixture, makePool, rejectsWithCode, RUNTIMES, tempDir } from './helpers.js';

const vectors = fileURLToPath(new URL('./vectors/', import.meta.url));
const MiB = 1024 * 1024;
const DATASET = 64 * MiB;
const tmp = tempDir();
after(() => tmp.dispose());

interface Held { pid: number; anonymous: number; sum: number; length: number }

/** Growth of anonymous memory per worker between an idle phase and a phase where every worker holds `data`. */
async function anonymousGrowthPerWorker(runtime: (typeof RUNTIMES)[number], data: unknown, tag: string): Promise<{ growth: number[]; held: Held[] }> {
  const pool = makePool(runtime, 'hold.mjs', 2);
  try {
    const phase = async (payload: unknown, name: string): Promise<Held[]> => {
      const gate = createShared(tmp.path(`gate-${tag}-${name}.i32`), 2, { dtype: 'int32' });
      return Promise.all([0, 1].map(() => pool.run({ gate: gate.handle, data: payload, parties: 2 }) as Promise<Held>));
    };
    const idle = await phase(null, 'idle');
    const held = await phase(data, 'held');
    let growth: number[];
    if (runtime === 'worker_threads') {
      // One process: both threads' readings are the whole process, taken while both hold their data.
      const mean = (xs: Held[]): number => xs.reduce((s, x) => s + x.anonymous, 0) / xs.length;
      growth = [(mean(held) - mean(idle)) / 2, (mean(held) - mean(idle)) / 2];
    } else {
      assert.equal(new Set(held.map((h) => h.pid)).size, 2, 'two distinct worker processes held data');
      growth = held.map((h) => {
        const before = idle.find((i) => i.pid === h.pid);
        assert.ok(before, 'the same worker processes served both phases');
        return h.anonymous - before.anonymous;
      });
    }
    if (process.env['SHMARRAY_TEST_VERBOSE']) console.error(tag, growth.map((g) => `${(g / MiB).toFixed(2)} MiB`));
    return { growth, held };
  } finally {
    await pool.destroy();
  }
}

for (const runtime of RUNTIMES) {
  describe(`workers: ${runtime}`, () => {
    const dataset = createShared(tmp.path(`dataset-${runtime}.f32`), [DATASET / 16, 4]);
    for (let i = 0; i < dataset.data.length; i += 1024) dataset.data[i] = 1;
    dataset.flush();
    const pages = dataset.data.length / 1024;

    test('mapping by handle: each worker touches every page and its anonymous memory grows < 10% of the dataset', async () => {
      const { growth, held } = await anonymousGrowthPerWorker(runtime, dataset.handle, `${runtime}-map`);
      for (const h of held) assert.equal(h.sum, pages, 'the worker read every page');
      for (const g of growth) assert.ok(g < 0.1 * DATASET, `anonymous growth ${(g / MiB).toFixed(1)} MiB must stay under 6.4 MiB`);
    });

    test('control: the same dataset sent in the message grows each worker by > 90% of it', async () => {
      const copy = new Float32Array(dataset.data);
      const { growth, held } = await anonymousGrowthPerWorker(runtime, copy, `${runtime}-copy`);
      for (const h of held) assert.equal(h.sum, pages);
      for (const g of growth) assert.ok(g > 0.9 * DATASET, `anonymous growth ${(g / MiB).toFixed(1)} MiB should exceed 57.6 MiB`);
    });

    test('shared writes: workers fill disjoint row ranges and the parent sees every value', async () => {
      const rows = 10_000;
      const input = createShared(tmp.path(`scale-${runtime}.f32`), 4);
      input.data.set([1, 2, 3, 4]);
      const out = createShared(tmp.path(`out-${runtime}.f32`), [rows, 4]);
      const pool = makePool(runtime, 'write-rows.mjs', 2);
      try {
        const ranges = [[0, 2500], [2500, 5000], [5000, 7500], [7500, rows]] as const;
        const done = await Promise.all(ranges.map(([from, to]) => pool.run({ input: input.handle, out: out.handle, from, to })));
        assert.equal(done.reduce((s: number, d: { rows: number }) => s + d.rows, 0), rows);
      } finally {
        await pool.destroy();
      }
      for (let i = 0; i < rows; i++) {
        for (let c = 0; c < 4; c++) {
          if (out.data[i * 4 + c] !== (i * 4 + c) * (c + 1)) assert.fail(`row ${i} column ${c} is ${out.data[i * 4 + c]}`);
        }
      }
    });

    describe('errors keep their code across the worker boundary', () => {
      const dir = tempDir('shmarray-werr-');
      after(() => dir.dispose());
      const pool = makePool(runtime, 'call.mjs', 1);
      after(() => pool.destroy());
      for (const s of makeErrorCases(dir.dir, vectors)) {
        test(`${s.code}: ${s.name} — code, message and details as thrown in-process`, async () => {
          let local: ShmArrayError | undefined;
          try {
            call({ fn: s.fn, args: s.args });
          } catch (e) {
            local = e as ShmArrayError;
          }
          assert.ok(local instanceof ShmArrayError, 'the same call fails in this process');
          const err = await rejectsWithCode(pool.run({ fn: s.fn, args: s.args }), s.code);
          assert.equal(err.message, local.message);
          assert.deepEqual(err.details, local.details);
        });
      }
    });
  });
}

for (const runtime of RUNTIMES) {
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
