import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import { randomBytes } from 'node:crypto';
import { itemSize, parseDType, viewOf, type DType, type TypedArrayOf } from './dtype.js';
import { fsError, ShmArrayError } from './errors.js';
import { mapFile, maxTypedArrayLength, reserve, residentPages, sync, unmap, type Advice, type Mapping } from './native.js';
import { encodeNpyHeader, isNpy, NPY_MAX_HEADER_BYTES, npyHeaderSize, parseNpyHeader } from './npy.js';
import { boolean, checkOptions, integer, oneOf, own } from './options.js';
import { elementCount, normalizeShape, type ShapeLike } from './shape.js';

/** `'r'`: read-only mapping. `'r+'`: read-write, shared with every process that maps the file. */
export type Mode = 'r' | 'r+';

/**
 * What travels to a worker instead of the array: plain JSON, a few hundred bytes.
 * `openShared(handle)` maps the same file again. Extra properties are ignored, so a structured
 * clone of a SharedArray itself (which copies only these fields, never the data) is a handle too.
 */
export interface SharedHandle {
  readonly path: string;
  readonly shape: readonly number[];
  readonly dtype: DType;
  /** Byte offset of the data in the file (the header size for .npy files). */
  readonly offset: number;
  readonly mode: Mode;
  /** The file is a .npy file; its header is checked again when the handle is opened. */
  readonly npy: boolean;
  /** The array is a window into a larger raw file (see {@link OpenOptions.window}). */
  readonly window?: boolean;
}

/** Options of {@link openShared}. */
export interface OpenOptions<D extends DType = DType> {
  /** Element type of a raw file (default `'float32'`); for .npy files it must match the header. */
  dtype?: D;
  mode?: Mode;
  /** Byte offset of the data in a raw file; a multiple of the item size. */
  offset?: number;
  /** madvise hint for the access pattern (default `'normal'`). */
  advice?: Advice;
  /**
   * Map only `shape` elements at `offset` of a larger file, read as raw bytes of `dtype` whatever
   * the file holds (no .npy detection). The file must hold at least that much. Default false: the
   * file must be exactly `offset` + the shape's bytes, which catches wrong shapes.
   */
  window?: boolean;
}

/** Options of {@link createShared}. */
export interface CreateOptions<D extends DType = DType> {
  dtype?: D;
  /** Write a .npy header (default: when the path ends in `.npy`). */
  npy?: boolean;
  /** Replace an existing file (atomically: processes that mapped the old file keep it). */
  overwrite?: boolean;
  /** Permission bits of the new file (default 0o600: only this user's processes may map it). */
  fileMode?: number;
  advice?: Advice;
}

const MODES: readonly Mode[] = ['r', 'r+'];
/** Bytes read at the start of a file: the .npy prefix and a header of up to ~4 KB in one call. */
const FIRST_READ_BYTES = 4096;
const ADVICE: readonly Advice[] = ['normal', 'sequential', 'random', 'willneed'];

/**
 * A typed-array view over a memory-mapped file. `data` is the mapping itself, never a copy:
 * writes through an `'r+'` array are seen by every process mapping the same file.
 */
export class SharedArray<D extends DType = DType> {
  readonly path: string;
  readonly shape: readonly number[];
  readonly dtype: D;
  readonly offset: number;
  readonly mode: Mode;
  readonly npy: boolean;
  readonly window: boolean;
  readonly byteLength: number;
  #data: TypedArrayOf[D] | undefined;
  #mapping: Mapping | undefined;

  /** @internal Use {@link openShared} or {@link createShared}. */
  constructor(handle: SharedHandle & { dtype: D }, data: TypedArrayOf[D], mapping: Mapping | undefined) {
    this.path = handle.path;
    this.shape = handle.shape;
    this.dtype = handle.dtype;
    this.offset = handle.offset;
    this.mode = handle.mode;
    this.npy = handle.npy;
    this.window = handle.window === true;
    this.byteLength = data.byteLength;
    this.#data = data;
    this.#mapping = mapping;
  }

  /** The typed-array view (a Float32Array for float32). Throws `ERR_SHM_CLOSED` after close(). */
  get data(): TypedArrayOf[D] {
    if (this.#data === undefined) throw this.#closedError('data');
    return this.#data;
  }

  /** Number of elements. */
  get length(): number {
    return this.data.length;
  }

  /** The plain, JSON-serialisable handle to send to workers instead of the array. */
  get handle(): SharedHandle {
    if (this.#data === undefined) throw this.#closedError('handle');
    const h = { path: this.path, shape: [...this.shape], dtype: this.dtype, offset: this.offset, mode: this.mode, npy: this.npy };
    return this.window ? { ...h, window: true } : h;
  }

  /** True once close() was called. */
  get closed(): boolean {
    return this.#data === undefined;
  }

  /** A view (subarray, no copy) of row `i`: the elements `shape[1] × shape[2] × …` at index i. */
  row(i: number): TypedArrayOf[D] {
    const data = this.data;
    const rows = this.shape[0] ?? 1;
    if (!Number.isSafeInteger(i) || i < 0 || i >= rows) {
      throw new ShmArrayError('ERR_SHM_BAD_ARGUMENT', `Row ${String(i)} is out of range: ${this.path} has ${rows} rows.`, { row: String(i), rows });
    }
    const width = elementCount(this.shape.slice(1));
    return data.subarray(i * width, (i + 1) * width) as TypedArrayOf[D];
  }

  /** Blocks until writes made through this mapping are in the file (msync). A no-op for `'r'`. */
  flush(): void {
    if (this.#data === undefined) throw this.#closedError('flush()');
    if (this.mode === 'r+' && this.#mapping !== undefined) sync(this.#mapping);
  }

  /** How many of the mapped pages are resident in memory (mincore). */
  residency(): { resident: number; total: number } {
    if (this.#data === undefined) throw this.#closedError('residency()');
    return this.#mapping === undefined ? { resident: 0, total: 0 } : residentPages(this.#mapping);
  }

  /**
   * Unmaps now. Idempotent. Writes of an `'r+'` array are flushed first (msync). Every typed array
   * that viewed the mapping — `data`, `row()` results, subarrays, Buffers over it — is detached:
   * its length becomes 0 and reads give `undefined`, never a crash. The memory returns at once
   * (for a deleted tmpfs file, when the last process mapping it closes). Do not close while an
   * asynchronous operation (`fs.write` of `data`, a stream) still reads the memory: it would read
   * unmapped pages.
   */
  close(): void {
    if (this.#data === undefined) return;
    const mapping = this.#mapping;
    this.#data = undefined;
    this.#mapping = undefined;
    if (mapping !== undefined) unmap(mapping);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #closedError(what: string): ShmArrayError {
    return new ShmArrayError('ERR_SHM_CLOSED', `Cannot use ${what} of ${this.path}: the SharedArray was closed; open the file again with openShared().`, { path: this.path });
  }
}

/**
 * Maps a file into a typed-array view. Raw files need `shape` (and `dtype` unless float32);
 * .npy files (recognised by their magic bytes) carry shape and dtype in their header, and a
 * given shape must match it. A handle (from `array.handle`, or a cloned SharedArray) maps the
 * same file again, in the mode it records.
 */
export function openShared<D extends DType = 'float32'>(handle: SharedHandle & { dtype: D }): SharedArray<D>;
export function openShared(handle: SharedHandle): SharedArray;
export function openShared<D extends DType = 'float32'>(path: string, shape?: ShapeLike, options?: OpenOptions<D>): SharedArray<D>;
export function openShared(target: string | SharedHandle, shape?: ShapeLike, options: OpenOptions = {}): SharedArray {
  if (typeof target === 'object' && target !== null) {
    if (shape !== undefined) throw badArgument('openShared(handle) takes no shape: the handle carries it');
    const h = checkHandle(target);
    return open(h.path, h.shape, { dtype: h.dtype, mode: h.mode, offset: h.offset, window: h.window === true }, h.npy);
  }
  if (typeof target !== 'string' || target === '') throw badArgument(`openShared needs a file path or a handle, not ${typeof target}`);
  checkOptions('openShared', options, { dtype: own, mode: oneOf(MODES), offset: integer(0), advice: oneOf(ADVICE), window: boolean });
  return open(target, shape === undefined ? undefined : normalizeShape(shape), options, undefined);
}

function open(path: string, shape: readonly number[] | undefined, options: OpenOptions, expectNpy: boolean | undefined): SharedArray {
  const mode = options.mode ?? 'r';
  if (!MODES.includes(mode)) throw badArgument(`mode must be 'r' or 'r+', not ${JSON.stringify(mode)}`);
  const advice = options.advice ?? 'normal';
  if (!ADVICE.includes(advice)) throw badArgument(`advice must be one of ${ADVICE.join(', ')}, not ${JSON.stringify(advice)}`);
  const { fd, size } = openRegularFile(path, mode);
  try {
    const window = options.window === true;
    // One read covers the prefix and, for every ordinary .npy file, the whole header.
    const prefix = window ? new Uint8Array(0) : readAt(fd, Math.min(size, FIRST_READ_BYTES), 0);
    const npy = isNpy(prefix);
    if (expectNpy !== undefined && npy !== expectNpy) {
      throw new ShmArrayError('ERR_SHM_SHAPE_MISMATCH', `${path} has changed since its handle was made (it ${npy ? 'is' : 'is no longer'} a .npy file).`, { path });
    }
    let dtype: DType;
    let offset: number;
    let dims: readonly number[];
    if (npy) {
      const { size: headerSize } = npyHeaderSize(prefix, path);
      const headerBytes = Math.min(headerSize, size, NPY_MAX_HEADER_BYTES + 12);
      const header = parseNpyHeader(headerBytes <= prefix.length ? prefix.subarray(0, headerBytes) : readAt(fd, headerBytes, 0), path);
      if (options.dtype !== undefined && parseDType(options.dtype) !== header.dtype) {
        throw new ShmArrayError('ERR_SHM_BAD_DTYPE', `${path} holds ${header.dtype} data, not ${options.dtype}; drop the dtype option or pass '${header.dtype}'.`, { path, dtype: options.dtype, fileDtype: header.dtype });
      }
      if (options.offset !== undefined && options.offset !== header.dataOffset) {
        throw badArgument(`${path} is a .npy file: its data offset comes from the header (${header.dataOffset}), not from options.offset`);
      }
      if (shape !== undefined && !sameShape(shape, header.shape)) {
        throw new ShmArrayError('ERR_SHM_SHAPE_MISMATCH', `${path} has shape [${header.shape.join(', ')}], not [${shape.join(', ')}].`, { path, expected: [...shape], actual: [...header.shape] });
      }
      dtype = header.dtype;
      offset = header.dataOffset;
      dims = Object.freeze([...header.shape]);
    } else {
      if (shape === undefined) {
        throw new ShmArrayError('ERR_SHM_BAD_SHAPE', `${path} is a raw file, so openShared needs its shape, e.g. openShared(path, [rows, columns]).`, { path });
      }
      dtype = parseDType(options.dtype ?? 'float32');
      offset = options.offset ?? 0;
      if (!Number.isSafeInteger(offset) || offset < 0) throw badArgument(`offset must be a non-negative integer, not ${String(offset)}`);
      dims = shape;
    }
    if (offset % itemSize(dtype) !== 0) {
      throw new ShmArrayError('ERR_SHM_MISALIGNED', `The data of ${path} starts at byte ${offset}, which is not a multiple of ${itemSize(dtype)} (the size of ${dtype}); a typed array cannot view it in place.`, { path, offset, itemSize: itemSize(dtype) });
    }
    const length = elementCount(dims);
    checkLength(path, dims, dtype, length);
    const expected = offset + length * itemSize(dtype);
    if (window ? size < expected : size !== expected) {
      throw new ShmArrayError(
        'ERR_SHM_SHAPE_MISMATCH',
        `${path} has ${size} bytes but shape [${dims.join(', ')}] of ${dtype}${offset > 0 ? ` at offset ${offset}` : ''} needs ${expected}: ` +
          (size < expected ? 'the file is truncated or the shape is too large.' : 'check the shape and dtype.'),
        { path, expectedBytes: expected, actualBytes: size, shape: [...dims], dtype },
      );
    }
    return mapView({ path, shape: dims, dtype, offset, mode, npy, ...(window ? { window } : {}) }, fd, length, advice);
  } finally {
    fs.closeSync(fd);
  }
}

function mapView(handle: SharedHandle, fd: number, length: number, advice: Advice): SharedArray {
  const { dtype } = handle;
  if (length === 0) return new SharedArray(handle, viewOf(dtype, new ArrayBuffer(0), 0, 0), undefined);
  const mapping = mapFile(fd, length * itemSize(dtype), handle.offset, handle.mode === 'r+', advice, handle.path);
  const data = viewOf(dtype, mapping.buffer, mapping.byteOffset, length);
  return new SharedArray(handle, data, mapping);
}

/**
 * Creates a file of exactly the size the shape needs (raw, or .npy with a version 1.0 header and
 * 64-byte-aligned data) and maps it read-write. The file appears complete or not at all: it is
 * built under a temporary name in the same directory and linked (or, with `overwrite`, renamed)
 * into place, so a process that mapped an older file of that name keeps its pages intact.
 */
export function createShared<D extends DType = 'float32'>(path: string, shape: ShapeLike, options: CreateOptions<D> = {}): SharedArray<D> {
  if (typeof path !== 'string' || path === '') throw badArgument('createShared needs a file path');
  checkOptions('createShared', options, { dtype: own, npy: boolean, overwrite: boolean, fileMode: integer(0, 0o7777), advice: oneOf(ADVICE) });
  const dims = normalizeShape(shape);
  const dtype = parseDType(options.dtype ?? 'float32') as D;
  const npy = options.npy ?? path.endsWith('.npy');
  const header = npy ? encodeNpyHeader(dtype, dims) : new Uint8Array(0);
  const length = elementCount(dims);
  checkLength(path, dims, dtype, length);
  const total = header.length + length * itemSize(dtype);
  if (!options.overwrite && fs.existsSync(path)) {
    throw new ShmArrayError('ERR_SHM_EXISTS', `${path} already exists; pass { overwrite: true } to replace it.`, { path });
  }
  const dir = nodePath.dirname(path);
  checkSpace(dir, total, path);
  const tmp = nodePath.join(dir, `.${nodePath.basename(path)}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
  let fd: number;
  try {
    fd = fs.openSync(tmp, 'wx+', options.fileMode ?? 0o600);
  } catch (err) {
    throw fsError(err, 'create a file in', dir);
  }
  try {
    fs.ftruncateSync(fd, total);
    // Every block now: a full filesystem fails here, not as a SIGBUS when a page is first written.
    reserve(fd, total, path);
    if (header.length > 0) fs.writeSync(fd, header, 0, header.length, 0);
    const array = mapView({ path, shape: dims, dtype, offset: header.length, mode: 'r+', npy }, fd, length, options.advice ?? 'normal');
    if (options.overwrite) fs.renameSync(tmp, path);
    else fs.linkSync(tmp, path);
    return array as SharedArray<D>;
  } catch (err) {
    throw fsError(err, 'create', path);
  } finally {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
  }
}

/**
 * The most elements one SharedArray of `dtype` can have in this Node (V8's typed-array limit):
 * on Node 20, 2^32 elements (a 16 GiB Float32Array); on Node 22 and later, 2^53 - 1 bytes.
 */
export function maxArrayLength(dtype: DType = 'float32'): number {
  return maxTypedArrayLength(itemSize(parseDType(dtype)));
}

/** One typed array views the whole mapping, so V8's typed-array limit is the limit of one SharedArray. */
function checkLength(path: string, dims: readonly number[], dtype: DType, length: number): void {
  const limit = maxTypedArrayLength(itemSize(dtype));
  if (length > limit) {
    throw new ShmArrayError(
      'ERR_SHM_TOO_LARGE',
      `Shape [${dims.join(', ')}] of ${dtype} has ${length} elements, more than one typed array can hold in Node ${process.versions.node} ` +
        `(${limit} elements of ${dtype}); split the data into several files along the first axis.`,
      { path, length, limit, dtype },
    );
  }
}

/** The file system's free space is checked up front: a full tmpfs turns a later page write into SIGBUS. */
function checkSpace(dir: string, bytes: number, path: string): void {
  let free: number;
  try {
    const st = fs.statfsSync(dir);
    free = st.bavail * st.bsize;
  } catch (err) {
    throw fsError(err, 'inspect the directory of', path);
  }
  if (bytes > free) {
    throw new ShmArrayError('ERR_SHM_NO_SPACE', `${path} needs ${bytes} bytes but ${dir} has ${free} free; free space there or choose another directory.`, { path, bytes, free });
  }
}

/**
 * Opens without blocking (a fifo would otherwise hang open(2)) and refuses anything that is not
 * a regular file: mapping a device or a directory is never what the caller meant.
 */
function openRegularFile(path: string, mode: Mode): { fd: number; size: number } {
  const flags = (mode === 'r+' ? fs.constants.O_RDWR : fs.constants.O_RDONLY) | fs.constants.O_NONBLOCK;
  let fd: number;
  try {
    fd = fs.openSync(path, flags);
  } catch (err) {
    const e = fsError(err, mode === 'r+' ? 'open for writing' : 'open', path);
    if (e instanceof ShmArrayError && e.code === 'ERR_SHM_NOT_FOUND') {
      throw new ShmArrayError('ERR_SHM_NOT_FOUND', `${path} does not exist; check the path (is the store that held it disposed?).`, { path });
    }
    throw e;
  }
  const st = fs.fstatSync(fd);
  if (!st.isFile()) {
    fs.closeSync(fd);
    const kind = st.isDirectory() ? 'a directory' : st.isFIFO() ? 'a fifo' : st.isSocket() ? 'a socket' : 'a device';
    throw new ShmArrayError('ERR_SHM_NOT_A_FILE', `${path} is ${kind}, not a regular file; only regular files can be mapped.`, { path, kind });
  }
  return { fd, size: st.size };
}

function readAt(fd: number, length: number, position: number): Uint8Array {
  const out = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, out, done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return out.subarray(0, done);
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((n, i) => n === b[i]);
}

function badArgument(why: string): ShmArrayError {
  return new ShmArrayError('ERR_SHM_BAD_ARGUMENT', `${why}.`, {});
}

function checkHandle(value: object): SharedHandle {
  const h = value as Partial<Record<keyof SharedHandle, unknown>>;
  if (typeof h.path !== 'string' || !Array.isArray(h.shape) || typeof h.offset !== 'number' || typeof h.npy !== 'boolean') {
    throw badArgument('openShared got an object that is not a handle: pass array.handle (path, shape, dtype, offset, mode, npy)');
  }
  const mode = h.mode;
  if (mode !== 'r' && mode !== 'r+') throw badArgument(`handle.mode must be 'r' or 'r+', not ${JSON.stringify(mode)}`);
  return { path: h.path, shape: normalizeShape(h.shape), dtype: parseDType(h.dtype), offset: h.offset, mode, npy: h.npy, window: h.window === true };
}
