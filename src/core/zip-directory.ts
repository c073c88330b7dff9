/**
 * Checks a zip archive's directory against the file before any reader trusts it: every offset,
 * size and count is validated against the file's size, so a hostile archive is ERR_SHM_BAD_ZIP
 * instead of an out-of-range read that crashes the process inside a callback (a zip64 locator
 * pointing past 2^53), silently dropped entries (a count that disagrees with the directory),
 * overlapping entries (one compressed stream inflated many times), impossible declared sizes
 * (written for gigabytes before the lie shows), or a hang (a FIFO given as the archive). The
 * checked directory is also what reads an .npz synchronously (npz.ts): no zip library is needed.
 */
import { closeSync, constants, fstatSync } from 'node:fs';
import { ShmArrayError } from './errors.js';
import { openFile, readAt } from './files.js';

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
/** A central directory larger than this is refused rather than read (about 4 million entries). */
const MAX_DIRECTORY_BYTES = 256 * 2 ** 20;
/** Deflate cannot expand a byte into more than 1032 (RFC 1951, maximal runs); a little slack for headers. */
const DEFLATE_MAX_RATIO = 1032;

/** ERR_SHM_BAD_ZIP for archive `path`: `reason` is a stable word for tests and callers, `message` the sentence. */
export function badZip(path: string, reason: string, message: string, extra: Record<string, string | number> = {}): ShmArrayError {
  return new ShmArrayError('ERR_SHM_BAD_ZIP', `${path}: ${message}`, { path, reason, ...extra });
}

/** A 64-bit little-endian field as a number, or Infinity when it is beyond any file here. */
function u64(b: Buffer, at: number): number {
  const v = b.readBigUInt64LE(at);
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? Infinity : Number(v);
}

/** One central-directory entry, with the sizes zip64 may have moved into its extra field. */
interface CentralEntry {
  name: string;
  method: number;
  /** The CRC-32 of its uncompressed bytes, as the directory records it. */
  crc: number;
  /** General purpose flags (bit 0: encrypted). */
  flags: number;
  compressedSize: number;
  uncompressedSize: number;
  localOffset: number;
}

/** An entry of a checked archive: where its (compressed) data lies in the file, checked to lie inside it. */
export interface ZipDirectoryEntry extends Readonly<CentralEntry> {
  readonly dataStart: number;
}

function parseCentral(dir: Buffer, count: number, path: string): CentralEntry[] {
  const entries: CentralEntry[] = [];
  let at = 0;
  while (at < dir.length) {
    if (at + 46 > dir.length || dir.readUInt32LE(at) !== CENTRAL) {
      throw badZip(path, 'corrupt-directory', `the central directory is corrupt at byte ${at} of ${dir.length}.`);
    }
    const nameLength = dir.readUInt16LE(at + 28);
    const extraLength = dir.readUInt16LE(at + 30);
    const commentLength = dir.readUInt16LE(at + 32);
    const end = at + 46 + nameLength + extraLength + commentLength;
    if (end > dir.length) throw badZip(path, 'corrupt-directory', 'an entry of the central directory runs past its end.');
    let uncompressedSize = dir.readUInt32LE(at + 24);
    let compressedSize = dir.readUInt32LE(at + 20);
    let localOffset = dir.readUInt32LE(at + 42);
    // zip64 extra field (id 1): only the fields whose 32-bit value is 0xFFFFFFFF, in this order.
    for (let x = at + 46 + nameLength; x + 4 <= at + 46 + nameLength + extraLength; ) {
      const id = dir.readUInt16LE(x);
      const size = dir.readUInt16LE(x + 2);
      if (id === 1) {
        let p = x + 4;
        const take = (): number => {
          if (p + 8 > x + 4 + size) throw badZip(path, 'corrupt-directory', 'a zip64 extra field is too short for the sizes it stands for.');
          const v = u64(dir, p);
          p += 8;
          return v;
        };
        if (uncompressedSize === 0xffffffff) uncompressedSize = take();
        if (compressedSize === 0xffffffff) compressedSize = take();
        if (localOffset === 0xffffffff) localOffset = take();
      }
      x += 4 + size;
    }
    const flags = dir.readUInt16LE(at + 8);
    // UTF-8 when the archive says so (bit 11, as Python's zipfile writes non-ASCII names), else CP437/latin-1 as yauzl reads it.
    const name = dir.subarray(at + 46, at + 46 + nameLength).toString((flags & 0x800) !== 0 ? 'utf8' : 'latin1');
    entries.push({ name, method: dir.readUInt16LE(at + 10), crc: dir.readUInt32LE(at + 16), flags, compressedSize, uncompressedSize, localOffset });
    at = end;
  }
  if (entries.length !== count) {
    throw badZip(path, 'count-mismatch', `the end of central directory record says ${count} entries but the directory holds ${entries.length}; the archive is corrupt or crafted.`, { declared: count, found: entries.length });
  }
  return entries;
}

/** An archive opened for reading whose structure {@link openCheckedZip} has validated. */
export interface CheckedZip {
  /** Open read-only; the caller closes it. */
  fd: number;
  /**
   * Where the archive ends: just after its end of central directory record and comment. Bytes
   * after it (the zeros bsdtar pads its output to a 10240-byte block with) are not the archive's.
   */
  end: number;
  /** Every entry of the central directory, in its order, directories included. */
  entries: readonly ZipDirectoryEntry[];
}

/**
 * Opens `path` and validates the archive's structure (see the module comment). Throws
 * ERR_SHM_NOT_FOUND / ERR_SHM_NOT_A_FILE / ERR_SHM_PERMISSION for the file itself and
 * ERR_SHM_BAD_ZIP for its contents, with nothing left open; reads only the directory and the local
 * headers, never entry data.
 */
export function openCheckedZip(path: string): CheckedZip {
  const fd = openFile(path, constants.O_RDONLY | constants.O_NONBLOCK, 'open the zip archive');
  try {
    return { fd, ...checkStructure(fd, path) };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/**
 * The end of central directory record nearest the end of `tail`, searched backwards as unzip,
 * Python's zipfile and 7-Zip do: its comment must fit in what follows it, and anything after the
 * comment is trailing bytes, not a reason to refuse the archive. Returns -1 when there is none.
 */
function findEndRecord(tail: Buffer): number {
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tail.readUInt32LE(i) === EOCD && i + 22 + tail.readUInt16LE(i + 20) <= tail.length) return i;
  }
  return -1;
}

/** Validates the archive open on `fd`; returns where it ends (see {@link CheckedZip.end}) and its entries. */
function checkStructure(fd: number, path: string): { end: number; entries: ZipDirectoryEntry[] } {
  const st = fstatSync(fd);
  if (!st.isFile()) {
    throw new ShmArrayError('ERR_SHM_NOT_A_FILE', `${path} is not a regular file; give the archive itself (a pipe or device cannot be read as a zip).`, { path });
  }
  const size = st.size;
  if (size < 22) throw badZip(path, 'not-a-zip', `not a zip archive (${size} bytes, shorter than an end of central directory record).`);
  // The record (22 bytes), its comment and any trailing bytes within the last 64 KiB + 22, as
  // Python's zipfile looks (bsdtar pads to a 10240-byte block at most).
  const tailStart = Math.max(0, size - 22 - 0x10000);
  const tail = readAt(fd, tailStart, size - tailStart);
  const eocd = findEndRecord(tail);
  if (eocd < 0) throw badZip(path, 'not-a-zip', 'not a zip archive, or truncated (no end of central directory record).');
  const eocdOffset = tailStart + eocd;
  let count = tail.readUInt16LE(eocd + 10);
  let directorySize = tail.readUInt32LE(eocd + 12);
  let directoryOffset = tail.readUInt32LE(eocd + 16);
  let directoryEnd = eocdOffset;
  if (eocd >= 20 && tail.readUInt32LE(eocd - 20) === ZIP64_LOCATOR) {
    const recordOffset = u64(tail, eocd - 20 + 8);
    if (!(recordOffset + 56 <= eocdOffset - 20)) {
      throw badZip(path, 'bad-zip64', `its zip64 locator points at byte ${recordOffset}, outside the ${size}-byte file.`, { offset: String(recordOffset) });
    }
    const record = readAt(fd, recordOffset, 56);
    if (record.length < 56 || record.readUInt32LE(0) !== ZIP64_EOCD) throw badZip(path, 'bad-zip64', 'its zip64 end of central directory record is missing.');
    const count64 = u64(record, 32);
    if (count !== 0xffff && count64 !== count) {
      throw badZip(path, 'count-mismatch', `its zip64 record counts ${count64} entries, its end of central directory record ${count}.`);
    }
    count = count64;
    directorySize = u64(record, 40);
    directoryOffset = u64(record, 48);
    directoryEnd = recordOffset;
  }
  if (!(directoryOffset + directorySize <= directoryEnd)) {
    throw badZip(path, 'bad-directory-offset', `its central directory (${directorySize} bytes at ${directoryOffset}) lies outside the file.`, { offset: String(directoryOffset), bytes: String(directorySize) });
  }
  if (directorySize > MAX_DIRECTORY_BYTES) throw badZip(path, 'directory-too-large', `its central directory is ${directorySize} bytes, more than shmarray reads (${MAX_DIRECTORY_BYTES}).`);
  if (!Number.isSafeInteger(count) || count * 46 > directorySize) {
    throw badZip(path, 'count-mismatch', `it claims ${count} entries, more than its ${directorySize}-byte central directory can hold.`);
  }
  const entries = parseCentral(readAt(fd, directoryOffset, directorySize), count, path);
  return { end: eocdOffset + 22 + tail.readUInt16LE(eocd + 20), entries: checkEntries(fd, entries, directoryOffset, path) };
}

/** Local headers, data ranges, declared sizes and overlaps of every entry; each entry with where its data starts. */
function checkEntries(fd: number, entries: CentralEntry[], directoryOffset: number, path: string): ZipDirectoryEntry[] {
  const spans: { start: number; end: number; name: string }[] = [];
  const out: ZipDirectoryEntry[] = [];
  for (const e of entries) {
    const q = JSON.stringify(e.name);
    if (!(e.localOffset + 30 <= directoryOffset)) throw badZip(path, 'bad-local-offset', `entry ${q} starts at byte ${e.localOffset}, outside the archive's data.`, { entry: e.name });
    const local = readAt(fd, e.localOffset, 30);
    if (local.length < 30 || local.readUInt32LE(0) !== LOCAL) throw badZip(path, 'bad-local-header', `entry ${q} has no local header where the directory says.`, { entry: e.name });
    const dataStart = e.localOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
    if (!(dataStart + e.compressedSize <= directoryOffset)) {
      throw badZip(path, 'truncated', `entry ${q} (${e.compressedSize} compressed bytes) runs past the archive's data: it is truncated or corrupt.`, { entry: e.name });
    }
    const directory = e.name.endsWith('/') || e.name.endsWith('\\');
    if (directory && e.uncompressedSize > 0) {
      throw badZip(path, 'directory-with-data', `entry ${q} is a directory but holds ${e.uncompressedSize} bytes.`, { entry: e.name, bytes: e.uncompressedSize });
    }
    if (e.method === 0 && e.uncompressedSize !== e.compressedSize) {
      throw badZip(path, 'impossible-size', `stored entry ${q} declares ${e.uncompressedSize} bytes but holds ${e.compressedSize}.`, { entry: e.name });
    }
    if (e.method === 8 && e.uncompressedSize > e.compressedSize * DEFLATE_MAX_RATIO + 1024) {
      throw badZip(path, 'impossible-size', `entry ${q} declares ${e.uncompressedSize} bytes from ${e.compressedSize} compressed: more than deflate can produce.`, { entry: e.name, declared: e.uncompressedSize });
    }
    spans.push({ start: e.localOffset, end: dataStart + e.compressedSize, name: e.name });
    out.push({ ...e, dataStart });
  }
  spans.sort((a, b) => a.start - b.start);
  for (let i = 1; i < spans.length; i++) {
    const [prev, next] = [spans[i - 1], spans[i]] as [(typeof spans)[number], (typeof spans)[number]];
    if (next.start < prev.end) {
      throw badZip(path, 'overlapping-entries', `entries ${JSON.stringify(prev.name)} and ${JSON.stringify(next.name)} overlap in the file (unzip and Python refuse such archives).`, { entry: next.name });
    }
  }
  return out;
}
