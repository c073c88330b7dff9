/** `shmarray extract`, `shmarray stats` and `shmarray info`: the library's jobs from a shell. */
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  addonPath, archiveStats, choosePlacement, HAS_FLOAT16ARRAY, listNpz, openSharedTable, readSafetensors, compressionEngine, describeShared, extractZips, formatBytes, listZip, mergeColumnStats, openShared, partialColumnStats, SharedStore, ShmArrayError, zipsUncompressedBytes,
  type AnySharedArray, type ColumnStats, type DType, type ExtractOptions, type PartialColumnStats, type Runtime, type SharedHandle,
} from '../../index.js';
import { textTable } from '../../core/text-table.js';
import { itemSize } from '../../core/dtype.js';

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
const isNpz = (path: string): boolean => /\.npz$/i.test(path);
const isSafetensors = (path: string): boolean => /\.safetensors$/i.test(path);
const isArrow = (path: string): boolean => /\.(arrow|feather|ipc)$/i.test(path);

/** The handle of column `name` of the Arrow table at `file` (a SharedArray over the file's bytes). */
async function arrowColumn(file: string, name: string | undefined): Promise<SharedHandle> {
  const t = await openSharedTable(file);
  try {
    const names = t.schema.fields.map((f) => f.name);
    const column = t.column(pickArray(file, names, name, '--column'));
    const handle = column.handle;
    column.close();
    return handle;
  } finally {
    t.close();
  }
}

/** `info` of an Arrow IPC file: its schema (name and type of each column), rows, batches and size. */
async function arrowInfo(file: string, json: boolean): Promise<void> {
  const t = await openSharedTable(file);
  try {
    const columns = t.schema.fields.map((f) => ({ name: f.name, type: String(f.type), nullable: f.nullable }));
    const facts = { path: file, format: 'arrow', rows: t.numRows, batches: t.table.batches.length, bytes: t.byteLength, columns };
    if (json) {
      console.log(JSON.stringify(facts));
      return;
    }
    console.log(`${file}: Arrow IPC file, ${facts.rows} rows in ${facts.batches} record batch(es), ${formatBytes(facts.bytes)}, mapped in place`);
    console.log(textTable(['column', 'type', 'nullable'], columns.map((c) => [c.name, c.type, c.nullable ? 'yes' : 'no']), 3).join('\n'));
  } finally {
    t.close();
  }
}

/**
 * The array `option` (--array, or --column for a table) names in a container (an .npz, a
 * safetensors file, an Arrow table) of `names`; without it, its only array. Otherwise a CLI error
 * that lists the names.
 */
function pickArray(file: string, names: readonly string[], wanted: string | undefined, option = '--array'): string {
  if (wanted !== undefined) {
    if (names.includes(wanted)) return wanted;
    throw new ShmArrayError('ERR_SHM_BAD_ARGUMENT', `${file} has no array ${JSON.stringify(wanted)}; it has ${names.map((n) => JSON.stringify(n)).join(', ') || 'none'} (shmarray info ${file} lists them).`, { path: file });
  }
  if (names.length === 1) return names[0] as string;
  throw new ShmArrayError('ERR_SHM_BAD_ARGUMENT', `${file} holds ${names.length} ${option === '--column' ? 'columns' : 'arrays'} (${names.slice(0, 8).map((n) => JSON.stringify(n)).join(', ')}${names.length > 8 ? ', …' : ''}); choose one with ${option} NAME.`, { path: file });
}

/** A zip by its name or its first bytes (a local header, or the end record of an empty archive). */
function looksLikeZip(path: string): boolean {
  if (isZip(path)) return true;
  try {
    const fd = openSync(path, 'r');
    try {
      const head = Buffer.alloc(4);
      return readSync(fd, head, 0, 4, 0) === 4 && (head.readUInt32LE(0) === 0x04034b50 || head.readUInt32LE(0) === 0x06054b50);
    } finally {
      closeSync(fd);
    }
  } catch {
    return false; // unreadable: describeShared says why
  }
}

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
  }
  let handles: SharedHandle[];
  try {
    handles = await extractZips(zips, dir, { ...extractOptions(o), workers: o.workers, runtime: o.runtime });
  } catch (err) {
    if (made) rmSync(dir, { recursive: true, force: true }); // the directory this command made holds nothing
    throw err;
  }
  for (const h of handles) console.log(JSON.stringify(h));
}

/** The handle of a data file given on the command line (.npy, or raw with --shape or --columns), checked without mapping it. */
function fileHandle(path: string, o: DataOptions): SharedHandle {
  return describeShared(path, { ...(o.dtype !== undefined ? { dtype: o.dtype } : {}), ...(o.shape !== undefined ? { shape: o.shape } : o.columns !== undefined ? { columns: o.columns } : {}) });
}

/** {@link fileHandle} for `shmarray <command>`: a raw file without a shape is refused in the command's words, not openShared's. */
function commandHandle(command: string, path: string, o: DataOptions): SharedHandle {
  try {
    return fileHandle(path, o);
  } catch (err) {
    if (err instanceof ShmArrayError && err.details['reason'] === 'raw-without-shape') {
      throw new ShmArrayError('ERR_SHM_BAD_ARGUMENT', `shmarray ${command}: ${path} is raw data (not .npy), so its shape is unknown; give --columns C (or --shape RxC).`, { path });
    }
    throw err;
  }
}

/** Column statistics of zip archives and data files, computed here or in a worker pool; or, with --partial, their mergeable partial. */
export async function statsCommand(inputs: string[], o: DataOptions & { partial?: boolean; output?: string; array?: string; column?: string }): Promise<void> {
  if (o.output !== undefined && o.partial !== true) throw new ShmArrayError('ERR_SHM_BAD_ARGUMENT', 'shmarray stats: -o writes a partial; add --partial (or print the statistics without -o).');
  if (o.array !== undefined && !inputs.some((p) => isNpz(p) || isSafetensors(p))) {
    throw new ShmArrayError('ERR_SHM_BAD_ARGUMENT', 'shmarray stats: --array chooses an array of an .npz or a safetensors file; none was given.');
  }
  if (o.column !== undefined && !inputs.some(isArrow)) throw new ShmArrayError('ERR_SHM_BAD_ARGUMENT', 'shmarray stats: --column chooses a column of an Arrow table (.arrow); none was given.');
  // Data files first: a raw one without --columns is refused before any archive is extracted.
  const plain = inputs.filter((p) => !isZip(p) && !isNpz(p) && !isSafetensors(p) && !isArrow(p));
  const files = plain.map((p) => commandHandle('stats', p, o));
  // A table's numeric column is a SharedArray over the file: its handle is all the statistics need.
  for (const p of inputs.filter(isArrow)) files.push(await arrowColumn(p, o.column));
  // A safetensors tensor is mapped where it lies: its handle is all the statistics need.
  for (const p of inputs.filter(isSafetensors)) {
    const { handles } = readSafetensors(p);
    files.push(handles[pickArray(p, Object.keys(handles), o.array)] as SharedHandle);
  }
  const npzs = inputs.filter(isNpz).map((p) => ({ path: p, name: pickArray(p, listNpz(p).map((a) => a.key), o.array) }));
  const zips = inputs.filter(isZip);
  // Archives too, by their entries' first bytes, before anything is inflated: the answer names the zip.
  if (o.columns === undefined && o.shape === undefined) {
    for (const z of zips) {
      const raw = (await listZip(z)).find((e) => !e.npy);
      if (raw !== undefined) {
        throw new ShmArrayError('ERR_SHM_BAD_ARGUMENT', `shmarray stats: ${z} holds raw data (entry ${JSON.stringify(raw.name)} is not .npy), so its columns are unknown; give --columns C (or --shape RxC).`, { path: z, entry: raw.name });
      }
    }
  }
  await using store = await SharedStore.create();
  // An .npz's array in place from the archive where it can be, else extracted into the store.
  for (const { path, name } of npzs) files.push(((await store.extractNpz(path))[name] as AnySharedArray).handle);
  // Each archive's statistics start as soon as it is out (the library decides: here, or a pool).
  let arrays = files.length;
  const onArchive = (hs: SharedHandle[]): void => void (arrays += hs.length);
  const part = zips.length > 0
    ? await archiveStats(store, zips, files, { ...extractOptions(o), workers: o.workers ?? 'auto', ...(o.runtime === undefined ? {} : { runtime: o.runtime }), onArchive })
    : await partialColumnStats(files, { workers: o.workers ?? 'auto', runtime: o.runtime });
  if (o.partial === true) {
    const text = JSON.stringify(part);
    if (o.output === undefined) console.log(text);
    else {
      writeFileAtomic(o.output, `${text}\n`);
      console.error(`wrote the partial of ${part.rows} rows × ${part.columns} columns to ${o.output}`);
    }
    return;
  }
  printStats(mergeColumnStats([part]), `from ${arrays} array(s)`, o.json === true);
}

/** Merges partials written by `stats --partial` (any machine, any order) into the statistics of all their rows. */
export function mergeCommand(files: string[], o: { json?: boolean }): void {
  const parts = files.map((f) => {
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch (err) {
      throw ShmArrayError.fromFs(err, 'read the partial', f) ?? err;
    }
    try {
      return JSON.parse(text) as PartialColumnStats;
    } catch {
      throw new ShmArrayError('ERR_SHM_BAD_ARGUMENT', `shmarray merge: ${f} is not JSON; give files written by shmarray stats --partial.`, { path: f });
    }
  });
  let stats: ColumnStats;
  try {
    stats = mergeColumnStats(parts);
  } catch (err) {
    // The library names a bad part by its index; a shell user gave files.
    const part = err instanceof ShmArrayError ? err.details['part'] : undefined;
    const why = err instanceof ShmArrayError ? err.details['why'] : undefined;
    if (err instanceof ShmArrayError && typeof part === 'number' && typeof why === 'string') {
      const file = files[part] ?? `part ${part}`;
      const what =
        err.details['finished'] === true
          ? `${file} is finished statistics (shmarray stats --json output), not a partial: a std cannot be merged exactly; write partials with shmarray stats --partial`
          : `${file}: its ${String(err.details['field'])} ${why}`;
      throw new ShmArrayError('ERR_SHM_BAD_ARGUMENT', `shmarray merge: ${what}.`, { path: file, field: String(err.details['field']) });
    }
    throw err;
  }
  printStats(stats, `merged from ${files.length} partial(s)`, o.json === true);
}

function printStats(stats: ColumnStats, from: string, json: boolean): void {
  if (json) {
    console.log(JSON.stringify(stats));
    return;
  }
  console.log(`${stats.rows} rows × ${stats.columns} columns ${from}`);
  const fmt = (x: number): string => (Number.isFinite(x) ? x.toPrecision(8) : String(x));
  const head = ['column', 'mean', 'std', 'min', 'max'];
  const rows = stats.mean.map((_, c) => [String(c), fmt(stats.mean[c] ?? NaN), fmt(stats.std[c] ?? NaN), fmt(stats.min[c] ?? NaN), fmt(stats.max[c] ?? NaN)]);
  for (const line of textTable(head, rows, 0, false)) console.log(line);
}

/** Writes `text` to `path` through a temporary file renamed into place: never a half-written partial. */
function writeFileAtomic(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, text);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw ShmArrayError.fromFs(err, 'write', path) ?? err;
  }
}

/** `info` of an .npz: each array's name, dtype, shape, order and whether it maps in place or is extracted (and why). */
function npzInfo(file: string, json: boolean): void {
  const arrays = listNpz(file);
  if (json) {
    console.log(JSON.stringify({ path: file, format: 'npz', arrays }));
    return;
  }
  const inPlace = arrays.filter((a) => a.inPlace).length;
  console.log(`${file}: .npz, ${arrays.length} array(s), ${inPlace} mapped in place from the archive, ${arrays.length - inPlace} extracted when used`);
  console.log(textTable(['name', 'dtype', 'shape', 'order', 'size', 'mapping'], arrays.map((a) => [a.key, a.dtype, `[${a.shape.join(', ')}]`, a.order, formatBytes(a.bytes), a.inPlace ? 'in place' : `extracted (${a.extract})`]), 6).join('\n'));
}

/** `info` of a safetensors file: each tensor's name, dtype, shape and size, and the file's metadata. */
function safetensorsInfo(file: string, json: boolean): void {
  const { handles, metadata } = readSafetensors(file);
  const tensors = Object.entries(handles).map(([name, h]) => ({ name, dtype: h.dtype, shape: h.shape, bytes: h.shape.reduce((n, d) => n * d, 1) * itemSize(h.dtype), offset: h.offset }));
  if (json) {
    console.log(JSON.stringify({ path: file, format: 'safetensors', tensors, metadata: { ...metadata } }));
    return;
  }
  const total = tensors.reduce((s, t) => s + t.bytes, 0);
  console.log(`${file}: safetensors, ${tensors.length} tensor(s), ${formatBytes(total)}, every one mapped in place`);
  console.log(textTable(['name', 'dtype', 'shape', 'size'], tensors.map((t) => [t.name, t.dtype, `[${t.shape.join(', ')}]`, formatBytes(t.bytes)]), 4).join('\n'));
  for (const [k, v] of Object.entries(metadata)) console.log(`  ${k}: ${v.length > 200 ? `${v.slice(0, 200)}…` : v}`);
}

/** What the typed array of a dtype is, where that is not plain. */
const DTYPE_NOTES: Partial<Record<DType, string>> = {
  int64: ' (BigInt64Array)',
  uint64: ' (BigUint64Array)',
  bool: ' (Uint8Array of 0 and 1)',
  float16: HAS_FLOAT16ARRAY ? ' (Float16Array)' : ' (its bits as a Uint16Array: this Node has no Float16Array; float16FromBits decodes)',
  bfloat16: ' (its bits as a Uint16Array; bfloat16FromBits decodes)',
};

/** Shape, dtype, size and residency of a data file, and where a store for it would go; or the compression engine. */
export async function infoCommand(file: string | undefined, o: DataOptions & { engine?: boolean }): Promise<void> {
  if (o.engine === true || file === undefined) {
    if (file === undefined && o.engine !== true) throw new ShmArrayError('ERR_SHM_BAD_ARGUMENT', 'shmarray info needs a file, or --engine; see shmarray info --help.');
    const engine = compressionEngine();
    // The file too: which build a process loaded is what a user asks when the engine surprises them.
    const addon = addonPath();
    console.log(o.json ? JSON.stringify({ engine, addon }) : `${engine}\naddon: ${addon}`);
    if (file === undefined) return;
  }
  if (isSafetensors(file)) return safetensorsInfo(file, o.json === true);
  if (isArrow(file)) return arrowInfo(file, o.json === true);
  if (isNpz(file)) return npzInfo(file, o.json === true);
  if (looksLikeZip(file)) {
    throw new ShmArrayError('ERR_SHM_BAD_ARGUMENT', `shmarray info: ${file} is a zip archive; info reads one data file. Extract it first (shmarray extract ${file} --columns C), then give info a file it prints.`, { path: file });
  }
  // Mapped once, for its residency (mincore); the handle is checked without mapping.
  const a = openShared(commandHandle('info', file, o));
  const { resident, total } = a.residency();
  const placement = choosePlacement(a.byteLength);
  const facts = {
    path: a.path,
    format: a.npy ? 'npy' : 'raw',
    shape: a.shape,
    dtype: a.dtype,
    order: a.order,
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
  dtype     ${facts.dtype}${DTYPE_NOTES[facts.dtype] ?? ''}
  order     ${facts.order === 'F' ? 'F (column-major: Fortran order, as the header says)' : 'C (row-major)'}
  bytes     ${facts.bytes} (${formatBytes(facts.bytes)}; data at offset ${facts.offset})
  resident  ${total === 0 ? 'nothing mapped' : `${resident} of ${total} pages (${((100 * resident) / total).toFixed(1)}%)`}
  store     a store for it would go in ${facts.storeDir}: ${facts.storeReason}`);
}
