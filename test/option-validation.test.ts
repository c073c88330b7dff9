// Every option of every public function, tried with wrong types, NaN, ±Infinity, negatives,
// fractions, unknown keys and conflicting keys: each is ERR_SHM_BAD_ARGUMENT before any work.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import { columnStats, createPool, createShared, gzipParallel, workerFiles, normalize, openShared, SharedStore, type ShmErrorCode } from '../dist/index.js';
import { runBenchmark, generateDataset } from '../dist/bench/index.js';
import { rejectsWithCode, tempDir, throwsWithCode } from './helpers.js';

const tmp = tempDir('shmarray-options-');
after(() => tmp.dispose());
const raw = tmp.path('raw.f32');
writeFileSync(raw, new Uint8Array(64));
const input = createShared(tmp.path('in.f32'), [4, 4]);
const output = createShared(tmp.path('out.f32'), [4, 4]);
const store = await SharedStore.create({ dir: tmp.dir });
after(() => store.dispose());

type Kind = 'int' | 'uint' | 'choice' | 'bool' | 'string' | 'list' | 'function' | 'signal';
const BAD: Record<Kind, unknown[]> = {
  int: ['3', NaN, Infinity, -Infinity, 0, -1, 1.5, true, null, {}],
  uint: ['3', NaN, Infinity, -Infinity, -1, 1.5, null],
  choice: ['bogus', 1, NaN, null, ['r']],
  bool: ['yes', 1, null],
  string: ['', 1, null],
  list: ['copy', [], ['teleport'], [1], null],
  function: ['onProgress', 1, null],
  signal: [true, {}, 'abort', new AbortController()],
};

interface Fn {
  name: string;
  call: (options: Record<string, unknown>) => unknown;
  options: Record<string, Kind>;
  conflicts?: [string, unknown, string, unknown][];
}

let pool: ReturnType<typeof createPool> | undefined;
const usePool = (): unknown => (pool ??= createPool(workerFiles.stats, { workers: 1 }));
after(() => pool?.destroy());

const FNS: Fn[] = [
  { name: 'openShared', call: (o) => openShared(raw, [16], o), options: { mode: 'choice', offset: 'uint', advice: 'choice', window: 'bool' } },
  { name: 'createShared', call: (o) => createShared(tmp.path('made.f32'), [4], o), options: { npy: 'bool', overwrite: 'bool', fileMode: 'uint', advice: 'choice' } },
  { name: 'SharedStore.create', call: (o) => SharedStore.create(o), options: { dir: 'string', minFree: 'uint' } },
  { name: 'SharedStore.sweep', call: (o) => SharedStore.sweep(o), options: { base: 'string' } },
  { name: 'store.create', call: (o) => store.create('made.f32', [4], o), options: { npy: 'bool' } },
  { name: 'store.extractZip', call: (o) => store.extractZip(raw, o), options: { columns: 'int' } },
  {
    name: 'store.extractAll', call: (o) => store.extractAll([raw], o), options: { columns: 'int', workers: 'int', runtime: 'choice' },
    conflicts: [['pool', usePool, 'workers', 2]],
  },
  { name: 'createPool', call: (o) => createPool(workerFiles.stats, o), options: { workers: 'int', runtime: 'choice' } },
  {
    name: 'columnStats', call: (o) => columnStats(input, o), options: { workers: 'int', runtime: 'choice', timeout: 'int', signal: 'signal' },
    conflicts: [['pool', usePool, 'workers', 2], ['pool', usePool, 'runtime', 'worker_threads']],
  },
  {
    name: 'normalize', call: (o) => normalize(input, output, { mean: [0, 0, 0, 0], std: [1, 1, 1, 1] }, o), options: { workers: 'int', runtime: 'choice' },
    conflicts: [['pool', usePool, 'workers', 2]],
  },
  {
    name: 'gzipParallel', call: (o) => gzipParallel(raw, tmp.path('out.gz'), o),
    options: { workers: 'int', runtime: 'choice', level: 'uint', chunkSize: 'int', singleMember: 'bool', timeout: 'int', signal: 'signal' },
    conflicts: [['pool', usePool, 'workers', 2], ['pool', usePool, 'runtime', 'child_process']],
  },
  {
    name: 'runBenchmark', call: (o) => runBenchmark(o),
    options: { files: 'int', bytes: 'int', columns: 'int', workers: 'int', repeat: 'int', runtimes: 'list', modes: 'list', workDir: 'string', onProgress: 'function' },
  },
  { name: 'generateDataset', call: (o) => generateDataset({ dir: tmp.path('gen'), ...o }), options: { files: 'int', bytes: 'int', columns: 'int', seed: 'uint', level: 'uint' } },
];

async function fails(fn: Fn, options: Record<string, unknown>, code: ShmErrorCode = 'ERR_SHM_BAD_ARGUMENT'): Promise<string> {
  let result: unknown;
  try {
    result = fn.call(options);
  } catch {
    return throwsWithCode(() => fn.call(options), code).message;
  }
  return (await rejectsWithCode(Promise.resolve(result), code)).message;
}

for (const fn of FNS) {
  describe(fn.name, () => {
    for (const [key, kind] of Object.entries(fn.options)) {
      test(`${key}: wrong types, NaN, ±Infinity, negatives and fractions are ERR_SHM_BAD_ARGUMENT naming the option`, async () => {
        for (const value of BAD[kind]) {
          if (kind === 'uint' && value === 0) continue;
          const message = await fails(fn, { [key]: value });
          assert.match(message, new RegExp(key), `${key} = ${String(value)}`);
        }
      });
    }
    test('an unknown (misspelt) key is ERR_SHM_BAD_ARGUMENT listing the known ones', async () => {
      const message = await fails(fn, { wrokers: 2 });
      assert.match(message, /no option "wrokers"/);
    });
    test('options that are not an object are ERR_SHM_BAD_ARGUMENT', async () => {
      await fails(fn, 'fast' as never);
    });
    for (const [a, av, b, bv] of fn.conflicts ?? []) {
      test(`${a} with ${b} is ERR_SHM_BAD_ARGUMENT: the ${a} decides`, async () => {
        const message = await fails(fn, { [a]: typeof av === 'function' ? (av as () => unknown)() : av, [b]: bv });
        assert.match(message, new RegExp(`both ${a} and ${b}`));
      });
    }
  });
}

test('nothing was created by any refused call (no file, no temp file)', () => {
  assert.deepEqual(readdirSync(tmp.dir).filter((n) => !n.startsWith('shmarray-')).sort(), ['in.f32', 'out.f32', 'raw.f32']);
  assert.deepEqual(store.files(), []);
});
