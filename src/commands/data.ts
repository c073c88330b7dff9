/** `shmarray extract`, `shmarray stats` and `shmarray info`: the library's jobs from a shell. */
import { accessSync, constants, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { columnStats } from '../column-stats.js';
import { itemSize, type DType } from '../dtype.js';
import { fsError, ShmArrayError } from '../errors.js';
import { extractInto } from '../extract-all.js';
import { choosePlacement } from '../placement.js';
import type { Runtime } from '../pool.js';
import { openShared, type SharedHandle } from '../shared-array.js';
import { SharedStore, zipsUncompressedBytes } from '../store.js';
import { formatBytes } from '../units.js';
import { safeName, type ExtractOptions } from '../zip.js';

/** Options the data commands share. */
export interface DataOptions {
  columns?: number;
  shape?: number[];
  dtype?: DType;
  workers?: number;
  runtime?: Runtime;
  json?: boolean;
}

function extractOptions(o: DataOptions): ExtractOptions {
  return { columns: o.columns, shape: o.shape, dtype: o.dtype };
}

const isZip = (path: string): boolean => /\.zip$/i.test(path);

/**
 * Extracts archives into `dir` (default: a new directory on tmpfs when it has room) and prints
 * one handle per line as JSON. The files stay: they are the output.
 */
export async function extractCommand(zips: string[], o: DataOptions & { dir?: string }): Promise<void> {
  let dir = o.dir;
  let made = false;
  if (dir === undefined) {
    const { base, reason } = choosePlacement(await zipsUncompressedBytes(zips));
    dir = mkdtempSync(join(base, 'shmarray-extract-'));
    made = true;
    console.error(`extracting into ${dir} (${reason}); the files stay there: remove them with rm -r ${dir}`);
  } else {
    try {
      mkdirSync(dir, { recursive: true });
      if (!statSync(dir).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
      accessSync(dir, constants.W_OK);
    } catch (err) {
      const e = fsError(err, 'extract into', dir);
      if (e instanceof ShmArrayError && (e.code === 'ERR_SHM_EXISTS' || e.code === 'ERR_SHM_NOT_FOUND')) {
        throw new ShmArrayError('ERR_SHM_NOT_A_FILE', `--dir ${dir} is not a directory (a file of that name exists); choose another --dir.`, { path: dir });
      }
      throw e;
    }
  }
  // Same-named archives from different folders (a/file_0.zip, b/file_0.zip) get distinct prefixes.
  const used = new Set<string>();
  const archives = zips.map((zip, i) => {
    const stem = safeName(basename(zip).replace(/\.zip$/i, ''), `zip${i}`);
    let prefix = `${stem}-`;
    for (let n = 2; used.has(prefix); n++) prefix = `${stem}-${n}-`;
    used.add(prefix);
    return { zip, prefix };
  });
  let handles: SharedHandle[];
  try {
    handles = await extractInto(dir, archives, { ...extractOptions(o), workers: o.workers, runtime: o.runtime });
  } catch (err) {
    if (made) rmSync(dir, { recursive: true, force: true }); // the directory this command made holds nothing
    throw err;
  }
  for (const h of handles) console.log(JSON.stringify(h));
}

/** The handle of a data file given on the command line: .npy, or raw with --shape or --columns. */
function fileHandle(path: string, o: DataOptions): SharedHandle {
  const dtype = o.dtype ?? 'float32';
  let shape = o.shape;
  if (shape === undefined && o.columns !== undefined) {
    const row = o.columns * itemSize(dtype);
    let size: number;
    try {
      size = statSync(path).size;
    } catch (err) {
      throw fsError(err, 'read', path);
    }
    if (size % row !== 0) {
      throw new ShmArrayError('ERR_SHM_SHAPE_MISMATCH', `${path} has ${size} bytes, not a whole number of rows of ${o.columns} ${dtype}.`, { path, actualBytes: size, rowBytes: row });
    }
    shape = [size / row, o.columns];
  }
  const a = shape === undefined ? openShared(path) : openShared(path, shape, { dtype });
  const h = a.handle;
  a.close();
  return h;
}

/** Column statistics of zip archives and data files, computed in a worker pool. */
export async function statsCommand(inputs: string[], o: DataOptions): Promise<void> {
  await using store = await SharedStore.create();
  const zips = inputs.filter(isZip);
  const handles = [
    ...(zips.length > 0 ? await store.extractHandles(zips, { ...extractOptions(o), workers: o.workers, runtime: o.runtime }) : []),
    ...inputs.filter((p) => !isZip(p)).map((p) => fileHandle(p, o)),
  ];
  const stats = await columnStats(handles, { workers: o.workers, runtime: o.runtime });
  if (o.json) {
    console.log(JSON.stringify(stats));
    return;
  }
  console.log(`${stats.rows} rows × ${stats.columns} columns from ${handles.length} array(s)`);
  const fmt = (x: number): string => (Number.isFinite(x) ? x.toPrecision(8) : String(x));
  const head = ['column', 'mean', 'std', 'min', 'max'];
  const rows = stats.mean.map((_, c) => [String(c), fmt(stats.mean[c] ?? NaN), fmt(stats.std[c] ?? NaN), fmt(stats.min[c] ?? NaN), fmt(stats.max[c] ?? NaN)]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  for (const r of [head, ...rows]) console.log(r.map((cell, i) => cell.padStart(widths[i] ?? 0)).join('  '));
}

/** Shape, dtype, size and residency of a data file, and where a store for it would go. */
export function infoCommand(file: string, o: DataOptions): void {
  const a = o.shape === undefined && o.columns === undefined ? openShared(file) : openShared(fileHandle(file, o));
  const { resident, total } = a.residency();
  const placement = choosePlacement(a.byteLength);
  const facts = {
    path: a.path,
    format: a.npy ? 'npy' : 'raw',
    shape: a.shape,
    dtype: a.dtype,
    offset: a.offset,
    bytes: a.byteLength,
    residentPages: resident,
    pages: total,
    storeDir: placement.base,
    storeReason: placement.reason,
  };
  a.close();
  if (o.json) {
    console.log(JSON.stringify(facts));
    return;
  }
  console.log(`${facts.path}
  format    ${facts.format}
  shape     [${facts.shape.join(', ')}]
  dtype     ${facts.dtype}
  bytes     ${facts.bytes} (${formatBytes(facts.bytes)}; data at offset ${facts.offset})
  resident  ${total === 0 ? 'nothing mapped' : `${resident} of ${total} pages (${((100 * resident) / total).toFixed(1)}%)`}
  store     a store for it would go in ${facts.storeDir}: ${facts.storeReason}`);
}
