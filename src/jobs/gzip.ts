/**
 * Parallel gzip: workers compress chunks, one writer appends them in order. By default each chunk
 * is an independent gzip member (RFC 1952 allows a file of several; gzip, zcat, Node's zlib,
 * Python's gzip read them all). `singleMember` makes one member instead, pigz-style: raw deflate
 * per chunk primed with the previous 32 KiB, sync-flushed, CRCs combined.
 */
import { open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32Combine } from './crc32-combine.js';
import { abortedError, fsError, kindOf, ShmArrayError } from '../core/errors.js';
import type { ChunkSource, CompressTask } from './compress-worker.js';
import { forget, removeOnExit } from '../core/cleanup.js';
import { sweepStaleTemps } from '../core/liveness.js';
import { boolean, checkOptions, checkPath, integer } from '../core/options.js';
import { jobSignal, POOL_CONFLICTS, POOL_OPTIONS, withPool, workerCount, type JobOptions, type WorkerPool } from './pool.js';
import { gzipFile, MAX_GZIP_CHUNK } from '../core/native.js';
import { SharedArray, type SharedHandle } from '../core/shared-array.js';
import { stopwatch } from '../core/clock.js';
import { makeDirectory, tempName, writeAll } from '../core/files.js';

/** Options of {@link gzipParallel}. */
export interface GzipOptions extends JobOptions {
  /** 0–9 (default 6, as gzip). */
  level?: number;
  /** Uncompressed bytes per chunk (default 4 MiB). */
  chunkSize?: number;
  /** Write one gzip member (pigz-style) instead of one per chunk. */
  singleMember?: boolean;
}

/** What {@link gzipParallel} did. */
export interface GzipResult {
  bytesIn: number;
  bytesOut: number;
  members: number;
  seconds: number;
}

/**
 * The input: a mapped array, a file path, bytes in memory (a Buffer, any typed array, a DataView:
 * their bytes as they lie), or a stream of bytes (e.g. process.stdin, without an encoding).
 */
export type GzipInput = SharedArray | string | ArrayBufferView<ArrayBufferLike> | AsyncIterable<Uint8Array>;

/** The worker module of this job (a file path, for a pool of the caller's own). */
export const COMPRESS_WORKER = fileURLToPath(new URL('./compress-worker.js', import.meta.url));

const WINDOW = 32 * 1024;
const KiB = 1024;

interface Chunk {
  source: ChunkSource;
  length: number;
  last: boolean;
}

/** Chunks of a byte range of a file: each a window of the file that the worker reads (pread) itself. */
async function* fileChunks(path: string, start: number, length: number, chunkSize: number, dictionary: boolean): AsyncGenerator<Chunk> {
  if (length === 0) {
    yield { source: { bytes: new Uint8Array(0), dictionary: new Uint8Array(0) }, length: 0, last: true };
    return;
  }
  for (let at = 0; at < length; at += chunkSize) {
    const n = Math.min(chunkSize, length - at);
    const dict = dictionary ? Math.min(WINDOW, at) : 0;
    const window: SharedHandle = { path, shape: [dict + n], dtype: 'uint8', offset: start + at - dict, mode: 'r', npy: false, window: true };
    yield { source: { window, dictionaryBytes: dict }, length: n, last: at + n >= length };
  }
}

/** The bytes of a Buffer, typed array or DataView, as a Uint8Array over the same memory (no copy). */
function bytesView(view: ArrayBufferView<ArrayBufferLike>): Uint8Array {
  return view instanceof Uint8Array ? view : new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

/**
 * Chunks of bytes in memory. Each chunk is copied out: a structured clone of a subarray would
 * carry its whole buffer to the worker, and moving it would detach the caller's data.
 */
async function* memoryChunks(bytes: Uint8Array, chunkSize: number, dictionary: boolean): AsyncGenerator<Chunk> {
  for (let at = 0; at === 0 || at < bytes.length; at += chunkSize) {
    const piece = bytes.slice(at, Math.min(bytes.length, at + chunkSize));
    const dict = dictionary ? bytes.slice(Math.max(0, at - WINDOW), at) : new Uint8Array(0);
    yield { source: { bytes: piece, dictionary: dict }, length: piece.length, last: at + chunkSize >= bytes.length };
  }
}

/** What a stream gave, as bytes; anything else (text-mode strings, objects) is refused, naming what came. */
function streamBytes(data: unknown): Uint8Array {
  if (ArrayBuffer.isView(data)) return bytesView(data);
  const what = typeof data === 'string' ? 'a string (the stream is in text mode: open it without an encoding, and do not call setEncoding)' : kindOf(data);
  throw new ShmArrayError('ERR_SHM_BAD_ARGUMENT', `gzipParallel's input stream gave ${what}; it must give bytes (Buffers or Uint8Arrays).`, { got: kindOf(data) });
}

/** Checks the input's kind before anything starts; a path is checked by checkPath. */
function checkInput(input: unknown): void {
  if (typeof input === 'string' || input instanceof SharedArray || ArrayBuffer.isView(input)) return;
  if (typeof input === 'object' && input !== null && !Array.isArray(input) && typeof (input as Partial<AsyncIterable<unknown>>)[Symbol.asyncIterator] === 'function') return;
  const what = Array.isArray(input) ? 'an array (put numbers in a typed array, e.g. Float32Array.from(list), to gzip their bytes)' : kindOf(input);
  throw new ShmArrayError('ERR_SHM_BAD_ARGUMENT', `gzipParallel's input must be a file path, a SharedArray, a Buffer or typed array, or an async iterable of bytes (a stream), not ${what}.`, { got: kindOf(input) });
}

/** Chunks of a stream, re-cut to `chunkSize`; the stream is read only as fast as chunks are taken. */
async function* streamChunks(stream: AsyncIterable<unknown>, chunkSize: number, dictionary: boolean): AsyncGenerator<Chunk> {
  let parts: Uint8Array[] = [];
  let held = 0;
  let prev = new Uint8Array(0);
  let pending: Uint8Array | undefined;
  const cut = (): Uint8Array => {
    const all = Buffer.concat(parts);
    const piece = all.subarray(0, chunkSize);
    parts = all.length > chunkSize ? [all.subarray(chunkSize)] : [];
    held = all.length - piece.length;
    return piece;
  };
  const emit = (piece: Uint8Array, last: boolean): Chunk => {
    const chunk: Chunk = { source: { bytes: piece, dictionary: dictionary ? prev : new Uint8Array(0) }, length: piece.length, last };
    if (dictionary) prev = piece.subarray(Math.max(0, piece.length - WINDOW)).slice();
    return chunk;
  };
  for await (const given of stream) {
    const data = streamBytes(given);
    parts.push(data);
    held += data.length;
    while (held >= chunkSize) {
      // One chunk is held back, so the one that turns out last can say so.
      if (pending !== undefined) yield emit(pending, false);
      pending = cut();
    }
  }
  if (held > 0) {
    if (pending !== undefined) yield emit(pending, false);
    pending = cut();
  }
  yield emit(pending ?? new Uint8Array(0), true);
}

const GZIP_OPTIONS = {
  ...POOL_OPTIONS,
  level: integer(0, 9),
  chunkSize: integer(64 * KiB, MAX_GZIP_CHUNK),
  singleMember: boolean,
};

/** A fixed gzip header: deflate, no name, no mtime, OS unknown-Unix (3). */
const GZIP_HEADER = Uint8Array.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);

/**
 * Compresses `input` into `outputPath` with `workers` workers. A file or a SharedArray, in the
 * default multi-member mode and without a `pool`, is compressed by the addon's own threads
 * (pigz's pipeline, the engine it was built with: libdeflate, or Node's zlib); a stream, a
 * `pool` or `singleMember` runs in a worker pool with Node's zlib. Either way at most a few
 * chunks per worker are in memory, and the output is written to a temporary file in the same
 * directory and renamed into place on success: an error or an interrupt leaves neither a
 * partial output nor the temporary file.
 */
export async function gzipParallel(input: GzipInput, outputPath: string, options: GzipOptions = {}): Promise<GzipResult> {
  const elapsed = stopwatch();
  // Everything is checked before a file is opened or a pool started.
  checkInput(input);
  if (typeof input === 'string') checkPath(input, "gzipParallel's input");
  checkPath(outputPath, "gzipParallel's outputPath");
  checkOptions('gzipParallel', options, GZIP_OPTIONS, POOL_CONFLICTS);
  const level = options.level ?? 6;
  const chunkSize = options.chunkSize ?? 4 * 1024 * KiB;
  const workers = options.pool?.workers ?? workerCount(options.workers);
  const signal = jobSignal(options);
  const single = options.singleMember === true;
  let range: FileRange | undefined;
  if (input instanceof SharedArray) {
    const h = input.handle;
    range = { path: h.path, offset: h.offset, length: input.byteLength };
  } else if (typeof input === 'string') {
    let size: number;
    try {
      const st = await stat(input);
      if (!st.isFile()) throw new ShmArrayError('ERR_SHM_NOT_A_FILE', `${input} is not a regular file; pipe it in instead (shmarray gzip - < ${input}).`, { path: input });
      size = st.size;
    } catch (err) {
      throw fsError(err, 'read', input);
    }
    range = { path: input, offset: 0, length: size };
  }
  if (range !== undefined && !single && options.pool === undefined) {
    const r = await withTempOutput(outputPath, (fh) => gzipInAddon(range, fh, level, chunkSize, workers, signal));
    return { ...r, seconds: elapsed() };
  }
  const chunks =
    range !== undefined
      ? fileChunks(range.path, range.offset, range.length, chunkSize, single)
      : ArrayBuffer.isView(input)
        ? memoryChunks(bytesView(input), chunkSize, single)
        : streamChunks(input as AsyncIterable<unknown>, chunkSize, single);
  const r = await withTempOutput(outputPath, (fh) =>
    // The caller's pool is left running; a pool started here is destroyed when the job ends.
    withPool(options, COMPRESS_WORKER, (pool) => gzipInPool(pool, chunks, fh, level, single, workers, signal)),
  );
  return { ...r, seconds: elapsed() };
}

/** A byte range of a file. */
interface FileRange {
  path: string;
  offset: number;
  length: number;
}

/**
 * Runs `write` into a fresh temporary file beside `outputPath` and renames it into place when
 * `write` succeeds; on failure, or Ctrl-C, the temporary file is removed. The output's directory
 * is made when missing (the rule extractZips follows for its directory); temporary outputs of
 * killed runs in it are swept first.
 */
async function withTempOutput<T>(outputPath: string, write: (fh: FileHandle) => Promise<T>): Promise<T> {
  const dir = dirname(outputPath);
  makeDirectory(dir);
  sweepStaleTemps(dir); // outputs a killed run left behind
  const tmp = tempName(outputPath);
  // Watched before it exists: a signal between the open and the next line must not leave it.
  removeOnExit(tmp);
  let fh: FileHandle;
  try {
    fh = await open(tmp, 'wx', 0o644);
  } catch (err) {
    forget(tmp);
    throw fsError(err, 'write into', dir);
  }
  try {
    const result = await write(fh);
    await fh.close();
    await rename(tmp, outputPath);
    forget(tmp);
    return result;
  } catch (err) {
    await fh.close().catch(() => {});
    await rm(tmp, { force: true });
    forget(tmp);
    throw fsError(err, 'write', outputPath);
  }
}

/** The addon's pipeline over a file range: read, compress and append on its own threads. */
async function gzipInAddon(range: FileRange, out: FileHandle, level: number, chunkSize: number, workers: number, signal: AbortSignal | undefined): Promise<Omit<GzipResult, 'seconds'>> {
  if (signal?.aborted === true) throw abortedError(signal);
  let input: FileHandle;
  try {
    input = await open(range.path, 'r');
  } catch (err) {
    throw fsError(err, 'read', range.path);
  }
  try {
    const r = await gzipFile(input.fd, range.offset, range.length, out.fd, level, chunkSize, workers, signal);
    if (r.status === 'changed') {
      throw new ShmArrayError('ERR_SHM_IO', `${range.path} shrank while it was being compressed (${r.failedAt} bytes left of ${range.offset + range.length}); nothing was written.`, { path: range.path, offset: r.failedAt });
    }
    if (r.status === 'errno') {
      const err = Object.assign(new Error(`${r.syscall} failed with ${r.errnoName}`), { code: r.errnoName });
      throw r.syscall === 'read' ? fsError(err, 'read', range.path) : err;
    }
    if (r.status !== 'ok') throw new ShmArrayError('ERR_SHM_COMPRESSION', `Compressing ${range.path} failed in the engine (${r.status}); nothing was written.`, { path: range.path, reason: r.status });
    if (r.cancelled && signal !== undefined) throw abortedError(signal);
    return { bytesIn: range.length, bytesOut: r.bytesOut, members: r.members };
  } finally {
    await input.close();
  }
}

/** Chunks compressed in pool workers (Node's zlib), appended in order by this thread. */
async function gzipInPool(pool: WorkerPool, chunks: AsyncGenerator<Chunk>, fh: FileHandle, level: number, single: boolean, workers: number, signal: AbortSignal | undefined): Promise<Omit<GzipResult, 'seconds'>> {
  const limit = 2 * workers;
  let bytesIn = 0;
  let bytesOut = 0;
  let members = 0;
  let crc = 0;
  const inFlight: Promise<Uint8Array>[] = [];
  const lengths: number[] = [];
  const writeNext = async (): Promise<void> => {
    const done = await (inFlight.shift() as Promise<Uint8Array>);
    const data = single ? done.subarray(0, done.length - 4) : done;
    if (single) {
      const view = new DataView(done.buffer, done.byteOffset, done.byteLength);
      crc = crc32Combine(crc, view.getUint32(done.length - 4, true), lengths.shift() ?? 0);
    }
    await writeAll(fh, data);
    bytesOut += data.length;
    if (!single) members++;
  };
  try {
    if (single) {
      await writeAll(fh, GZIP_HEADER);
      bytesOut += GZIP_HEADER.length;
    }
    for await (const chunk of chunks) {
      const task: CompressTask = { source: chunk.source, level, format: single ? 'raw' : 'member', last: chunk.last };
      if (signal?.aborted === true) throw abortedError(signal);
      const p = pool.run<Uint8Array>(task, { filename: COMPRESS_WORKER, signal });
      p.catch(() => {}); // awaited in order below; this only keeps an early failure from going unhandled
      inFlight.push(p);
      lengths.push(chunk.length);
      bytesIn += chunk.length;
      if (inFlight.length >= limit) await writeNext();
    }
    while (inFlight.length > 0) await writeNext();
  } catch (err) {
    await Promise.allSettled(inFlight);
    throw err;
  }
  if (single) {
    const trailer = new Uint8Array(8);
    const view = new DataView(trailer.buffer);
    view.setUint32(0, crc, true);
    view.setUint32(4, bytesIn % 2 ** 32, true);
    await writeAll(fh, trailer);
    bytesOut += 8;
    members = 1;
  }
  return { bytesIn, bytesOut, members };
}
