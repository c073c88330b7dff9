// Every option of every public function, tried with wrong types, NaN, ±Infinity, negatives,
// fractions, unknown keys and conflicting keys: each is ERR_SHM_BAD_ARGUMENT before any work.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import {
  choosePlacement, columnStats, partialColumnStats, SharedCache, createPool, createShared, describeShared, extractZips, gzipParallel, workerFiles, normalize, openShared, openSharedCached, SharedStore,
  zipsUncompressedBytes, type ShmErrorCode,
} from '../dist/index.js';
import { runBenchmark, generateDataset } from '../dist/bench/index.js';
import { rejectsWithCode, tempDir, throwsWithCode } from './helpers.js';

const tmp = tempDir('shmarray-options-');
after(() => tmp.dispose());
const raw = tmp.path('raw.f32');
writeFileSync(raw, new Uint8Array(64));
const input = createShared(tmp.path('in.f32'), [4, 4]);
const output = createShared(tmp.path('out.f32'), [4, 4]);
const store = await SharedStore.create({ dir: tmp.dir });
// The cache calls open a cache first (that is not refused): in a directory of their own.
const caches = tempDir('shmarray-options-caches-');
after(() => caches.dispose());
after(() => store.dispose());

type Kind = 'int' | 'uint' | 'choice' | 'bool' | 'path' | 'list' | 'function' | 'signal';
const BAD: Record<Kind, unknown[]> = {
  int: ['3', NaN, Infinity, -Infinity, 0, -1, 1.5, true, null, {}],
  uint: ['3', NaN, Infinity, -Infinity, -1, 1.5, null],
  choice: ['bogus', 1, NaN, null, ['r']],
  bool: ['yes', 1, null],
  path: ['', 1, null, '/dev/shm/a\0b'],
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
  { name: 'describeShared', call: (o) => describeShared(raw, { shape: [16], ...o }), options: { offset: 'uint', window: 'bool', mode: 'choice' } },
  { name: 'createShared', call: (o) => createShared(tmp.path('made.f32'), [4], o), options: { npy: 'bool', overwrite: 'bool', fileMode: 'uint', advice: 'choice' } },
  { name: 'SharedStore.create', call: (o) => SharedStore.create(o), options: { dir: 'path', minFree: 'uint' } },
  { name: 'SharedStore.sweep', call: (o) => SharedStore.sweep(o), options: { base: 'path' } },
  { name: 'store.create', call: (o) => store.create('made.f32', [4], o), options: { npy: 'bool' } },
  { name: 'store.extractZip', call: (o) => store.extractZip(raw, o), options: { columns: 'int' } },
  {
    name: 'store.extractAll', call: (o) => store.extractAll([raw], o), options: { columns: 'int', workers: 'int', runtime: 'choice', onArchive: 'function' },
    conflicts: [['pool', usePool, 'workers', 2]],
  },
  {
    name: 'extractZips', call: (o) => extractZips([raw], tmp.path('zips-out'), o), options: { columns: 'int', workers: 'int', runtime: 'choice', onArchive: 'function' },
    conflicts: [['pool', usePool, 'workers', 2]],
  },
  { name: 'createPool', call: (o) => createPool(workerFiles.stats, o), options: { workers: 'int', runtime: 'choice' } },
  {
    // workers: 0 is valid here (no pool: this thread); with it, a runtime has no meaning.
    name: 'columnStats', call: (o) => columnStats(input, o), options: { workers: 'uint', runtime: 'choice', timeout: 'int', signal: 'signal' },
    conflicts: [['pool', usePool, 'workers', 2], ['pool', usePool, 'runtime', 'worker_threads'], ['workers', 0, 'runtime', 'worker_threads']],
  },
  {
    name: 'partialColumnStats', call: (o) => partialColumnStats(input, o), options: { workers: 'uint', runtime: 'choice', timeout: 'int', signal: 'signal' },
    conflicts: [['pool', usePool, 'workers', 2], ['workers', 0, 'runtime', 'child_process']],
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
    options: { files: 'int', bytes: 'int', columns: 'int', workers: 'int', repeat: 'int', runtimes: 'list', modes: 'list', workDir: 'path', onProgress: 'function' },
  },
  { name: 'SharedCache.open', call: (o) => SharedCache.open({ dir: caches.dir, ...o }), options: { dir: 'path' } },
  { name: 'cache.get', call: async (o) => (await SharedCache.open({ dir: caches.dir })).get('k', () => {}, o), options: { timeout: 'int', signal: 'signal' } },
  { name: 'cache.extractZip', call: async (o) => (await SharedCache.open({ dir: caches.dir })).extractZip(raw, o), options: { columns: 'int', timeout: 'int', signal: 'signal' } },
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
      assert.match(message, /no option "wrokers"; its options are /);
      for (const key of Object.keys(fn.options)) assert.ok(message.includes(key), `the known option ${key} is listed: ${message}`);
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

describe('a NUL byte in a path argument is ERR_SHM_BAD_ARGUMENT naming the argument (not Node\'s TypeError)', () => {
  const nul = tmp.path('a\0b.f32');
  const calls: [string, string, () => unknown][] = [
    ['openShared(path)', "openShared's path", () => openShared(nul, [4])],
    ['openShared(handle)', 'handle.path', () => openShared({ ...input.handle, path: nul })],
    ['createShared', "createShared's path", () => createShared(nul, [4])],
    ['describeShared', "describeShared's path", () => describeShared(nul, { shape: [4] })],
    ['openSharedCached', 'handle.path', () => openSharedCached({ ...input.handle, path: nul })],
    ['store.extractZip', "store.extractZip's zipPath", () => store.extractZip(nul)],
    ['store.extractAll', "store.extractAll's zipPaths[0]", () => store.extractAll([nul])],
    ['extractZips (an archive)', "extractZips's zipPaths[0]", () => extractZips([nul], tmp.path('zips'))],
    ['extractZips (the directory)', "extractZips's dir", () => extractZips([raw], nul)],
    ['zipsUncompressedBytes', "zipsUncompressedBytes's zipPaths[0]", () => zipsUncompressedBytes([nul])],
    ['gzipParallel (the input)', "gzipParallel's input", () => gzipParallel(nul, tmp.path('nul.gz'))],
    ['gzipParallel (the output)', "gzipParallel's outputPath", () => gzipParallel(input, tmp.path('o\0ut.gz'))],
    ['choosePlacement', "choosePlacement's dir", () => choosePlacement(16, nul)],
  ];
  for (const [name, argument, call] of calls) {
    test(`${name}: names ${argument}, shows no temporary name`, async () => {
      const message = await fails({ name, call, options: {} }, {});
      assert.ok(message.startsWith(`${argument} must be a non-empty string without NUL bytes`), message);
      assert.doesNotMatch(message, /\.tmp/);
    });
  }
});

test('a hand-made handle without npy and with a string offset: the message and details name both fields', () => {
  const { npy: _npy, ...partial } = input.handle;
  const err = throwsWithCode(() => openShared({ ...partial, offset: '0' } as never), 'ERR_SHM_BAD_ARGUMENT');
  assert.match(err.message, /missing npy; offset must be a number/);
  assert.equal(err.details['missing'], 'npy');
  assert.equal(err.details['wrong'], 'offset must be a number');
});

test('nothing was created by any refused call (no file, no temp file)', () => {
  assert.deepEqual(readdirSync(tmp.dir).filter((n) => !n.startsWith('shmarray-')).sort(), ['in.f32', 'out.f32', 'raw.f32']);
  assert.deepEqual(store.files(), []);
});
