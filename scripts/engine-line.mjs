// Runs at install, after node-gyp-build has found or built the addon: one line saying which addon
// was taken and which compression engine it has, and, when that is the zlib fallback, how to get
// libdeflate. Without it a clone that installed libdeflate-dev after its first build silently kept
// the zlib build (node-gyp-build reuses build/Release). It never fails the install.
import { existsSync } from 'node:fs';
// At install dist/ (and its door, src/core/native.ts) is not built yet in a clone: this loads the addon itself.
// eslint-disable-next-line no-restricted-imports
import { createRequire } from 'node:module';
import { relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { addonAdvice } from './addon-advice.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);
const inDependency = root.split('/').includes('node_modules');
let path = '(no build and no prebuilt binary for this platform and Node)';
try {
  // A relative $SHMARRAY_BINDING is relative to where the command runs, as the library reads it.
  path = process.env.SHMARRAY_BINDING ? resolve(process.env.SHMARRAY_BINDING) : require('node-gyp-build').path(root);
  const engine = require(path).ENGINE;
  let line = `shmarray: addon ${relative(root, path)}, compression: ${engine}`;
  if (engine.startsWith('zlib')) {
    // A clone rebuilds with its script; an installed dependency with npm's from-source switch.
    const rebuild = inDependency ? '`npm rebuild shmarray --build-from-source`' : '`npm run build:native`';
    const header = ['/usr/include/libdeflate.h', '/usr/local/include/libdeflate.h'].some((p) => existsSync(p));
    line += header
      ? ` — libdeflate-dev is installed now: ${rebuild} rebuilds with it (gzip about 2× faster)`
      : ` — for libdeflate (gzip about 2× faster): apt-get install libdeflate-dev, then ${rebuild}`;
  }
  console.log(line);
} catch (err) {
  // One line (Node's ABI message spans three): the cause, then what to do. The install still
  // succeeds: importing shmarray then fails with the same advice (ERR_SHM_NATIVE).
  const advice = addonAdvice(String(err && err.message), { nodedir: process.env.npm_config_nodedir, inDependency });
  const shown = path.startsWith(root) ? relative(root, path) : path;
  console.log(`shmarray: WARNING: the addon ${shown} does not load: ${advice}`);
}
