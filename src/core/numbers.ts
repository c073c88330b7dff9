/**
 * Elements of any dtype as float64 numbers, for the kernels that compute in float64 (statistics,
 * normalisation): int64 and uint64 converted (exact up to 2^53, rounded to the nearest double past
 * it, as numpy's float64 accumulation does), float16 bits (where the runtime has no Float16Array)
 * and bfloat16 decoded. Every other dtype's typed array already reads as numbers.
 */
import { HAS_FLOAT16ARRAY, type DType, type TypedArrayOf } from './dtype.js';

/** Elements a kernel decodes per block when its data do not read as numbers: 2 MiB of float64 scratch. */
export const DECODE_BLOCK_ELEMENTS = 1 << 18;

/** True when `data[i]` of `dtype` is already the element's value as a number. */
export function readsAsNumbers(dtype: DType): boolean {
  return !(dtype === 'int64' || dtype === 'uint64' || dtype === 'bfloat16' || (dtype === 'float16' && !HAS_FLOAT16ARRAY));
}

let f16: Float64Array | undefined;
let bf16: Float64Array | undefined;

/** Every float16 bit pattern's value (512 KiB, made on first use): one lookup per element. */
function float16Table(): Float64Array {
  if (f16 !== undefined) return f16;
  f16 = new Float64Array(65536);
  for (let h = 0; h < 65536; h++) {
    const exp = (h >> 10) & 0x1f;
    const mant = h & 0x3ff;
    const mag = exp === 0 ? mant * 2 ** -24 : exp === 0x1f ? (mant === 0 ? Infinity : NaN) : (1 + mant / 1024) * 2 ** (exp - 15);
    f16[h] = h & 0x8000 ? -mag : mag;
  }
  return f16;
}

/** Every bfloat16 bit pattern's value: the upper half of a float32. */
function bfloat16Table(): Float64Array {
  if (bf16 !== undefined) return bf16;
  const word = new Uint32Array(1);
  const asFloat = new Float32Array(word.buffer);
  bf16 = new Float64Array(65536);
  for (let h = 0; h < 65536; h++) {
    word[0] = h << 16;
    bf16[h] = asFloat[0] as number;
  }
  return bf16;
}

/** The value of float16 bits `h` (0 … 65535). */
export function float16FromBits(h: number): number {
  return float16Table()[h & 0xffff] as number;
}

/** The value of bfloat16 bits `h` (0 … 65535). */
export function bfloat16FromBits(h: number): number {
  return bfloat16Table()[h & 0xffff] as number;
}

/** x rounded to an integer, ties to even (IEEE 754's default rounding). */
function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  return d > 0.5 ? f + 1 : d < 0.5 ? f : f + (f % 2);
}

/**
 * The bits of `x` rounded (to nearest, ties to even) into a binary float of `expBits` exponent and
 * `mantBits` mantissa bits — float16 is 5 and 10, bfloat16 8 and 7 — straight from the double,
 * so there is no double rounding through float32. Overflow gives ±Infinity, NaN a quiet NaN.
 */
function toSmallFloatBits(x: number, expBits: number, mantBits: number): number {
  const sign = x < 0 || Object.is(x, -0) ? 1 << (expBits + mantBits) : 0;
  const expMax = (1 << expBits) - 1;
  if (Number.isNaN(x)) return (expMax << mantBits) | (1 << (mantBits - 1));
  const a = Math.abs(x);
  const bias = (1 << (expBits - 1)) - 1;
  const minNormal = 2 ** (1 - bias);
  if (a < minNormal) {
    // Subnormal (or zero): a multiple of the smallest subnormal; rounding up to 2^mantBits is the smallest normal, as the bits say.
    return sign | roundHalfEven(a / 2 ** (1 - bias - mantBits));
  }
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--; // log2 rounds near powers of two
  else if (2 ** (e + 1) <= a) e++;
  let m = roundHalfEven((a / 2 ** e - 1) * 2 ** mantBits);
  if (m === 2 ** mantBits) {
    m = 0;
    e++;
  }
  if (e + bias >= expMax) return sign | (expMax << mantBits);
  return sign | ((e + bias) << mantBits) | m;
}

/** The float16 bits nearest `x` (ties to even): what a Uint16Array of float16 bits holds on Node < 24. */
export function float16ToBits(x: number): number {
  return toSmallFloatBits(x, 5, 10);
}

/** The bfloat16 bits nearest `x` (ties to even). */
export function bfloat16ToBits(x: number): number {
  return toSmallFloatBits(x, 8, 7);
}

/** Elements [start, end) of `data` (of `dtype`) as numbers into `out` from index 0. */
export function decodeInto(dtype: DType, data: TypedArrayOf[DType], start: number, end: number, out: Float64Array): void {
  if (dtype === 'int64' || dtype === 'uint64') {
    const big = data as BigInt64Array | BigUint64Array;
    for (let i = start; i < end; i++) out[i - start] = Number(big[i] as bigint);
    return;
  }
  if (readsAsNumbers(dtype)) {
    const num = data as ArrayLike<number>;
    for (let i = start; i < end; i++) out[i - start] = num[i] as number;
    return;
  }
  const table = dtype === 'bfloat16' ? bfloat16Table() : float16Table();
  const bits = data as Uint16Array;
  for (let i = start; i < end; i++) out[i - start] = table[bits[i] as number] as number;
}
