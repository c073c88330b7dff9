/**
 * An .npz of 1 GiB of float32 (np.savez), read three ways, each in a fresh process, in one run:
 *  - numpy: `np.load(path)['X']` (numpy reads the array into memory; an .npz cannot be memory-mapped);
 *  - shmarray, extracted: `store.extractNpz(path).X` for an entry whose data are misaligned
 *    (numpy's usual case) — inflated once into tmpfs, then mapped;
 *  - shmarray, in place: `openNpz(path).XX` for the same data in an entry that lands aligned
 *    (a 2-character name as the first array does, with numpy 2.4), CRC-checked, then with verify: false.
 * Each process reports the time to its first array and its own memory beyond its start: peak RSS
 * growth for numpy, anonymous memory and tmpfs bytes written for shmarray; every case then sums X
 * (touching every page) so that all have read the data. Runs alternate, medians of `--repeat`.
 *   npm run bench:npz [-- --repeat 5 --mib 1024 --dir /tmp/shmarray-npz]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { machine, median, printTable, writeJson } from './report.js';

const { values } = parseArgs({
  options: {
    repeat: { type: 'string', default: '5' },
    mib: { type: 'string', default: '1024' },
    dir: { type: 'string', default: '/tmp/shmarray-npz' },
    json: { type: 'string', default: 'bench/out/npz.json' },
  },
});
const repeat = Number(values.repeat);
const mib = Number(values.mib);
const dir = values.dir;
const dist = fileURLToPath(new URL('../dist/index.js', import.meta.url));
if (spawnSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' }).status !== 0) {
  console.error('Python 3 with numpy is needed (apt-get install -y python3-numpy)');
  process.exit(1);
}
const misaligned = join(dir, 'misaligned.npz');
const aligned = join(dir, 'aligned.npz');
if (!existsSync(misaligned) || !existsSync(aligned) || statSync(misaligned).size < mib * 2 ** 20) {
  mkdirSync(dir, { recursive: true });
  console.error(`writing ${mib} MiB of float32 twice with np.savez into ${dir} …`);
  const made = spawnSync('python3', ['-c', `import numpy as np, sys
X = np.random.default_rng(0).random((${mib} * 2**20 // 256, 64), dtype=np.float32)
np.savez(sys.argv[1], X=X)
np.savez(sys.argv[2], XX=X)`, misaligned, aligned], { stdio: 'inherit' });
  if (made.status !== 0) process.exit(1);
}

type Result = { seconds: number; memory: number; tmpfs: number; sum: number };
const parse = (out: string): Result => JSON.parse(out.trim().split('\n').pop() as string) as Result;

/** numpy: np.load(...)['X'], timed; memory = peak RSS growth (ru_maxrss) over the process's start. */
function numpy(): Result {
  const r = spawnSync('python3', ['-c', `import json, resource, sys, time, numpy as np
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
X = np.load(sys.argv[1])['X']
seconds = time.perf_counter() - t
s = float(X.sum(dtype=np.float64))
print(json.dumps({'seconds': seconds, 'memory': (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) * 1024, 'tmpfs': 0, 'sum': s}))`, misaligned], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(r.stderr);
  return parse(r.stdout);
}

/** shmarray in a fresh Node: the first array's time, then its anonymous memory growth and the store's bytes. */
function shmarray(how: 'extract' | 'in place' | 'in place, verify: false'): Result {
  const body =
    how === 'extract'
      ? `const store = await m.SharedStore.create(); const X = (await store.extractNpz(${JSON.stringify(misaligned)})).X; const tmpfs = store.bytes();`
      : `const X = m.openNpz(${JSON.stringify(aligned)}, { verify: ${how === 'in place'} }).XX; const tmpfs = 0; if (!X.inPlace) throw new Error('not in place');`;
  const script = `const m = await import(${JSON.stringify(dist)});
const base = m.memoryUsage().anonymous;
const t = process.hrtime.bigint();
${body}
const seconds = Number(process.hrtime.bigint() - t) / 1e9;
let s = 0; const d = X.data; for (let i = 0; i < d.length; i++) s += d[i];
console.log(JSON.stringify({ seconds, memory: m.memoryUsage().anonymous - base, tmpfs, sum: s }));
${how === 'extract' ? 'await store.dispose();' : ''}`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return parse(r.stdout);
}

const cases = ['numpy np.load(npz)["X"]', 'shmarray store.extractNpz (misaligned: extracted)', 'shmarray openNpz (aligned: in place, CRC checked)', 'shmarray openNpz (in place, verify: false)'] as const;
const runs: Result[][] = cases.map(() => []);
for (let r = 0; r < repeat + 1; r++) {
  const round = [numpy(), shmarray('extract'), shmarray('in place'), shmarray('in place, verify: false')];
  if (r === 0) continue; // warm-up: the archives in the page cache
  round.forEach((x, i) => runs[i]?.push(x));
}
const sums = runs.map((rs) => rs[0]?.sum ?? NaN);
// The same data in every case: numpy's float64 sum and ours agree to float32 rounding.
if (sums.some((s) => Math.abs(s - (sums[0] as number)) > 1e-6 * Math.abs(sums[0] as number))) throw new Error(`the sums disagree: ${sums.join(', ')}`);
const MiB = 2 ** 20;
const numpySeconds = median(runs[0]?.map((x) => x.seconds) ?? []);
const rows = cases.map((name, i) => {
  const rs = runs[i] ?? [];
  const seconds = median(rs.map((x) => x.seconds));
  return [name, `${(seconds * 1000).toFixed(1)} ms`, `${(numpySeconds / seconds).toFixed(1)}×`, `${(median(rs.map((x) => x.memory)) / MiB).toFixed(1)} MiB`, `${(median(rs.map((x) => x.tmpfs)) / MiB).toFixed(0)} MiB`];
});
console.log(`${mib} MiB of float32 in an .npz (np.savez, stored); medians of ${repeat} runs after a warm-up, each in a fresh process`);
printTable(['case', 'time to the first array', 'numpy ÷ this', 'process memory growth', 'tmpfs written'], rows);
writeJson(values.json, { machine: machine(), mib, repeat, cases: cases.map((name, i) => ({ name, runs: runs[i] })) });
if (process.env['SHMARRAY_BENCH_KEEP'] !== '1' && values.dir === '/tmp/shmarray-npz') rmSync(dir, { recursive: true, force: true });
