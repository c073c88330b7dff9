/**
 * Time to openShared + first touch of every page, next to fs.readFileSync of the same file
 * (a private heap copy), for 1 MiB … 1 GiB on tmpfs. Also the anonymous memory each one adds.
 *   npm run build && node --import tsx bench/open.ts [--json bench/out/open.json] [--dir /dev/shm]
 */
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { memoryUsage, openShared } from '../dist/index.js';
import { machine, median, printTable, timeIt, writeJson } from './report.js';

const { values } = parseArgs({ options: { json: { type: 'string', default: 'bench/out/open.json' }, dir: { type: 'string', default: '/dev/shm' } } });
const MiB = 2 ** 20;
const SIZES = [1, 16, 64, 256, 1024].map((m) => m * MiB);
const PAGE_FLOATS = 1024;

function writeDataset(path: string, bytes: number): void {
  const chunk = new Float32Array(4 * MiB / 4).map((_, i) => i % 97);
  const fd = openSync(path, 'w');
  for (let done = 0; done < bytes; done += chunk.byteLength) writeSync(fd, chunk, 0, Math.min(chunk.byteLength, bytes - done));
  closeSync(fd);
}

function touch(data: Float32Array): number {
  let s = 0;
  for (let i = 0; i < data.length; i += PAGE_FLOATS) s += data[i] ?? 0;
  return s;
}

const dir = mkdtempSync(join(values.dir, 'shmarray-bench-open-'));
const results = [];
try {
  for (const bytes of SIZES) {
    const path = join(dir, `d${bytes}.f32`);
    writeDataset(path, bytes);
    const reps = bytes >= 256 * MiB ? 3 : 7;
    const mapS: number[] = [];
    const readS: number[] = [];
    let mapAnon = 0;
    let readAnon = 0;
    for (let r = 0; r < reps; r++) {
      const a0 = memoryUsage().anonymous ?? 0;
      let view: ReturnType<typeof openShared> | undefined;
      mapS.push(timeIt(() => {
        view = openShared(path, bytes / 4);
        touch(view.data as Float32Array);
      }));
      mapAnon = Math.max(mapAnon, (memoryUsage().anonymous ?? 0) - a0);
      view?.close();
      const b0 = memoryUsage().anonymous ?? 0;
      let buf: Buffer | undefined;
      readS.push(timeIt(() => {
        buf = readFileSync(path);
        touch(new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4));
      }));
      readAnon = Math.max(readAnon, (memoryUsage().anonymous ?? 0) - b0);
      buf = undefined;
      globalThis.gc?.();
    }
    const m = median(mapS);
    const rd = median(readS);
    results.push({ bytes, reps, mapSeconds: m, readFileSeconds: rd, speedup: rd / m, mapAnonymousBytes: mapAnon, readFileAnonymousBytes: readAnon });
    rmSync(path);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

printTable(
  ['size', 'openShared+touch', 'readFileSync', 'speed-up', 'anon (map)', 'anon (read)'],
  results.map((r) => [
    `${r.bytes / MiB} MiB`,
    `${(r.mapSeconds * 1e3).toFixed(2)} ms`,
    `${(r.readFileSeconds * 1e3).toFixed(2)} ms`,
    `${r.speedup.toFixed(1)}×`,
    `${(r.mapAnonymousBytes / MiB).toFixed(1)} MiB`,
    `${(r.readFileAnonymousBytes / MiB).toFixed(1)} MiB`,
  ]),
);
writeJson(values.json, { machine: machine(), dir: values.dir, results });
console.log(`\nJSON: ${values.json}`);
