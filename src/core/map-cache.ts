/**
 * Worker-side reuse of mappings across tasks. A worker that maps the same handles for every task
 * pays a fresh mmap and a page fault per page each time; reusing the mapping keeps its page
 * tables. A cached mapping is reused only while its path still names the same file (device,
 * inode, size, mtime); entries whose file was removed or replaced are closed, so a disposed
 * store's tmpfs pages are not kept alive by a cache.
 */
import { statSync, type Stats } from 'node:fs';
import { checkHandle } from './handle.js';
import { badArgument } from './errors.js';
import type { DType } from './dtype.js';
import { openHandle, type SharedArray, type SharedHandle } from './shared-array.js';

interface Entry {
  array: SharedArray;
  identity: string;
}

const cache = new Map<string, Entry>();
/** Mappings kept at most; the least recently used goes first. */
const LIMIT = 256;

function identity(st: Stats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
}

function statOrNull(path: string): Stats | null {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

/** Closes cached mappings whose file is gone or replaced. */
export function pruneMapCache(): void {
  for (const [key, e] of cache) {
    const st = statOrNull(e.array.path);
    if (st === null || identity(st) !== e.identity) {
      e.array.close();
      cache.delete(key);
    }
  }
}

/**
 * Like `openShared(handle)`, but returns the mapping a previous call made for the same handle
 * while the file is unchanged. Callers must not close() what it returns.
 */
export function openSharedCached<D extends DType>(handle: SharedHandle & { dtype: D }): SharedArray<D>;
export function openSharedCached(handle: SharedHandle): SharedArray;
export function openSharedCached(handle: SharedHandle): SharedArray {
  // The same checks as openShared's, before the handle's path is stat'ed or becomes a key.
  if (typeof handle !== 'object' || handle === null) throw badArgument('openSharedCached needs a handle (array.handle)');
  const h = checkHandle(handle, 'openSharedCached'); // once: openHandle below does not check it again
  const key = JSON.stringify([h.path, h.shape, h.dtype, h.offset, h.mode, h.npy, h.window === true, h.order ?? 'C']);
  const st = statOrNull(h.path);
  const hit = cache.get(key);
  if (hit !== undefined && st !== null && identity(st) === hit.identity && !hit.array.closed) {
    cache.delete(key);
    cache.set(key, hit);
    return hit.array;
  }
  if (hit !== undefined) {
    hit.array.close();
    cache.delete(key);
  }
  pruneMapCache();
  const array = openHandle(h);
  if (st !== null) {
    cache.set(key, { array, identity: identity(st) });
    for (const [k, e] of cache) {
      if (cache.size <= LIMIT) break;
      e.array.close();
      cache.delete(k);
    }
  }
  return array;
}
