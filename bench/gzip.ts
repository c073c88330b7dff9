/**
 * Parallel gzip on a 256 MiB float32 file and a 256 MiB CSV text, side by side: gzip -6,
 * pigz -6 -p 2, Node's single-thread zlib.gzipSync, and shmarray gzip with 1 and 2 workers
 * (multi-member and single-member). Then the peak memory of `shmarray gzip` on 1 MiB (baseline),
 * 256 MiB and 2 GiB mapped inputs, sampled from outside the process.
 *   npm run bench:gzip [-- --size 256 --big 2048 --memory-only --json bench/out/gzip.json]
 */
import { execFileSync, execSync, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { gzipParallel } from '../dist/index.js';
import { fillRows } from '../dist/bench/index.js';
import { machine, printTable, samplePeak, timeAsync, writeJson } from './report.js';
import { stopwatch } from '../dist/core/clock.js';

const { values } = parseArgs({ options: { size: { type: 'string', default: '256' }, big: { type: 'string', default: '2048' }, json: { type: 'string', default: 'bench/out/gzip.json' }, 'memory-only': { type: 'boolean', default: false } } });
const MiB = 2 ** 20;
const size = Number(values.size) * MiB;
const cli = fileURLToPath(new URL('../dist/cli/bin.js', import.meta.url));

function ensure(tool: string): void {
  try {
    execFileSync('which', [tool], { stdio: 'ignore' });
  } catch {
    console.error(`${tool} is missing: installing it from Debian…`);
    execSync(`apt-get update -qq && apt-get install -y -qq ${tool}`, { stdio: 'inherit' });
  }
}

/** Writes `bytes` of float32 rows, or of the same rows as CSV text, in 16 MiB pieces. */
function makeInput(path: string, bytes: number, kind: 'f32' | 'csv'): void {
  const fd = openSync(path, 'w');
  const rows = (4 * MiB) / 4;
  const block = new Float32Array(rows * 4);
  for (let written = 0, first = 0; written < bytes; first += rows) {
    fillRows(block, 4, first, 3);
    let piece: Buffer;
    if (kind === 'f32') piece = Buffer.from(block.buffer);
    else {
      const lines: string[] = [];
      for (let r = 0; r < rows; r++) lines.push(`${block[r * 4]?.toFixed(3)},${block[r * 4 + 1]},${block[r * 4 + 2]},${block[r * 4 + 3]}\n`);
      piece = Buffer.from(lines.join(''));
    }
    const n = Math.min(piece.length, bytes - written);
    writeSync(fd, piece, 0, n);
    written += n;
  }
  closeSync(fd);
}

/** Peak RSS and anonymous memory of `shmarray gzip` on `input`, sampled every 10 ms from this process. */
async function peakMemory(input: string, out: string): Promise<{ rss: number; anonymous: number; seconds: number }> {
  const elapsed = stopwatch();
  const child = spawn(process.execPath, [cli, 'gzip', input, '-o', out, '--workers', '2'], { stdio: 'ignore' });
  const { rss, anonymous } = await samplePeak(child.pid ?? 0, new Promise((r) => child.once('exit', r)), 10);
  return { rss, anonymous, seconds: elapsed() };
}

ensure('pigz');
ensure('gzip');
const work = mkdtempSync('/dev/shm/shmarray-bench-gzip-');
const results: Record<string, unknown>[] = [];
try {
  for (const kind of values['memory-only'] ? [] : (['f32', 'csv'] as const)) {
    const input = join(work, `input.${kind}`);
    console.error(`making a ${values.size} MiB ${kind} input…`);
    makeInput(input, size, kind);
    const rows: { tool: string; seconds: number; bytes: number }[] = [];
    const out = join(work, 'out.gz');
    const shell = async (tool: string, cmd: string): Promise<void> => {
      const seconds = await timeAsync(() => execSync(cmd));
      rows.push({ tool, seconds, bytes: statSync(out).size });
      rmSync(out);
    };
    await shell('gzip -6', `gzip -6 -c ${input} > ${out}`);
    await shell('pigz -6 -p 2', `pigz -6 -p 2 -c ${input} > ${out}`);
    {
      const data = readFileSync(input);
      let z = Buffer.alloc(0);
      const seconds = await timeAsync(() => (z = gzipSync(data, { level: 6 })));
      rows.push({ tool: 'node zlib.gzipSync (1 thread)', seconds, bytes: z.length });
    }
    for (const [workers, single] of [[1, false], [2, false], [2, true]] as const) {
      let bytes = 0;
      const seconds = await timeAsync(async () => (bytes = (await gzipParallel(input, out, { workers, level: 6, singleMember: single })).bytesOut));
      execFileSync('gzip', ['-t', out]);
      rows.push({ tool: `shmarray gzip, ${workers} worker${workers > 1 ? 's' : ''}${single ? ', single member' : ''}`, seconds, bytes });
      rmSync(out);
    }
    const node = rows.find((r) => r.tool.startsWith('node'));
    const pigz = rows.find((r) => r.tool.startsWith('pigz'));
    const ref = rows.find((r) => r.tool.startsWith('gzip'));
    console.log(`\n${kind === 'f32' ? 'float32' : 'CSV text'}, ${values.size} MiB`);
    printTable(['tool', 'seconds', 'MiB/s', 'vs node 1-thread', 'vs pigz -p 2', 'output', 'vs gzip -6 size'], rows.map((r) => [
      r.tool,
      r.seconds.toFixed(2),
      (size / MiB / r.seconds).toFixed(0),
      `${((node?.seconds ?? NaN) / r.seconds).toFixed(2)}×`,
      `${((pigz?.seconds ?? NaN) / r.seconds).toFixed(2)}×`,
      `${(r.bytes / MiB).toFixed(2)} MiB`,
      `${(((r.bytes - (ref?.bytes ?? NaN)) / (ref?.bytes ?? NaN)) * 100).toFixed(3)}%`,
    ]));
    results.push({ input: kind, bytes: size, rows });
    rmSync(input);
  }

  const memory: Record<string, unknown>[] = [];
  // 1 MiB: the process's own baseline (Node, two worker threads, the module), for comparison.
  for (const mib of [1, Number(values.size), Number(values.big)]) {
    const input = join(work, `mem-${mib}.f32`);
    console.error(`making a ${mib} MiB float32 input for the memory run…`);
    makeInput(input, mib * MiB, 'f32');
    const m = await peakMemory(input, join(work, 'mem.gz'));
    memory.push({ bytes: mib * MiB, peakRss: m.rss, peakAnonymous: m.anonymous, seconds: m.seconds });
    rmSync(input);
    rmSync(join(work, 'mem.gz'), { force: true });
  }
  console.log('\nshmarray gzip --workers 2 (worker_threads), mapped input, peak memory of the whole process');
  printTable(['input', 'peak RSS', 'peak anonymous', 'seconds'], memory.map((m) => [`${((m['bytes'] as number) / MiB).toFixed(0)} MiB`, `${((m['peakRss'] as number) / MiB).toFixed(1)} MiB`, `${((m['peakAnonymous'] as number) / MiB).toFixed(1)} MiB`, (m['seconds'] as number).toFixed(1)]));
  writeJson(values.json, { machine: machine(), results, memory });
  writeFileSync(join(work, '.done'), '');
  console.log(`\nJSON: ${values.json}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
