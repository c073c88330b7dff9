import { constants as osConstants } from 'node:os';

/**
 * Every stable error code shmarray throws. Codes never change meaning; new ones may be added.
 * Tests and callers should branch on `code`, never on the message text.
 */
export const ERROR_CODES = {
  ERR_SHM_NOT_FOUND: 'the file does not exist',
  ERR_SHM_NOT_A_FILE: 'the path is a directory, device, fifo or socket',
  ERR_SHM_BAD_SHAPE: 'the shape is not a list of non-negative integers',
  ERR_SHM_SHAPE_MISMATCH: 'the file size does not fit the shape and dtype',
  ERR_SHM_BAD_DTYPE: 'the dtype is not supported',
  ERR_SHM_BAD_NPY: 'the .npy header is malformed or truncated',
  ERR_SHM_UNSUPPORTED_NPY: 'the .npy file is valid but uses a layout shmarray cannot map',
  ERR_SHM_MISALIGNED: 'the byte offset is not a multiple of the item size',
  ERR_SHM_BAD_ARROW: 'the file is not an Arrow IPC file shmarray can map (a stream, compressed, truncated or corrupt)',
  ERR_SHM_BAD_SAFETENSORS: 'the safetensors header is malformed, or disagrees with the file (offsets, sizes, dtypes)',
  ERR_SHM_NOT_IN_PLACE: 'an archive entry cannot be mapped where it lies (compressed, misaligned or big-endian): it must be extracted',
  ERR_SHM_TOO_LARGE: 'the array has more elements than one typed array may have in this Node (maxArrayLength)',
  ERR_SHM_EXISTS: 'the file exists and overwrite was not asked for',
  ERR_SHM_CLOSED: 'the SharedArray was closed',
  ERR_SHM_HELD: 'a cache entry is held by a process, so it cannot be removed now',
  ERR_SHM_NATIVE: "shmarray's addon is missing or failed to load",
  ERR_SHM_MAP_FAILED: 'the system refused the mapping',
  ERR_SHM_BAD_ZIP: 'the archive is not a zip, is truncated or corrupt, or fails its CRC or size check',
  ERR_SHM_ZIP_UNSUPPORTED: 'the archive uses encryption or a compression method shmarray cannot read',
  ERR_SHM_WORKER: 'a worker died or failed without a shmarray error',
  ERR_SHM_NO_SPACE: 'the filesystem has no room for the data',
  ERR_SHM_PERMISSION: 'the file or directory may not be opened that way',
  ERR_SHM_BAD_ARGUMENT: 'an argument has the wrong type or value',
  ERR_SHM_IO: 'a file operation failed',
  ERR_SHM_ABORTED: 'the job was cancelled by its AbortSignal or ran past its timeout',
  ERR_SHM_COMPRESSION: 'the compression engine failed on data that was read correctly (e.g. it ran out of memory)',
} as const;

/** One of the stable `ERR_SHM_*` codes. */
export type ShmErrorCode = keyof typeof ERROR_CODES;

/** Facts about the failure (paths, byte counts, errno names): plain JSON values. */
export type ShmErrorDetails = Record<string, string | number | boolean | null | readonly number[] | undefined>;

const HEADER = /^ShmArrayError \[(ERR_SHM_[A-Z_]+)\]: /;
/** The last line of a ShmArrayError's stack: its details as JSON, so they survive a structured clone. */
const DETAILS_LINE = '\n    shmarray details: ';
/** Marks errors of every copy of shmarray (a second install, a bundled copy): `instanceof` checks it. */
const BRAND = Symbol.for('shmarray.ShmArrayError');

function isCode(value: unknown): value is ShmErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);
}

/**
 * The one error class of shmarray. `code` is stable; `details` holds the numbers and names behind
 * the message; the message says what was wrong and what to do about it.
 *
 * Errors thrown inside a worker lose their class on the way back (structured clone keeps only the
 * message and stack; child processes send a plain object). The stack header carries the code,
 * `ShmArrayError [ERR_SHM_NOT_FOUND]: …`, so {@link ShmArrayError.from} can revive it.
 */
export class ShmArrayError extends Error {
  /** Stable machine-readable code, e.g. `ERR_SHM_SHAPE_MISMATCH`. */
  readonly code: ShmErrorCode;
  /** The facts behind the message. */
  readonly details: ShmErrorDetails;

  constructor(code: ShmErrorCode, message: string, details: ShmErrorDetails = {}, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.details = details;
    Object.defineProperty(this, BRAND, { value: true });
    // The stack is captured with this name, so the code rides along wherever the stack goes, and
    // so do the details, on a last line of their own: a structured clone keeps only message and stack.
    Object.defineProperty(this, 'name', { value: `ShmArrayError [${code}]`, configurable: true });
    if (Object.keys(details).length > 0) this.stack = `${this.stack ?? ''}${DETAILS_LINE}${JSON.stringify(details)}`;
    else void this.stack;
    Object.defineProperty(this, 'name', { value: 'ShmArrayError', configurable: true });
  }

  /** True for errors of this class from any copy of shmarray loaded in this realm. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
  }

  /**
   * Revives a ShmArrayError from whatever a worker pool rejected with: the error itself, a
   * structured-clone copy (worker_threads), or the plain object a child process sends.
   * Returns `undefined` when `err` did not start life as a ShmArrayError.
   */
  static from(err: unknown): ShmArrayError | undefined {
    if (err instanceof ShmArrayError) return err;
    if (typeof err !== 'object' || err === null) return undefined;
    const o = err as { code?: unknown; message?: unknown; stack?: unknown; details?: unknown };
    const message = typeof o.message === 'string' ? o.message : '';
    let code: ShmErrorCode | undefined = isCode(o.code) ? o.code : undefined;
    if (code === undefined && typeof o.stack === 'string') {
      const m = HEADER.exec(o.stack);
      if (m !== null && isCode(m[1])) code = m[1];
    }
    if (code === undefined) return undefined;
    const details = typeof o.details === 'object' && o.details !== null ? (o.details as ShmErrorDetails) : detailsFromStack(o.stack);
    const revived = new ShmArrayError(code, message, details);
    if (typeof o.stack === 'string') revived.stack = o.stack;
    return revived;
  }

  /**
   * A Node fs error (`err.code` ENOENT, EACCES, ENOSPC …) as a ShmArrayError whose message names
   * the action (`'read'`, `'write into'` …), the path and what to do; a ShmArrayError is returned
   * as it is, and anything that is not an errno failure is `undefined`.
   */
  static fromFs(err: unknown, action: string, path: string): ShmArrayError | undefined {
    return ShmArrayError.from(fsError(err, action, path));
  }
}

function detailsFromStack(stack: unknown): ShmErrorDetails {
  if (typeof stack !== 'string') return {};
  const at = stack.lastIndexOf(DETAILS_LINE);
  if (at < 0) return {};
  try {
    const parsed: unknown = JSON.parse(stack.slice(at + DETAILS_LINE.length));
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as ShmErrorDetails) : {};
  } catch {
    return {};
  }
}

const FS_CODES: Readonly<Record<string, ShmErrorCode>> = {
  ENOENT: 'ERR_SHM_NOT_FOUND',
  ENOTDIR: 'ERR_SHM_NOT_FOUND',
  EISDIR: 'ERR_SHM_NOT_A_FILE',
  EACCES: 'ERR_SHM_PERMISSION',
  EPERM: 'ERR_SHM_PERMISSION',
  EROFS: 'ERR_SHM_PERMISSION',
  ENOSPC: 'ERR_SHM_NO_SPACE',
  EDQUOT: 'ERR_SHM_NO_SPACE',
  EEXIST: 'ERR_SHM_EXISTS',
};

/** What the common errnos mean, in words (the errno name follows in parentheses, and is in details). */
const ERRNO_WORDS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or directory',
  ENOTDIR: 'a part of the path is not a directory',
  EISDIR: 'it is a directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only filesystem',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EEXIST: 'it already exists',
};

const FS_ADVICE: Partial<Record<ShmErrorCode, string>> = {
  ERR_SHM_NOT_FOUND: 'check the path',
  ERR_SHM_PERMISSION: 'check its permissions, or open it read-only',
  ERR_SHM_NO_SPACE: 'free space there or choose another directory (SHMARRAY_DIR)',
  ERR_SHM_EXISTS: 'remove it or choose another name',
};

/**
 * Wraps a Node fs error (`err.code` = ENOENT, EACCES, ENOSPC …) in a ShmArrayError whose message
 * names the action, the path and what to do. Anything else — a ShmArrayError, a programmer error
 * such as `ERR_INVALID_ARG_VALUE` — is returned unchanged: only errnos are I/O failures.
 */
export function fsError(err: unknown, action: string, path: string): unknown {
  if (err instanceof ShmArrayError) return err;
  const errno = (err as NodeJS.ErrnoException | null)?.code;
  if (typeof errno !== 'string' || !Object.hasOwn(osConstants.errno, errno)) return err;
  const code = FS_CODES[errno] ?? 'ERR_SHM_IO';
  const advice = FS_ADVICE[code];
  const words = ERRNO_WORDS[errno];
  return new ShmArrayError(code, `Cannot ${action} ${path}: ${words === undefined ? errno : `${words} (${errno})`}${advice === undefined ? '' : `; ${advice}`}.`, { path, errnoName: errno }, { cause: err });
}

/** What a value is, in words for a message: 'null', 'undefined', 'an array', 'an object', 'a number' … */
export function kindOf(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return 'an array';
  const t = typeof value;
  return t === 'object' ? 'an object' : `a ${t}`;
}

/** ERR_SHM_BAD_ARGUMENT with `why` as its message (a sentence without its full stop). */
export function badArgument(why: string): ShmArrayError {
  return new ShmArrayError('ERR_SHM_BAD_ARGUMENT', `${why}.`, {});
}

/** ERR_SHM_ABORTED, saying whether the caller aborted or the timeout ran out. */
export function abortedError(signal: AbortSignal): ShmArrayError {
  const reason: unknown = signal.reason;
  const timedOut = reason instanceof Error && reason.name === 'TimeoutError';
  return new ShmArrayError(
    'ERR_SHM_ABORTED',
    timedOut ? 'The job ran past its timeout and was stopped (its pool workers replaced, its addon threads joined). Raise timeout, or give the job less work.' : 'The job was aborted by its AbortSignal and stopped (its pool workers replaced, its addon threads joined).',
    { timedOut },
  );
}
