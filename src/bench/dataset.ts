/**
 * Synthetic datasets for benchmarks and demos: zip archives of float32 rows that look like sensor
 * data (a slow signal, quantised noise, a counter, a category), deterministic for a given seed.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ShmArrayError } from '../core/errors.js';
import { checkOptions, filePath, integer } from '../core/options.js';
import { writeZip } from './zip-writer.js';

/** Options of {@link generateDataset}. */
export interface DatasetOptions {
  /** Directory for the archives (created if missing). */
  dir: string;
  /** Number of archives (default 15). */
  files?: number;
  /** Total uncompressed bytes over all archives (default 240 MiB); rounded down to whole rows. */
  bytes?: number;
  /** Columns per row (default 4). */
  columns?: number;
  seed?: number;
  /** Deflate level (default 1: fast to make; extraction cost hardly depends on it). */
  level?: number;
}

/** One generated archive: its path, the entry inside, and the entry's shape. */
export interface DatasetFile {
  path: string;
  entry: string;
  rows: number;
  columns: number;
  bytes: number;
}

/** Fills `out` (rows × columns float32) with deterministic sensor-like values from row `first` on. */
export function fillRows(out: Float32Array, columns: number, first: number, seed: number): void {
  let s = (seed ^ 0x9e3779b9 ^ Math.imul(first, 0x85ebca6b)) >>> 0 || 1;
  const rows = out.length / columns;
  for (let r = 0; r < rows; r++) {
    const t = first + r;
    for (let c = 0; c < columns; c++) {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      const noise = ((s >>> 0) / 2 ** 32 - 0.5) * 2;
      let v: number;
      switch (c % 4) {
        case 0: v = Math.sin(t / 5000 + c) * 100 + Math.round(noise * 20) / 4; break;
        case 1: v = Math.round(noise * 1000) / 8; break;
        case 2: v = t % 100_000; break;
        default: v = (s >>> 0) % 7;
      }
      out[r * columns + c] = v;
    }
  }
}

/**
 * Generates `files` zip archives `file_<i>.zip`, each with one raw float32 entry `data.f32` of
 * rows × `columns`, together `bytes` bytes. Returns what it wrote.
 */
export async function generateDataset(options: DatasetOptions): Promise<DatasetFile[]> {
  checkOptions('generateDataset', options, { dir: filePath, files: integer(1), bytes: integer(1), columns: integer(1), seed: integer(0, 2 ** 32 - 1), level: integer(0, 9) });
  if (options.dir === undefined) throw new ShmArrayError('ERR_SHM_BAD_ARGUMENT', 'generateDataset needs options.dir: the directory for the archives.', {});
  const files = options.files ?? 15;
  const columns = options.columns ?? 4;
  const bytes = options.bytes ?? 240 * 2 ** 20;
  const rowBytes = columns * 4;
  const totalRows = Math.floor(bytes / rowBytes);
  if (!Number.isSafeInteger(files) || files < 1 || totalRows < files) {
    throw new ShmArrayError('ERR_SHM_BAD_ARGUMENT', `Cannot split ${bytes} bytes into ${files} files of whole ${columns}-column rows; use fewer files or more bytes.`, { files, bytes });
  }
  mkdirSync(options.dir, { recursive: true });
  const out: DatasetFile[] = [];
  let first = 0;
  for (let i = 0; i < files; i++) {
    const rows = Math.floor((totalRows * (i + 1)) / files) - Math.floor((totalRows * i) / files);
    const data = new Float32Array(rows * columns);
    fillRows(data, columns, first, options.seed ?? 42);
    const path = join(options.dir, `file_${i}.zip`);
    await writeZip(path, 'data.f32', new Uint8Array(data.buffer), options.level);
    out.push({ path, entry: 'data.f32', rows, columns, bytes: data.byteLength });
    first += rows;
  }
  return out;
}
