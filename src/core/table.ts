/**
 * Arrow tables — strings included — shared as typed arrays are: one Arrow IPC *file* (laid out to
 * be memory-mapped), a small handle in messages, and in every process an `apache-arrow` Table
 * whose column buffers are views of the same mapped pages. `apache-arrow` does all the reading
 * (never a home-made reader); it is loaded on first use (about 100 ms), as the ES module the
 * application imports too, so `instanceof Table` holds — which is why opening a table is async.
 * Before a Table is handed out, every buffer it holds is checked to be a view of the mapping: a
 * file arrow could read only by copying (compressed bodies, misaligned buffers) is refused
 * (ERR_SHM_BAD_ARROW, reason 'copied'; 'compressed' when no codec is registered to read it).
 */
import { closeSync, fsyncSync, linkSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import type { Data, Schema, Table } from 'apache-arrow';
import { fsError, ShmArrayError } from './errors.js';
import { openFile, tempName } from './files.js';
import { boolean, checkOptions, checkPath } from './options.js';
import { openShared, type AnySharedArray, type SharedArray } from './shared-array.js';
import type { DType } from './dtype.js';

type Arrow = typeof import('apache-arrow');
/** apache-arrow's flatbuffer classes for the IPC footer, and the flatbuffers runtime they read with. */
interface FooterReader {
  footer: typeof import('apache-arrow/fb/footer');
  endianness: typeof import('apache-arrow/fb/endianness');
  ByteBuffer: typeof import('flatbuffers').ByteBuffer;
}
/** apache-arrow, and what reads an IPC footer's byte order. */
interface Loaded {
  arrow: Arrow;
  footer: FooterReader;
}
let loading: Promise<Loaded> | undefined;

/** apache-arrow (and its footer's flatbuffer classes), imported once, when a table is first used. */
function loadArrow(): Promise<Loaded> {
  loading ??= Promise.all([import('apache-arrow'), import('apache-arrow/fb/footer'), import('apache-arrow/fb/endianness'), import('flatbuffers')])
    .then(([arrow, footer, endianness, flatbuffers]) => ({ arrow, footer: { footer, endianness, ByteBuffer: flatbuffers.ByteBuffer } }))
    .catch((err: unknown) => {
      loading = undefined;
      throw new ShmArrayError('ERR_SHM_NATIVE', `Arrow tables need the apache-arrow package, which could not be loaded (${String((err as Error).message).slice(0, 200)}); npm install apache-arrow.`, {}, { cause: err });
    });
  return loading;
}

/** What travels to a worker instead of a table: plain JSON, well under 1 KiB. */
export interface SharedTableHandle {
  readonly kind: 'arrow-ipc-file';
  readonly path: string;
  /** The file's size when the handle was made: a file changed since is refused. */
  readonly byteLength: number;
}

/** Options of {@link createSharedTable}. */
export interface CreateTableOptions {
  /** Replace an existing file (atomically); default false: ERR_SHM_EXISTS. */
  overwrite?: boolean;
}

const MAGIC = Buffer.from('ARROW1');

function badArrow(path: string, why: string, details: Record<string, string | number> = {}): ShmArrayError {
  return new ShmArrayError('ERR_SHM_BAD_ARROW', `${path} cannot be shared as an Arrow table: ${why}.`, { path, ...details });
}

/** The arrow type names shmarray can view as one typed array (a column's values buffer). */
function dtypeOfColumn(type: { typeId: number; toString(): string }, a: Arrow): DType | undefined {
  const t = type as unknown as { bitWidth?: number; isSigned?: boolean; precision?: number };
  if (a.DataType.isInt(type)) return `${t.isSigned === true ? 'int' : 'uint'}${t.bitWidth ?? 32}` as DType;
  if (a.DataType.isFloat(type)) return (['float16', 'float32', 'float64'] as const)[t.precision ?? 1];
  return undefined;
}

/** Every buffer of `data` and its children (values, offsets, validity, type ids, dictionaries). */
function* buffersOf(data: Data): Generator<ArrayBufferView> {
  const d = data as unknown as { values?: ArrayBufferView; valueOffsets?: ArrayBufferView; nullBitmap?: ArrayBufferView; typeIds?: ArrayBufferView; children: Data[]; dictionary?: { data: Data[] } };
  for (const b of [d.values, d.valueOffsets, d.nullBitmap, d.typeIds]) if (b !== undefined && b.byteLength > 0) yield b;
  for (const c of d.children) yield* buffersOf(c);
  for (const c of d.dictionary?.data ?? []) yield* buffersOf(c);
}

/**
 * An Arrow table over a mapped IPC file. `table` is an `apache-arrow` Table whose buffers are the
 * mapping itself; `column(name)` views a numeric column as a {@link SharedArray} (for columnStats,
 * normalize and workers); `close()` unmaps: every buffer of the table is detached (reads see
 * length 0), never freed memory under a view.
 */
export class SharedTable {
  readonly path: string;
  readonly byteLength: number;
  #bytes: SharedArray<'uint8'> | undefined;
  #table: Table | undefined;
  #columns: SharedArray[] = [];
  readonly #arrow: Arrow;

  /** @internal Use {@link openSharedTable} or {@link createSharedTable}. */
  constructor(bytes: SharedArray<'uint8'>, table: Table, arrow: Arrow) {
    this.path = bytes.path;
    this.byteLength = bytes.byteLength;
    this.#bytes = bytes;
    this.#table = table;
    this.#arrow = arrow;
  }

  /** The apache-arrow Table (no buffer copied). Throws ERR_SHM_CLOSED after close(). */
  get table(): Table {
    if (this.#table === undefined) throw this.#closed('table');
    return this.#table;
  }

  get schema(): Schema {
    return this.table.schema;
  }

  get numRows(): number {
    return this.table.numRows;
  }

  /** The plain handle to send to workers: `openSharedTable(handle)` maps the same file. */
  get handle(): SharedTableHandle {
    if (this.#table === undefined) throw this.#closed('handle');
    return { kind: 'arrow-ipc-file', path: this.path, byteLength: this.byteLength };
  }

  get closed(): boolean {
    return this.#table === undefined;
  }

  /**
   * A numeric column (Int*, Uint*, Float16/32/64) with one chunk and no nulls, as a SharedArray
   * over the file's own bytes — its handle maps in workers, and columnStats takes it. Anything
   * else is ERR_SHM_BAD_ARGUMENT saying why.
   */
  column(name: string): AnySharedArray {
    const table = this.table;
    const field = table.schema.fields.find((f) => f.name === name);
    const vector = table.getChild(name);
    if (field === undefined || vector === null) {
      throw new ShmArrayError('ERR_SHM_BAD_ARGUMENT', `${this.path} has no column ${JSON.stringify(name)}; it has ${table.schema.fields.map((f) => JSON.stringify(f.name)).join(', ')}.`, { path: this.path, column: name });
    }
    const dtype = dtypeOfColumn(field.type, this.#arrow);
    const why =
      dtype === undefined ? `its type is ${String(field.type)}, not a number type a typed array can view (Int, Uint, Float)`
      : vector.data.length !== 1 ? `it is in ${vector.data.length} chunks (record batches); write the table as one batch (table.combineChunks() before writing)`
      : vector.nullCount > 0 ? `it has ${vector.nullCount} nulls, which a typed array cannot hold`
      : undefined;
    if (why !== undefined) throw new ShmArrayError('ERR_SHM_BAD_ARGUMENT', `Column ${JSON.stringify(name)} of ${this.path} cannot be a SharedArray: ${why}.`, { path: this.path, column: name });
    const values = (vector.data[0] as unknown as { values: ArrayBufferView }).values;
    const base = (this.#bytes as SharedArray<'uint8'>).data;
    const offset = values.byteOffset - base.byteOffset;
    const array = openShared({ path: this.path, shape: [vector.length], dtype: dtype as DType, offset, mode: 'r', npy: false, window: true, inPlace: true });
    this.#columns.push(array);
    return array as AnySharedArray;
  }

  /** Unmaps the file now (and the column arrays made from it): every buffer of `table` reads length 0 after. Idempotent. */
  close(): void {
    if (this.#table === undefined) return;
    this.#table = undefined;
    for (const c of this.#columns) c.close();
    this.#columns = [];
    this.#bytes?.close();
    this.#bytes = undefined;
  }

  /** @internal Runs `fn` once, after the table is closed (a cache hold ends with it): when its bytes are unmapped, last. */
  onClose(fn: () => void): void {
    this.#bytes?.onClose(fn);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #closed(what: string): ShmArrayError {
    return new ShmArrayError('ERR_SHM_CLOSED', `Cannot use ${what} of ${this.path}: the SharedTable was closed; open it again with openSharedTable().`, { path: this.path });
  }
}

/**
 * Checks the mapped IPC file's frame (magic at both ends, the footer's length inside the file) so
 * that a stream, a truncated file or a lying footer is named as such; then lets apache-arrow read
 * it and checks that every buffer of the table is a view of the mapping (arrow copies what it must
 * decompress or realign: such a file is refused, as sharing it would not share).
 */
function tableOver({ arrow: a, footer: reader }: Loaded, bytes: SharedArray<'uint8'>): Table {
  const path = bytes.path;
  const u8 = bytes.data;
  const size = u8.byteLength;
  const view = Buffer.from(u8.buffer, u8.byteOffset, size);
  const isFile = size >= 14 && view.subarray(0, 6).equals(MAGIC);
  if (!isFile) {
    // A stream starts with a message: the continuation marker, then its metadata's length within the file.
    const stream = size >= 8 && view.readUInt32LE(0) === 0xffffffff && view.readInt32LE(4) > 0 && view.readInt32LE(4) <= size - 8;
    throw badArrow(path, stream ? 'it is in the Arrow IPC stream format, which has no footer to map by; write the file format (tableToIPC(table, \'file\'), or a RecordBatchFileWriter)' : 'it is not an Arrow IPC file (no ARROW1 magic)', { reason: stream ? 'stream-format' : 'not-arrow' });
  }
  if (!view.subarray(size - 6).equals(MAGIC)) throw badArrow(path, 'its end has no ARROW1 magic: the file is truncated', { reason: 'truncated' });
  const footer = view.readInt32LE(size - 10);
  if (footer <= 0 || footer > size - 18) throw badArrow(path, `its footer claims ${footer} bytes, outside the ${size}-byte file`, { reason: 'bad-footer' });
  // The footer's schema says the byte order (apache-arrow's own flatbuffer classes read it): a
  // big-endian file's numbers cannot be viewed by this machine's typed arrays, and arrow would misread them.
  const { footer: footerClass, endianness, ByteBuffer } = reader;
  let bigEndian: boolean;
  try {
    const fb = footerClass.Footer.getRootAsFooter(new ByteBuffer(u8.subarray(size - 10 - footer, size - 10)));
    bigEndian = fb.schema()?.endianness() === endianness.Endianness.Big;
  } catch {
    throw badArrow(path, 'its footer is corrupt', { reason: 'bad-footer' });
  }
  if (bigEndian) throw badArrow(path, "it is big-endian (its schema says so), and this machine's typed arrays read little-endian: write it on a little-endian machine, or convert it with pyarrow", { reason: 'big-endian' });
  let table: Table;
  try {
    table = a.tableFromIPC(u8);
  } catch (err) {
    const why = String((err as Error)?.message ?? err).replace(/\s+/g, ' ').slice(0, 200);
    const compressed = /compress/i.test(why);
    throw badArrow(path, compressed ? `its record batches are compressed (LZ4/ZSTD), which cannot be viewed in place; write it uncompressed (${why})` : `apache-arrow cannot read it (${why}): it is corrupt or truncated`, { reason: compressed ? 'compressed' : 'corrupt' });
  }
  for (const column of table.data) {
    for (const b of buffersOf(column)) {
      if (b.buffer !== u8.buffer) {
        // apache-arrow copies what it decompresses (a codec registered in compressionRegistry) or realigns.
        throw badArrow(path, 'a buffer of it had to be copied to be read (compressed bodies, or a buffer not aligned for its type), so it would not be shared: write it uncompressed, with apache-arrow\'s or pyarrow\'s default alignment', { reason: 'copied' });
      }
    }
  }
  return table;
}

/**
 * Maps an Arrow IPC file (or a {@link SharedTableHandle}) as a {@link SharedTable}: the Table's
 * buffers are the file's pages, whichever process opens it.
 */
export async function openSharedTable(target: string | SharedTableHandle): Promise<SharedTable> {
  const path = typeof target === 'string' ? target : (target as { path?: unknown } | null)?.path;
  if (typeof target === 'object' && target !== null && (target as { kind?: unknown }).kind !== 'arrow-ipc-file') {
    throw new ShmArrayError('ERR_SHM_BAD_ARGUMENT', 'openSharedTable got an object that is not a table handle: pass sharedTable.handle (kind, path, byteLength).', {});
  }
  checkPath(path, "openSharedTable's path");
  const loaded = await loadArrow();
  let size: number;
  try {
    size = statSync(path as string).size;
  } catch (err) {
    throw fsError(err, 'open', path as string);
  }
  // The whole file as bytes: arrow's views of it are the mapping; openShared checks it is a regular file of that size.
  const bytes = openShared(path as string, [size], { dtype: 'uint8' });
  try {
    if (typeof target === 'object' && target.byteLength !== bytes.byteLength) {
      throw new ShmArrayError('ERR_SHM_SHAPE_MISMATCH', `${bytes.path} has changed since its handle was made (${bytes.byteLength} bytes, not ${target.byteLength}).`, { path: bytes.path });
    }
    return new SharedTable(bytes, tableOver(loaded, bytes), loaded.arrow);
  } catch (err) {
    bytes.close();
    throw err;
  }
}

/**
 * Writes `table` as an Arrow IPC file at `path` — complete or not at all (a temporary file,
 * renamed) — and maps it as a {@link SharedTable}. The bytes are the table's own serialisation by
 * apache-arrow (`tableToIPC(table, 'file')`).
 */
export async function createSharedTable(path: string, table: Table, options: CreateTableOptions = {}): Promise<SharedTable> {
  checkPath(path, "createSharedTable's path");
  checkOptions('createSharedTable', options, { overwrite: boolean });
  const { arrow: a } = await loadArrow();
  if (!(table instanceof a.Table)) {
    throw new ShmArrayError('ERR_SHM_BAD_ARGUMENT', 'createSharedTable needs an apache-arrow Table (tableFromArrays, makeTable, tableFromIPC …) of the apache-arrow this process imports.', {});
  }
  const bytes = a.tableToIPC(table, 'file');
  const tmp = tempName(path);
  const fd = openFile(tmp, 'wx', 'create', 0o600);
  try {
    for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done, bytes.length - done);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw fsError(err, 'write', path);
  }
  closeSync(fd);
  try {
    if (options.overwrite === true) renameSync(tmp, path);
    else {
      // link, not rename: an existing file of that name is never replaced (ERR_SHM_EXISTS).
      linkSync(tmp, path);
      rmSync(tmp, { force: true });
    }
  } catch (err) {
    rmSync(tmp, { force: true });
    throw fsError(err, 'create', path);
  }
  return openSharedTable(path);
}
