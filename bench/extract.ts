/**
 * Zip extraction: shmarray's streamed extractZip next to `unzip -p entry > file` on the same
 * archive (one 512 MiB entry, output on tmpfs), the peak memory of the extracting process, and
 * extractAll with 1 vs 2 workers on 15 archives (240 MiB).
 *   npm run bench:extract [-- --entry 512 --json bench/out/extract.json]
 */
import { execFileSync, execSync, fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { createPool, workerFiles, memoryUsage, SharedStore } from '../dist/index.js';
import { fillRows, generateDataset, writeZip } from '../dist/bench/index.js';
import { machine, median, printTable, samplePeak, timeAsync, writeJson } from './report.js';

const { values } = parseArgs({
  options: {
    entry: { type: 'string', default: '512' },
    repeat: { type: 'string', default: '3' },
    json: { type: 'string', default: 'bench/out/extract.json' },
  },
});
const MiB = 2 ** 20;
const entryBytes = Number(values.entry) * MiB;
const repeat = Number(values.repeat);

function ensureUnzip(): void {
  try {
    execFileSync('unzip', ['-v'], { stdio: 'ignore' });
  } catch {
    console.error('unzip is missing: installing it from Debian (apt-get install -y unzip)…');
    execSync('apt-get update -qq && apt-get install -y -qq unzip', { stdio: 'inherit' });
  }
}

/** Peak growth of anonymous memory of a child that extracts `zip`, sampled from this process. */
async function peakExtractMemory(zip: string, dir: string): Promise<number> {
  const child = fork(fileURLToPath(new URL('../test/fixtures/extract-child.mjs', import.meta.url)), [zip, dir]);
  await new Promise((r) => child.once('message', r));
  const base = memoryUsage(child.pid).anonymous ?? 0;
  const finished = new Promise((r) => child.once('message', r));
  child.send('go');
  const { anonymous } = await samplePeak(child.pid ?? 0, finished, 5);
  await new Promise((r) => child.once('exit', r));
  return anonymous - base;
}

ensureUnzip();
const work = mkdtempSync('/tmp/shmarray-bench-extract-');
const out = mkdtempSync('/dev/shm/shmarray-bench-extract-');
try {
  console.error(`generating a ${values.entry} MiB entry and 15 archives of 240 MiB in all…`);
  const big = new Float32Array(entryBytes / 4);
  fillRows(big, 4, 0, 7);
  const bigZip = join(work, 'big.zip');
  await writeZip(bigZip, 'data.f32', new Uint8Array(big.buffer));
  const fifteen = await generateDataset({ dir: join(work, 'fifteen'), files: 15 });

  const unzipS: number[] = [];
  const mapS: number[] = [];
  for (let r = 0; r < repeat; r++) {
    unzipS.push(await timeAsync(() => execSync(`unzip -p ${bigZip} data.f32 > ${join(out, 'unzip.f32')}`)));
    rmSync(join(out, 'unzip.f32'));
    const store = await SharedStore.create({ dir: out });
    mapS.push(await timeAsync(() => store.extractZip(bigZip)));
    await store.dispose();
  }
  const peak = await peakExtractMemory(bigZip, out);

  // On the addon's threads (the default: no pool), and in a warm pool reused across calls.
  const allS: Record<string, number> = {};
  for (const workers of [1, 2]) {
    await using pool = createPool(workerFiles.extract, { workers });
    for (const warm of [false, true]) {
      const runs: number[] = [];
      for (let r = 0; r < repeat + (warm ? 1 : 0); r++) {
        const store = await SharedStore.create({ dir: out });
        runs.push(await timeAsync(() => store.extractAll(fifteen.map((f) => f.path), { columns: 4, ...(warm ? { pool } : { workers }) })));
        await store.dispose();
      }
      allS[`${workers}/${warm}`] = median(warm ? runs.slice(1) : runs);
    }
  }

  const u = median(unzipS);
  const m = median(mapS);
  const one = allS['1/false'] ?? NaN;
  const two = allS['2/false'] ?? NaN;
  const oneWarm = allS['1/true'] ?? NaN;
  const twoWarm = allS['2/true'] ?? NaN;
  const results = {
    entryBytes,
    unzipSeconds: u,
    extractZipSeconds: m,
    extractZipVsUnzip: u / m,
    extractZipMiBps: entryBytes / MiB / m,
    peakAnonymousBytes: peak,
    extractAll: { files: 15, bytes: fifteen.reduce((s, f) => s + f.bytes, 0), oneWorkerSeconds: one, twoWorkersSeconds: two, speedup: one / two, warm: { oneWorkerSeconds: oneWarm, twoWorkersSeconds: twoWarm, speedup: oneWarm / twoWarm } },
  };
  printTable(['measure', 'value', 'target'], [
    [`unzip -p (${values.entry} MiB entry)`, `${u.toFixed(3)} s`, ''],
    ['shmarray extractZip', `${m.toFixed(3)} s (${results.extractZipMiBps.toFixed(0)} MiB/s)`, ''],
    ['extractZip vs unzip', `${results.extractZipVsUnzip.toFixed(2)}×`, '≥ 0.9×'],
    ['peak anonymous growth while extracting', `${(peak / MiB).toFixed(1)} MiB`, '< 32 MiB'],
    ['extractAll 15 files, 1 addon thread', `${one.toFixed(3)} s`, ''],
    ['extractAll 15 files, 2 addon threads', `${two.toFixed(3)} s`, ''],
    ['speed-up 2 vs 1 addon thread', `${results.extractAll.speedup.toFixed(2)}×`, '≥ 1.7×'],
    ['extractAll 15 files, 1 worker, warm pool', `${oneWarm.toFixed(3)} s`, ''],
    ['extractAll 15 files, 2 workers, warm pool', `${twoWarm.toFixed(3)} s`, ''],
    ['speed-up 2 vs 1 worker, warm pools', `${(oneWarm / twoWarm).toFixed(2)}×`, '≥ 1.7×'],
  ]);
  writeJson(values.json, { machine: machine(), repeat, results });
  console.log(`\nJSON: ${values.json}`);
} finally {
  rmSync(work, { recursive: true, force: true });
  rmSync(out, { recursive: true, force: true });
}
