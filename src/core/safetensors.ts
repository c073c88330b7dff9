/**
 * safetensors files (Hugging Face's format for weights and embeddings: an 8-byte header length, a
 * JSON header, then raw little-endian tensors) mapped in place: every tensor is a SharedArray over
 * the file's own bytes. The header is checked as the format's reference loader checks it
 * (safetensors/src/tensor.rs: `read_metadata`, `validate`) before any view is made, so a hostile
 * file is one ERR_SHM_BAD_SAFETENSORS naming the field — never a view past the data.
 */
import { closeSync, constants, fstatSync } from 'node:fs';
import { itemSize, type DType } from './dtype.js';
import { ShmArrayError } from './errors.js';
import { openFile, readAt } from './files.js';
import type { SharedHandle } from './handle.js';
import { checkPath } from './options.js';
import { elementCount } from './shape.js';
import { openShared, type AnySharedArray } from './shared-array.js';

/** The reference loader's limit on the header (MAX_HEADER_SIZE): larger is refused, not read. */
export const SAFETENSORS_MAX_HEADER_BYTES = 100_000_000;

/** safetensors dtype names → shmarray's (the ones a typed array can view; F8_*, F4, C64 … are not). */
const DTYPES: Readonly<Record<string, DType>> = {
  F64: 'float64', F32: 'float32', F16: 'float16', BF16: 'bfloat16',
  I64: 'int64', I32: 'int32', I16: 'int16', I8: 'int8',
  U64: 'uint64', U32: 'uint32', U16: 'uint16', U8: 'uint8', BOOL: 'bool',
};

/** A safetensors file's tensors by name (a record without prototype) and its `__metadata__`. */
export interface Safetensors {
  tensors: Record<string, AnySharedArray>;
  metadata: Record<string, string>;
}

function bad(path: string, field: string, why: string): ShmArrayError {
  return new ShmArrayError('ERR_SHM_BAD_SAFETENSORS', `${path} is not a valid safetensors file: ${field} ${why}.`, { path, field });
}

/** Names that appear more than once as keys of the top-level JSON object (JSON.parse keeps the last silently). */
function duplicateTopKeys(text: string): string[] {
  const seen = new Set<string>();
  const dup: string[] = [];
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (depth === 1) {
        let k = j + 1;
        while (k < text.length && /\s/.test(text.charAt(k))) k++;
        if (text[k] === ':') {
          const key = JSON.parse(text.slice(i, j + 1)) as string;
          if (seen.has(key)) dup.push(key);
          seen.add(key);
        }
      }
      i = j;
    } else if (ch === '{' || ch === '[') depth++;
    else if (ch === '}' || ch === ']') depth--;
  }
  return dup;
}

/** The checked handles of every tensor of `path` (in the header's order) and its metadata, without mapping anything. */
export function readSafetensors(path: string): { handles: Record<string, SharedHandle>; metadata: Record<string, string> } {
  const fd = openFile(path, constants.O_RDONLY | constants.O_NONBLOCK, 'open');
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new ShmArrayError('ERR_SHM_NOT_A_FILE', `${path} is not a regular file; give the safetensors file itself.`, { path });
    const size = st.size;
    if (size < 8) throw bad(path, 'the file', `is ${size} bytes, shorter than the 8-byte header length`);
    const n = readAt(fd, 0, 8).readBigUInt64LE(0);
    if (n > BigInt(SAFETENSORS_MAX_HEADER_BYTES)) throw bad(path, 'the header length', `(${n} bytes) is over the format's limit of ${SAFETENSORS_MAX_HEADER_BYTES}`);
    const headerBytes = Number(n);
    if (8 + headerBytes > size) throw bad(path, 'the header length', `(${headerBytes} bytes) runs past the end of the ${size}-byte file: it is truncated`);
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(readAt(fd, 8, headerBytes));
    } catch {
      throw bad(path, 'the header', 'is not UTF-8');
    }
    if (!text.startsWith('{')) throw bad(path, 'the header', "does not start with '{'");
    let header: unknown;
    try {
      header = JSON.parse(text);
    } catch (err) {
      throw bad(path, 'the header', `is not JSON (${(err as Error).message.slice(0, 120)})`);
    }
    if (typeof header !== 'object' || header === null || Array.isArray(header)) throw bad(path, 'the header', 'is not a JSON object');
    const dup = duplicateTopKeys(text);
    if (dup.length > 0) throw bad(path, `tensor ${JSON.stringify(dup[0]?.slice(0, 80))}`, 'is named twice');
    const dataStart = 8 + headerBytes;
    const dataBytes = size - dataStart;
    const metadata = Object.create(null) as Record<string, string>;
    const entries: { name: string; dtype: DType; shape: number[]; begin: number; end: number }[] = [];
    for (const [name, value] of Object.entries(header)) {
      const field = `tensor ${JSON.stringify(name.slice(0, 80))}`;
      if (name === '__metadata__') {
        if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad(path, '__metadata__', 'is not an object');
        for (const [k, v] of Object.entries(value)) {
          if (typeof v !== 'string') throw bad(path, `__metadata__[${JSON.stringify(k.slice(0, 80))}]`, 'is not a string');
          metadata[k] = v;
        }
        continue;
      }
      if (typeof value !== 'object' || value === null) throw bad(path, field, 'is not an object');
      // Other fields are ignored, as the reference loader's serde does.
      const t = value as Record<string, unknown>;
      const dtype = typeof t['dtype'] === 'string' && Object.hasOwn(DTYPES, t['dtype']) ? DTYPES[t['dtype']] : undefined;
      if (dtype === undefined) {
        throw bad(path, `${field}.dtype`, `(${JSON.stringify(String(t['dtype']).slice(0, 20))}) is not one shmarray maps (${Object.keys(DTYPES).join(' ')})`);
      }
      const shape = t['shape'];
      if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) throw bad(path, `${field}.shape`, 'is not a list of non-negative integers');
      const offsets = t['data_offsets'];
      if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && (o as number) >= 0)) {
        throw bad(path, `${field}.data_offsets`, 'is not [begin, end] of non-negative integers');
      }
      const [begin, end] = offsets as [number, number];
      let count: number;
      try {
        count = elementCount(shape as number[]);
      } catch {
        throw bad(path, `${field}.shape`, 'has more elements than can be addressed');
      }
      if (end < begin || end > dataBytes) throw bad(path, `${field}.data_offsets`, `([${begin}, ${end}]) lie outside the ${dataBytes}-byte data area`);
      if (end - begin !== count * itemSize(dtype)) {
        throw bad(path, `${field}.data_offsets`, `hold ${end - begin} bytes, but shape [${(shape as number[]).join(', ')}] of ${t['dtype']} needs ${count * itemSize(dtype)}`);
      }
      entries.push({ name, dtype, shape: shape as number[], begin, end });
    }
    // As the reference loader: in offset order the tensors tile the data area, no gap, no overlap, no tail.
    const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
    let at = 0;
    for (const e of sorted) {
      if (e.begin !== at) {
        throw bad(path, `tensor ${JSON.stringify(e.name.slice(0, 80))}.data_offsets`, e.begin < at ? `overlap the tensor before it (it starts at ${e.begin}, before ${at})` : `leave a gap of ${e.begin - at} bytes before it`);
      }
      at = e.end;
    }
    if (at !== dataBytes) throw bad(path, 'the data area', `is ${dataBytes} bytes, but the tensors cover ${at}: the file is ${at < dataBytes ? 'longer than its header says' : 'truncated'}`);
    const handles = Object.create(null) as Record<string, SharedHandle>;
    for (const e of entries) {
      const offset = dataStart + e.begin;
      if (offset % itemSize(e.dtype) !== 0) {
        throw new ShmArrayError(
          'ERR_SHM_MISALIGNED',
          `${path}: tensor ${JSON.stringify(e.name.slice(0, 80))} starts at byte ${offset}, not a multiple of ${itemSize(e.dtype)} (the size of ${e.dtype}), so it cannot be viewed in place; re-save the file with a current safetensors (it aligns the data to 8 bytes).`,
          { path, tensor: e.name.slice(0, 80), offset },
        );
      }
      handles[e.name] = { path, shape: e.shape, dtype: e.dtype, offset, mode: 'r', npy: false, window: true, inPlace: true };
    }
    return { handles, metadata };
  } finally {
    closeSync(fd);
  }
}

/**
 * Every tensor of a safetensors file mapped in place (dtypes F64 F32 F16 BF16 I64 I32 I16 I8 U64
 * U32 U16 U8 BOOL), each with a handle a worker opens with `openShared(handle)`, and the file's
 * `__metadata__`. Nothing is copied: the arrays are the file's pages. Closing an array unmaps it.
 */
export function openSafetensors(path: string): Safetensors {
  checkPath(path, "openSafetensors's path");
  const { handles, metadata } = readSafetensors(path);
  const tensors = Object.create(null) as Record<string, AnySharedArray>;
  try {
    for (const [name, h] of Object.entries(handles)) tensors[name] = openShared(h) as AnySharedArray;
  } catch (err) {
    for (const t of Object.values(tensors)) t.close();
    throw err;
  }
  return { tensors, metadata };
}
