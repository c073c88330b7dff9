/**
 * Four independent processes (spawned one by one, none the parent of another — as pm2 instances
 * or queue workers are) each make the benchmark's 15-archive dataset ready to read: with the
 * node-wide cache (SharedCache.extractZip) vs each with its own SharedStore (extractAll), the
 * anchor being what every process does today. Measured in one run, side by side: Σ PSS of the 4
 * once all are ready and have touched every page, Shmem growth (/proc/meminfo), and each one's
 * time until it can read; an idle Node process's PSS is measured too, for the goal
 * "cache ≤ 1.1 × dataset + 4 × idle Node".
 *   npm run build && node --import tsx bench/cache.ts [--mib 240] [--files 15]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { memoryUsage, SharedCache, SharedStore, type SharedArray } from '../dist/index.js';
import { generateDataset, stopwatch } from '../dist/bench/index.js';
import { machine, median, printTable } from './report.js';

type Mode = 'cache' | 'store' | 'idle';
interface Ready { pid: number; seconds: number; built: number; sum: number }

if (process.argv[2] === '--child') {
  const [, , , mode, dir, ...zips] = process.argv as [string, string, string, Mode, string, ...string[]];
  const elapsed = stopwatch();
  let arrays: { data: ArrayLike<number> }[] = [];
  let built = 0;
  if (mode === 'cache') {
    const cache = await SharedCache.open({ name: 'bench', dir });
    // One key per archive, all asked for at once: their builds run side by side, as extractAll's do.
    for (const e of await Promise.all(zips.map((z) => cache.extractZipEntry(z, { columns: 4 })))) {
      built += e.built ? 1 : 0;
      arrays.push(...(e.arrays as SharedArray<'float32'>[])); // extracted as float32 (columns, no dtype: the default)
    }
  } else if (mode === 'store') {
    const store = await SharedStore.create({ dir });
    arrays = await store.extractAll(zips, { columns: 4, dtype: 'float32' });
    built = zips.length;
  } // 'idle': nothing but the library loaded
  const seconds = elapsed();
  let sum = 0;
  for (const a of arrays) for (let i = 0; i < a.data.length; i += 1024) sum += a.data[i] ?? 0; // touch every page
  process.stdout.write(`${JSON.stringify({ pid: process.pid, seconds, built, sum } satisfies Ready)}\n`);
  setInterval(() => {}, 1 << 30); // hold until killed
} else {
  const { values } = parseArgs({ options: { mib: { type: 'string', default: '240' }, files: { type: 'string', default: '15' } } });
  const bytes = Number(values.mib) * 2 ** 20;
  const work = mkdtempSync('/dev/shm/shmarray-bench-cache-');
  try {
    const data = await generateDataset({ dir: join(work, 'data'), files: Number(values.files), bytes, columns: 4 });
    const zips = data.map((d) => d.path);
    const shmem = (): number => Number(/^Shmem:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1]) * 1024;
    const start = (mode: Mode, dir: string): { proc: ChildProcess; ready: Promise<Ready> } => {
      const proc = spawn(process.execPath, ['--import', 'tsx', new URL(import.meta.url).pathname, '--child', mode, dir, ...zips], { stdio: ['ignore', 'pipe', 'inherit'] });
      const ready = new Promise<Ready>((r) => createInterface({ input: proc.stdout as NonNullable<ChildProcess['stdout']> }).once('line', (l) => r(JSON.parse(l) as Ready)));
      return { proc, ready };
    };
    const stop = async (procs: ChildProcess[]): Promise<void> => {
      await Promise.all(procs.map((p) => new Promise((r) => { p.once('exit', r); p.kill(); })));
    };
    const idle = start('idle', work);
    const idleReady = await idle.ready;
    const idlePss = memoryUsage(idleReady.pid).pss ?? 0;
    await stop([idle.proc]);

    const rows: { mode: Mode; pss: number; shmem: number; first: number; rest: number; built: number }[] = [];
    for (const mode of ['cache', 'store'] as const) {
      const dir = mkdtempSync(join(work, `${mode}-`));
      const before = shmem();
      // One after another, as pm2 starts (or restarts) instances: the first extracts; with the
      // cache, the others only map. Each time is the process's own, from before its first call.
      const first = start(mode, dir);
      const r1 = await first.ready;
      const others: ReturnType<typeof start>[] = [];
      const rs: Ready[] = [];
      for (let i = 0; i < 3; i++) {
        others.push(start(mode, dir));
        rs.push(await (others.at(-1) as ReturnType<typeof start>).ready);
      }
      const all = [r1, ...rs];
      rows.push({
        mode,
        pss: all.reduce((s, r) => s + (memoryUsage(r.pid).pss ?? 0), 0),
        shmem: shmem() - before,
        first: r1.seconds,
        rest: median(rs.map((r) => r.seconds)),
        built: all.reduce((s, r) => s + r.built, 0),
      });
      await stop([first.proc, ...others.map((o) => o.proc)]);
      rmSync(dir, { recursive: true, force: true });
    }
    const mib = (n: number): string => `${(n / 2 ** 20).toFixed(0)} MiB`;
    const ms = (s: number): string => `${(s * 1e3).toFixed(0)} ms`;
    const m = machine();
    console.log(`${m.cores} cores ${m.cpu}, ${mib(m.memoryBytes)}, Node ${m.node}, Linux ${m.kernel}`);
    console.log(`4 independent processes, each making ${zips.length} archives (${mib(bytes)} of float32) ready; idle Node + shmarray PSS ${mib(idlePss)}`);
    printTable(
      ['each process uses', 'extractions', 'Σ PSS', 'Shmem growth', '1st ready', '2nd–4th ready (median)'],
      rows.map((r) => [r.mode === 'cache' ? 'SharedCache (one per machine)' : 'its own SharedStore', String(r.built), mib(r.pss), mib(r.shmem), ms(r.first), ms(r.rest)]),
    );
    const [cache, store] = rows as [(typeof rows)[number], (typeof rows)[number]];
    console.log(`cache Σ PSS = ${(cache.pss / (bytes + 4 * idlePss)).toFixed(2)} × (dataset + 4 idle Node) (goal ≤ 1.1); own stores ${(store.pss / bytes).toFixed(2)} × dataset`);
    console.log(`cache: 2nd–4th ready in ${((cache.rest / cache.first) * 100).toFixed(1)} % of one extraction (goal ≤ 5 %); Shmem ${(store.shmem / cache.shmem).toFixed(2)} × less than own stores`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
