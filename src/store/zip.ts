/**
 * Streaming extraction of zip entries into files of a directory: each entry is inflated straight
 * into its file (memory does not grow with its size), its CRC-32 and size are checked against the
 * central directory, and a call either extracts every entry or leaves nothing behind.
 */
import { randomBytes } from 'node:crypto';
import { chmod, link, open, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { createReadStream } from 'node:fs';
import { crc32, createInflateRaw } from 'node:zlib';
import type yauzl from 'yauzl';
import { parseDType, type DType } from '../core/dtype.js';
import { fsError, ShmArrayError } from '../core/errors.js';
import { checkZipStructure } from './zip-check.js';
import { isNpy, NPY_MAGIC } from '../core/npy.js';
import { describeShared, rawShape, type SharedHandle } from '../core/describe.js';
import { diskSpace, writeAll } from '../core/files.js';
import type { ShapeLike } from '../core/shape.js';

/** How raw (non-.npy) entries are shaped. .npy entries always take their header's shape and dtype. */
export interface ExtractOptions {
  /** Exact shape of every raw entry. */
  shape?: ShapeLike;
  /** Columns of every raw entry; rows are inferred from its size. */
  columns?: number;
  /** Element type of raw entries (default float32). */
  dtype?: DType;
}

/**
 * Read and inflate in 1 MiB pieces: per-piece costs (an inflate call, a CRC call, a write) vanish,
 * and memory stays bounded. Measured on 512 MiB: 16 KiB pieces are 2× slower; smaller pieces do
 * not lower peak memory, which is set by when V8 collects spent Buffers (bench/RESULTS.md).
 */
const CHUNK = 1 << 20;
const DEFLATE = 8;
const STORED = 0;

function badZip(path: string, reason: string, message: string, extra: Record<string, string | number> = {}): ShmArrayError {
  return new ShmArrayError('ERR_SHM_BAD_ZIP', `${path}: ${message}`, { path, reason, ...extra });
}

async function openZip(path: string): Promise<yauzl.ZipFile> {
  // yauzl trusts the directory's offsets; a hostile one can crash the process from inside its callbacks.
  checkZipStructure(path);
  // Loaded on first use: importing shmarray need not pay for a zip reader (~14 ms, bench:import).
  const { default: yauzlModule } = await import('yauzl');
  return new Promise((resolve, reject) => {
    // decodeStrings: false — entry names stay bytes: they are never used as paths, so a hostile
    // name (../../x, /etc/passwd, NUL bytes) cannot fail or steer the extraction.
    yauzlModule.open(path, { lazyEntries: true, autoClose: false, decodeStrings: false, validateEntrySizes: true }, (err, zip) => {
      if (err === null && zip !== undefined) return resolve(zip);
      const e = fsError(err, 'open the zip archive', path);
      if (e instanceof ShmArrayError) return reject(e);
      reject(badZip(path, 'not-a-zip', `not a zip archive, or truncated (${(err as Error).message}).`));
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

/**
 * The entry's compressed bytes, read in 1 MiB pieces straight from the archive (yauzl's own
 * stream reads 16 KiB at a time, and every piece costs an inflate call and a write).
 */
function openRaw(zip: yauzl.ZipFile, entry: yauzl.Entry, zipPath: string): Promise<Readable> {
  return new Promise((resolve, reject) => {
    zip.readLocalFileHeader(entry, { minimal: true }, (err, header) => {
      if (err !== null) return reject(err);
      if (entry.compressedSize === 0) return resolve(Readable.from([]));
      const start = header.fileDataStart;
      resolve(createReadStream(zipPath, { start, end: start + entry.compressedSize - 1, highWaterMark: CHUNK }));
    });
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

/**
 * Inflates one entry into `out`, stopping at its declared size, and checks its size and CRC-32.
 * Returns the entry's first bytes (up to the .npy magic's length) as they went by.
 */
async function inflateEntry(zip: yauzl.ZipFile, entry: yauzl.Entry, name: string, zipPath: string, out: string): Promise<Uint8Array> {
  const declared = entry.uncompressedSize;
  let fh: FileHandle;
  try {
    fh = await open(out, 'wx', 0o600);
  } catch (err) {
    throw fsError(err, 'create', out);
  }
  let crc = 0;
  let bytes = 0;
  const head = new Uint8Array(NPY_MAGIC.length);
  // The sink's own verdict wins over the AbortError the pipeline reports after it stopped.
  let verdict: unknown;
  try {
    const raw = await openRaw(zip, entry, zipPath);
    const sink = async (source: AsyncIterable<Buffer>): Promise<void> => {
      for await (const chunk of source) {
        bytes += chunk.length;
        if (bytes > declared) {
          verdict = badZip(zipPath, 'size-exceeded', `entry ${JSON.stringify(name)} inflates past its declared ${declared} bytes; extraction stopped there (a zip bomb or a corrupt archive).`, { entry: name, declared });
          throw verdict;
        }
        const seen = bytes - chunk.length;
        if (seen < head.length) head.set(chunk.subarray(0, head.length - seen), seen);
        crc = crc32(chunk, crc);
        try {
          await writeAll(fh, chunk);
        } catch (err) {
          verdict = fsError(err, 'write', out);
          throw verdict;
        }
      }
    };
    if (entry.compressionMethod === DEFLATE) await pipeline(raw, createInflateRaw({ chunkSize: CHUNK }), sink);
    else await pipeline(raw, sink);
  } catch (err) {
    if (verdict !== undefined) throw verdict;
    if (err instanceof ShmArrayError) throw err;
    const msg = err instanceof Error ? err.message : String(err);
    throw badZip(zipPath, 'corrupt-data', `entry ${JSON.stringify(name)} cannot be read: ${msg}.`, { entry: name });
  } finally {
    await fh.close();
  }
  if (bytes !== declared) {
    throw badZip(zipPath, 'size-mismatch', `entry ${JSON.stringify(name)} holds ${bytes} bytes, but the central directory says ${declared}: the archive is truncated or corrupt.`, { entry: name, declared, actual: bytes });
  }
  if (crc >>> 0 !== entry.crc32 >>> 0) {
    throw badZip(zipPath, 'crc-mismatch', `entry ${JSON.stringify(name)} fails its CRC-32 check (${(crc >>> 0).toString(16)} ≠ ${(entry.crc32 >>> 0).toString(16)}): the archive is corrupt.`, { entry: name });
  }
  return head.subarray(0, Math.min(bytes, head.length));
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

/** The temporary name of an entry being inflated: unique to one call (`token`), so concurrent calls never share one. */
export function partName(final: string, token: string): string {
  return `${final}.${token}.part`;
}

/**
 * Extracts every file entry of `zipPath` into `dir` as `<prefix><index>-<safe name>`, read-only,
 * and returns their handles (nothing is mapped). Raw entries are shaped by `options`; .npy entries by their header. Entries are
 * inflated into temporary files named with `token` (see {@link partName}); only when all are
 * complete are they linked to their names. On any error every file this call created — and only
 * those — is removed, so the directory is as it was, whatever other calls do in it meanwhile.
 */
export async function extractArchive(zipPath: string, dir: string, prefix: string, options: ExtractOptions = {}, token = randomBytes(6).toString('hex')): Promise<SharedHandle[]> {
  const dtype = parseDType(options.dtype ?? 'float32');
  const zip = await openZip(zipPath);
  const created: string[] = [];
  const handles: SharedHandle[] = [];
  try {
    const files = await listFiles(zip, zipPath);
    const total = files.reduce((s, f) => s + f.entry.uncompressedSize, 0);
    const { free } = diskSpace(dir);
    if (total > free) {
      throw new ShmArrayError('ERR_SHM_NO_SPACE', `${zipPath} inflates to ${total} bytes but ${dir} has ${free} free; free space there or choose another directory (SHMARRAY_DIR).`, { path: zipPath, bytes: total, free });
    }
    const done: { final: string; part: string; head: Uint8Array; entry: yauzl.Entry; name: string }[] = [];
    for (const [index, { entry, name }] of files.entries()) {
      const final = join(dir, `${prefix}${String(index).padStart(3, '0')}-${safeName(name)}`);
      const part = partName(final, token);
      created.push(part);
      const head = await inflateEntry(zip, entry, name, zipPath, part);
      await chmod(part, 0o400);
      done.push({ final, part, head, entry, name });
    }
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
    for (const { final, head, entry, name } of done) {
      const npy = isNpy(head);
      const what = `${zipPath}: entry ${JSON.stringify(name)}`;
      handles.push(npy ? describeShared(final) : describeShared(final, { shape: rawShape(entry.uncompressedSize, dtype, options, what, { path: zipPath, entry: name }), dtype }));
    }
    return handles;
  } catch (err) {
    await Promise.all(created.map((p) => rm(p, { force: true })));
    throw err;
  } finally {
    zip.close();
  }
}
