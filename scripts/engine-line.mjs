// Runs at install, after node-gyp-build has found or built the addon: one line saying which addon
// was taken and which compression engine it has, and, when that is the zlib fallback, how to get
// libdeflate. Without it a clone that installed libdeflate-dev after its first build silently kept
// the zlib build (node-gyp-build reuses build/Release). It never fails the install.
import { existsSync } from 'node:fs';
// At install dist/ (and its door, src/core/native.ts) is not built yet in a clone: this loads the addon itself.
// eslint-disable-next-line no-restricted-imports
import { createRequire } from 'node:module';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);
try {
  const path = process.env.SHMARRAY_BINDING || require('node-gyp-build').path(root);
  const engine = require(path).ENGINE;
  let line = `shmarray: addon ${relative(root, path)}, compression: ${engine}`;
  if (engine.startsWith('zlib')) {
    // A clone rebuilds with its script; an installed dependency with npm's from-source switch.
    const rebuild = root.split('/').includes('node_modules') ? '`npm rebuild shmarray --build-from-source`' : '`npm run build:native`';
    const header = ['/usr/include/libdeflate.h', '/usr/local/include/libdeflate.h'].some((p) => existsSync(p));
    line += header
      ? ` — libdeflate-dev is installed now: ${rebuild} rebuilds with it (gzip about 2× faster)`
      : ` — for libdeflate (gzip about 2× faster): apt-get install libdeflate-dev, then ${rebuild}`;
  }
  console.log(line);
} catch (err) {
  console.log(`shmarray: the addon could not be loaded to name its engine (${String(err && err.message).split('\n')[0]})`);
}
