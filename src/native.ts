/**
 * The only door to the mmap binding (@riaskov/mmap-io). Everything the binding can get wrong is
 * guarded here: it is loaded lazily, its `int` arguments are kept in range, its offsets are
 * page-aligned, and its "mmap failed, 12" strings become ShmArrayErrors with the errno name.
 */
import { createRequire } from 'node:module';
import { constants as osConstants } from 'node:os';
import { ShmArrayError } from './errors.js';

interface Binding {
  map(size: number, protection: number, flags: number, fd: number, offset?: number, advise?: number): Buffer;
  advise(buffer: Buffer, advise: number): void;
  incore(buffer: Buffer): [number, number];
  sync(buffer: Buffer, offset: number, size: number, blocking: boolean, invalidate: boolean): void;
  readonly PROT_READ: number;
  readonly PROT_WRITE: number;
  readonly MAP_SHARED: number;
  readonly MADV_NORMAL: number;
  readonly MADV_RANDOM: number;
  readonly MADV_SEQUENTIAL: number;
  readonly MADV_WILLNEED: number;
  readonly MADV_DONTNEED: number;
  readonly PAGESIZE: number;
}

/** Access-pattern hints passed to madvise(2). */
export type Advice = 'normal' | 'sequential' | 'random' | 'willneed';

/**
 * The binding reads `size` and `offset` as a C `int`: 2 GiB fails with ENOMEM and larger sizes
 * wrap silently (5,000 MiB maps 904 MiB). Nothing at or above 2^31 bytes is ever passed to it.
 */
export const MAX_MAP_BYTES = 2 ** 31 - 1;

const PACKAGE = '@riaskov/mmap-io';
let binding: Binding | undefined;

function load(): Binding {
  if (binding !== undefined) return binding;
  try {
    const require = createRequire(import.meta.url);
    binding = require(PACKAGE) as Binding;
  } catch (err) {
    const reason = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new ShmArrayError(
      'ERR_SHM_NATIVE',
      `The mmap binding ${PACKAGE} could not be loaded (${reason}). Rebuild it with ` +
        `\`npm rebuild ${PACKAGE}\`; building needs python3, make and a C++17 compiler (see native-notes/).`,
      { package: PACKAGE, reason: reason ?? '' },
      { cause: err },
    );
  }
  return binding;
}

/** The system page size; map offsets are rounded down to a multiple of it. */
export function pageSize(): number {
  return load().PAGESIZE;
}

const ERRNO_NAMES = new Map(Object.entries(osConstants.errno).map(([name, n]) => [n, name]));

/** Turns the binding's `"<call> failed, <errno>"` message into the errno name (ENOMEM, EACCES …). */
function errnoName(err: unknown): { errno: number; name: string } {
  const text = err instanceof Error ? err.message : String(err);
  const m = /failed, (\d+)/.exec(text);
  const errno = m?.[1] === undefined ? -1 : Number(m[1]);
  return { errno, name: ERRNO_NAMES.get(errno) ?? (errno < 0 ? text : `errno ${errno}`) };
}

function adviceFlag(b: Binding, advice: Advice): number {
  switch (advice) {
    case 'normal': return b.MADV_NORMAL;
    case 'sequential': return b.MADV_SEQUENTIAL;
    case 'random': return b.MADV_RANDOM;
    case 'willneed': return b.MADV_WILLNEED;
  }
}

/** A live mapping: `buffer` spans it from a page boundary; the caller's bytes start at `byteOffset`. */
export interface Mapping {
  readonly buffer: Buffer;
  readonly byteOffset: number;
}

/**
 * Maps `byteLength` bytes of `fd` starting at `offset`, shared (writes reach the file and every
 * other mapping of it). The binding needs a page-aligned offset, so the mapping starts at the page
 * boundary below `offset` and the caller's view begins `byteOffset` bytes into it.
 * `byteLength` must be positive: an empty array is never mapped.
 */
export function mapFile(fd: number, byteLength: number, offset: number, writable: boolean, advice: Advice, path: string): Mapping {
  const b = load();
  const start = offset - (offset % b.PAGESIZE);
  const byteOffset = offset - start;
  const size = byteOffset + byteLength;
  if (size > MAX_MAP_BYTES || start > MAX_MAP_BYTES) {
    throw new ShmArrayError(
      'ERR_SHM_TOO_LARGE',
      `Cannot map ${size} bytes at offset ${start} of ${path}: the mmap binding takes sizes and offsets as a 32-bit int, ` +
        `so one mapping is limited to ${MAX_MAP_BYTES} bytes (2 GiB - 1). Split the data into several files.`,
      { path, bytes: size, offset: start, limit: MAX_MAP_BYTES },
    );
  }
  const protection = writable ? b.PROT_READ | b.PROT_WRITE : b.PROT_READ;
  try {
    return { buffer: b.map(size, protection, b.MAP_SHARED, fd, start, adviceFlag(b, advice)), byteOffset };
  } catch (err) {
    const { errno, name } = errnoName(err);
    throw new ShmArrayError(
      'ERR_SHM_MAP_FAILED',
      `mmap of ${size} bytes of ${path} failed with ${name}` +
        (name === 'ENOMEM' ? ': the address space or the memory limit is exhausted; map less at once.' : '.'),
      { path, bytes: size, errno, errnoName: name },
      { cause: err },
    );
  }
}

/** madvise(2) over the whole mapping. */
export function advise(mapping: Mapping, advice: Advice | 'dontneed'): void {
  const b = load();
  b.advise(mapping.buffer, advice === 'dontneed' ? b.MADV_DONTNEED : adviceFlag(b, advice));
}

/** msync(2), blocking: returns when the mapping's dirty pages reached the file. */
export function sync(mapping: Mapping): void {
  const b = load();
  try {
    b.sync(mapping.buffer, 0, mapping.buffer.length, true, false);
  } catch (err) {
    const { errno, name } = errnoName(err);
    throw new ShmArrayError('ERR_SHM_IO', `msync failed with ${name}.`, { errno, errnoName: name }, { cause: err });
  }
}

/** mincore(2): how many of the mapping's pages are resident in memory. */
export function residentPages(mapping: Mapping): { resident: number; total: number } {
  const [missing, resident] = load().incore(mapping.buffer);
  return { resident, total: missing + resident };
}
