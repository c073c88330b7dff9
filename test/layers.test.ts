/**
 * The layers of the built package, read from the import statements of dist/ (what Node loads,
 * type-only imports erased): core < jobs < store < bench < cli, and the entries reach only what
 * they promise.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const dist = fileURLToPath(new URL('../dist/', import.meta.url));

function jsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? jsFiles(join(dir, e.name)) : e.name.endsWith('.js') ? [join(dir, e.name)] : []));
}

/** Every module specifier a file imports or re-exports, statically or by a literal import(). */
function specifiers(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const found: string[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|^\s*import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/gm)) {
    found.push((m[1] ?? m[2] ?? m[3]) as string);
  }
  return found;
}

/** The graph: each dist-relative module → the dist-relative modules and bare packages it imports. */
const graph = new Map<string, string[]>(
  jsFiles(dist).map((file) => [
    relative(dist, file),
    specifiers(file).map((s) => (s.startsWith('.') ? relative(dist, resolve(dirname(file), s)) : s)),
  ]),
);

function reach(entry: string): Set<string> {
  const seen = new Set<string>();
  const todo = [entry];
  while (todo.length > 0) {
    const m = todo.pop() as string;
    if (seen.has(m)) continue;
    seen.add(m);
    todo.push(...(graph.get(m) ?? []));
  }
  return seen;
}

const layer = (m: string): string => (m.includes('/') ? (m.split('/')[0] as string) : m.endsWith('.js') ? 'entry' : `package ${m}`);

function importsOf(floor: string): [string, string][] {
  return [...graph].filter(([m]) => layer(m) === floor).flatMap(([m, deps]) => deps.map((d): [string, string] => [m, d]));
}

test('the graph was read: dist holds the five floors and their import statements', () => {
  for (const floor of ['core', 'store', 'jobs', 'bench', 'cli']) assert.ok([...graph.keys()].some((m) => layer(m) === floor), `no ${floor}/ in dist`);
  assert.ok((graph.get('core/shared-array.js') ?? []).includes('core/native.js'), 'core/shared-array.js → core/native.js not seen');
});

test('core imports nothing from store, jobs, bench, cli or the entries', () => {
  const bad = importsOf('core').filter(([, d]) => ['store', 'jobs', 'bench', 'cli', 'entry'].includes(layer(d)));
  assert.deepEqual(bad, []);
});

test('jobs imports nothing from store, bench, cli or the entries', () => {
  const bad = importsOf('jobs').filter(([, d]) => ['store', 'bench', 'cli', 'entry'].includes(layer(d)));
  assert.deepEqual(bad, []);
});

test('store imports nothing from bench, cli or the entries', () => {
  const bad = importsOf('store').filter(([, d]) => ['bench', 'cli', 'entry'].includes(layer(d)));
  assert.deepEqual(bad, []);
});

test('bench imports nothing from cli or the entries', () => {
  const bad = importsOf('bench').filter(([, d]) => ['cli', 'entry'].includes(layer(d)) && d !== 'bench/index.js');
  assert.deepEqual(bad, []);
});

/**
 * Leaf modules the CLI may import past the public entries: they import nothing but ShmArrayError,
 * so parsing arguments and `shmarray --version` need not load the library (0.1 s: tinypool,
 * yauzl, the addon's door); the commands themselves still go through the public entries.
 */
const CLI_LEAVES = ['core/errors.js', 'core/dtype.js', 'core/units.js', 'bench/modes.js', 'core/text-table.js'];

test('the CLI uses only the public entries (shmarray, shmarray/bench), its own files, and the leaf modules that import no more than ShmArrayError', () => {
  const bad = importsOf('cli').filter(([, d]) => d.endsWith('.js') && !(layer(d) === 'cli' || d === 'index.js' || d === 'bench/index.js' || CLI_LEAVES.includes(d)));
  assert.deepEqual(bad, []);
  for (const leaf of CLI_LEAVES) {
    assert.deepEqual([...reach(leaf)].filter((m) => m.endsWith('.js') && m !== leaf && m !== 'core/errors.js'), [], `${leaf} stays a leaf`);
  }
});

test('shmarray (dist/index.js) reaches no benchmark code', () => {
  const bench = [...reach('index.js')].filter((m) => layer(m) === 'bench');
  assert.deepEqual(bench, []);
});

/** The pure modules of jobs/ that the worker entry may reach: merging partial statistics. */
const PURE_JOBS = ['jobs/partial-stats.js', 'jobs/stats-math.js'];

test('shmarray/worker (dist/worker.js) reaches neither tinypool nor yauzl, nor the store, nor the jobs but their pure stats merge', () => {
  const reached = [...reach('worker.js')];
  assert.ok(reached.includes('core/native.js'), 'the worker entry does not reach the mapping core');
  assert.ok(reached.includes('jobs/partial-stats.js'), 'the worker entry offers mergeColumnStats');
  assert.deepEqual(reached.filter((m) => m === 'tinypool' || m === 'yauzl' || (['store', 'jobs', 'bench', 'cli'].includes(layer(m)) && !PURE_JOBS.includes(m))), []);
});
