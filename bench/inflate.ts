/**
 * Extraction per core (issue 13): the addon (one thread, zip entries inflated from the mapped
 * archive through a small buffer into their files) next to Node's zlib as a Node user reaches it
 * (yauzl's inflate stream piped into a file, CRC-32 checked with zlib.crc32), archive after
 * archive, on two datasets of 15 archives: random float32 like np.random.rand (deflated at level
 * 6, as Python's zipfile does) and the benchmark's sensor data. For scale, Node's zlib engine
 * alone too: zlib.inflateRawSync of each entry from memory into memory, no file. Then the addon
 * with 2 threads vs 1.
 * Runs alternate (A B A B …) so drift hits both; medians are quoted.
 *   npm run bench:inflate [-- --repeat 5 --json bench/out/inflate.json]
 */
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { crc32, inflateRawSync } from 'node:zlib';
import { parseArgs } from 'node:util';
import yauzl from 'yauzl';
import { compressionEngine, extractZips } from '../dist/index.js';
import { generateDataset, writeZip } from '../dist/bench/index.js';
import { fillRandom, machine, median, printTable, timeAsync, writeJson } from './report.js';

const { values } = parseArgs({
  options: {
    repeat: { type: 'string', default: '5' },
    json: { type: 'string', default: 'bench/out/inflate.json' },
  },
});
const repeat = Number(values.repeat);
const MB = 1e6;

/** 15 archives of 2,000,000 × 4 random float32 in [0, 1) with 24 random bits each, as np.random.rand gives. */
async function randomFloats(dir: string): Promise<string[]> {
  const paths: string[] = [];
  const data = new Float32Array(2_000_000 * 4);
  for (let f = 0; f < 15; f++) {
    fillRandom(data, 0x9e3779b9 + f);
    const path = join(dir, `rand_${f}.zip`);
    await writeZip(path, 'data.f32', new Uint8Array(data.buffer), 6);
    paths.push(path);
  }
  return paths;
}

/** Node's zlib, as the extractor before the addon used it: yauzl's inflate stream into a file, CRC-32 checked. */
async function nodeZlibExtract(zip: string, dir: string): Promise<void> {
  const archive = await new Promise<yauzl.ZipFile>((ok, fail) => yauzl.open(zip, { lazyEntries: true, autoClose: false }, (e, z) => (e ? fail(e) : ok(z))));
  try {
    const entries: yauzl.Entry[] = [];
    await new Promise<void>((ok, fail) => {
      archive.on('entry', (e: yauzl.Entry) => {
        entries.push(e);
        archive.readEntry();
      });
      archive.on('end', ok);
      archive.on('error', fail);
      archive.readEntry();
    });
    for (const [i, entry] of entries.entries()) {
      const stream = await new Promise<NodeJS.ReadableStream>((ok, fail) => archive.openReadStream(entry, (e, s) => (e ? fail(e) : ok(s))));
      let crc = 0;
      const check = new Transform({
        transform(chunk: Buffer, _enc, done): void {
          crc = crc32(chunk, crc);
          done(null, chunk);
        },
      });
      await pipeline(stream, check, createWriteStream(join(dir, `${basename(zip)}-${i}-${entry.fileName}`), { flags: 'wx' }));
      if (crc !== entry.crc32) throw new Error(`${zip}: CRC mismatch`);
    }
  } finally {
    archive.close();
  }
}

/** Node's zlib engine alone: each archive's (single) entry inflated from memory into memory. */
function engineAlone(zips: readonly string[]): number {
  const bodies = zips.map((z) => {
    const b = readFileSync(z);
    const start = 30 + b.readUInt16LE(26) + b.readUInt16LE(28);
    return { body: b.subarray(start, start + b.readUInt32LE(18)), size: b.readUInt32LE(22) };
  });
  const t = process.hrtime.bigint();
  for (const { body, size } of bodies) inflateRawSync(body, { chunkSize: size + 1024 });
  return Number(process.hrtime.bigint() - t) / 1e9;
}

/** Seconds to extract all `zips` into a fresh directory under `out`, which is removed after. */
async function timed(out: string, run: (dir: string) => Promise<unknown>): Promise<number> {
  const dir = mkdtempSync(join(out, 'x-'));
  try {
    return await timeAsync(() => run(dir));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const work = mkdtempSync('/tmp/shmarray-bench-inflate-');
const out = mkdtempSync('/dev/shm/shmarray-bench-inflate-');
try {
  console.error('generating 15 archives of random float32 (480 MB) and 15 of sensor data (240 MiB)…');
  const datasets = {
    'random float32': await randomFloats(work),
    'sensor data': (await generateDataset({ dir: join(work, 'sensor'), files: 15 })).map((f) => f.path),
  };
  const bytes = { 'random float32': 15 * 32e6, 'sensor data': 240 * 2 ** 20 };
  const results: Record<string, { bytes: number; engineAloneSeconds: number; nodeZlibSeconds: number; addonOneThreadSeconds: number; addonTwoThreadsSeconds: number; perCore: number; twoVsOne: number }> = {};
  for (const [name, zips] of Object.entries(datasets)) {
    const alone: number[] = [];
    const node: number[] = [];
    const one: number[] = [];
    const two: number[] = [];
    for (let r = 0; r < repeat + 1; r++) {
      const e = engineAlone(zips);
      const n = await timed(out, async (dir) => {
        for (const z of zips) await nodeZlibExtract(z, dir);
      });
      const a = await timed(out, (dir) => extractZips(zips, dir, { workers: 1 }));
      const b = await timed(out, (dir) => extractZips(zips, dir, { workers: 2 }));
      if (r === 0) continue; // a warm-up round: files in the page cache, code compiled
      alone.push(e);
      node.push(n);
      one.push(a);
      two.push(b);
    }
    const [n, a, b] = [median(node), median(one), median(two)];
    results[name] = { bytes: bytes[name as keyof typeof bytes], engineAloneSeconds: median(alone), nodeZlibSeconds: n, addonOneThreadSeconds: a, addonTwoThreadsSeconds: b, perCore: n / a, twoVsOne: a / b };
  }
  console.log(`engine: ${compressionEngine()}; ${repeat} runs each, medians\n`);
  printTable(['data', "Node's zlib alone (memory to memory)", "Node's zlib (yauzl stream)", 'addon, 1 thread', 'per core', 'addon, 2 threads', '2 vs 1 thread'], Object.entries(results).map(([name, r]) => [
    name,
    `${r.engineAloneSeconds.toFixed(3)} s (${(r.bytes / MB / r.engineAloneSeconds).toFixed(0)} MB/s)`,
    `${r.nodeZlibSeconds.toFixed(3)} s (${(r.bytes / MB / r.nodeZlibSeconds).toFixed(0)} MB/s)`,
    `${r.addonOneThreadSeconds.toFixed(3)} s (${(r.bytes / MB / r.addonOneThreadSeconds).toFixed(0)} MB/s)`,
    `${r.perCore.toFixed(2)}× (target ≥ 1.6×)`,
    `${r.addonTwoThreadsSeconds.toFixed(3)} s (${(r.bytes / MB / r.addonTwoThreadsSeconds).toFixed(0)} MB/s)`,
    `${r.twoVsOne.toFixed(2)}× (target ≥ 1.8×)`,
  ]));
  writeJson(values.json, { machine: machine(), engine: compressionEngine(), repeat, results });
  console.log(`\nJSON: ${values.json}`);
} finally {
  rmSync(work, { recursive: true, force: true });
  rmSync(out, { recursive: true, force: true });
}
