// Why shmarray's addon did not load, and what to do about it. One home for two callers: the install
// line (scripts/engine-line.mjs, which runs before dist/ exists in a clone) and the library's native
// door (src/core/native.ts), so an install and a failing import give the same answer.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The Node version whose headers are in `nodedir` (node-gyp's layout), or undefined. */
function headersVersion(nodedir) {
  try {
    const h = readFileSync(join(nodedir, 'include/node/node_version.h'), 'utf8');
    const part = (name) => new RegExp(`#define NODE_${name}_VERSION (\\d+)`).exec(h)?.[1];
    const [major, minor, patch] = ['MAJOR', 'MINOR', 'PATCH'].map(part);
    return major === undefined ? undefined : `v${major}.${minor}.${patch}`;
  } catch {
    return undefined;
  }
}

/**
 * Why a load failed and its fix, as a sentence or two to follow "the addon X does not load: ".
 * `message` is the load error's (its whitespace folded to one line here); `nodedir` npm's nodedir
 * setting when known (npm passes it to scripts as npm_config_nodedir); `inDependency` whether shmarray is installed in an app (npm rebuild) or is
 * this repository (npm run build:native).
 * @param {string} message
 * @param {{ nodedir?: string | undefined, inDependency: boolean }} options
 * @returns {string}
 */
export function addonAdvice(message, { nodedir, inDependency }) {
  const rebuild = inDependency ? '`npm rebuild shmarray`' : '`npm run build:native`';
  const reason = message.replace(/\s+/g, ' ').trim();
  // Node: "…compiled against a different Node.js version using NODE_MODULE_VERSION 127. This
  // version of Node.js requires NODE_MODULE_VERSION 115. …" — built for the first, needs the second.
  const abi = /NODE_MODULE_VERSION (\d+)[^]*?NODE_MODULE_VERSION (\d+)/.exec(reason);
  const build = `building needs python3, make and a C++ compiler (see native-notes/)`;
  if (/^Cannot find module /.test(reason)) {
    // Node's message then lists a require stack of shmarray's own files: not the user's concern.
    return `there is no file there: nothing was built (an install with --ignore-scripts, or npm ≥ 11 skipping install scripts not approved, builds nothing). Build it with ${rebuild}; ${build}.`;
  }
  if (abi === null) return `${reason}. Rebuild it with ${rebuild}; ${build}.`;
  // Node's own sentence gives the numbers, not the cause, and its "npm rebuild" alone would repeat a nodedir mistake.
  const cause = `it was built for Node ABI ${abi[1]}, and this Node (${process.version}) needs ABI ${abi[2]}`;
  const headers = nodedir ? headersVersion(nodedir) : undefined;
  if (nodedir && headers !== process.version) {
    // npm gives node-gyp its nodedir setting (often a line in .npmrc): a rebuild would use the same headers.
    return (
      `${cause}: the build used the headers in npm's nodedir setting (${nodedir}${headers ? `, Node ${headers}` : ''}). ` +
      `Remove that setting (\`npm config delete nodedir\`, or its line in .npmrc), then ${rebuild}.`
    );
  }
  return `${cause}. Rebuild it under this Node: ${rebuild} (if \`npm config get nodedir\` names other Node headers, \`npm config delete nodedir\` first).`;
}
