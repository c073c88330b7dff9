/**
 * The seed scenario end to end (issue 13), whole processes side by side: `shmarray stats` on 15
 * zips of 2,000,000 × 4 np.random.rand float32 (bench/seed_data.py) against Python's fix
 * (bench/python_fix.py: 2 worker processes extract to /dev/shm, the parent memmaps and sums the
 * columns — less work than shmarray's mean, std, min and max). Runs alternate (A B A B …) after
 * one warm-up of each; the ratio is the median of the per-pair ratios. Then, in runs of their own
 * (reading /proc/PID/smaps_rollup costs the measured process time), the peak RSS and anonymous
 * memory of the shmarray process (its worker threads included), sampled from outside it.
 *   npm run bench:seed [-- --repeat 7 --data /tmp/shmarray-seed --json bench/out/seed.json]
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { machine, median, printTable, samplePeak, writeJson } from './report.js';

const { values } = parseArgs({
  options: {
    repeat: { type: 'string', default: '7' },
    data: { type: 'string', default: '/tmp/shmarray-seed' },
    json: { type: 'string', default: 'bench/out/seed.json' },
  },
});
const repeat = Number(values.repeat);
const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));
const MiB = 2 ** 20;

if (spawnSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' }).status !== 0) {
  console.error('Python 3 with numpy is needed for the seed data and the anchor: apt-get install -y python3-numpy');
  process.exit(1);
}
const dir = values.data;
if (!existsSync(dir) || readdirSync(dir).filter((f) => f.endsWith('.zip')).length !== 15) {
  console.error(`writing the seed data (15 zips, 480 MB of floats) into ${dir}…`);
  const made = spawnSync('python3', [here('./seed_data.py'), dir], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (made.status !== 0) process.exit(1);
}
const zips = readdirSync(dir).filter((f) => f.endsWith('.zip')).sort().map((f) => join(dir, f));

/** Wall seconds of one whole process, and its peak memory (sampled every 10 ms) if asked. */
async function run(command: string, args: string[], sample: boolean): Promise<{ seconds: number; rss: number; anonymous: number }> {
  const start = process.hrtime.bigint();
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise<number | null>((ok) => child.once('exit', ok));
  const peak = sample ? await samplePeak(child.pid ?? 0, exited, 10) : { rss: 0, anonymous: 0 };
  const code = await exited;
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (code !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${String(code)}`);
  return { seconds, ...peak };
}

const cli = [here('../dist/cli/bin.js'), 'stats', ...zips, '--columns', '4'];
const python = [here('./python_fix.py'), ...zips];
const ours: Awaited<ReturnType<typeof run>>[] = [];
const theirs: number[] = [];
for (let r = 0; r < repeat + 1; r++) {
  const a = await run(process.execPath, cli, false);
  const b = await run('python3', python, false);
  if (r === 0) continue; // warm-up: archives in the page cache
  ours.push(a);
  theirs.push(b.seconds);
}
const a = median(ours.map((o) => o.seconds));
const b = median(theirs);
const ratio = median(ours.map((o, i) => o.seconds / (theirs[i] as number)));
const sampled = [await run(process.execPath, cli, true), await run(process.execPath, cli, true), await run(process.execPath, cli, true)];
const rss = Math.max(...sampled.map((o) => o.rss));
const anonymous = Math.max(...sampled.map((o) => o.anonymous));
const mapped = 15 * 32e6;
printTable(['measure', 'value', 'target'], [
  ['shmarray stats (15 zips: 2 addon threads extract, stats in its own thread), wall', `${a.toFixed(3)} s`, ''],
  ["Python's fix (2 processes, memmap, column sums), wall", `${b.toFixed(3)} s`, ''],
  ['shmarray / Python (median of pairs)', `${ratio.toFixed(2)}×`, '≤ 0.5×'],
  ['shmarray peak RSS (mapped data included)', `${(rss / MiB).toFixed(0)} MiB (data ${(mapped / MiB).toFixed(0)} MiB)`, ''],
  ['shmarray peak anonymous memory (beyond the mapped data)', `${(anonymous / MiB).toFixed(1)} MiB`, '≤ 64 MiB'],
]);
writeJson(values.json, { machine: machine(), repeat, shmarraySeconds: a, pythonSeconds: b, ratio, peakRss: rss, peakAnonymous: anonymous, mappedBytes: mapped });
console.log(`\nJSON: ${values.json}`);
