/**
 * The only door to shmarray's addon (src/native/addon.cc, built by node-gyp into build/Release). Every
 * size and offset is checked here before it reaches C; the addon checks them again. The addon
 * is loaded lazily, once per thread or process, and its errno failures become ShmArrayErrors.
 */
import { createRequire } from 'node:module';
import { constants as osConstants } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { markAsUntransferable } from 'node:worker_threads';
import { addonAdvice } from '../../scripts/addon-advice.mjs';
import { badArgument, ShmArrayError } from './errors.js';

interface Binding {
  setup(markAsUntransferable: (value: object) => void): void;
  map(fd: number, offset: number, length: number, shared: boolean, advice: number): ArrayBuffer;
  close(buffer: ArrayBuffer): void;
  sync(buffer: ArrayBuffer): void;
  residency(buffer: ArrayBuffer): [resident: number, total: number];
  reserve(fd: number, length: number): void;
  tryLock(fd: number, shared?: boolean): boolean;
  inflateEntries(archiveFd: number, specs: Float64Array, threads: number): [Promise<RawInflateResult[]>, number];
  gzipFile(inFd: number, offset: number, length: number, outFd: number, level: number, chunk: number, threads: number): [Promise<RawGzipResult>, number];
  cancelJob(id: number): void;
  columnSums(data: Float32Array, columns: number, fromRow: number, toRow: number): Float64Array;
  readonly ENGINE: string;
  /** codec::Status's names by value (codec.h). */
  readonly CODEC_STATUS: readonly string[];
  readonly PAGE_SIZE: number;
  readonly TYPED_ARRAY_MAX_LENGTH: number;
  readonly TYPED_ARRAY_MAX_BYTES: number;
  readonly MADV_NORMAL: number;
  readonly MADV_RANDOM: number;
  readonly MADV_SEQUENTIAL: number;
  readonly MADV_WILLNEED: number;
}

interface RawInflateResult {
  ran: boolean;
  status: number;
  errno: number;
  syscall: string;
  bytes: number;
  crc: number;
  head: Uint8Array;
}

interface RawGzipResult {
  status: number;
  errno: number;
  syscall: string;
  failedAt: number;
  bytesOut: number;
  members: number;
  cancelled: boolean;
}

/** Access-pattern hints passed to madvise(2). */
export type Advice = 'normal' | 'sequential' | 'random' | 'willneed';

const require = createRequire(import.meta.url);
const packageRoot = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Where the addon is: `$SHMARRAY_BINDING` when set (a seam for tests and for running one checkout
 * under several Node versions, each with its own build); else what node-gyp-build finds in the
 * package — a local build (build/Release) first, then a prebuilt binary for this platform and
 * Node ABI (prebuilds/linux-x64/node.abi<N>.glibc.node), so an install needs no compiler.
 */
function bindingPath(): string {
  const override = process.env['SHMARRAY_BINDING'];
  // Relative to where the process runs (require() would take it for a package name).
  if (override !== undefined && override !== '') return resolve(override);
  return (require('node-gyp-build') as { path: (dir: string) => string }).path(packageRoot);
}

let binding: Binding | undefined;
let loadedFrom: string | undefined;

function load(): Binding {
  if (binding !== undefined) return binding;
  let path = '(no build and no prebuilt binary for this platform and Node)';
  try {
    path = bindingPath();
    const b = require(path) as Binding;
    b.setup(markAsUntransferable);
    // The enum is the addon's: an addon of another version that numbers it otherwise is refused, not misread.
    if (JSON.stringify(b.CODEC_STATUS) !== JSON.stringify(CODEC_STATUS)) {
      throw new Error(`its status names (${String(b.CODEC_STATUS)}) are not this version's (${CODEC_STATUS.join(',')}): it was built from another version of shmarray`);
    }
    binding = b;
    loadedFrom = path;
  } catch (err) {
    const reason = (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').trim();
    const advice = addonAdvice(reason, { nodedir: process.env['npm_config_nodedir'], inDependency: packageRoot.split('/').includes('node_modules') });
    throw new ShmArrayError('ERR_SHM_NATIVE', `shmarray's addon ${path} does not load: ${advice}`, { path, reason }, { cause: err });
  }
  return binding;
}

const ERRNO_NAMES = new Map(Object.entries(osConstants.errno).map(([name, n]) => [n, name]));

function errnoOf(err: unknown): { errno: number; name: string } {
  const errno = typeof (err as { errno?: unknown } | null)?.errno === 'number' ? (err as { errno: number }).errno : -1;
  return { errno, name: ERRNO_NAMES.get(errno) ?? (err instanceof Error ? err.message : String(err)) };
}

function adviceFlag(b: Binding, advice: Advice): number {
  switch (advice) {
    case 'normal': return b.MADV_NORMAL;
    case 'sequential': return b.MADV_SEQUENTIAL;
    case 'random': return b.MADV_RANDOM;
    case 'willneed': return b.MADV_WILLNEED;
  }
}

/**
 * The most elements one typed array of `itemSize`-byte elements can have in this Node: V8 11
 * (Node 20) allows 2^32 elements whatever their size (a 16 GiB Float32Array); V8 12 and later
 * allow 2^53 - 1 bytes.
 */
export function maxTypedArrayLength(itemSize: number): number {
  const b = load();
  return Math.min(b.TYPED_ARRAY_MAX_LENGTH, Math.floor(b.TYPED_ARRAY_MAX_BYTES / itemSize));
}

/** A live mapping: `buffer` spans it from a page boundary; the caller's bytes start at `byteOffset`. */
export interface Mapping {
  readonly buffer: ArrayBuffer;
  readonly byteOffset: number;
}

/** Refuses `buffer.transfer()`: on Node 22 (V8 12.4) transferring a buffer with a detach key aborts the process. */
function refuseTransfer(buffer: ArrayBuffer, path: string): void {
  const refuse = (): never => {
    throw new ShmArrayError(
      'ERR_SHM_BAD_ARGUMENT',
      `The buffer of ${path} is a file mapping and cannot be transferred; send the array's handle instead.`,
      { path },
    );
  };
  for (const name of ['transfer', 'transferToFixedLength']) {
    Object.defineProperty(buffer, name, { value: refuse, enumerable: false, writable: false, configurable: false });
  }
}

/**
 * Maps `byteLength` bytes of `fd` from `offset`. Writable mappings are shared (writes reach the
 * file and every other mapping of it); read-only ones are private copy-on-write, so a stray write
 * into an `'r'` array changes only this process's copy of that page and never the file. The
 * mapping starts at the page boundary below `offset`; the caller's bytes begin `byteOffset` into
 * it. `byteLength` must be positive: an empty array is never mapped.
 */
export function mapFile(fd: number, byteLength: number, offset: number, writable: boolean, advice: Advice, path: string): Mapping {
  if (!Number.isSafeInteger(byteLength) || byteLength <= 0 || !Number.isSafeInteger(offset) || offset < 0 || offset + byteLength > Number.MAX_SAFE_INTEGER) {
    throw new ShmArrayError('ERR_SHM_BAD_ARGUMENT', `Cannot map ${byteLength} bytes at offset ${offset} of ${path}: sizes and offsets are whole numbers below 2^53.`, { path, bytes: byteLength, offset });
  }
  const b = load();
  const byteOffset = offset % b.PAGE_SIZE;
  const start = offset - byteOffset;
  const size = byteOffset + byteLength;
  try {
    const buffer = b.map(fd, start, size, writable, adviceFlag(b, advice));
    refuseTransfer(buffer, path);
    return { buffer, byteOffset };
  } catch (err) {
    const { errno, name } = errnoOf(err);
    throw new ShmArrayError(
      'ERR_SHM_MAP_FAILED',
      `mmap of ${size} bytes of ${path} failed with ${name}` +
        (name === 'ENOMEM' ? ': the address space or the memory limit is exhausted; map less at once or close arrays you no longer need.' : '.'),
      { path, bytes: size, errno, errnoName: name },
      { cause: err },
    );
  }
}

/**
 * Unmaps at once: msync for writable mappings, then detaches the buffer (every view of it, any
 * subarray and `Buffer` over it reads length 0 from now on) and munmaps. Idempotent.
 */
export function unmap(mapping: Mapping): void {
  try {
    load().close(mapping.buffer);
  } catch (err) {
    const { errno, name } = errnoOf(err);
    if (errno < 0) throw err;
    throw new ShmArrayError('ERR_SHM_IO', `msync failed with ${name} while closing; the mapping was released, but writes may not have reached the file.`, { errno, errnoName: name }, { cause: err });
  }
}

/** msync(2), blocking: returns when the mapping's dirty pages reached the file. A no-op for private mappings. */
export function sync(mapping: Mapping): void {
  try {
    load().sync(mapping.buffer);
  } catch (err) {
    const { errno, name } = errnoOf(err);
    throw new ShmArrayError('ERR_SHM_IO', `msync failed with ${name}.`, { errno, errnoName: name }, { cause: err });
  }
}

/** mincore(2): how many of the mapping's pages are resident in memory. */
export function residentPages(mapping: Mapping): { resident: number; total: number } {
  const [resident, total] = load().residency(mapping.buffer);
  return { resident, total };
}

/**
 * Allocates `length` bytes of `fd` now (posix_fallocate): on a full tmpfs this throws
 * ERR_SHM_NO_SPACE, where a sparse file would have killed the process with SIGBUS at the first
 * write of a page that found no room.
 */
export function reserve(fd: number, length: number, path: string): void {
  if (!Number.isSafeInteger(length) || length <= 0) return;
  try {
    load().reserve(fd, length);
  } catch (err) {
    const { errno, name } = errnoOf(err);
    if (name === 'ENOSPC' || name === 'EDQUOT') {
      throw new ShmArrayError('ERR_SHM_NO_SPACE', `${path} needs ${length} bytes but its filesystem has no room for them; free space there or choose another directory (SHMARRAY_DIR).`, { path, bytes: length, errno, errnoName: name }, { cause: err });
    }
    // A filesystem without fallocate (EOPNOTSUPP) keeps the sparse file: the statfs check stands.
    if (name === 'EOPNOTSUPP' || name === 'ENOSYS') return;
    throw new ShmArrayError('ERR_SHM_IO', `Reserving ${length} bytes for ${path} failed with ${name}.`, { path, errno, errnoName: name }, { cause: err });
  }
}

/**
 * Takes a non-blocking flock on `fd` — exclusive, or shared when `shared` (converting a lock the
 * fd already holds): true if taken, false if another open file holds a conflicting one.
 */
export function tryLock(fd: number, shared = false): boolean {
  return load().tryLock(fd, shared);
}

/**
 * Column sums of rows [fromRow, toRow) of row-major float32 `data` (`columns` per row), in C at
 * memory speed: per column c, `[4c]` Σ(x − k), `[4c + 1]` Σ(x − k)², `[4c + 2]` min, `[4c + 3]`
 * max, where k is the column's value in row `fromRow` (src/native/stats.h). A file truncated
 * under a mapped `data` is ERR_SHM_IO, never a SIGBUS.
 */
export function columnSums(data: Float32Array, columns: number, fromRow: number, toRow: number): Float64Array {
  // Checked here first; the addon checks again (a wrong bound there would read past the view).
  if (!Number.isSafeInteger(columns) || columns < 1 || columns > 2 ** 24) throw badArgument(`columns must be a whole number from 1 to 2^24, not ${String(columns)}`);
  const rows = Math.floor(data.length / columns);
  if (!Number.isSafeInteger(fromRow) || !Number.isSafeInteger(toRow) || fromRow < 0 || toRow < fromRow || toRow > rows) {
    throw badArgument(`rows ${String(fromRow)} to ${String(toRow)} are not within the ${rows} rows of the data`);
  }
  try {
    return load().columnSums(data, columns, fromRow, toRow);
  } catch (err) {
    if (errnoOf(err).name === 'EFAULT') {
      throw new ShmArrayError('ERR_SHM_IO', 'The file under this array shrank while its statistics were taken (truncated by another process?).', { reason: 'changed' }, { cause: err });
    }
    throw err;
  }
}

/**
 * How a piece of compression work went (codec::Status in src/native/codec.h): the `reason`s of
 * ERR_SHM_BAD_ZIP, `changed` (the input shrank under its mapping or a read came up short: SIGBUS
 * caught, never a crash) or `errno` (a system call failed; see `errnoName` and `syscall`).
 */
export type CodecStatus = 'ok' | 'size-exceeded' | 'size-mismatch' | 'corrupt-data' | 'changed' | 'errno';
/** The statuses this file handles, checked against the addon's own list (codec.h's enum) when it loads. */
const CODEC_STATUS: readonly CodecStatus[] = ['ok', 'size-exceeded', 'size-mismatch', 'corrupt-data', 'changed', 'errno'];

function statusName(n: number): CodecStatus {
  const name = CODEC_STATUS[n];
  if (name === undefined) throw new ShmArrayError('ERR_SHM_NATIVE', `shmarray's addon returned status ${n}, which this version does not know; rebuild the addon from this package (npm rebuild shmarray).`, { status: n });
  return name;
}

/**
 * The engines the addon deflates gzip members and inflates zip entries with:
 * `libdeflate 1.14 (deflate), zlib 1.3.1 of Node (inflate)` when libdeflate-dev was there at build
 * time (and in the prebuilt binaries), else `zlib 1.3.1 of Node (deflate, inflate)`.
 */
export function engine(): string {
  return load().ENGINE;
}

/** The file the addon was loaded from (a local build, a prebuilt binary, or `$SHMARRAY_BINDING`). */
export function addonPath(): string {
  load();
  return loadedFrom as string;
}

/** One zip entry for {@link inflateEntries}: where its data is in the archive, and the file it fills. */
export interface InflateSpec {
  dataStart: number;
  compressedSize: number;
  /** 0 stored, 8 deflate. */
  method: number;
  outFd: number;
  /** The declared size: the output is made exactly this long and never written past. */
  size: number;
}

/** How one entry went; `crc` and `head` (its first bytes) are valid when `status` is 'ok'. */
export interface InflateResult {
  status: CodecStatus;
  errnoName: string;
  syscall: string;
  bytes: number;
  crc: number;
  head: Uint8Array;
  /** False when the job was cancelled before this entry was reached. */
  ran: boolean;
}

const INT32_MAX = 2 ** 31 - 1;
const isFd = (fd: number): boolean => Number.isInteger(fd) && fd >= 0 && fd <= INT32_MAX;
const isSize = (n: number): boolean => Number.isSafeInteger(n) && n >= 0;

/** Cancels the addon's job `id` when `signal` aborts; returns the function that stops listening. */
function cancelOn(signal: AbortSignal | undefined, id: number): () => void {
  if (signal === undefined) return () => {};
  const cancel = (): void => load().cancelJob(id);
  if (signal.aborted) cancel();
  signal.addEventListener('abort', cancel, { once: true });
  return () => signal.removeEventListener('abort', cancel);
}

/**
 * Inflates zip entries of the archive open as `archiveFd` into their output files, on `threads`
 * threads of the addon: the archive is mapped read-only and each output mapped read-write, so no
 * byte passes through a buffer, and this thread stays free. The outputs are sized first
 * (fallocate). An aborted `signal` stops the work after the entries in progress.
 */
export async function inflateEntries(archiveFd: number, entries: readonly InflateSpec[], threads: number, signal?: AbortSignal): Promise<InflateResult[]> {
  if (!isFd(archiveFd) || !Number.isInteger(threads) || threads < 1 || threads > 256) throw badArgument('inflateEntries needs a file descriptor and 1 to 256 threads');
  const specs = new Float64Array(entries.length * 5);
  entries.forEach((e, i) => {
    if (!isSize(e.dataStart) || !isSize(e.compressedSize) || !isSize(e.size) || !isFd(e.outFd) || (e.method !== 0 && e.method !== 8) || e.dataStart + e.compressedSize > Number.MAX_SAFE_INTEGER) {
      throw badArgument(`inflateEntries: entry ${i} has a size, offset, descriptor or method out of range`);
    }
    specs.set([e.dataStart, e.compressedSize, e.method, e.outFd, e.size], i * 5);
  });
  const [promise, id] = load().inflateEntries(archiveFd, specs, threads);
  const stop = cancelOn(signal, id);
  try {
    return (await promise).map((r) => ({ status: statusName(r.status), errnoName: ERRNO_NAMES.get(r.errno) ?? '', syscall: r.syscall, bytes: r.bytes, crc: r.crc >>> 0, head: r.head, ran: r.ran }));
  } finally {
    stop();
  }
}

/** What {@link gzipFile} did, or where it stopped. */
export interface GzipRun {
  status: CodecStatus;
  errnoName: string;
  syscall: string;
  /** The input offset where a read or write failed. */
  failedAt: number;
  bytesOut: number;
  members: number;
  cancelled: boolean;
}

/** The largest chunk the addon compresses in one piece (its zlib fallback counts in 32 bits): gzipParallel's chunkSize limit too. */
export const MAX_GZIP_CHUNK = 512 * 2 ** 20;

/**
 * Compresses `length` bytes of `inFd` from `offset` into `outFd` (at its current position), one
 * gzip member per `chunk` bytes, on `threads` threads of the addon — pigz's pipeline: each thread
 * reads a chunk into a buffer it keeps, compresses it into another, and appends it when its turn
 * comes. The input is read, never mapped: it may be anyone's file. An aborted `signal` stops it
 * after the chunks in progress (`cancelled`).
 */
export async function gzipFile(inFd: number, offset: number, length: number, outFd: number, level: number, chunk: number, threads: number, signal?: AbortSignal): Promise<GzipRun> {
  if (!isFd(inFd) || !isFd(outFd) || !isSize(offset) || !isSize(length) || offset + length > Number.MAX_SAFE_INTEGER) throw badArgument('gzipFile needs file descriptors and a byte range below 2^53');
  if (!Number.isInteger(level) || level < 0 || level > 9) throw badArgument('gzipFile: level must be 0 to 9');
  if (!Number.isInteger(chunk) || chunk < 1 || chunk > MAX_GZIP_CHUNK || !Number.isInteger(threads) || threads < 1 || threads > 256) throw badArgument('gzipFile: chunk must be 1 byte to 512 MiB and threads 1 to 256');
  const [promise, id] = load().gzipFile(inFd, offset, length, outFd, level, chunk, threads);
  const stop = cancelOn(signal, id);
  try {
    const r = await promise;
    return { status: statusName(r.status), errnoName: ERRNO_NAMES.get(r.errno) ?? '', syscall: r.syscall, failedAt: r.failedAt, bytesOut: r.bytesOut, members: r.members, cancelled: r.cancelled };
  } finally {
    stop();
  }
}
