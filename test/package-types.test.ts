// shmarray's declarations as a user's strict TypeScript program sees them (skipLibCheck: false):
// they must not pull a dependency's types in — tinypool's own .d.ts does not compile against
// current @types/node — so the declarations reachable from the entries import only shmarray's
// own files and node's; apache-arrow's alone, because a SharedTable's `table` is its Table (the
// strict program below compiles against them).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');

/** The .d.ts files reachable from `entry` through its imports and re-exports, and the bare modules they name. */
function declarations(entry: string): { files: Set<string>; bare: Set<string> } {
  const files = new Set<string>();
  const bare = new Set<string>();
  const visit = (file: string): void => {
    if (files.has(file)) return;
    files.add(file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)) {
      const spec = (m[1] ?? m[2]) as string;
      if (spec.startsWith('.')) visit(resolve(dirname(file), spec.replace(/\.js$/, '.d.ts')));
      else bare.add(spec);
    }
  };
  visit(join(dist, entry));
  return { files, bare };
}

for (const entry of ['index.d.ts', 'worker.d.ts', 'bench/index.d.ts']) {
  test(`dist/${entry} reaches no dependency's types but apache-arrow's: only shmarray's own declarations, node:* and apache-arrow`, () => {
    const { bare } = declarations(entry);
    assert.deepEqual([...bare].filter((s) => !s.startsWith('node:') && s !== 'apache-arrow'), []);
  });
}

const work = mkdtempSync(join(root, '.types-check-'));
after(() => rmSync(work, { recursive: true, force: true }));
test("a user's strict program (skipLibCheck: false) compiles against the built package", () => {
  writeFileSync(join(work, 'user.ts'), `
import { columnStats, createPool, openShared, openSharedTable, SharedCache, SharedStore, type SharedArray, type WorkerPool } from 'shmarray';
import type { Table } from 'apache-arrow';
export const rows = async (): Promise<number> => { const t: Table = (await openSharedTable('t.arrow')).table; return t.numRows; };
import { mergeColumnStats, openShared as openInWorker } from 'shmarray/worker';
import { runBenchmark } from 'shmarray/bench';
const a: SharedArray = openShared('x.npy');
const pool: WorkerPool = createPool('./w.js', { workers: 1 });
export const used = [a, pool, columnStats, SharedCache, SharedStore, mergeColumnStats, openInWorker, runBenchmark];
`);
  writeFileSync(join(work, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { strict: true, skipLibCheck: false, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', noEmit: true, types: ['node'] },
    files: ['user.ts'],
  }));
  // The directory lies inside the package, so 'shmarray' resolves to it by its own name (its exports).
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(work, 'tsconfig.json')], { encoding: 'utf8' });
});
