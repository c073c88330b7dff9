// What scripts/install-check.mjs (x64) and scripts/arm64-check.mjs (arm64 under qemu) share: a
// PATH holding only node and npm, the packed tarball, a fresh project that installs it, and a
// map + worker-thread round trip to run there.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { root } from './node-builds.mjs';

/** This machine's npm, as a script any Node (of any architecture) can run. */
export const npmCli = join(dirname(process.execPath), '../lib/node_modules/npm/bin/npm-cli.js');

/**
 * A directory to be the whole PATH: `node` (the given binary) and `npm` (this machine's npm run
 * by that node), nothing else. Throws if a compiler or python3 can still be found through it.
 */
export function barePath(dir, nodeBin = process.execPath) {
  mkdirSync(dir, { recursive: true });
  symlinkSync(nodeBin, join(dir, 'node'));
  writeFileSync(join(dir, 'npm'), `#!/bin/sh\nexec ${nodeBin} ${npmCli} "$@"\n`, { mode: 0o755 });
  const tools = spawnSync('/bin/sh', ['-c', 'for t in cc c++ g++ make python3; do command -v $t; done'], { env: { PATH: dir }, encoding: 'utf8' }).stdout.trim();
  if (tools !== '') throw new Error(`the bare PATH still finds: ${tools}`);
  return dir;
}

/**
 * `npm pack` of this checkout into `out`; returns the tarball. With prebuilds, prepack builds them
 * (every architecture); without, the tarball has none (--ignore-scripts: dist/ is built already).
 */
export function packTarball(out, withPrebuilds) {
  if (!withPrebuilds) rmSync(join(root, 'prebuilds'), { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  execFileSync('npm', ['pack', '--silent', ...(withPrebuilds ? [] : ['--ignore-scripts']), '--pack-destination', out], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  return join(out, readdirSync(out).find((f) => f.endsWith('.tgz')));
}

/** The round trip: a float written here is read through openShared in a worker thread. */
const ROUNDTRIP = `import { Worker } from 'node:worker_threads';
import { createShared } from 'shmarray';
const a = createShared('/dev/shm/shmarray-install-' + process.pid + '.f32', 1024, { overwrite: true });
a.data[7] = 7.5;
const seen = await new Promise((resolve, reject) => new Worker("import('shmarray/worker').then(({ openShared }) => require('node:worker_threads').parentPort.postMessage(openShared(require('node:worker_threads').workerData).data[7]))", { eval: true, workerData: a.handle }).once('message', resolve).once('error', reject));
a.close();
(await import('node:fs')).rmSync(a.path);
console.log(JSON.stringify({ node: process.version, arch: process.arch, seen }));
`;

/**
 * Installs `tarball` into a new project `dir` with `PATH` = `path`; returns how long it took and
 * whether the addon was compiled at install (build/Release exists) rather than taken prebuilt.
 */
export function installTarball(tarball, dir, path) {
  mkdirSync(dir, { recursive: true });
  // npm 11 runs a dependency's install script only when the project approves it (a tarball is named by its file: spec).
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'shmarray-install-check', version: '1.0.0', type: 'module', allowScripts: { shmarray: true, [`file:${tarball}`]: true } }));
  writeFileSync(join(dir, 'roundtrip.mjs'), ROUNDTRIP);
  const t0 = process.hrtime.bigint();
  // npm looks its script shell up on PATH; name it instead, so the bare PATH stays node + npm.
  const env = { ...process.env, PATH: path, npm_config_script_shell: '/bin/sh' };
  const r = spawnSync('npm', ['install', '--no-audit', '--no-fund', tarball], { cwd: dir, env, encoding: 'utf8' });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`npm install failed:\n${r.stdout}\n${r.stderr}`);
  return { dir, seconds, compiled: existsSync(join(dir, 'node_modules/shmarray/build/Release/shmarray.node')) };
}

/** Runs the round trip in an installed project under `nodeBin`; ok when the worker read 7.5. */
export function roundTrip(dir, nodeBin, path) {
  const r = spawnSync(nodeBin, ['roundtrip.mjs'], { cwd: dir, env: { PATH: path }, encoding: 'utf8' });
  let seen;
  try {
    seen = JSON.parse(r.stdout || '{}').seen;
  } catch {
    seen = undefined;
  }
  return { ok: r.status === 0 && seen === 7.5, detail: (r.stdout + r.stderr).trim().split('\n').at(-1) ?? '' };
}
