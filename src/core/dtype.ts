import { ShmArrayError } from './errors.js';

/** The element types shmarray can map: numpy's numeric dtypes and bool, and safetensors' bfloat16. */
export type DType = 'float32' | 'float64' | 'int8' | 'int16' | 'int32' | 'uint8' | 'uint16' | 'uint32' | 'int64' | 'uint64' | 'bool' | 'float16' | 'bfloat16';

/**
 * Node ≥ 24's `Float16Array` (ES2025), as far as shmarray's types name it: declared here so that a
 * program compiles without the `esnext.float16` lib. At run time it is the real `Float16Array`.
 */
export interface Float16ArrayLike extends ArrayLike<number>, Iterable<number> {
  [index: number]: number;
  readonly BYTES_PER_ELEMENT: 2;
  readonly buffer: ArrayBufferLike;
  readonly byteLength: number;
  readonly byteOffset: number;
  subarray(begin?: number, end?: number): Float16ArrayLike;
  slice(start?: number, end?: number): Float16ArrayLike;
  fill(value: number, start?: number, end?: number): this;
  set(array: ArrayLike<number>, offset?: number): void;
}

/**
 * The typed array that views a mapping of each dtype. `bool` is bytes of 0 and 1. `float16` is a
 * `Float16Array` where the runtime has one (Node ≥ 24), else its raw bits as a `Uint16Array`
 * ({@link HAS_FLOAT16ARRAY} says which); `bfloat16` is always its raw bits (no typed array reads
 * it): `float32 = bits << 16`.
 */
export interface TypedArrayOf {
  float32: Float32Array;
  float64: Float64Array;
  int8: Int8Array;
  int16: Int16Array;
  int32: Int32Array;
  uint8: Uint8Array;
  uint16: Uint16Array;
  uint32: Uint32Array;
  int64: BigInt64Array;
  uint64: BigUint64Array;
  bool: Uint8Array;
  float16: Float16ArrayLike | Uint16Array;
  bfloat16: Uint16Array;
}

/** Any typed array shmarray may hand out. */
export type NumericArray = TypedArrayOf[DType];

interface DTypeInfo {
  readonly ctor: new (buffer: ArrayBufferLike, byteOffset: number, length: number) => NumericArray;
  readonly itemSize: number;
  /** numpy's type code without the byte-order character, e.g. 'f4'. */
  readonly npyCode: string;
}

type ViewCtor = DTypeInfo['ctor'];
const Float16 = (globalThis as { Float16Array?: ViewCtor }).Float16Array;

/** True where this runtime has `Float16Array` (Node ≥ 24): float16 data are numbers, not bits. */
export const HAS_FLOAT16ARRAY: boolean = Float16 !== undefined;

const INFO: Readonly<Record<DType, DTypeInfo>> = {
  float32: { ctor: Float32Array, itemSize: 4, npyCode: 'f4' },
  float64: { ctor: Float64Array, itemSize: 8, npyCode: 'f8' },
  int8: { ctor: Int8Array, itemSize: 1, npyCode: 'i1' },
  int16: { ctor: Int16Array, itemSize: 2, npyCode: 'i2' },
  int32: { ctor: Int32Array, itemSize: 4, npyCode: 'i4' },
  uint8: { ctor: Uint8Array, itemSize: 1, npyCode: 'u1' },
  uint16: { ctor: Uint16Array, itemSize: 2, npyCode: 'u2' },
  uint32: { ctor: Uint32Array, itemSize: 4, npyCode: 'u4' },
  int64: { ctor: BigInt64Array as unknown as ViewCtor, itemSize: 8, npyCode: 'i8' },
  uint64: { ctor: BigUint64Array as unknown as ViewCtor, itemSize: 8, npyCode: 'u8' },
  bool: { ctor: Uint8Array, itemSize: 1, npyCode: 'b1' },
  float16: { ctor: Float16 ?? Uint16Array, itemSize: 2, npyCode: 'f2' },
  // numpy has no bfloat16 (ml_dtypes' is a void dtype to numpy): no .npy code.
  bfloat16: { ctor: Uint16Array, itemSize: 2, npyCode: '' },
};

/** Every supported dtype name, in a stable order. */
export const DTYPES: readonly DType[] = Object.freeze(Object.keys(INFO) as DType[]);

/** Checks a user-given dtype name; throws `ERR_SHM_BAD_DTYPE` with the supported list. */
export function parseDType(value: unknown): DType {
  if (typeof value === 'string' && Object.hasOwn(INFO, value)) return value as DType;
  // A constructor (dtype: Float32Array) is the common slip: say which name it stands for (Uint8Array and
  // Uint16Array stand for uint8 and uint16, the first dtypes with that constructor).
  const named = typeof value === 'function' ? DTYPES.find((d) => INFO[d].ctor === value) : undefined;
  const shown = typeof value === 'function' ? `the ${value.name || 'anonymous'} constructor` : typeof value === 'string' ? JSON.stringify(value.slice(0, 40)) : String(value);
  throw new ShmArrayError(
    'ERR_SHM_BAD_DTYPE',
    `Unsupported dtype ${shown}: ${named !== undefined ? `give its name, '${named}'` : `use one of ${DTYPES.join(', ')}`}.`,
    { dtype: typeof value === 'function' ? value.name : String(value) },
  );
}

/** Bytes per element. */
export function itemSize(dtype: DType): number {
  return INFO[dtype].itemSize;
}

/** A typed-array view of `length` elements at `byteOffset` of `buffer`, never a copy. */
export function viewOf<D extends DType>(dtype: D, buffer: ArrayBufferLike, byteOffset: number, length: number): TypedArrayOf[D] {
  return new INFO[dtype].ctor(buffer, byteOffset, length) as TypedArrayOf[D];
}

/** The .npy descr for a dtype, little-endian, e.g. `'<f4'` (`'|u1'` for single bytes); `bfloat16` has none (ERR_SHM_BAD_DTYPE). */
export function npyDescr(dtype: DType): string {
  const { itemSize: size, npyCode } = INFO[dtype];
  if (npyCode === '') {
    throw new ShmArrayError('ERR_SHM_BAD_DTYPE', `numpy has no ${dtype} dtype, so it cannot be saved as .npy: write a raw file (or safetensors), or convert it to float32 first.`, { dtype });
  }
  return `${size === 1 ? '|' : '<'}${npyCode}`;
}

/** The dtypes a .npy file can hold (every one but bfloat16). */
const NPY_DTYPES = DTYPES.filter((d) => INFO[d].npyCode !== '');

/**
 * The dtype for a .npy descr. Big-endian data cannot be viewed without a copy, and object,
 * string or structured dtypes have no typed-array equivalent: both are `ERR_SHM_UNSUPPORTED_NPY`.
 */
export function dtypeFromDescr(descr: string): DType {
  const order = descr[0];
  const code = descr.slice(1);
  const found = NPY_DTYPES.find((d) => INFO[d].npyCode === code);
  if (found !== undefined && (order === '<' || order === '|' || (order === '=' && isLittleEndianHost()))) {
    if (order === '|' && INFO[found].itemSize !== 1) throw unsupported(descr, 'multi-byte data needs a byte order');
    return found;
  }
  if (found !== undefined && order === '>') {
    throw unsupported(descr, `it is big-endian (byte order '>'), and this machine's typed arrays read little-endian, so it cannot be viewed in place; convert it in numpy: np.save(path, arr.astype('<${code}'))`);
  }
  throw unsupported(descr, `supported dtypes are ${NPY_DTYPES.map(npyDescr).join(', ')}`);
}

function unsupported(descr: string, why: string): ShmArrayError {
  return new ShmArrayError('ERR_SHM_UNSUPPORTED_NPY', `The .npy dtype '${descr}' is not supported: ${why}.`, { descr });
}

function isLittleEndianHost(): boolean {
  return new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
}
