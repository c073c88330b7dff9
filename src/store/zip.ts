/**
 * Extraction of zip entries into files of a directory: the addon inflates each entry from the
 * mapped archive into its pre-sized file through one small reused buffer (memory does not grow
 * with its size; nothing for V8 to collect), its CRC-32 and size are checked against the central
 * directory, and a call either extracts every entry or leaves nothing behind.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, createReadStream, read as fsRead } from 'node:fs';
import { chmod, link, open, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { constants as zlibConstants, inflateRawSync } from 'node:zlib';
import type yauzl from 'yauzl';
import { parseDType, type DType } from '../core/dtype.js';
import { badZip, openCheckedZip } from '../core/zip-directory.js';
import { abortedError, fsError, ShmArrayError } from '../core/errors.js';
import { inflateEntries, type InflateResult, type InflateSpec } from '../core/native.js';
import { isNpy } from '../core/npy.js';
import { toLittleEndian } from './byte-order.js';
import { describeShared, rawShape, type SharedHandle } from '../core/handle.js';
import { diskSpace, readAt } from '../core/files.js';
import type { ShapeLike } from '../core/shape.js';

/** How raw (non-.npy) entries are shaped. .npy entries always take their header's shape and dtype. */
export interface ExtractOptions<D extends DType = DType> {
  /** Exact shape of every raw entry. */
  shape?: ShapeLike;
  /** Columns of every raw entry; rows are inferred from its size. */
  columns?: number;
  /**
   * Element type of raw entries (default float32). Given, it is a promise about every array: a
   * .npy entry of another dtype is refused (`ERR_SHM_BAD_DTYPE`), so the result is typed by it.
   */
  dtype?: D;
}

/** {@link ExtractOptions}, and for the library's own callers the entries to extract (by name; the others are skipped). */
export interface ArchiveOptions extends ExtractOptions {
  only?: ReadonlySet<string>;
}

const DEFLATE = 8;
const STORED = 0;

/** Read through a function: TypeScript would keep an earlier `signal.aborted` check's narrowing. */
const isAborted = (signal: AbortSignal): boolean => signal.aborted;

/** yauzl's reader over an archive already open and checked: it sees the archive up to its end record, not the padding after it. */
function fdReader(yauzlModule: typeof yauzl, fd: number): yauzl.RandomAccessReader {
  class FdReader extends yauzlModule.RandomAccessReader {
    override _readStreamForRange(start: number, end: number): Readable {
      return createReadStream('', { fd, start, end: end - 1, autoClose: false });
    }
    override read(buffer: Buffer, offset: number, length: number, position: number, callback: (err: Error | null) => void): void {
      fsRead(fd, buffer, offset, length, position, (err, n) => callback(err ?? (n < length ? new Error('unexpected end of the archive') : null)));
    }
    override close(callback: (err: Error | null) => void): void {
      closeSync(fd);
      callback(null);
    }
  }
  return new FdReader();
}

async function openZip(path: string): Promise<yauzl.ZipFile> {
  return (await openZipFd(path)).zip;
}

/** {@link openZip}, with the archive's fd (closed by `zip.close()`), for reading entry bytes directly. */
async function openZipFd(path: string): Promise<{ zip: yauzl.ZipFile; fd: number }> {
  // yauzl trusts the directory's offsets; a hostile one can crash the process from inside its callbacks.
  const { fd, end } = openCheckedZip(path);
  let yauzlModule: typeof yauzl;
  try {
    // Loaded on first use: importing shmarray need not pay for a zip reader (~14 ms, bench:import).
    yauzlModule = (await import('yauzl')).default;
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  return new Promise<{ zip: yauzl.ZipFile; fd: number }>((resolve, reject) => {
    // decodeStrings: false — entry names stay bytes: they are never used as paths, so a hostile
    // name (../../x, /etc/passwd, NUL bytes) cannot fail or steer the extraction.
    yauzlModule.fromRandomAccessReader(fdReader(yauzlModule, fd), end, { lazyEntries: true, autoClose: false, decodeStrings: false, validateEntrySizes: true }, (err, zip) => {
      if (err === null) return resolve({ zip, fd });
      closeSync(fd);
      reject(badZip(path, 'not-a-zip', `not a zip archive, or truncated (${err.message}).`));
    });
  });
}

function readEntries(zip: yauzl.ZipFile, path: string): Promise<yauzl.Entry[]> {
  return new Promise((resolve, reject) => {
    const entries: yauzl.Entry[] = [];
    zip.on('entry', (entry: yauzl.Entry) => {
      entries.push(entry);
      zip.readEntry();
    });
    zip.once('end', () => resolve(entries));
    zip.once('error', (err: Error) => {
      if (/encryption/.test(err.message)) reject(new ShmArrayError('ERR_SHM_ZIP_UNSUPPORTED', `${path}: ${err.message}; decrypt the archive first.`, { path }));
      else reject(badZip(path, 'corrupt-directory', `the central directory is corrupt (${err.message}).`));
    });
    zip.readEntry();
  });
}

/** Where the entry's compressed bytes start in the archive (after its local header). */
function dataStart(zip: yauzl.ZipFile, entry: yauzl.Entry): Promise<number> {
  return new Promise((resolve, reject) => {
    zip.readLocalFileHeader(entry, { minimal: true }, (err, header) => (err !== null ? reject(err) : resolve(header.fileDataStart)));
  });
}

/** The entry name for messages: UTF-8 when the entry says so, else latin1 (near enough to CP437). */
function displayName(entry: yauzl.Entry): string {
  const raw = entry.fileName as unknown as Buffer;
  return raw.toString((entry.generalPurposeBitFlag & 0x800) !== 0 ? 'utf8' : 'latin1');
}

/** A safe file-name fragment from an entry name: its last component, in [A-Za-z0-9._-], never starting with a dot. */
export function safeName(name: string, fallback = 'entry'): string {
  const last = name.split(/[/\\]/).filter((s) => s !== '').pop() ?? '';
  const clean = last.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^[.]+/, '').slice(0, 80);
  return clean === '' ? fallback : clean;
}

function isDirectory(name: string): boolean {
  return name.endsWith('/') || name.endsWith('\\');
}

function isSymlink(entry: yauzl.Entry): boolean {
  const madeByUnix = entry.versionMadeBy >> 8 === 3;
  return madeByUnix && ((entry.externalFileAttributes >>> 16) & 0o170000) === 0o120000;
}

/** Every file entry of the archive, checked for what cannot be extracted, before anything is written. */
async function listFiles(zip: yauzl.ZipFile, path: string): Promise<{ entry: yauzl.Entry; name: string }[]> {
  const files: { entry: yauzl.Entry; name: string }[] = [];
  for (const entry of await readEntries(zip, path)) {
    const name = displayName(entry);
    if (isDirectory(name)) continue;
    if (entry.isEncrypted()) {
      throw new ShmArrayError('ERR_SHM_ZIP_UNSUPPORTED', `${path}: entry ${JSON.stringify(name)} is encrypted; decrypt the archive first.`, { path, entry: name });
    }
    if (entry.compressionMethod !== STORED && entry.compressionMethod !== DEFLATE) {
      throw new ShmArrayError(
        'ERR_SHM_ZIP_UNSUPPORTED',
        `${path}: entry ${JSON.stringify(name)} uses compression method ${entry.compressionMethod}; only stored (0) and deflate (8) are supported — re-zip it with deflate.`,
        { path, entry: name, method: entry.compressionMethod },
      );
    }
    if (isSymlink(entry)) {
      throw new ShmArrayError('ERR_SHM_ZIP_UNSUPPORTED', `${path}: entry ${JSON.stringify(name)} is a symbolic link, not data.`, { path, entry: name });
    }
    files.push({ entry, name });
  }
  return files;
}

/** The error of an entry the addon could not inflate, worded as the user can act on it. */
function entryError(r: InflateResult, entry: yauzl.Entry, name: string, zipPath: string, part: string): unknown {
  const declared = entry.uncompressedSize;
  switch (r.status) {
    case 'ok':
      return r.crc === entry.crc32 >>> 0
        ? undefined
        : badZip(zipPath, 'crc-mismatch', `entry ${JSON.stringify(name)} fails its CRC-32 check (${r.crc.toString(16)} ≠ ${(entry.crc32 >>> 0).toString(16)}): the archive is corrupt.`, { entry: name });
    case 'size-exceeded':
      return badZip(zipPath, 'size-exceeded', `entry ${JSON.stringify(name)} inflates past its declared ${declared} bytes; extraction stopped there (a zip bomb or a corrupt archive).`, { entry: name, declared });
    case 'size-mismatch':
      return badZip(zipPath, 'size-mismatch', `entry ${JSON.stringify(name)} holds ${r.bytes} bytes, but the central directory says ${declared}: the archive is truncated or corrupt.`, { entry: name, declared, actual: r.bytes });
    case 'corrupt-data':
      return badZip(zipPath, 'corrupt-data', `entry ${JSON.stringify(name)} cannot be read: its deflate data is invalid.`, { entry: name });
    case 'changed':
      return new ShmArrayError('ERR_SHM_IO', `${zipPath} shrank while entry ${JSON.stringify(name)} was being extracted; nothing was kept. Extract it again once it is complete.`, { path: zipPath, entry: name });
    case 'errno':
      return fsError(Object.assign(new Error(`${r.syscall} failed with ${r.errnoName}`), { code: r.errnoName }), 'write', part);
  }
}

/** Bytes the archive's file entries inflate to, according to its central directory. */
export async function zipUncompressedBytes(zipPath: string): Promise<number> {
  const zip = await openZip(zipPath);
  try {
    return (await listFiles(zip, zipPath)).reduce((s, f) => s + f.entry.uncompressedSize, 0);
  } finally {
    zip.close();
  }
}

/** One file entry of an archive, as {@link zipEntries} lists it. */
export interface ZipEntryInfo {
  /** The entry's name in the archive (for messages: it is never used as a path). */
  name: string;
  /** Bytes it inflates to, according to the central directory. */
  bytes: number;
  /** It starts with the .npy magic (its header gives its shape and dtype); otherwise it is raw data. */
  npy: boolean;
}

/** Compressed bytes read to learn an entry's first bytes: deflate's block header and a few symbols fit in far fewer. */
const HEAD_COMPRESSED_BYTES = 4096;

/**
 * The first bytes of an entry (up to the .npy magic's length): read from the archive's fd at the
 * entry's data and, for deflate, inflated only as far as they go (a sync flush: a cut stream is no
 * error here). The CRC is not checked: extraction checks it; this only tells raw from .npy.
 */
async function entryHead(zip: yauzl.ZipFile, fd: number, entry: yauzl.Entry): Promise<Buffer> {
  const start = await dataStart(zip, entry);
  const bytes = readAt(fd, start, Math.min(entry.compressedSize, HEAD_COMPRESSED_BYTES));
  if (entry.compressionMethod === STORED) return bytes.subarray(0, 6);
  try {
    return inflateRawSync(bytes, { finishFlush: zlibConstants.Z_SYNC_FLUSH }).subarray(0, 6);
  } catch {
    return Buffer.alloc(0); // invalid deflate data: extraction will say so; here it is simply not a .npy
  }
}

/**
 * The file entries of an archive, each with its size and whether it is a .npy (by its first
 * bytes, never its name), after the same checks as extraction; nothing is extracted. Lets a
 * caller refuse raw entries that lack a shape before inflating gigabytes.
 */
export async function zipEntries(zipPath: string): Promise<ZipEntryInfo[]> {
  const { zip, fd } = await openZipFd(zipPath);
  try {
    const out: ZipEntryInfo[] = [];
    for (const { entry, name } of await listFiles(zip, zipPath)) {
      const head = entry.uncompressedSize === 0 ? Buffer.alloc(0) : await entryHead(zip, fd, entry);
      out.push({ name, bytes: entry.uncompressedSize, npy: isNpy(head) });
    }
    return out;
  } finally {
    zip.close();
  }
}

/** The temporary name of an entry being inflated: unique to one call (`token`), so concurrent calls never share one. */
function partName(final: string, token: string): string {
  return `${final}.${token}.part`;
}

/**
 * A turn on the addon's threads: resolves when this archive may start inflating, with the function
 * that ends the turn. Many archives' directory work can then run ahead of a few inflating ones.
 */
export type InflateTurn = () => Promise<() => void>;

/**
 * Extracts every file entry of `zipPath` (or those named in `options.only`) into `dir` as
 * `<prefix><index>-<safe name>`, read-only, and returns their handles in the archive's order (nothing is mapped). Raw entries are shaped by `options`; .npy entries by their header. Entries are
 * inflated into temporary files named with `token` (see {@link partName}); only when all are
 * complete are they linked to their names. On any error every file this call created — and only
 * those — is removed, so the directory is as it was, whatever other calls do in it meanwhile.
 * With `turn`, the inflation waits for a turn (the directory is read and the outputs made first).
 */
export async function extractArchive(zipPath: string, dir: string, prefix: string, options: ArchiveOptions = {}, token = randomBytes(6).toString('hex'), threads = 1, signal?: AbortSignal, turn?: InflateTurn): Promise<SharedHandle[]> {
  if (signal?.aborted === true) throw abortedError(signal);
  const dtype = parseDType(options.dtype ?? 'float32');
  const zip = await openZip(zipPath);
  const created: string[] = [];
  const handles: SharedHandle[] = [];
  try {
    const only = options.only;
    const files = (await listFiles(zip, zipPath)).filter((f) => only === undefined || only.has(f.name));
    const total = files.reduce((s, f) => s + f.entry.uncompressedSize, 0);
    const { free } = diskSpace(dir);
    if (total > free) {
      throw new ShmArrayError('ERR_SHM_NO_SPACE', `${zipPath} inflates to ${total} bytes but ${dir} has ${free} free; free space there or choose another directory (SHMARRAY_DIR).`, { path: zipPath, bytes: total, free });
    }
    const done: { final: string; part: string; head: Uint8Array; entry: yauzl.Entry; name: string }[] = [];
    const outs: FileHandle[] = [];
    const specs: InflateSpec[] = [];
    try {
      for (const [index, { entry, name }] of files.entries()) {
        const final = join(dir, `${prefix}${String(index).padStart(3, '0')}-${safeName(name)}`);
        const part = partName(final, token);
        created.push(part);
        try {
          outs.push(await open(part, 'wx', 0o600)); // the addon writes it
        } catch (err) {
          throw fsError(err, 'create', part);
        }
        done.push({ final, part, head: new Uint8Array(0), entry, name });
        specs.push({ dataStart: await dataStart(zip, entry), compressedSize: entry.compressedSize, method: entry.compressionMethod, outFd: (outs.at(-1) as FileHandle).fd, size: entry.uncompressedSize });
      }
      // Every entry at once, on the addon's threads: the archive mapped, each output written from a small buffer.
      const archive = await open(zipPath, 'r');
      let results: InflateResult[];
      const endTurn = turn === undefined ? undefined : await turn();
      try {
        results = await inflateEntries(archive.fd, specs, Math.max(1, Math.min(threads, specs.length)), signal);
      } finally {
        endTurn?.();
        await archive.close();
      }
      // Aborted while the entries ran: the addon stopped after those in progress.
      if (signal !== undefined && isAborted(signal)) throw abortedError(signal);
      // The first bad entry in archive order is the one reported, as when entries ran one by one.
      for (const [i, r] of results.entries()) {
        const d = done[i] as (typeof done)[number];
        const err = entryError(r, d.entry, d.name, zipPath, d.part);
        if (err !== undefined) throw err;
        d.head = r.head;
      }
    } finally {
      await Promise.all(outs.map((fh) => fh.close()));
    }
    // Big-endian .npy entries: this copy is the store's own, so it is made little-endian (and says so).
    const converted = new Map<string, string>();
    for (const { part, head } of done) {
      if (!isNpy(head)) continue;
      const descr = toLittleEndian(part);
      if (descr !== undefined) converted.set(part, descr);
    }
    for (const { part } of done) await chmod(part, 0o400);
    for (const { final, part } of done) {
      // link, not rename: an existing file of that name is never replaced (ERR_SHM_EXISTS).
      try {
        await link(part, final);
      } catch (err) {
        throw fsError(err, 'create', final);
      }
      created.push(final);
      await rm(part);
    }
    for (const { final, part, head, entry, name } of done) {
      const npy = isNpy(head);
      const what = `${zipPath}: entry ${JSON.stringify(name)}`;
      const h = npy ? describeShared(final) : describeShared(final, { shape: rawShape(entry.uncompressedSize, dtype, options, what, { path: zipPath, entry: name }), dtype });
      if (options.dtype !== undefined && h.dtype !== options.dtype) {
        throw new ShmArrayError('ERR_SHM_BAD_DTYPE', `${what} is a .npy of ${h.dtype}, not the ${options.dtype} asked for; give dtype: '${h.dtype}', or leave dtype out to take each entry's own.`, { path: zipPath, entry: name, dtype: h.dtype, expected: options.dtype });
      }
      const was = converted.get(part);
      handles.push(was === undefined ? h : { ...h, converted: `byte order: the archive's entry is big-endian ('${was}'); this copy is little-endian` });
    }
    return handles;
  } catch (err) {
    await Promise.all(created.map((p) => rm(p, { force: true })));
    throw err;
  } finally {
    zip.close();
  }
}
