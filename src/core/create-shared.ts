import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import { parseDType, itemSize, type DType } from './dtype.js';
import { badArgument, fsError, ShmArrayError } from './errors.js';
import { ADVICE, checkLength } from './handle.js';
import { diskSpace, tempName } from './files.js';
import { reserve, type Advice } from './native.js';
import { encodeNpyHeader } from './npy.js';
import { boolean, checkOptions, checkPath, integer, oneOf, own } from './options.js';
import { elementCount, normalizeShape, type ShapeLike } from './shape.js';
import { mapView, type SharedArray } from './shared-array.js';

/** Options of {@link createShared}. */
export interface CreateOptions<D extends DType = DType> {
  dtype?: D;
  /** Write a .npy header (default: when the path ends in `.npy`). */
  npy?: boolean;
  /** Replace an existing file (atomically: processes that mapped the old file keep it). */
  overwrite?: boolean;
  /** Permission bits of the new file (default 0o600: only this user's processes may map it). */
  fileMode?: number;
  advice?: Advice;
}

/**
 * Creates a file of exactly the size the shape needs (raw, or .npy with a version 1.0 header and
 * 64-byte-aligned data) and maps it read-write. The file appears complete or not at all: it is
 * built under a temporary name in the same directory and linked (or, with `overwrite`, renamed)
 * into place, so a process that mapped an older file of that name keeps its pages intact.
 */
export function createShared<D extends DType = 'float32'>(path: string, shape: ShapeLike, options: CreateOptions<D> = {}): SharedArray<D> {
  if (typeof path !== 'string' || path === '') throw badArgument('createShared needs a file path');
  checkPath(path, "createShared's path");
  checkOptions('createShared', options, { dtype: own, npy: boolean, overwrite: boolean, fileMode: integer(0, 0o7777), advice: oneOf(ADVICE) });
  const dims = normalizeShape(shape);
  const dtype = parseDType(options.dtype ?? 'float32') as D;
  const npy = options.npy ?? path.endsWith('.npy');
  const header = npy ? encodeNpyHeader(dtype, dims) : new Uint8Array(0);
  const length = elementCount(dims);
  checkLength(path, dims, dtype, length);
  const total = header.length + length * itemSize(dtype);
  if (!options.overwrite && fs.existsSync(path)) {
    throw new ShmArrayError('ERR_SHM_EXISTS', `${path} already exists; pass { overwrite: true } to replace it.`, { path });
  }
  const dir = nodePath.dirname(path);
  checkSpace(dir, total, path);
  const tmp = tempName(path);
  let fd: number;
  try {
    fd = fs.openSync(tmp, 'wx+', options.fileMode ?? 0o600);
  } catch (err) {
    throw fsError(err, 'create a file in', dir);
  }
  try {
    fs.ftruncateSync(fd, total);
    // Every block now: a full filesystem fails here, not as a SIGBUS when a page is first written.
    reserve(fd, total, path);
    if (header.length > 0) fs.writeSync(fd, header, 0, header.length, 0);
    const array = mapView({ path, shape: dims, dtype, offset: header.length, mode: 'r+', npy }, fd, length, options.advice ?? 'normal');
    if (options.overwrite) fs.renameSync(tmp, path);
    else fs.linkSync(tmp, path);
    return array as SharedArray<D>;
  } catch (err) {
    throw fsError(err, 'create', path);
  } finally {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
  }
}

/** The file system's free space is checked up front: a full tmpfs turns a later page write into SIGBUS. */
function checkSpace(dir: string, bytes: number, path: string): void {
  let free: number;
  try {
    free = diskSpace(dir).free;
  } catch (err) {
    throw fsError(err, 'inspect the directory of', path);
  }
  if (bytes > free) {
    throw new ShmArrayError('ERR_SHM_NO_SPACE', `${path} needs ${bytes} bytes but ${dir} has ${free} free; free space there or choose another directory.`, { path, bytes, free });
  }
}

