/**
 * What waiting for another process's build costs (issue 31): a builder takes 2 s to build a key
 * while 4 other processes ask for it; each waiter reports the CPU time it spent waiting
 * (process.cpuUsage: user + system) and how long after the builder had its entry it got its own
 * (the wake-up delay, on one clock: performance.timeOrigin + now). Two builds of shmarray side by
 * side in one run, alternating: this checkout's (A: woken by the directory's changes) and `--vs`'s
 * dist (B: e.g. a worktree of the commit before, which polled every 50 ms).
 *   npm run build && node --import tsx bench/cache-wait.ts --vs /tmp/before/dist [--rounds 5]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { median, printTable } from './report.js';

const { values } = parseArgs({ options: { vs: { type: 'string' }, rounds: { type: 'string', default: '5' }, role: { type: 'string' }, dist: { type: 'string' }, dir: { type: 'string' } } });
const now = (): number => performance.timeOrigin + performance.now();

if (values.role !== undefined) {
  // A builder or a waiter, in a process of its own, using the shmarray at --dist.
  const { SharedCache } = (await import(join(values.dist as string, 'index.js'))) as typeof import('../dist/index.js');
  const cache = await SharedCache.open({ name: 'wait', dir: values.dir as string });
  if (values.role === 'builder') {
    const entry = await cache.get('k', async (b) => {
      b.create('t.f32', [1024]).data.fill(1);
      console.log('building');
      await new Promise((r) => setTimeout(r, 2000));
    });
    console.log(JSON.stringify({ at: now() }));
    await new Promise((r) => setTimeout(r, 300));
    entry.release();
  } else {
    const cpu = process.cpuUsage();
    const entry = await cache.get('k', () => {
      throw new Error('a waiter must not build');
    });
    const at = now();
    const used = process.cpuUsage(cpu);
    console.log(JSON.stringify({ at, cpuMs: (used.user + used.system) / 1000 }));
    entry.release();
  }
  process.exit(0);
}

const self = fileURLToPath(import.meta.url);
function run(dist: string, dir: string, role: string): { line: () => Promise<string>; exit: Promise<unknown> } {
  const p = spawn(process.execPath, ['--import', 'tsx', self, '--role', role, '--dist', dist, '--dir', dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  const waiting: ((l: string) => void)[] = [];
  createInterface({ input: p.stdout }).on('line', (l) => (waiting.length > 0 ? (waiting.shift() as (l: string) => void)(l) : lines.push(l)));
  return { line: () => new Promise((r) => (lines.length > 0 ? r(lines.shift() as string) : waiting.push(r))), exit: new Promise((r) => p.once('exit', r)) };
}

/** One round: a builder, then 4 waiters once it is building; their CPU and wake-up delays. */
async function round(dist: string): Promise<{ cpuMs: number[]; wakeMs: number[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'shmarray-cache-wait-'));
  try {
    const builder = run(dist, dir, 'builder');
    if ((await builder.line()) !== 'building') throw new Error('the builder did not start');
    const waiters = Array.from({ length: 4 }, () => run(dist, dir, 'waiter'));
    const sealed = (JSON.parse(await builder.line()) as { at: number }).at;
    const got = (await Promise.all(waiters.map((w) => w.line()))).map((l) => JSON.parse(l) as { at: number; cpuMs: number });
    await Promise.all([builder.exit, ...waiters.map((w) => w.exit)]);
    return { cpuMs: got.map((g) => g.cpuMs), wakeMs: got.map((g) => g.at - sealed) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const a = fileURLToPath(new URL('../dist/', import.meta.url));
const sides = values.vs === undefined ? [['A: this checkout', a]] : [['A: this checkout', a], [`B: ${values.vs}`, values.vs]];
const results = new Map<string, { cpuMs: number[]; wakeMs: number[] }>(sides.map(([name]) => [name as string, { cpuMs: [], wakeMs: [] }]));
for (let r = 0; r < Number(values.rounds); r++) {
  for (const [name, dist] of sides) {
    const x = await round(dist as string);
    const acc = results.get(name as string) as { cpuMs: number[]; wakeMs: number[] };
    acc.cpuMs.push(...x.cpuMs);
    acc.wakeMs.push(...x.wakeMs);
  }
}
console.log(`a 2 s build, 4 waiting processes, ${values.rounds} rounds (medians over every waiter)`);
printTable(['shmarray', "a waiter's CPU during the wait", 'wake-up after the seal'], [...results].map(([name, x]) => [name, `${median(x.cpuMs).toFixed(1)} ms`, `${median(x.wakeMs).toFixed(1)} ms`]));
