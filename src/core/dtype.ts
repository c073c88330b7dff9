import { ShmArrayError } from './errors.js';

/** The element types shmarray can map. */
export type DType = 'float32' | 'float64' | 'int8' | 'int16' | 'int32' | 'uint8' | 'uint16' | 'uint32';

/** The typed array that views a mapping of each dtype. */
export interface TypedArrayOf {
  float32: Float32Array;
  float64: Float64Array;
  int8: Int8Array;
  int16: Int16Array;
  int32: Int32Array;
  uint8: Uint8Array;
  uint16: Uint16Array;
  uint32: Uint32Array;
}

/** Any typed array shmarray may hand out. */
export type NumericArray = TypedArrayOf[DType];

interface DTypeInfo {
  readonly ctor: new (buffer: ArrayBufferLike, byteOffset: number, length: number) => NumericArray;
  readonly itemSize: number;
  /** numpy's type code without the byte-order character, e.g. 'f4'. */
  readonly npyCode: string;
}

const INFO: Readonly<Record<DType, DTypeInfo>> = {
  float32: { ctor: Float32Array, itemSize: 4, npyCode: 'f4' },
  float64: { ctor: Float64Array, itemSize: 8, npyCode: 'f8' },
  int8: { ctor: Int8Array, itemSize: 1, npyCode: 'i1' },
  int16: { ctor: Int16Array, itemSize: 2, npyCode: 'i2' },
  int32: { ctor: Int32Array, itemSize: 4, npyCode: 'i4' },
  uint8: { ctor: Uint8Array, itemSize: 1, npyCode: 'u1' },
  uint16: { ctor: Uint16Array, itemSize: 2, npyCode: 'u2' },
  uint32: { ctor: Uint32Array, itemSize: 4, npyCode: 'u4' },
};

/** Every supported dtype name, in a stable order. */
export const DTYPES: readonly DType[] = Object.freeze(Object.keys(INFO) as DType[]);

/** Checks a user-given dtype name; throws `ERR_SHM_BAD_DTYPE` with the supported list. */
export function parseDType(value: unknown): DType {
  if (typeof value === 'string' && Object.hasOwn(INFO, value)) return value as DType;
  // A constructor (dtype: Float32Array) is the common slip: say which name it stands for.
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

/** The .npy descr for a dtype, little-endian, e.g. `'<f4'` (`'|u1'` for single bytes). */
export function npyDescr(dtype: DType): string {
  const { itemSize: size, npyCode } = INFO[dtype];
  return `${size === 1 ? '|' : '<'}${npyCode}`;
}

/**
 * The dtype for a .npy descr. Big-endian data cannot be viewed without a copy, and object,
 * string or structured dtypes have no typed-array equivalent: both are `ERR_SHM_UNSUPPORTED_NPY`.
 */
export function dtypeFromDescr(descr: string): DType {
  const order = descr[0];
  const code = descr.slice(1);
  const found = DTYPES.find((d) => INFO[d].npyCode === code);
  if (found !== undefined && (order === '<' || order === '|' || (order === '=' && isLittleEndianHost()))) {
    if (order === '|' && INFO[found].itemSize !== 1) throw unsupported(descr, 'multi-byte data needs a byte order');
    return found;
  }
  if (found !== undefined && order === '>') {
    throw unsupported(descr, 'big-endian data cannot be viewed in place; convert it with arr.astype("<' + code + '")');
  }
  throw unsupported(descr, `supported dtypes are ${DTYPES.map(npyDescr).join(', ')}`);
}

function unsupported(descr: string, why: string): ShmArrayError {
  return new ShmArrayError('ERR_SHM_UNSUPPORTED_NPY', `The .npy dtype '${descr}' is not supported: ${why}.`, { descr });
}

function isLittleEndianHost(): boolean {
  return new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
}
