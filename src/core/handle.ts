/**
 * What a file holds, checked without mapping it: a handle (path, shape, dtype, offset, mode) that
 * `openShared` maps, a worker receives, or a parent passes on without ever touching the pages.
 */
import * as fs from 'node:fs';
import { itemSize, parseDType, type DType } from './dtype.js';
import { badArgument, fsError, ShmArrayError } from './errors.js';
import { readAt } from './files.js';
import { maxTypedArrayLength, type Advice } from './native.js';
import { isNpy, NPY_MAX_HEADER_BYTES, NPY_PREFIX_BYTES, npyHeaderSize, parseNpyHeader } from './npy.js';
import { boolean, checkOptions, checkPath, integer, oneOf, own } from './options.js';
import { elementCount, normalizeShape, sameShape, type ShapeLike } from './shape.js';

/** `'r'`: read-only mapping. `'r+'`: read-write, shared with every process that maps the file. */
export type Mode = 'r' | 'r+';

/**
 * What travels to a worker instead of the array: plain JSON, a few hundred bytes.
 * `openShared(handle)` maps the same file again. Extra properties are ignored, so a structured
 * clone of a SharedArray itself (which copies only these fields, never the data) is a handle too.
 */
export interface SharedHandle<D extends DType = DType> {
  readonly path: string;
  readonly shape: readonly number[];
  readonly dtype: D;
  /** Byte offset of the data in the file (the header size for .npy files). */
  readonly offset: number;
  readonly mode: Mode;
  /** The file is a .npy file; its header is checked again when the handle is opened. */
  readonly npy: boolean;
  /** The array is a window into a larger raw file (see {@link OpenOptions.window}). */
  readonly window?: boolean;
  /** `'F'`: a .npy file in Fortran (column-major) order, as its header says; absent means `'C'` (row-major). */
  readonly order?: Order;
  /** What extraction changed in the store's copy of an archive's entry (its byte order), if anything. */
  readonly converted?: string;
  /** The array is an entry of an archive (an .npz), mapped where it lies in it: `path` is the archive. */
  readonly inPlace?: boolean;
}

/** Element order: `'C'` row-major (the last index varies fastest), `'F'` column-major (the first does). */
export type Order = 'C' | 'F';

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
  /** Element order of a raw file (default `'C'`, row-major); a .npy file's header gives its own, which this must then match. */
  order?: Order;
}

/** Options of {@link describeShared}: those of `openShared`, or `columns` for a raw file whose rows follow from its size. */
export interface DescribeOptions<D extends DType = DType> extends Omit<OpenOptions<D>, 'advice'> {
  /** Exact shape of a raw file. */
  shape?: ShapeLike;
  /** Columns of a raw file; its rows are inferred from its size. */
  columns?: number;
}

export const MODES: readonly Mode[] = ['r', 'r+'];
export const ORDERS: readonly Order[] = ['C', 'F'];
export const ADVICE: readonly Advice[] = ['normal', 'sequential', 'random', 'willneed'];
/** Bytes read at the start of a file: the .npy prefix and a header of up to ~4 KB in one call. */
const FIRST_READ_BYTES = 4096;

/** A checked handle and the file, still open, for a caller that maps it next. */
export interface Inspected {
  handle: SharedHandle;
  fd: number;
  length: number;
}

/**
 * The checked handle of a data file, without mapping it: `.npy` files by their header, raw files
 * by `shape`, or by `columns` with the rows their size makes. Every check `openShared` makes is
 * made here (size, dtype, alignment, the typed-array limit), so the handle opens as it is.
 */
export function describeShared(path: string, options: DescribeOptions = {}): SharedHandle {
  if (typeof path !== 'string' || path === '') throw badArgument(`describeShared needs a file path, not ${typeof path}`);
  checkPath(path, "describeShared's path");
  checkOptions('describeShared', options, { shape: own, columns: integer(1), dtype: own, mode: oneOf(MODES), offset: integer(0), window: boolean, order: oneOf(ORDERS) });
  if (options.shape !== undefined && options.columns !== undefined) throw badArgument('describeShared takes shape or columns, not both');
  let shape = options.shape === undefined ? undefined : normalizeShape(options.shape);
  if (options.columns !== undefined) {
    let size: number;
    try {
      size = fs.statSync(path).size;
    } catch (err) {
      throw fsError(err, 'read', path);
    }
    // A .npy file's header gives its shape; columns shape raw files only.
    if (!hasNpyMagic(path)) shape = rawShape(size - (options.offset ?? 0), parseDType(options.dtype ?? 'float32'), { columns: options.columns }, path, { path });
  }
  const { fd, handle } = inspect(path, shape, options, undefined);
  fs.closeSync(fd);
  return handle;
}

function hasNpyMagic(path: string): boolean {
  const fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  try {
    return isNpy(readAt(fd, 0, 8));
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The shape of raw data of `bytes` bytes: `shape` as given, else rows of `columns` (1-D when
 * columns is not given). `what` names the data in the message (a path, or an archive's entry).
 */
export function rawShape(bytes: number, dtype: DType, options: { shape?: ShapeLike | undefined; columns?: number | undefined }, what: string, details: Record<string, string>): readonly number[] {
  if (options.shape !== undefined) return normalizeShape(options.shape);
  const columns = options.columns ?? 1;
  if (!Number.isSafeInteger(columns) || columns < 1) {
    throw new ShmArrayError('ERR_SHM_BAD_SHAPE', `columns must be a positive integer, not ${String(options.columns)}.`, { columns: String(options.columns) });
  }
  const rowBytes = columns * itemSize(dtype);
  if (bytes % rowBytes !== 0) {
    throw new ShmArrayError(
      'ERR_SHM_SHAPE_MISMATCH',
      `${what} has ${bytes} bytes, not a whole number of rows of ${columns} ${dtype} (${rowBytes} bytes each); check columns and dtype.`,
      { ...details, actualBytes: bytes, rowBytes },
    );
  }
  const rows = bytes / rowBytes;
  return options.columns === undefined ? [rows] : [rows, columns];
}

/**
 * Opens `path` and checks it against `shape` and `options` (dtype, offset, window, mode); a .npy
 * file is read by its header. Returns the checked handle with the file still open (the caller
 * maps it, then closes it); on any error the file is closed and a ShmArrayError thrown.
 */
export function inspect(path: string, shape: readonly number[] | undefined, options: OpenOptions, expectNpy: boolean | undefined): Inspected {
  const mode = options.mode ?? 'r';
  if (!MODES.includes(mode)) throw badArgument(`mode must be 'r' or 'r+', not ${JSON.stringify(mode)}`);
  const { fd, size } = openRegularFile(path, mode);
  try {
    const window = options.window === true;
    // One read covers the prefix and, for every ordinary .npy file, the whole header.
    const prefix = window ? new Uint8Array(0) : readAt(fd, 0, Math.min(size, FIRST_READ_BYTES));
    const npy = isNpy(prefix);
    if (expectNpy !== undefined && npy !== expectNpy) {
      throw new ShmArrayError('ERR_SHM_SHAPE_MISMATCH', `${path} has changed since its handle was made (it ${npy ? 'is' : 'is no longer'} a .npy file).`, { path });
    }
    let dtype: DType;
    let offset: number;
    let dims: readonly number[];
    let order: Order = 'C';
    if (npy) {
      const { size: headerSize } = npyHeaderSize(prefix, path);
      const headerBytes = Math.min(headerSize, size, NPY_MAX_HEADER_BYTES + NPY_PREFIX_BYTES);
      const header = parseNpyHeader(headerBytes <= prefix.length ? prefix.subarray(0, headerBytes) : readAt(fd, 0, headerBytes), path);
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
      order = header.order;
      if (options.order !== undefined && options.order !== order) {
        throw new ShmArrayError('ERR_SHM_SHAPE_MISMATCH', `${path} is in ${order === 'F' ? 'Fortran (F)' : 'C'} order, not ${options.order}; drop the order option.`, { path, order });
      }
    } else {
      if (shape === undefined) {
        throw new ShmArrayError('ERR_SHM_BAD_SHAPE', `${path} is a raw file, so openShared needs its shape, e.g. openShared(path, [rows, columns]).`, { path, reason: 'raw-without-shape' });
      }
      dtype = parseDType(options.dtype ?? 'float32');
      offset = options.offset ?? 0;
      if (!Number.isSafeInteger(offset) || offset < 0) throw badArgument(`offset must be a non-negative integer, not ${String(offset)}`);
      dims = shape;
      order = options.order ?? 'C'; // checked by every caller's options (oneOf(ORDERS), checkHandle)
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
    return { handle: { path, shape: dims, dtype, offset, mode, npy, ...(window ? { window } : {}), ...(order === 'F' ? { order } : {}) }, fd, length };
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
}

/** One typed array views the whole mapping, so V8's typed-array limit is the limit of one SharedArray. */
export function checkLength(path: string, dims: readonly number[], dtype: DType, length: number): void {
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

/** The fields a handle must have, each with the type its value must be. */
const HANDLE_FIELDS = [
  ['path', 'a string', (v: unknown) => typeof v === 'string'],
  ['shape', 'an array', Array.isArray],
  ['offset', 'a number', (v: unknown) => typeof v === 'number'],
  ['npy', 'true or false', (v: unknown) => typeof v === 'boolean'],
] as const;

/** Checks an object given as a handle to `fn`; a hand-made one learns which fields are missing or wrong. */
export function checkHandle(value: object, fn = 'openShared'): SharedHandle {
  const h = value as Partial<Record<keyof SharedHandle, unknown>>;
  const missing = HANDLE_FIELDS.filter(([key]) => h[key] === undefined).map(([key]) => key);
  const wrong = HANDLE_FIELDS.filter(([key, , ok]) => h[key] !== undefined && !ok(h[key])).map(([key, type]) => `${key} must be ${type}`);
  if (missing.length > 0 || wrong.length > 0) {
    const said = [...(missing.length > 0 ? [`missing ${missing.join(', ')}`] : []), ...wrong].join('; ');
    throw new ShmArrayError('ERR_SHM_BAD_ARGUMENT', `${fn} got an object that is not a handle (${said}): pass array.handle (path, shape, dtype, offset, mode, npy).`, {
      ...(missing.length > 0 ? { missing: missing.join(',') } : {}),
      ...(wrong.length > 0 ? { wrong: wrong.join('; ') } : {}),
    });
  }
  checkPath(h.path, 'handle.path');
  const mode = h.mode;
  if (mode !== 'r' && mode !== 'r+') throw badArgument(`handle.mode must be 'r' or 'r+', not ${JSON.stringify(mode)}`);
  if (h.order !== undefined && h.order !== 'C' && h.order !== 'F') throw badArgument(`handle.order must be 'C' or 'F', not ${JSON.stringify(h.order)}`);
  return { path: h.path, shape: normalizeShape(h.shape), dtype: parseDType(h.dtype), offset: h.offset as number, mode, npy: h.npy as boolean, window: h.window === true, ...(h.order === 'F' ? { order: 'F' as const } : {}), ...(typeof h.converted === 'string' ? { converted: h.converted } : {}), ...(h.inPlace === true ? { inPlace: true } : {}) };
}
