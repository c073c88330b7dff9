/**
 * A node-wide cache on disk: where it lives, how its entries are named and described, who holds
 * them, and how an unheld one is removed. `SharedCache` (cache.ts) runs the protocol on top.
 *
 *   <base>/<name>/               0700, this user's; <base> defaults to /dev/shm/shmarray-cache-<uid>
 *     e-<hash>/                  a sealed entry: its data files (0400) and entry.json (0400)
 *     e-<hash>.lock              its lock: builders and evictors hold it exclusively, holders shared
 *     .build-e-<hash>-<pid>-<r>/ an entry being built (renamed to e-<hash>/ when complete)
 *     .evict-e-<hash>-<r>/       an entry being removed (renamed away first, then unlinked)
 *     cache.json                 the budget last given to SharedCache.open: the cache's, for every process
 *     ledger.json, ledger.lock   builds' reservations of the budget, and the lock they change under (rule 7)
 *
 * Lock files are reclaimed, so that a cache keyed by date or request does not grow without bound
 * (rule 5 of cache.ts's protocol): whoever removes an entry, or fails to build one, unlinks its
 * lock file while holding it exclusively, and every locker checks after locking that the file it
 * locked is still the one at the path (lockIsCurrent) — else it opens the path again. Only held or
 * in-progress keys keep a lock file.
 */
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fsError, ShmArrayError } from '../core/errors.js';
import { tryLock } from '../core/native.js';
import { diskSpace, makeDirectory, openFile } from '../core/files.js';
import { formatBytes } from '../core/units.js';
import { checkSafeBase, tmpfsMargin } from './placement.js';

/** The format of an entry's description, entry.json. */
export const ENTRY_FORMAT = 'shmarray-cache-entry/1';

/** One data file of an entry, as entry.json records it (the path is the entry directory's + file). */
export interface EntryFile {
  file: string;
  shape: number[];
  dtype: string;
  offset: number;
  npy: boolean;
  /** The array is one of several in its file (a safetensors tensor): mapped as a window at `offset`. */
  window?: boolean;
  order?: 'F';
  inPlace?: boolean;
}

/** What entry.json says. */
export interface EntryMeta {
  format: typeof ENTRY_FORMAT;
  key: string;
  bytes: number;
  created: string;
  files: EntryFile[];
}

/** An entry as `list()` sees it. */
export interface CacheEntryInfo {
  /** The key it was made under. */
  key: string;
  /** Its directory. */
  dir: string;
  /** Bytes of its data files. */
  bytes: number;
  /** Pids of the processes that hold it now (from /proc/locks; pids of other pid namespaces as the kernel shows them). */
  holders: number[];
  /** When it was last returned by get/extractZip (or built). */
  lastUse: Date;
}

/** Where a cache is and why there. */
export interface CacheLocation {
  base: string;
  dir: string;
  reason: string;
}

const NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** Checks a cache name: 1–64 of [A-Za-z0-9_.-], not `.` or `..`. */
export function checkCacheName(name: unknown, what: string): asserts name is string {
  if (typeof name !== 'string' || !NAME.test(name) || name === '.' || name === '..') {
    throw new ShmArrayError('ERR_SHM_BAD_ARGUMENT', `${what} must be 1–64 characters of [A-Za-z0-9_.-] (not . or ..), not ${JSON.stringify(name)}.`, { option: what });
  }
}

/** The entry id of `key`: a hash, so a key never becomes a path. */
export function entryId(key: string): string {
  return `e-${createHash('sha256').update(key).digest('hex').slice(0, 32)}`;
}

const ENTRY_DIR = /^e-[0-9a-f]{32}$/;

/** The default base of this user's caches under `root` (/dev/shm or the temp directory). */
function userBase(root: string): string {
  return join(root, `shmarray-cache-${process.getuid?.() ?? 'user'}`);
}

/**
 * A directory that must be this user's own and nobody else's to write: refused (ERR_SHM_PERMISSION)
 * when it is a symlink, not a directory, another user's, or writable by group or others.
 */
function checkOwnDirectory(dir: string): void {
  const st = lstatSync(dir);
  const uid = process.getuid?.();
  const why = st.isSymbolicLink()
    ? 'is a symlink'
    : !st.isDirectory()
      ? 'is not a directory'
      : uid !== undefined && st.uid !== uid
        ? `belongs to another user (uid ${st.uid})`
        : (st.mode & 0o022) !== 0
          ? `can be written by other users (mode ${(st.mode & 0o777).toString(8)})`
          : undefined;
  if (why !== undefined) {
    throw new ShmArrayError('ERR_SHM_PERMISSION', `${dir} ${why}, so it is not a cache of yours; shmarray will not read or write it. Choose another dir (or SHMARRAY_CACHE_DIR).`, { path: dir });
  }
}

/** Makes `dir` (mode 0700) unless it exists, then checks it is this user's own. */
function ownDirectory(dir: string): void {
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fsError(err, 'create the cache directory', dir);
  }
  checkOwnDirectory(dir);
}

function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Where cache `name` lives: `<dir>/<name>` when a base is given (the dir option, else
 * `$SHMARRAY_CACHE_DIR`); else under /dev/shm when the cache is already there or /dev/shm has room
 * for `budget` beyond its margin, else under the temp directory — the reason says which, so a
 * fallback to disk is never silent. Every process of the user finds the same directory.
 */
export function locateCache(name: string, budget: number | undefined, dir: string | undefined): CacheLocation {
  const given = dir ?? process.env['SHMARRAY_CACHE_DIR'];
  if (given !== undefined && given !== '') {
    const base = resolve(given);
    makeDirectory(base, 0o700);
    if (lstatSync(base).isSymbolicLink()) throw new ShmArrayError('ERR_SHM_PERMISSION', `${base} is a symlink; give the directory itself.`, { path: base });
    checkSafeBase(base);
    const cache = join(base, name);
    ownDirectory(cache);
    return { base, dir: cache, reason: dir !== undefined ? 'given as the dir option' : 'given by SHMARRAY_CACHE_DIR' };
  }
  const shm = userBase('/dev/shm');
  const tmp = userBase(tmpdir());
  let base: string;
  let reason: string;
  if (exists(join(shm, name))) [base, reason] = [shm, 'the cache already lives on tmpfs /dev/shm'];
  else if (exists(join(tmp, name))) [base, reason] = [tmp, `the cache already lives in the temp directory (on disk, slower than /dev/shm); remove it (shmarray cache clear --name ${name}) to move it`];
  else {
    let room: string | undefined;
    try {
      const { free, size } = diskSpace('/dev/shm');
      const margin = tmpfsMargin(size);
      const wanted = budget ?? 0;
      room = free - margin >= wanted ? undefined : `/dev/shm has only ${formatBytes(free)} free, not the budget ${formatBytes(wanted)} + ${formatBytes(margin)} margin`;
    } catch {
      room = '/dev/shm is missing';
    }
    [base, reason] = room === undefined ? [shm, 'tmpfs /dev/shm has room for the budget'] : [tmp, `${room}; using the temp directory (on disk, slower)`];
  }
  ownDirectory(base);
  const cache = join(base, name);
  ownDirectory(cache);
  return { base, dir: cache, reason };
}

/** The default bases in which `shmarray cache list` looks for caches. */
export function defaultBases(): string[] {
  const given = process.env['SHMARRAY_CACHE_DIR'];
  if (given !== undefined && given !== '') return [resolve(given)];
  return [...new Set([userBase('/dev/shm'), userBase(tmpdir())])];
}

/** The cache names in `base` (directories of this user only). */
export function cacheNames(base: string, given = false): string[] {
  let names: string[];
  try {
    names = readdirSync(base);
  } catch (err) {
    // A default base that is not there holds no caches; a directory the user named must be readable.
    if (given) throw fsError(err, 'read', base);
    return [];
  }
  return names.filter((n) => NAME.test(n)).filter((n) => {
    try {
      checkOwnDirectory(join(base, n));
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * True when `fd`, just locked, is still the lock file of entry `id` at its path. A lock file is
 * unlinked (reclaimLock) by whoever holds it exclusively; a process that opened it before then and
 * locks it afterwards holds a lock on a file nobody else will open: it must open the path again.
 */
export function lockIsCurrent(fd: number, cacheDir: string, id: string): boolean {
  try {
    const locked = fstatSync(fd);
    const now = statSync(join(cacheDir, `${id}.lock`));
    return locked.ino === now.ino && locked.dev === now.dev;
  } catch {
    return false; // unlinked: nothing is at the path now
  }
}

/** Unlinks entry `id`'s lock file: called only with it held exclusively (see {@link lockIsCurrent}). */
export function reclaimLock(cacheDir: string, id: string): void {
  rmSync(join(cacheDir, `${id}.lock`), { force: true });
}

/** Opens (creating) the lock file of entry `id`; the caller closes it, which drops any lock it took. */
export function openLock(cacheDir: string, id: string): number {
  return openFile(join(cacheDir, `${id}.lock`), constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 'open the cache lock', 0o600);
}

/** The entry.json of a sealed entry, or undefined when there is none (not built, or removed). */
export function readMeta(entryDir: string): EntryMeta | undefined {
  let text: string;
  try {
    text = readFileSync(join(entryDir, 'entry.json'), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const meta = JSON.parse(text) as EntryMeta;
    return meta.format === ENTRY_FORMAT ? meta : undefined;
  } catch {
    return undefined; // not one shmarray sealed: as if absent (the next builder replaces it)
  }
}

/** Writes entry.json (read-only) into an entry being built. */
export function writeMeta(entryDir: string, meta: EntryMeta): void {
  const path = join(entryDir, 'entry.json');
  try {
    writeFileSync(path, JSON.stringify(meta), { mode: 0o400, flag: 'wx' });
  } catch (err) {
    rmSync(path, { force: true }); // a part written before the filesystem filled: the entry is not sealed
    throw fsError(err, 'write the cache entry', path);
  }
}

/** The last use time {@link touch} wrote, in seconds: uses in one process are strictly ordered. */
let lastTouch = 0;

/**
 * Marks an entry used now: eviction takes the least recently used first. The time is written to
 * the microsecond, and later than this process's previous touch: a Date (milliseconds) or the
 * kernel's own clock at write (a jiffy on tmpfs) would give two uses in a row the same time, and
 * least recently used among them would be whichever readdir lists first.
 */
export function touch(entryDir: string): void {
  const now = Math.max((performance.timeOrigin + performance.now()) / 1000, lastTouch + 1e-6);
  lastTouch = now;
  try {
    utimesSync(join(entryDir, 'entry.json'), now, now);
  } catch {
    // Removed meanwhile: nothing to mark.
  }
}

/** A fresh staging directory for entry `id`, and a sweep of the ones dead builders left. */
export function stagingDir(cacheDir: string, id: string): string {
  // Called with the entry's lock held exclusively: no other process is building this entry.
  for (const n of readdirSync(cacheDir)) if (n.startsWith(`.build-${id}-`)) rmSync(join(cacheDir, n), { recursive: true, force: true });
  const dir = join(cacheDir, `.build-${id}-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    throw fsError(err, 'create the staging directory of a cache entry', dir); // ENOSPC (inodes too): ERR_SHM_NO_SPACE
  }
  return dir;
}

/**
 * The shared flocks the kernel lists (/proc/locks), as pids by file ("maj:min:inode", hex device
 * numbers as the kernel writes them); empty where it cannot be read. Read once for a whole listing.
 */
function sharedFlocks(kind: 'READ' | 'WRITE' = 'READ'): Map<string, number[]> {
  const byFile = new Map<string, number[]>();
  let text: string;
  try {
    text = readFileSync('/proc/locks', 'utf8');
  } catch {
    return byFile;
  }
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    // "1: FLOCK  ADVISORY  READ  1234 00:19:5678 0 EOF"; waiting requests are marked "->".
    if (f[1] !== 'FLOCK' || f[3] !== kind || f[5] === undefined) continue;
    byFile.set(f[5], [...(byFile.get(f[5]) ?? []), Number(f[4])]);
  }
  return byFile;
}

/** A build's claim on the budget for bytes it is about to write (ledger.json; rule 7 of cache.ts). */
export interface Reservation {
  /** The entry being built. */
  id: string;
  pid: number;
  bytes: number;
}

/** How long a process waits for the ledger's lock, which others hold for milliseconds. */
const LEDGER_WAIT_MS = 10_000;

/**
 * Runs `fn` holding the cache's ledger lock (for milliseconds): with the live reservations, which
 * `fn` may change (they are written back when it returns). A reservation is live while its builder
 * holds its entry's lock exclusively (/proc/locks): a builder that died drops out by itself, with
 * no timer.
 */
export function withLedger<T>(cacheDir: string, fn: (reservations: Reservation[]) => T): T {
  const lockPath = join(cacheDir, 'ledger.lock');
  const fd = openFile(lockPath, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 'open the cache ledger', 0o600);
  try {
    const deadline = Date.now() + LEDGER_WAIT_MS;
    const pause = new Int32Array(new SharedArrayBuffer(4));
    while (!tryLock(fd)) {
      if (Date.now() > deadline) throw new ShmArrayError('ERR_SHM_IO', `The ledger of cache ${cacheDir} stayed locked for ${LEDGER_WAIT_MS / 1000} s; is a process stopped (SIGSTOP) while holding it?`, { path: lockPath });
      Atomics.wait(pause, 0, 0, 1); // held for milliseconds: a 1 ms nap, not the event loop's turn
    }
    const path = join(cacheDir, 'ledger.json');
    let listed: Reservation[] = [];
    try {
      const parsed = JSON.parse(readFileSync(path, 'utf8')) as { reservations?: unknown };
      if (Array.isArray(parsed.reservations)) listed = parsed.reservations as Reservation[];
    } catch {
      // none yet (or unreadable: rebuilt from the live builders' next reservations)
    }
    const writers = sharedFlocks('WRITE');
    const live = listed.filter((r) => typeof r?.id === 'string' && ENTRY_ID.test(r.id) && Number.isSafeInteger(r.bytes) && exclusivelyLocked(join(cacheDir, `${r.id}.lock`), writers));
    const before = JSON.stringify(listed);
    const out = fn(live);
    if (JSON.stringify(live) !== before) {
      const tmp = `${path}.${process.pid}.tmp`;
      try {
        writeFileSync(tmp, JSON.stringify({ reservations: live }), { mode: 0o600 });
        renameSync(tmp, path);
      } catch (err) {
        rmSync(tmp, { force: true });
        throw fsError(err, 'write the cache ledger', path);
      }
    }
    return out;
  } finally {
    closeSync(fd);
  }
}

const ENTRY_ID = /^e-[0-9a-f]{32}$/;

/** True while some process holds `path`'s flock exclusively (a builder at work). */
function exclusivelyLocked(path: string, writers: Map<string, number[]>): boolean {
  return lockHolders(path, writers).length > 0;
}

/** Pids holding a shared flock on `path`, looked up in `locks` (see {@link sharedFlocks}). */
function lockHolders(path: string, locks: Map<string, number[]>): number[] {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(path);
  } catch {
    return [];
  }
  const dev = st.dev;
  const file = `${((dev >> 8) & 0xfff).toString(16).padStart(2, '0')}:${((dev & 0xff) | ((dev >> 12) & 0xfff00)).toString(16).padStart(2, '0')}:${st.ino}`;
  return locks.get(file) ?? [];
}

/** The sealed entries of a cache, least recently used first. */
export function listEntries(cacheDir: string): CacheEntryInfo[] {
  const out: (CacheEntryInfo & { usedNs: bigint })[] = [];
  const locks = sharedFlocks();
  for (const n of readdirSync(cacheDir)) {
    if (!ENTRY_DIR.test(n)) continue;
    const dir = join(cacheDir, n);
    const meta = readMeta(dir);
    if (meta === undefined) continue;
    let usedNs: bigint;
    try {
      usedNs = statSync(join(dir, 'entry.json'), { bigint: true }).mtimeNs;
    } catch {
      continue;
    }
    out.push({ key: meta.key, dir, bytes: meta.bytes, holders: lockHolders(join(cacheDir, `${n}.lock`), locks), lastUse: new Date(Number(usedNs / 1_000_000n)), usedNs });
  }
  // Nanoseconds, not the Date: touch() orders uses within one millisecond.
  out.sort((a, b) => (a.usedNs < b.usedNs ? -1 : a.usedNs > b.usedNs ? 1 : 0));
  return out.map(({ usedNs: _, ...e }) => e);
}

/**
 * Removes entry `dir` if nobody holds it (its lock taken exclusively, without waiting): renamed
 * away first, so no process can find it half-removed, then unlinked — never truncated, so a
 * worker that still maps one of its files keeps reading correct pages. True if removed.
 */
export function evict(cacheDir: string, dir: string): boolean {
  const id = dir.slice(dir.lastIndexOf('/') + 1);
  const fd = openLock(cacheDir, id);
  try {
    // Rule 2: only under the exclusive lock of the file at the path (a reclaimed one locks nothing).
    if (!tryLock(fd) || !lockIsCurrent(fd, cacheDir, id)) return false;
    if (!exists(dir)) {
      reclaimLock(cacheDir, id); // rule 5: nobody holds or builds it, and there is nothing to hold
      return false;
    }
    const away = join(cacheDir, `.evict-${id}-${randomBytes(4).toString('hex')}`);
    renameSync(dir, away);
    rmSync(away, { recursive: true, force: true });
    reclaimLock(cacheDir, id); // rule 5, still holding it exclusively
    return true;
  } finally {
    closeSync(fd);
  }
}

/**
 * Unlinks the lock files of keys that have no entry and that nobody holds or builds (rule 5):
 * those of builds that failed in processes that died before reclaiming them.
 */
export function reclaimLocks(cacheDir: string): void {
  for (const n of readdirSync(cacheDir)) {
    const m = /^(e-[0-9a-f]{32})\.lock$/.exec(n);
    if (m?.[1] === undefined || exists(join(cacheDir, m[1]))) continue;
    const fd = openLock(cacheDir, m[1]);
    try {
      if (tryLock(fd) && lockIsCurrent(fd, cacheDir, m[1]) && !exists(join(cacheDir, m[1]))) reclaimLock(cacheDir, m[1]);
    } finally {
      closeSync(fd);
    }
  }
}

/** Removes what dead builders and evictors left: staging and evicting directories whose entry lock is free. */
export function sweepLeftovers(cacheDir: string): void {
  for (const n of readdirSync(cacheDir)) {
    const m = /^\.(?:build|evict)-(e-[0-9a-f]{32})-/.exec(n);
    if (m?.[1] === undefined) continue;
    const fd = openLock(cacheDir, m[1]);
    try {
      // Rules 2 and 5: the exclusive lock of the file at the path, or a live builder's staging could go.
      if (tryLock(fd) && lockIsCurrent(fd, cacheDir, m[1])) {
        rmSync(join(cacheDir, n), { recursive: true, force: true });
        if (!exists(join(cacheDir, m[1]))) reclaimLock(cacheDir, m[1]); // rule 5: no entry behind it either
      }
    } finally {
      closeSync(fd);
    }
  }
}

/**
 * Bytes of the regular files under `dir`, not following links: their sizes, or the blocks they
 * take (on tmpfs, RAM). A file removed while it is counted counts nothing.
 */
export function bytesUnder(dir: string, measure: 'size' | 'blocks'): number {
  let total = 0;
  for (const n of readdirSync(dir, { recursive: true })) {
    try {
      const st = lstatSync(join(dir, String(n)));
      if (st.isFile()) total += measure === 'size' ? st.size : st.blocks * 512;
    } catch {
      // removed meanwhile
    }
  }
  return total;
}

/** Entries being built now (their staging directories, whose builders hold the entry's lock): how many, and the bytes they already take. */
export function inProgress(cacheDir: string): { builds: number; bytes: number } {
  let builds = 0;
  let bytes = 0;
  for (const n of readdirSync(cacheDir)) {
    if (!n.startsWith('.build-')) continue;
    builds++;
    try {
      bytes += bytesUnder(join(cacheDir, n), 'blocks');
    } catch {
      // sealed or removed meanwhile
    }
  }
  return { builds, bytes };
}

/** The budget recorded in cache.json, or undefined. */
export function recordedBudget(cacheDir: string): number | undefined {
  try {
    const b = (JSON.parse(readFileSync(join(cacheDir, 'cache.json'), 'utf8')) as { budget?: unknown }).budget;
    return typeof b === 'number' && b > 0 ? b : undefined;
  } catch {
    return undefined;
  }
}

/** Records the budget (atomically: written aside, renamed into place). */
export function recordBudget(cacheDir: string, budget: number): void {
  const tmp = join(cacheDir, `.cache.json.${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
  try {
    writeFileSync(tmp, JSON.stringify({ budget }), { mode: 0o600 });
    renameSync(tmp, join(cacheDir, 'cache.json'));
  } catch (err) {
    rmSync(tmp, { force: true });
    throw fsError(err, 'record the budget of the cache', join(cacheDir, 'cache.json'));
  }
}
