import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { addonPath, compressionEngine } from '../dist/index.js';
// @ts-expect-error -- a plain .mjs build script, without types
import { buildAddon, thisNodedir, unpackNode } from '../scripts/node-builds.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = fileURLToPath(new URL('../dist/cli/bin.js', import.meta.url));
// What the build used, read from the build itself (node-gyp's makefile for the addon), not from
// what /usr/include holds now: installing libdeflate-dev after a build must not fail this suite.
const targetMk = `${root}build/shmarray.target.mk`;
const builtWithLibdeflate = existsSync(targetMk) ? readFileSync(targetMk, 'utf8').includes('-DSHMARRAY_LIBDEFLATE') : undefined;

test('deflate is libdeflate when libdeflate-dev was there at build time, else the zlib inside Node; inflate is Node\'s zlib; shmarray info --engine says which, and the addon file it loaded', () => {
  const engine = compressionEngine();
  if (process.env['SHMARRAY_BINDING'] === undefined && builtWithLibdeflate !== undefined) {
    assert.match(engine, builtWithLibdeflate ? /^libdeflate \d+\.\d+\S* \(deflate\), zlib \d+\.\d+\S* of Node \(inflate\)$/ : /^zlib \d+\.\d+\S* of Node \(deflate, inflate\)$/);
  }
  const addon = addonPath();
  assert.ok(existsSync(addon) && addon.endsWith('.node'), addon);
  assert.equal(execFileSync(process.execPath, [cli, 'info', '--engine'], { encoding: 'utf8' }), `${engine}\naddon: ${addon}\n`);
  assert.deepEqual(JSON.parse(execFileSync(process.execPath, [cli, 'info', '--engine', '--json'], { encoding: 'utf8' })), { engine, addon });
});

test('the install line names the addon this checkout loads and its engine', () => {
  const line = execFileSync(process.execPath, [`${root}scripts/engine-line.mjs`], { encoding: 'utf8' });
  assert.match(line, /^shmarray: addon \S+\.node, compression: /);
  assert.ok(line.includes(`compression: ${compressionEngine()}`), line);
  assert.equal(line.split('\n').length, 2, 'one line');
});

test("an addon built with npm's nodedir naming another Node's headers: the install line and ERR_SHM_NATIVE name both ABIs, the nodedir, and how to fix it", { timeout: 600_000, skip: process.env['SHMARRAY_BINDING'] !== undefined && 'running under a given SHMARRAY_BINDING' }, () => {
  // Another LTS line than this one: its headers from the npm package, as a .npmrc nodedir would give.
  const other = process.versions.node.startsWith('22.') ? '24' : '22';
  const node = unpackNode(other) as { nodedir: string; version: string; abi: string };
  const built = buildAddon(`nodedir-${other}`, node.nodedir) as { ok: boolean; path?: string; log?: string };
  assert.ok(built.ok, built.log);
  // Relative to the working directory, as a user would give it.
  const binding = relative(process.cwd(), built.path as string);
  const env = { ...process.env, SHMARRAY_BINDING: binding, npm_config_nodedir: node.nodedir };
  const line = execFileSync(process.execPath, [`${root}scripts/engine-line.mjs`], { env, encoding: 'utf8' });
  assert.equal(line.split('\n').length, 2, 'one line');
  const why = `built for Node ABI ${node.abi}, and this Node (${process.version}) needs ABI ${process.versions.modules}: the build used the headers in npm's nodedir setting (${node.nodedir}, Node ${node.version}). Remove that setting (\`npm config delete nodedir\`, or its line in .npmrc), then \`npm run build:native\`.`;
  assert.ok(line.startsWith(`shmarray: WARNING: the addon ${relative(root, built.path as string)} does not load: it was ${why}`), line);
  const script = `import(${JSON.stringify(`${root}dist/index.js`)}).then((m) => { try { m.compressionEngine(); } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); } })`;
  const err = JSON.parse(execFileSync(process.execPath, ['-e', script], { env, encoding: 'utf8' })) as { code: string; message: string };
  assert.equal(err.code, 'ERR_SHM_NATIVE');
  assert.equal(err.message, `shmarray's addon ${built.path} does not load: it was ${why}`);
});

// Run only by the suite under its own addon: a run under SHMARRAY_BINDING is this test's nested run.
const nested = process.env['SHMARRAY_BINDING'] !== undefined;

test("built with only a C++ compiler (the zlib inside Node), the addon passes the zip, store and gzip suites", { timeout: 600_000, skip: nested && 'running under a given SHMARRAY_BINDING' }, () => {
  const nodedir = thisNodedir() as string | undefined;
  assert.ok(nodedir !== undefined, `no Node headers beside ${process.execPath}; set npm_config_nodedir`);
  const built = buildAddon('engine-zlib', nodedir, { engine: 'zlib' }) as { ok: boolean; path?: string; log?: string };
  assert.ok(built.ok, built.log);
  const binding = built.path as string;
  const engine = execFileSync(process.execPath, ['-p', `require(${JSON.stringify(binding)}).ENGINE`], { encoding: 'utf8' }).trim();
  assert.match(engine, /^zlib \S+ of Node \(deflate, inflate\)$/);
  // What `npm install` prints for such a build: the engine, and the command that changes it.
  const line = execFileSync(process.execPath, [`${root}scripts/engine-line.mjs`], { env: { ...process.env, SHMARRAY_BINDING: binding }, encoding: 'utf8' });
  assert.match(line, /compression: zlib \S+ of Node \(deflate, inflate\) — .*libdeflate-dev.*`npm run build:native`/);
  const suites = ['zip', 'store', 'gzip'].map((s) => `test/${s}.test.ts`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=tap', ...suites], {
    cwd: root,
    // Without NODE_TEST_CONTEXT: the nested runner then reports as a run of its own.
    env: { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_TEST_CONTEXT')), SHMARRAY_BINDING: binding },
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  const count = (name: string): number => Number(new RegExp(`^# ${name} (\\d+)$`, 'm').exec(r.stdout)?.[1] ?? NaN);
  const failures = r.stdout.split('\n').filter((l) => /^\s*not ok/.test(l)).join('\n');
  assert.equal(r.status, 0, `${failures}\n${r.stderr.slice(-2000)}`);
  assert.equal(count('fail'), 0);
  assert.ok(count('pass') > 50, `only ${count('pass')} tests ran`);
});
