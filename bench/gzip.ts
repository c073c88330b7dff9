/**
 * Parallel gzip on 256 MiB of random float32 (as np.random.rand gives), of the benchmark's sensor
 * float32 and of CSV text, side by side, each tool a whole process: gzip -6, pigz -6 -p 2, Node's
 * single-thread zlib.gzipSync (in this process), and `shmarray gzip` with 1 and 2 workers
 * (multi-member and single-member). Then size and speed per level (1–9) on random floats and CSV,
 * and the peak memory of `shmarray gzip` on 1 MiB (baseline), 256 MiB and 4 GiB mapped inputs,
 * sampled from outside the process.
 *   npm run bench:gzip [-- --size 256 --big 4096 --level-size 64 --memory-only --json bench/out/gzip.json]
 */
import { execFileSync, execSync, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { compressionEngine } from '../dist/index.js';
import { fillRows, stopwatch } from '../dist/bench/index.js';
import { fillRandom, machine, printTable, samplePeak, timeAsync, writeJson } from './report.js';

const { values } = parseArgs({ options: { size: { type: 'string', default: '256' }, big: { type: 'string', default: '4096' }, 'level-size': { type: 'string', default: '64' }, json: { type: 'string', default: 'bench/out/gzip.json' }, 'memory-only': { type: 'boolean', default: false } } });
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

type Kind = 'rand' | 'f32' | 'csv';
const KIND_NAMES: Record<Kind, string> = { rand: 'random float32 (np.random.rand)', f32: 'sensor float32', csv: 'CSV text' };

/** Writes `bytes` of random float32, of sensor float32 rows, or of the same rows as CSV text, in 16 MiB pieces. */
function makeInput(path: string, bytes: number, kind: Kind): void {
  const fd = openSync(path, 'w');
  const rows = (4 * MiB) / 4;
  const block = new Float32Array(rows * 4);
  for (let written = 0, first = 0; written < bytes; first += rows) {
    if (kind === 'rand') fillRandom(block, first + 1);
    else fillRows(block, 4, first, 3);
    let piece: Buffer;
    if (kind !== 'csv') piece = Buffer.from(block.buffer);
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
  console.log(`engine: ${compressionEngine()}`);
  for (const kind of values['memory-only'] ? [] : (['rand', 'f32', 'csv'] as const)) {
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
      const seconds = await timeAsync(() => execFileSync(process.execPath, [cli, 'gzip', input, '-o', out, '--workers', String(workers), '--level', '6', ...(single ? ['--single-member'] : [])]));
      execFileSync('gzip', ['-t', out]);
      rows.push({ tool: `shmarray gzip, ${workers} worker${workers > 1 ? 's' : ''}${single ? ', single member' : ''}`, seconds, bytes: statSync(out).size });
      rmSync(out);
    }
    const node = rows.find((r) => r.tool.startsWith('node'));
    const pigz = rows.find((r) => r.tool.startsWith('pigz'));
    const ref = rows.find((r) => r.tool.startsWith('gzip'));
    console.log(`\n${KIND_NAMES[kind]}, ${values.size} MiB`);
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

  // Size and speed per level: the engine's own levels (libdeflate's 1–9 are not zlib's).
  const levelSize = Number(values['level-size']) * MiB;
  const levels: { input: Kind; level: number; seconds: number; bytes: number; gzipBytes: number }[] = [];
  for (const kind of values['memory-only'] ? [] : (['rand', 'csv'] as const)) {
    const input = join(work, `level.${kind}`);
    makeInput(input, levelSize, kind);
    const out = join(work, 'level.gz');
    for (let level = 1; level <= 9; level++) {
      const seconds = await timeAsync(() => execFileSync(process.execPath, [cli, 'gzip', input, '-o', out, '--workers', '2', '--level', String(level)]));
      const bytes = statSync(out).size;
      rmSync(out);
      const gzipBytes = execSync(`gzip -${level} -c ${input} | wc -c`, { encoding: 'utf8' });
      levels.push({ input: kind, level, seconds, bytes, gzipBytes: Number(gzipBytes.trim()) });
    }
    rmSync(input);
  }
  if (levels.length > 0) {
    console.log(`\nshmarray gzip --workers 2 per level, ${values['level-size']} MiB inputs (size vs gzip at the same level)`);
    printTable(['input', 'level', 'seconds', 'MiB/s', 'output', 'vs gzip -N size'], levels.map((l) => [
      KIND_NAMES[l.input], String(l.level), l.seconds.toFixed(2), (levelSize / MiB / l.seconds).toFixed(0), `${(l.bytes / MiB).toFixed(2)} MiB (${((100 * l.bytes) / levelSize).toFixed(1)}%)`, `${(((l.bytes - l.gzipBytes) / l.gzipBytes) * 100).toFixed(2)}%`,
    ]));
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
  writeJson(values.json, { machine: machine(), engine: compressionEngine(), results, levels, memory });
  writeFileSync(join(work, '.done'), '');
  console.log(`\nJSON: ${values.json}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
