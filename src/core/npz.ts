/**
 * .npz archives (np.savez, np.savez_compressed) read by name, synchronously and without a zip
 * library: the archive's directory is read and checked by zip-directory.ts first. An entry numpy
 * stored uncompressed, whose data starts at an offset that is a multiple of its item size, is
 * mapped in place from the archive — no copy, no temporary file. Any other entry (compressed,
 * misaligned, big-endian) must be extracted: the store does that (store.extractNpz).
 */
import { closeSync } from 'node:fs';
import { constants as zlibConstants, crc32, inflateRawSync } from 'node:zlib';
import { itemSize, type DType } from './dtype.js';
import { ShmArrayError } from './errors.js';
import { readAt } from './files.js';
import type { SharedHandle } from './handle.js';
import { littleEndianHeader, NPY_MAX_HEADER_BYTES, NPY_PREFIX_BYTES, parseNpyHeader, type NpyHeader } from './npy.js';
import { elementCount } from './shape.js';
import { openShared, type AnySharedArray, type SharedArray } from './shared-array.js';
import { badZip, openCheckedZip } from './zip-directory.js';
import { boolean, checkOptions, checkPath } from './options.js';

/** Why an entry cannot be mapped in place: stored compressed, data at an offset its dtype cannot view, or big-endian. */
export type NpzExtractReason = 'compressed' | 'misaligned' | 'big-endian';

/** One array of an .npz archive, as {@link planNpz} finds it. */
export interface NpzEntry {
  /** numpy's name for it: the entry's name without `.npy` (`X`, `y`; `arr_0` … for positional arrays). */
  readonly key: string;
  /** The entry's name in the archive. */
  readonly name: string;
  /** Its handle, mapping it in place from the archive, when it can be; else undefined. */
  readonly handle: SharedHandle | undefined;
  /** Why it must be extracted, when it must. */
  readonly extract: NpzExtractReason | undefined;
  /** Its bytes in the archive (compressed size) and inflated. */
  readonly compressedBytes: number;
  readonly bytes: number;
  /** CRC-32 of the entry (header and data) from the archive's directory. */
  readonly crc: number;
  /** Where the entry's bytes (its .npy header first) start in the archive. */
  readonly dataStart: number;
  /** What its .npy header says (a big-endian one as the little-endian copy extraction makes will say). */
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly order: 'C' | 'F';
  /** @internal An in-place entry's .npy header as the plan read it: the first bytes its CRC covers. */
  readonly npyHeader?: Uint8Array;
}

/** Compressed bytes inflated to read a compressed entry's .npy header: deflate of a ≤ 10 kB header needs far fewer. */
const HEADER_COMPRESSED_BYTES = 64 * 1024;

/** The .npy header at the start of `head` (an entry's first bytes), big-endian ones read as their little-endian copy. */
function headerOf(head: Uint8Array, what: string): NpyHeader & { bigEndian: boolean } {
  const little = littleEndianHeader(head, what);
  return { ...parseNpyHeader(little?.header ?? head, what), bigEndian: little !== undefined };
}

const STORED = 0;
const DEFLATE = 8;

/**
 * The arrays of the .npz at `path`, in the archive's order, each with its handle in place or the
 * reason it must be extracted. Checks the archive's structure (ERR_SHM_BAD_ZIP), each stored
 * entry's .npy header (ERR_SHM_BAD_NPY, ERR_SHM_UNSUPPORTED_NPY) and that its data is exactly the
 * entry (ERR_SHM_SHAPE_MISMATCH), and that every name is a distinct .npy (ERR_SHM_BAD_ZIP).
 */
export function planNpz(path: string): NpzEntry[] {
  const zip = openCheckedZip(path);
  try {
    const seen = new Set<string>();
    const out: NpzEntry[] = [];
    for (const e of zip.entries) {
      if (e.name.endsWith('/') || e.name.endsWith('\\')) continue;
      const q = JSON.stringify(e.name);
      if (!e.name.endsWith('.npy')) {
        throw badZip(path, 'not-npz', `entry ${q} is not a .npy, so this is not an .npz numpy wrote; read it with store.extractZip (raw entries need a shape).`, { entry: e.name });
      }
      const key = e.name.slice(0, -'.npy'.length);
      if (seen.has(key)) throw badZip(path, 'duplicate-name', `it holds two arrays named ${JSON.stringify(key)}; an .npz names each array once.`, { entry: e.name });
      seen.add(key);
      if ((e.flags & 1) !== 0) throw new ShmArrayError('ERR_SHM_ZIP_UNSUPPORTED', `${path}: entry ${q} is encrypted; decrypt the archive first.`, { path, entry: e.name });
      const what = `${path}: entry ${q}`;
      const base = { key, name: e.name, compressedBytes: e.compressedSize, bytes: e.uncompressedSize, crc: e.crc >>> 0, dataStart: e.dataStart };
      if (e.method !== STORED) {
        if (e.method !== DEFLATE) {
          throw new ShmArrayError('ERR_SHM_ZIP_UNSUPPORTED', `${what} uses compression method ${e.method}; only stored (0) and deflate (8) are read — numpy writes those.`, { path, entry: e.name, method: e.method });
        }
        // Inflated only as far as the header goes (a sync flush: a cut stream is no error); extraction checks the rest and the CRC.
        let head: Buffer;
        try {
          head = inflateRawSync(readAt(zip.fd, e.dataStart, Math.min(e.compressedSize, HEADER_COMPRESSED_BYTES)), { finishFlush: zlibConstants.Z_SYNC_FLUSH });
        } catch {
          throw badZip(path, 'corrupt-entry', `entry ${q} is not valid deflate data.`, { entry: e.name });
        }
        const h = headerOf(head.subarray(0, NPY_MAX_HEADER_BYTES + NPY_PREFIX_BYTES), what);
        out.push({ ...base, dtype: h.dtype, shape: h.shape, order: h.order, handle: undefined, extract: 'compressed' });
        continue;
      }
      const head = readAt(zip.fd, e.dataStart, Math.min(e.compressedSize, NPY_MAX_HEADER_BYTES + NPY_PREFIX_BYTES));
      const header = headerOf(head, what);
      const described = { ...base, dtype: header.dtype, shape: header.shape, order: header.order };
      const dataBytes = elementCount(header.shape) * itemSize(header.dtype);
      if (header.dataOffset + dataBytes !== e.compressedSize) {
        throw new ShmArrayError(
          'ERR_SHM_SHAPE_MISMATCH',
          `${what} is ${e.compressedSize} bytes, but its header (shape [${header.shape.join(', ')}] of ${header.dtype}) needs ${header.dataOffset + dataBytes}: the archive is corrupt or crafted.`,
          { path, entry: e.name, expectedBytes: header.dataOffset + dataBytes, actualBytes: e.compressedSize },
        );
      }
      const offset = e.dataStart + header.dataOffset;
      if (header.bigEndian || offset % itemSize(header.dtype) !== 0) {
        out.push({ ...described, handle: undefined, extract: header.bigEndian ? 'big-endian' : 'misaligned' });
        continue;
      }
      const handle: SharedHandle = { path, shape: header.shape, dtype: header.dtype, offset, mode: 'r', npy: false, window: true, ...(header.order === 'F' ? { order: 'F' as const } : {}), inPlace: true };
      out.push({ ...described, handle, extract: undefined, npyHeader: head.subarray(0, header.dataOffset) });
    }
    return out;
  } finally {
    closeSync(zip.fd);
  }
}

/** One array of an .npz, as {@link listNpz} describes it. */
export interface NpzArrayInfo {
  key: string;
  name: string;
  dtype: DType;
  shape: readonly number[];
  order: 'C' | 'F';
  /** Its bytes once inflated, .npy header included. */
  bytes: number;
  /** It maps in place from the archive; else `extract` says why it must be extracted. */
  inPlace: boolean;
  extract: NpzExtractReason | undefined;
}

/** The arrays of an .npz — names, dtypes, shapes, and which map in place — checked, with nothing mapped or extracted. */
export function listNpz(path: string): NpzArrayInfo[] {
  checkPath(path, "listNpz's path");
  return planNpz(path).map((e) => ({ key: e.key, name: e.name, dtype: e.dtype, shape: e.shape, order: e.order, bytes: e.bytes, inPlace: e.handle !== undefined, extract: e.extract }));
}

/** Options of {@link openNpz}. */
export interface OpenNpzOptions {
  /**
   * Check each array's CRC-32 against the archive's directory once, when it is mapped (default
   * true): it reads every page once. `false` skips it, for huge archives whose integrity is known.
   */
  verify?: boolean;
}

/** A record of arrays by name with no prototype: an entry named `__proto__` is an array like any other. */
function npzRecord(): Record<string, AnySharedArray> {
  return Object.create(null) as Record<string, AnySharedArray>;
}

/**
 * Maps an .npz entry in place (see {@link planNpz}) and, with `verify`, checks its CRC-32 over the
 * mapped bytes and the header read from the archive: ERR_SHM_BAD_ZIP when they disagree.
 */
function mapInPlace(entry: NpzEntry, verify: boolean): AnySharedArray {
  const a = openShared(entry.handle as SharedHandle) as SharedArray;
  if (verify) {
    try {
      // The entry is its .npy header (read when planned) then the data (the mapping itself).
      let crc = crc32(entry.npyHeader as Uint8Array);
      const data = a.data;
      const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      for (let at = 0; at < bytes.length; at += 64 * 2 ** 20) crc = crc32(bytes.subarray(at, at + 64 * 2 ** 20), crc);
      if (crc >>> 0 !== entry.crc) {
        throw badZip(a.path, 'crc-mismatch', `entry ${JSON.stringify(entry.name)} fails its CRC-32 check (the archive is corrupt); nothing was mapped.`, { entry: entry.name });
      }
    } catch (err) {
      a.close();
      throw err;
    }
  }
  return a as AnySharedArray;
}

/**
 * An .npz's arrays by name: mapped in place where `plan` found them so, else the next of
 * `extracted` (the others, in the plan's order). If one fails, what this mapped in place is
 * closed again and the error thrown; `extracted` stays the caller's to close.
 */
export function npzArrays(plan: readonly NpzEntry[], extracted: readonly AnySharedArray[], verify: boolean): Record<string, AnySharedArray> {
  const out = npzRecord();
  let next = 0;
  try {
    for (const e of plan) out[e.key] = e.handle === undefined ? (extracted[next++] as AnySharedArray) : mapInPlace(e, verify);
  } catch (err) {
    for (const a of Object.values(out)) if (a.inPlace) a.close();
    throw err;
  }
  return out;
}

/**
 * The arrays of an .npz archive by numpy's names, each mapped in place from the archive
 * (`array.inPlace`; `array.path` is the .npz, the handle carries the offset) — synchronously, for
 * worker code. An entry that would need extraction (compressed by np.savez_compressed, data at an
 * offset its dtype cannot view in place, big-endian) is `ERR_SHM_NOT_IN_PLACE` naming it: use
 * `store.extractNpz` or `cache.extractNpz`, which extract those. Closing the arrays unmaps them.
 */
export function openNpz(path: string, options: OpenNpzOptions = {}): Record<string, AnySharedArray> {
  checkPath(path, "openNpz's path");
  checkOptions('openNpz', options, { verify: boolean });
  const plan = planNpz(path);
  const blocked = plan.filter((e) => e.handle === undefined);
  if (blocked.length > 0) {
    const list = blocked.map((e) => `${JSON.stringify(e.key)} (${e.extract})`).join(', ');
    throw new ShmArrayError(
      'ERR_SHM_NOT_IN_PLACE',
      `${path}: ${blocked.length === 1 ? 'array' : 'arrays'} ${list} cannot be mapped in place from the archive; store.extractNpz(path) (or cache.extractNpz) extracts ${blocked.length === 1 ? 'it' : 'them'} and maps the rest in place.`,
      { path, arrays: blocked.map((e) => e.key).join(',') },
    );
  }
  return npzArrays(plan, [], options.verify ?? true);
}
