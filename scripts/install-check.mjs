// npm run test:install — proves an install needs no compiler: packs the package (with its
// prebuilt addons), installs the tarball into a fresh project with a PATH holding only node and
// npm (no cc, c++, g++, make, python3), and runs a map + worker-thread round trip there under
// Node 20, 22, 24 and 26. Then times that install against one from a tarball without prebuilds
// (compiled at install, full PATH). linux-arm64: scripts/arm64-check.mjs.
//   Usage: node scripts/install-check.mjs
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { root, unpackNode } from './node-builds.mjs';
import { barePath, installTarball, packTarball, roundTrip } from './install-kit.mjs';

const work = mkdtempSync(join(tmpdir(), 'shmarray-install-'));
try {
  const bare = barePath(join(work, 'bin'));
  const bareInstall = installTarball(packTarball(join(work, 'with'), true), join(work, 'no-compiler'), bare);
  const rows = [];
  for (const major of ['20', '22', '24', '26']) {
    const node = major === process.versions.node.split('.')[0] ? { bin: process.execPath, version: process.version } : unpackNode(major);
    rows.push({ node: node.version, ...roundTrip(bareInstall.dir, node.bin, bare) });
  }
  const fromSource = installTarball(packTarball(join(work, 'without'), false), join(work, 'from-source'), process.env.PATH);
  const sourceRun = roundTrip(fromSource.dir, process.execPath, process.env.PATH);
  rows.push({ node: `${process.version} (from source)`, ok: sourceRun.ok && fromSource.compiled, detail: sourceRun.detail });
  execFileSync('npm', ['run', 'build:prebuilds'], { cwd: root, stdio: 'ignore' }); // leave the checkout as it was

  console.log(`\ninstall of the packed tarball into a fresh project (registry reachable, npm cache warm):`);
  console.log(`  with prebuilds, PATH = node + npm only: ${bareInstall.seconds.toFixed(1)} s, compiled at install: ${bareInstall.compiled}`);
  console.log(`  without prebuilds, compiled (full PATH): ${fromSource.seconds.toFixed(1)} s, compiled at install: ${fromSource.compiled}`);
  console.log('\nmap + worker round trip in the no-compiler install:');
  for (const r of rows) console.log(`  ${r.node.padEnd(9)} ${r.ok ? 'ok' : `FAILED: ${r.detail}`}`);
  const failed = rows.filter((r) => !r.ok).length + (bareInstall.compiled ? 1 : 0);
  console.log(`${rows.length + 1 - failed} passed, ${failed} failed`);
  process.exitCode = failed === 0 ? 0 : 1;
} finally {
  rmSync(work, { recursive: true, force: true });
}
