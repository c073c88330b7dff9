// npm run test:install — proves an install needs no compiler: packs the package (with its
// prebuilt addons), installs the tarball into a fresh project with a PATH holding only node and
// npm (no cc, c++, g++, make, python3), and runs a map + worker-thread round trip there under
// Node 20, 22, 24 and 26. Then times that install against one from a tarball without prebuilds
// (compiled at install, full PATH).   Usage: node scripts/install-check.mjs
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { root, unpackNode } from './node-builds.mjs';

const work = mkdtempSync(join(tmpdir(), 'shmarray-install-'));
const npmCli = join(dirname(process.execPath), '../lib/node_modules/npm/bin/npm-cli.js');
const bare = join(work, 'bin'); // PATH for the installs and runs: node and npm, nothing else
mkdirSync(bare);
symlinkSync(process.execPath, join(bare, 'node'));
writeFileSync(join(bare, 'npm'), `#!/bin/sh\nexec ${process.execPath} ${npmCli} "$@"\n`, { mode: 0o755 });
const tools = spawnSync('/bin/sh', ['-c', 'for t in cc c++ g++ make python3; do command -v $t; done'], { env: { PATH: bare }, encoding: 'utf8' }).stdout.trim();
if (tools !== '') throw new Error(`the bare PATH still finds: ${tools}`);

function pack(withPrebuilds) {
  if (!withPrebuilds) rmSync(join(root, 'prebuilds'), { recursive: true, force: true });
  else if (!existsSync(join(root, 'prebuilds'))) execFileSync('npm', ['run', 'build:prebuilds'], { cwd: root, stdio: 'inherit' });
  const out = join(work, withPrebuilds ? 'with' : 'without');
  mkdirSync(out);
  // Without prebuilds: --ignore-scripts, or prepack would build them again (dist/ is built already).
  execFileSync('npm', ['pack', '--silent', ...(withPrebuilds ? [] : ['--ignore-scripts']), '--pack-destination', out], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  return join(out, readdirSync(out).find((f) => f.endsWith('.tgz')));
}

function install(tarball, name, path) {
  const dir = join(work, name);
  mkdirSync(dir);
  // npm 11 runs a dependency's install script only when the project approves it (a tarball is named by its file: spec).
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', type: 'module', allowScripts: { shmarray: true, [`file:${tarball}`]: true } }));
  writeFileSync(join(dir, 'roundtrip.mjs'), `import { Worker } from 'node:worker_threads';
import { createShared } from 'shmarray';
const a = createShared('/dev/shm/shmarray-install-' + process.pid + '.f32', 1024, { overwrite: true });
a.data[7] = 7.5;
const seen = await new Promise((resolve, reject) => new Worker("import('shmarray/worker').then(({ openShared }) => require('node:worker_threads').parentPort.postMessage(openShared(require('node:worker_threads').workerData).data[7]))", { eval: true, workerData: a.handle }).once('message', resolve).once('error', reject));
a.close();
(await import('node:fs')).rmSync(a.path);
console.log(JSON.stringify({ node: process.version, seen }));
`);
  const t0 = process.hrtime.bigint();
  // npm looks its script shell up on PATH; name it instead, so the bare PATH stays node + npm.
  const env = { ...process.env, PATH: path, npm_config_script_shell: '/bin/sh' };
  const r = spawnSync('npm', ['install', '--no-audit', '--no-fund', tarball], { cwd: dir, env, encoding: 'utf8' });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`npm install failed:\n${r.stdout}\n${r.stderr}`);
  return { dir, seconds, compiled: existsSync(join(dir, 'node_modules/shmarray/build/Release/shmarray.node')) };
}

const withPrebuilds = pack(true);
const bareInstall = install(withPrebuilds, 'no-compiler', bare);
const rows = [];
for (const major of ['20', '22', '24', '26']) {
  const node = major === process.versions.node.split('.')[0] ? { bin: process.execPath, version: process.version } : unpackNode(major);
  const r = spawnSync(node.bin, ['roundtrip.mjs'], { cwd: bareInstall.dir, env: { PATH: bare }, encoding: 'utf8' });
  rows.push({ node: node.version, ok: r.status === 0 && JSON.parse(r.stdout || '{}').seen === 7.5, detail: (r.stdout + r.stderr).trim().split('\n').at(-1) });
}
const fromSource = install(pack(false), 'from-source', process.env.PATH);
const sourceRun = spawnSync(process.execPath, ['roundtrip.mjs'], { cwd: fromSource.dir, encoding: 'utf8' });
rows.push({ node: `${process.version} (from source)`, ok: sourceRun.status === 0 && fromSource.compiled, detail: (sourceRun.stdout + sourceRun.stderr).trim().split('\n').at(-1) });
execFileSync('npm', ['run', 'build:prebuilds'], { cwd: root, stdio: 'ignore' }); // leave the checkout as it was

console.log(`\ninstall of the packed tarball into a fresh project (registry reachable, npm cache warm):`);
console.log(`  with prebuilds, PATH = node + npm only: ${bareInstall.seconds.toFixed(1)} s, compiled at install: ${bareInstall.compiled}`);
console.log(`  without prebuilds, compiled (full PATH): ${fromSource.seconds.toFixed(1)} s, compiled at install: ${fromSource.compiled}`);
console.log('\nmap + worker round trip in the no-compiler install:');
for (const r of rows) console.log(`  ${r.node.padEnd(9)} ${r.ok ? 'ok' : `FAILED: ${r.detail}`}`);
const failed = rows.filter((r) => !r.ok).length + (bareInstall.compiled ? 1 : 0);
console.log(`${rows.length + 1 - failed} passed, ${failed} failed`);
rmSync(work, { recursive: true, force: true });
process.exitCode = failed === 0 ? 0 : 1;
