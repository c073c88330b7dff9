import { dtypeFromDescr, itemSize as itemSizeOf, npyDescr, type DType } from './dtype.js';
import { ShmArrayError } from './errors.js';

/** The first six bytes of every .npy file. */
const NPY_MAGIC = Uint8Array.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]);

/** numpy refuses headers larger than this by default (`max_header_size`); so do we. */
export const NPY_MAX_HEADER_BYTES = 10_000;

/** Bytes to read to learn a .npy header's full length: magic, version, and a 4-byte length. */
export const NPY_PREFIX_BYTES = 12;

/** What a .npy header says. `dataOffset` is where the array's bytes start in the file. */
export interface NpyHeader {
  readonly version: 1 | 2 | 3;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly dataOffset: number;
  /** `'F'` when the header says fortran_order and the array has 2 or more axes (1-D data is both). */
  readonly order: 'C' | 'F';
}

/** True when `bytes` starts with the .npy magic string (the extension is never trusted). */
export function isNpy(bytes: Uint8Array): boolean {
  return bytes.length >= NPY_MAGIC.length && NPY_MAGIC.every((b, i) => bytes[i] === b);
}

function bad(path: string, why: string, details: Record<string, number | string> = {}): ShmArrayError {
  return new ShmArrayError('ERR_SHM_BAD_NPY', `${path} is not a valid .npy file: ${why}.`, { path, ...details });
}

/**
 * Reads the version and header length from the first {@link NPY_PREFIX_BYTES} bytes and returns
 * the total header size (magic + length field + header text) = the offset of the data.
 */
export function npyHeaderSize(prefix: Uint8Array, path: string): { version: 1 | 2 | 3; size: number } {
  if (!isNpy(prefix)) throw bad(path, 'it does not start with the \\x93NUMPY magic');
  const major = prefix[6];
  if (prefix.length < 10) throw bad(path, 'the header is truncated');
  const view = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength);
  if (major === 1) return { version: 1, size: 10 + view.getUint16(8, true) };
  if (major !== 2 && major !== 3) throw bad(path, `unknown format version ${String(major)}`, { version: major ?? -1 });
  if (prefix.length < 12) throw bad(path, 'the header is truncated');
  return { version: major, size: 12 + view.getUint32(8, true) };
}

/**
 * Parses a complete .npy header (all `size` bytes from {@link npyHeaderSize}).
 * Throws `ERR_SHM_BAD_NPY` for malformed text and `ERR_SHM_UNSUPPORTED_NPY` for layouts that
 * cannot be viewed in place (big-endian, object, string or structured dtypes). Fortran order is
 * read as it is: `order` says it.
 */
export function parseNpyHeader(bytes: Uint8Array, path: string): NpyHeader {
  const { version, size } = npyHeaderSize(bytes, path);
  const textStart = version === 1 ? 10 : 12;
  if (size - textStart > NPY_MAX_HEADER_BYTES) {
    throw bad(path, `the header is ${size - textStart} bytes, over numpy's limit of ${NPY_MAX_HEADER_BYTES}`, { headerBytes: size - textStart });
  }
  if (bytes.length < size) throw bad(path, `the header is truncated (${bytes.length} of ${size} bytes)`, { headerBytes: size });
  const text = new TextDecoder(version === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(textStart, size));
  const dict = parseDict(text, path);
  const descr = dict.get('descr');
  const fortran = dict.get('fortran_order');
  const shape = dict.get('shape');
  if (dict.size !== 3 || descr === undefined || fortran === undefined || shape === undefined) {
    throw bad(path, `the header must have exactly the keys descr, fortran_order and shape; it has ${[...dict.keys()].join(', ') || 'none'}`);
  }
  if (Array.isArray(descr)) {
    throw new ShmArrayError('ERR_SHM_UNSUPPORTED_NPY', `${path} holds a structured dtype, which cannot be viewed as one typed array; save each field as its own .npy.`, { path });
  }
  if (typeof descr !== 'string') throw bad(path, "'descr' is not a string");
  if (typeof fortran !== 'boolean') throw bad(path, "'fortran_order' is not True or False");
  if (!Array.isArray(shape) || !shape.every((n) => typeof n === 'number')) throw bad(path, "'shape' is not a tuple of integers");
  let dtype: DType;
  try {
    dtype = dtypeFromDescr(descr);
  } catch (err) {
    if (err instanceof ShmArrayError) throw new ShmArrayError(err.code, `${path}: ${err.message}`, { ...err.details, path });
    throw err;
  }
  return { version, dtype, shape: shape as number[], dataOffset: size, order: fortran && shape.length > 1 ? 'F' : 'C' };
}

/**
 * For a complete .npy header whose dtype is big-endian (`'>f4'`, …) and otherwise supported: the
 * same header with the little-endian descr (same length, so the data offset is unchanged) and the
 * item size to swap the data by. Undefined for any other header (little-endian, single bytes, or
 * a dtype shmarray does not map: parseNpyHeader then says why).
 */
export function littleEndianHeader(bytes: Uint8Array, path: string): { header: Uint8Array; itemSize: number; descr: string } | undefined {
  const { version, size } = npyHeaderSize(bytes, path);
  if (bytes.length < size || size - (version === 1 ? 10 : 12) > NPY_MAX_HEADER_BYTES) return undefined;
  const textStart = version === 1 ? 10 : 12;
  const text = new TextDecoder(version === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(textStart, size));
  const descr = parseDict(text, path).get('descr');
  if (typeof descr !== 'string' || descr[0] !== '>') return undefined;
  let dtype: DType;
  try {
    dtype = dtypeFromDescr(`<${descr.slice(1)}`);
  } catch {
    return undefined;
  }
  // The descr is the only value of the three that can start with '>' (the keys never do).
  const swapped = text.replace(/(['"])>/, '$1<');
  const encoded = new TextEncoder().encode(swapped);
  if (encoded.length !== size - textStart) return undefined; // a non-ASCII latin1 header: left as it is (and refused)
  const header = Uint8Array.from(bytes.subarray(0, size));
  header.set(encoded, textStart);
  return { header, itemSize: itemSizeOf(dtype), descr };
}

/**
 * Encodes a version 1.0 header whose data starts on a 64-byte boundary, as numpy ≥ 1.20 writes it,
 * so every dtype's view is aligned. Falls back to version 2.0 only for headers over 65,535 bytes.
 */
export function encodeNpyHeader(dtype: DType, shape: readonly number[], order: 'C' | 'F' = 'C'): Uint8Array {
  const tuple = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const dict = `{'descr': '${npyDescr(dtype)}', 'fortran_order': ${order === 'F' ? 'True' : 'False'}, 'shape': ${tuple}, }`;
  // Version 1.0 stores the header length in 2 bytes; 64 covers the padding.
  const v1 = dict.length + 1 + 64 <= 0xffff;
  const fixed = v1 ? 10 : 12;
  const total = Math.ceil((fixed + dict.length + 1) / 64) * 64;
  const text = dict + ' '.repeat(total - fixed - dict.length - 1) + '\n';
  const out = new Uint8Array(total);
  out.set(NPY_MAGIC, 0);
  out[6] = v1 ? 1 : 2;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (v1) view.setUint16(8, text.length, true);
  else view.setUint32(8, text.length, true);
  out.set(new TextEncoder().encode(text), fixed);
  return out;
}

type PyValue = string | number | boolean | PyValue[];

/** A small parser for the Python literal numpy writes: a dict of str → str | bool | tuple | list. */
function parseDict(text: string, path: string): Map<string, PyValue> {
  let i = 0;
  const fail = (why: string): never => {
    throw bad(path, `the header is not a valid Python dict (${why} at character ${i})`);
  };
  const ws = (): void => {
    while (i < text.length && /\s/.test(text.charAt(i))) i++;
  };
  const expect = (ch: string): void => {
    ws();
    if (text[i] !== ch) fail(`expected '${ch}'`);
    i++;
  };
  const value = (): PyValue => {
    ws();
    const ch = text[i];
    if (ch === "'" || ch === '"') {
      const end = text.indexOf(ch, i + 1);
      if (end < 0) fail('unterminated string');
      const s = text.slice(i + 1, end);
      i = end + 1;
      return s;
    }
    if (ch === '(' || ch === '[') {
      const close = ch === '(' ? ')' : ']';
      i++;
      const items: PyValue[] = [];
      ws();
      while (text[i] !== close) {
        items.push(value());
        ws();
        if (text[i] === ',') i++;
        else if (text[i] !== close) fail(`expected ',' or '${close}'`);
        ws();
      }
      i++;
      return items;
    }
    const m = /^(True|False|\d+)L?/.exec(text.slice(i));
    if (m === null || m[1] === undefined) return fail('unexpected value');
    i += m[0].length;
    if (m[1] === 'True') return true;
    if (m[1] === 'False') return false;
    const n = Number(m[1]);
    if (!Number.isSafeInteger(n)) fail('integer too large');
    return n;
  };
  const out = new Map<string, PyValue>();
  expect('{');
  ws();
  while (text[i] !== '}') {
    const key = value();
    if (typeof key !== 'string') fail('dict keys must be strings');
    expect(':');
    if (out.has(key as string)) fail(`duplicate key '${String(key)}'`);
    out.set(key as string, value());
    ws();
    if (text[i] === ',') i++;
    else if (text[i] !== '}') fail("expected ',' or '}'");
    ws();
    if (i >= text.length) fail('unterminated dict');
  }
  i++;
  if (text.slice(i).trim() !== '') fail('trailing characters');
  return out;
}
