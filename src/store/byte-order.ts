/**
 * Big-endian .npy data made little-endian in place, for files the store itself wrote (an archive's
 * entry, just inflated): a typed array reads only this machine's byte order, and a copy that the
 * store owns may be changed where a user's file may not (openShared refuses those, saying how to
 * convert them).
 */
import { closeSync, fstatSync, writeSync } from 'node:fs';
import { openFile, readAt } from '../core/files.js';
import { littleEndianHeader, NPY_MAX_HEADER_BYTES, NPY_PREFIX_BYTES, npyHeaderSize } from '../core/npy.js';
import { openShared } from '../core/shared-array.js';

/** Bytes swapped per step (a multiple of every item size): one 64 MiB window mapped at a time. */
const STEP = 64 * 2 ** 20;

/**
 * If `path` is a .npy file of big-endian data of a dtype shmarray maps, swaps its data to
 * little-endian and rewrites its descr (`'>f4'` → `'<f4'`); returns the descr it had, else
 * undefined (the file is not touched).
 */
export function toLittleEndian(path: string): string | undefined {
  const fd = openFile(path, 'r+', 'open for writing');
  try {
    const prefix = readAt(fd, 0, NPY_PREFIX_BYTES);
    const { size } = npyHeaderSize(prefix, path);
    if (size > NPY_MAX_HEADER_BYTES + NPY_PREFIX_BYTES) return undefined;
    const swap = littleEndianHeader(readAt(fd, 0, size), path);
    if (swap === undefined) return undefined;
    // The data first, then the header: a crash between them leaves a file that is refused, never one misread.
    const end = fstatSync(fd).size;
    for (let at = size; at < end; at += STEP) {
      const window = openShared(path, [Math.min(STEP, end - at)], { mode: 'r+', window: true, dtype: 'uint8', offset: at });
      try {
        const bytes = Buffer.from(window.data.buffer, window.data.byteOffset, window.data.byteLength);
        if (swap.itemSize === 2) bytes.swap16();
        else if (swap.itemSize === 4) bytes.swap32();
        else bytes.swap64();
      } finally {
        window.close();
      }
    }
    writeSync(fd, swap.header, 0, swap.header.length, 0);
    return swap.descr;
  } finally {
    closeSync(fd);
  }
}
