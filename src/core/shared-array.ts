import * as fs from 'node:fs';
import { itemSize, parseDType, viewOf, type DType, type TypedArrayOf } from './dtype.js';
import { badArgument, ShmArrayError } from './errors.js';
import { ADVICE, checkHandle, inspect, MODES, ORDERS, type Mode, type OpenOptions, type Order, type SharedHandle } from './handle.js';
import { mapFile, maxTypedArrayLength, residentPages, sync, unmap, type Advice, type Mapping } from './native.js';
import { boolean, checkOptions, checkPath, integer, oneOf, own } from './options.js';
import { elementCount, normalizeShape, type ShapeLike } from './shape.js';

export type { Mode, OpenOptions, Order, SharedHandle } from './handle.js';

/**
 * A typed-array view over a memory-mapped file. `data` is the mapping itself, never a copy:
 * writes through an `'r+'` array are seen by every process mapping the same file. It has every
 * field of its {@link SharedHandle} (the compiler holds them together).
 */
export class SharedArray<D extends DType = DType> implements Required<Omit<SharedHandle<D>, 'converted'>> {
  readonly path: string;
  readonly shape: readonly number[];
  readonly dtype: D;
  readonly offset: number;
  readonly mode: Mode;
  readonly npy: boolean;
  readonly window: boolean;
  /** `'C'` row-major, or `'F'`: a Fortran-ordered .npy file, mapped as it is (`data[i + rows·j]` is element [i, j]). */
  readonly order: Order;
  /** Set when extraction changed the store's copy of an archive's entry: it says what (a big-endian .npy made little-endian). */
  readonly converted: string | undefined;
  /** True for an array mapped where it lies inside an archive (an .npz entry): `path` is the archive, `offset` where its data starts. */
  readonly inPlace: boolean;
  readonly byteLength: number;
  #data: TypedArrayOf[D] | undefined;
  #mapping: Mapping | undefined;
  #onClose: (() => void) | undefined;

  /** @internal Use {@link openShared} or {@link createShared}. */
  constructor(handle: SharedHandle & { dtype: D }, data: TypedArrayOf[D], mapping: Mapping | undefined) {
    this.path = handle.path;
    this.shape = handle.shape;
    this.dtype = handle.dtype;
    this.offset = handle.offset;
    this.mode = handle.mode;
    this.npy = handle.npy;
    this.window = handle.window === true;
    this.order = handle.order ?? 'C';
    this.converted = handle.converted;
    this.inPlace = handle.inPlace === true;
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

  /** The plain, JSON-serialisable handle to send to workers instead of the array (typed by its dtype, as the array is). */
  get handle(): SharedHandle<D> {
    if (this.#data === undefined) throw this.#closedError('handle');
    const h = { path: this.path, shape: [...this.shape], dtype: this.dtype, offset: this.offset, mode: this.mode, npy: this.npy };
    return { ...h, ...(this.window ? { window: true } : {}), ...(this.order === 'F' ? { order: this.order } : {}), ...(this.converted !== undefined ? { converted: this.converted } : {}), ...(this.inPlace ? { inPlace: true } : {}) };
  }

  /** True once close() was called. */
  get closed(): boolean {
    return this.#data === undefined;
  }

  /** A view (subarray, no copy) of row `i`: the elements `shape[1] × shape[2] × …` at index i. */
  row(i: number): TypedArrayOf[D] {
    const data = this.data;
    if (this.order === 'F' && this.shape.length > 1) {
      throw new ShmArrayError(
        'ERR_SHM_BAD_ARGUMENT',
        `Row ${String(i)} of ${this.path} is not one piece of memory: the array is in Fortran (column-major) order, so a row's elements lie ${this.shape[0]} apart. Read data[i + ${this.shape[0]}·j], or save it C-ordered (np.ascontiguousarray).`,
        { path: this.path, order: 'F' },
      );
    }
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
    const onClose = this.#onClose;
    this.#onClose = undefined;
    onClose?.();
  }

  /** @internal Runs `fn` once, after the array is closed (a cache entry's hold ends with its arrays). */
  onClose(fn: () => void): void {
    this.#onClose = fn;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #closedError(what: string): ShmArrayError {
    return new ShmArrayError('ERR_SHM_CLOSED', `Cannot use ${what} of ${this.path}: the SharedArray was closed; open the file again with openShared().`, { path: this.path });
  }
}

/**
 * A SharedArray of dtype `D`, distributed over a union: `SharedArrayOf<'int32' | 'float32'>` is
 * `SharedArray<'int32'> | SharedArray<'float32'>`, so checking `a.dtype` narrows `a.data`.
 */
export type SharedArrayOf<D extends DType> = D extends DType ? SharedArray<D> : never;

/** A SharedArray of a dtype known only at run time (a .npy file's header says it): narrow it on `dtype`. */
export type AnySharedArray = SharedArrayOf<DType>;

/**
 * Maps a file into a typed-array view. Raw files need `shape` (and `dtype` unless float32);
 * .npy files (recognised by their magic bytes) carry shape and dtype in their header, and a
 * given shape must match it. A handle (from `array.handle`, or a cloned SharedArray) maps the
 * same file again, in the mode it records.
 */
export function openShared<D extends DType>(handle: SharedHandle<D>): SharedArrayOf<D>;
// With a dtype, the array is of that dtype (a .npy file's header must agree); without one it may
// be any: a raw file is float32, but a .npy file is what its header says.
export function openShared<D extends DType>(path: string, shape: ShapeLike | undefined, options: OpenOptions<D> & { dtype: D }): SharedArray<D>;
export function openShared(path: string, shape?: ShapeLike, options?: OpenOptions): AnySharedArray;
export function openShared(target: string | SharedHandle, shape?: ShapeLike, options: OpenOptions = {}): SharedArray {
  if (typeof target === 'object' && target !== null) {
    if (shape !== undefined) throw badArgument('openShared(handle) takes no shape: the handle carries it');
    return openHandle(checkHandle(target));
  }
  if (typeof target !== 'string' || target === '') throw badArgument(`openShared needs a file path or a handle, not ${typeof target}`);
  checkPath(target, "openShared's path");
  checkOptions('openShared', options, { dtype: own, mode: oneOf(MODES), offset: integer(0), advice: oneOf(ADVICE), window: boolean, order: oneOf(ORDERS) });
  return open(target, shape === undefined ? undefined : normalizeShape(shape), options, options.advice ?? 'normal', undefined);
}

/** @internal Maps a handle {@link checkHandle} has checked (openShared and openSharedCached check it once). */
export function openHandle(h: SharedHandle): SharedArray {
  return open(h.path, h.shape, { dtype: h.dtype, mode: h.mode, offset: h.offset, window: h.window === true, order: h.order ?? 'C' }, 'normal', h.npy, { converted: h.converted, inPlace: h.inPlace });
}

function open(path: string, shape: readonly number[] | undefined, options: OpenOptions, advice: Advice, expectNpy: boolean | undefined, from: Pick<SharedHandle, 'converted' | 'inPlace'> = {}): SharedArray {
  const { handle, fd, length } = inspect(path, shape, options, expectNpy);
  try {
    // What extraction did, and that an array lies inside an archive, travel with the handle: the file cannot say them.
    const extra = { ...(from.converted !== undefined ? { converted: from.converted } : {}), ...(from.inPlace === true ? { inPlace: true } : {}) };
    return mapView({ ...handle, ...extra }, fd, length, advice);
  } finally {
    fs.closeSync(fd);
  }
}

/** @internal Maps the open file `fd` as `handle` describes it (a zero-length array maps nothing). */
export function mapView(handle: SharedHandle, fd: number, length: number, advice: Advice): SharedArray {
  const { dtype } = handle;
  if (length === 0) return new SharedArray(handle, viewOf(dtype, new ArrayBuffer(0), 0, 0), undefined);
  const mapping = mapFile(fd, length * itemSize(dtype), handle.offset, handle.mode === 'r+', advice, handle.path);
  const data = viewOf(dtype, mapping.buffer, mapping.byteOffset, length);
  return new SharedArray(handle, data, mapping);
}

/**
 * The most elements one SharedArray of `dtype` can have in this Node (V8's typed-array limit):
 * on Node 20, 2^32 elements (a 16 GiB Float32Array); on Node 22 and later, 2^53 - 1 bytes.
 */
export function maxArrayLength(dtype: DType = 'float32'): number {
  return maxTypedArrayLength(itemSize(parseDType(dtype)));
}

