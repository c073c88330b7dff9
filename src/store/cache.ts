/**
 * One copy per machine, whoever the processes are: a cache of shared datasets that every process
 * of the user finds by key (pm2 instances, containers sharing /dev/shm, queue workers, a CLI next
 * to a server). The first caller builds under the entry's exclusive lock, in a staging directory
 * renamed into place when complete; everyone else waits — woken by the directory's changes
 * (inotify), their event loops running — and maps the sealed files. Holders keep a shared lock on the entry,
 * which the kernel drops when they die; eviction takes the exclusive lock, so it removes only
 * entries nobody holds, least recently used first, when a new one would pass the budget.
 * On-disk layout and the primitives: cache-layout.ts.
 *
 * The protocol's rules (each code path that keeps one cites it):
 *  1. An entry is sealed exactly when `e-<id>/entry.json` exists. It is written last, into the
 *     staging directory, which is then renamed to `e-<id>/`: readers never see half an entry.
 *  2. Only the holder of `e-<id>.lock`'s exclusive flock may create or remove `e-<id>/` (build,
 *     seal, evict) or its staging directories; a dead process's flock is dropped by the kernel,
 *     so its leftovers are removed by the next exclusive holder (sweepLeftovers, stagingDir).
 *  3. A shared flock on the lock file holds the entry: while any is held no exclusive one can be
 *     taken, so a held entry is never evicted. Holding = one open fd per hold (Hold), closed when
 *     its arrays are.
 *  4. flock's exclusive→shared conversion is not atomic: between the two, another process may take
 *     the exclusive lock and evict. So after converting, the builder checks rules 1 and 5 again
 *     before handing the entry out.
 *  5. A lock counts only on the file at the path (lockIsCurrent, checked after every lock taken).
 *     Whoever holds a lock file exclusively with no entry left behind it — an evictor, a failed
 *     build, prune's sweep — unlinks it; a process that had the old file open then finds its lock
 *     is not current, lets go, and opens the path again. Only held or in-progress keys keep one.
 *  6. A waiter never blocks in flock on the JS thread: it watches the cache directory (inotify,
 *     through fs.watch) for the entry's names — seal, eviction, lock file, staging — and looks
 *     again when one changes, quickly a few times (2 → 50 ms: the builder converts its lock just
 *     after sealing), then once per IDLE_MS (a builder that dies drops its flock without a file
 *     event). Where the directory cannot be watched it polls, 2 → 50 ms.
 *  7. The budget holds under concurrency: a builder reserves the bytes it is about to write
 *     (b.create its array's size, b.reserve what it writes by other means) in the cache's ledger
 *     (ledger.json, changed only under ledger.lock, held for milliseconds); a reservation must fit
 *     beside the sealed entries and every other live reservation, evicting unheld entries if need
 *     be. At seal, under the ledger, the staging directory's real bytes replace the reservation if
 *     they still fit. A reservation lives while its builder holds the entry's lock exclusively
 *     (/proc/locks), so a dead builder's goes by itself, with no timer. The budget is the cache's
 *     (cache.json: the last one given to SharedCache.open), the same for every process.
 */
import { chmodSync, closeSync, existsSync, readdirSync, realpathSync, renameSync, rmSync, statSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { copyFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { createShared } from '../core/create-shared.js';
import { describeShared, type SharedHandle } from '../core/handle.js';
import { itemSize, parseDType, type DType } from '../core/dtype.js';
import { abortedError, fsError, ShmArrayError } from '../core/errors.js';
import { forget, removeOnExit } from '../core/cleanup.js';
import { tryLock } from '../core/native.js';
import { boolean, checkOptions, checkPath, filePath, integer, own } from '../core/options.js';
import { elementCount, normalizeShape, type ShapeLike } from '../core/shape.js';
import { openShared, type AnySharedArray, type SharedArray } from '../core/shared-array.js';
import { diskSpace } from '../core/files.js';
import { formatBytes, parseBytes } from '../core/units.js';
import { CONTROL_OPTIONS, jobSignal } from '../core/abort.js';
import {
  bytesUnder, cacheNames, checkCacheName, defaultBases, ENTRY_FORMAT, entryId, evict, inProgress, listEntries, withLedger, type Reservation, locateCache, lockIsCurrent, openLock, readMeta, reclaimLock, reclaimLocks, recordBudget, recordedBudget, stagingDir, sweepLeftovers, touch, writeMeta,
  type CacheEntryInfo, type EntryFile, type EntryMeta,
} from './cache-layout.js';
import { extractArchive, safeName, zipUncompressedBytes, type ArchiveOptions, type ExtractOptions } from './zip.js';
import { npzArrays, planNpz, type OpenNpzOptions } from '../core/npz.js';
import { readSafetensors, type Safetensors } from '../core/safetensors.js';
import { createSharedTable, openSharedTable, type SharedTable } from '../core/table.js';
import type { Table } from 'apache-arrow';

export type { CacheEntryInfo } from './cache-layout.js';

/** Options of {@link SharedCache.open}. */
export interface CacheOptions {
  /** The cache's name, 1–64 of [A-Za-z0-9_.-] (default `'default'`): processes that share data use the same name. */
  name?: string;
  /** Base directory (default `$SHMARRAY_CACHE_DIR`, else /dev/shm/shmarray-cache-<uid> when it has room, else the temp directory's). */
  dir?: string;
  /** Bytes the cache may hold, a number or a size such as `'8GiB'` (default: half the filesystem it is on). */
  budget?: number | string;
}

/** How long a call may wait for another process's build, or for room. */
export interface WaitOptions {
  /** Milliseconds to wait at most; then ERR_SHM_ABORTED. */
  timeout?: number;
  /** Ends the wait (or this process's build) with ERR_SHM_ABORTED. */
  signal?: AbortSignal;
}

/** Options of {@link SharedCache.extractZip}: how raw entries are shaped, and how long to wait. */
export interface CacheExtractOptions<D extends DType = DType> extends ExtractOptions<D>, WaitOptions {}

/** What a build function gets: where to put the entry's files while it is being built. */
export interface CacheBuilder {
  /** The key being built. */
  readonly key: string;
  /** The staging directory (renamed into the cache when the build returns). */
  readonly dir: string;
  /** Aborted when the caller's signal or timeout ends the build. */
  readonly signal: AbortSignal | undefined;
  /** A writable array in the entry (`'r+'` while building; read-only once sealed); its bytes are reserved first. */
  create<D extends DType = 'float32'>(name: string, shape: ShapeLike, options?: { dtype?: D; npy?: boolean }): SharedArray<D>;
  /**
   * Reserves `bytes` more of the budget for this build, evicting unheld entries if need be (else
   * ERR_SHM_NO_SPACE): call it before writing files into `dir` by other means than `create`
   * (which reserves its own). Unreserved bytes still count at seal, where they must fit.
   */
  reserve(bytes: number): void;
  /** Writes an apache-arrow Table into the entry as an Arrow IPC file `name` (`.arrow` added if missing); `entry.table()` opens it. */
  writeTable(name: string, table: Table): Promise<void>;
}

/** Ends a hold when every array of it is closed or collected, by closing the lock's fd. */
class Hold {
  #fd: number;
  #open: number;
  constructor(fd: number, arrays: readonly SharedArray[]) {
    this.#fd = fd;
    this.#open = arrays.length;
    for (const a of arrays) {
      holds.register(a, this, a);
      a.onClose(() => {
        holds.unregister(a);
        this.end();
      });
    }
  }

  end(): void {
    if (--this.#open !== 0) return;
    closeSync(this.#fd);
    this.#fd = -1;
  }
}
const holds = new FinalizationRegistry<Hold>((hold) => hold.end());

/** An entry this process holds: its arrays are mapped read-only; it stays in the cache until released. */
export class CacheEntry {
  /** The key. */
  readonly key: string;
  /** Its sealed directory. */
  readonly dir: string;
  /** Its files, mapped `'r'`, in the order they were created. */
  readonly arrays: readonly SharedArray[];
  /** Bytes of its files. */
  readonly bytes: number;
  /** True if this call built it; false if it was there (or another process built it meanwhile). */
  readonly built: boolean;

  /** @internal */
  constructor(key: string, dir: string, arrays: readonly SharedArray[], bytes: number, built: boolean) {
    this.key = key;
    this.dir = dir;
    this.arrays = arrays;
    this.bytes = bytes;
    this.built = built;
  }

  /** The handles of its arrays, to send to any pool's workers (`openShared(handle)` there). */
  get handles(): SharedHandle[] {
    return this.arrays.map((a) => a.handle);
  }

  /**
   * An Arrow table of the entry (written by `b.writeTable`, or `cache.openTable`'s copy) as a
   * SharedTable: `name` is its file name, or the only table's. The entry stays held until
   * released (closing the table alone does not end the hold).
   */
  async table(name?: string): Promise<SharedTable> {
    const tables = this.arrays.filter((a) => a.path.endsWith('.arrow'));
    const found = name === undefined ? (tables.length === 1 ? tables[0] : undefined) : tables.find((a) => basename(a.path) === (name.endsWith('.arrow') ? name : `${name}.arrow`));
    if (found === undefined) {
      const names = tables.map((a) => JSON.stringify(basename(a.path))).join(', ') || 'none';
      throw new ShmArrayError('ERR_SHM_BAD_ARGUMENT', `Cache entry ${JSON.stringify(this.key.slice(0, 80))} has ${name === undefined ? 'not exactly one' : `no table ${JSON.stringify(name)}; its tables:`} ${name === undefined ? `table (it has ${names})` : names}.`, { key: this.key.slice(0, 200) });
    }
    return openSharedTable(found.path);
  }

  /** Closes its arrays; the hold ends with the last one, and the entry becomes evictable. Idempotent. */
  release(): void {
    for (const a of this.arrays) a.close();
  }

  [Symbol.dispose](): void {
    this.release();
  }
}

/** The options that bound a wait: checked as every job's `timeout` and `signal` are. */
const WAIT_OPTIONS = CONTROL_OPTIONS;
const POLL_FIRST_MS = 2;
const POLL_MAX_MS = 50;
/** With the cache directory watched, a wait between changes checks the lock this often: for a builder that died (its flock goes with no file event). */
const IDLE_MS = 500;

/**
 * A seam for the test of rule 4 (test/cache-build.test.ts): with this set to a directory, a
 * builder about to convert its lock lets go of it entirely, writes `paused` there and waits for
 * `resume` — the window the kernel's conversion leaves, made wide enough for a test's evictor.
 */
const CONVERSION_PAUSE = process.env['SHMARRAY_CACHE_TEST_CONVERSION_PAUSE'] || undefined;

function widenConversion(fd: number, dir: string, id: string): number {
  closeSync(fd); // every lock of this open file goes, as in the conversion's first half
  const pauseDir = CONVERSION_PAUSE as string;
  writeFileSync(join(pauseDir, 'paused'), String(process.pid));
  const nap = new Int32Array(new SharedArrayBuffer(4));
  for (let waited = 0; !existsSync(join(pauseDir, 'resume')) && waited < 30_000; waited += 5) Atomics.wait(nap, 0, 0, 5);
  return openLock(dir, id);
}

/** Changes to one entry's names in the cache directory (inotify, through fs.watch): its seal, eviction, lock file, staging. */
interface EntryWatch {
  /** False where the directory could not be watched (inotify limits, another filesystem): the wait polls. */
  readonly active: boolean;
  /** Waits up to `ms` for a change (or the signal); true if there was one since the last wait. */
  wait(ms: number, signal: AbortSignal | undefined): Promise<boolean>;
  close(): void;
}

function watchEntry(dir: string, id: string): EntryWatch {
  let changed = false;
  let wake: (() => void) | undefined;
  let watcher: FSWatcher | undefined;
  const onChange = (): void => {
    changed = true;
    wake?.();
  };
  try {
    // Every name of the entry contains its id (e-<id>/, e-<id>.lock, .build-e-<id>-…, .evict-e-<id>-…); an unnamed event may be any.
    watcher = watch(dir, { persistent: false }, (_event, name) => {
      if (name === null || String(name).includes(id)) onChange();
    });
    watcher.on('error', () => {
      watcher?.close();
      watcher = undefined;
      onChange();
    });
  } catch {
    watcher = undefined;
  }
  return {
    get active() {
      return watcher !== undefined;
    },
    async wait(ms, signal) {
      if (!changed) {
        await new Promise<void>((resolve, reject) => {
          const done = (): void => {
            clearTimeout(timer);
            signal?.removeEventListener('abort', stop);
            wake = undefined;
            resolve();
          };
          const timer = setTimeout(done, ms);
          const stop = (): void => {
            clearTimeout(timer);
            wake = undefined;
            reject(abortedError(signal as AbortSignal));
          };
          wake = done;
          signal?.addEventListener('abort', stop, { once: true });
        });
      }
      const was = changed;
      changed = false;
      return was;
    },
    close() {
      watcher?.close();
    },
  };
}


function checkBudget(value: unknown): number {
  const bytes = typeof value === 'string' ? parseBytes(value) : value;
  if (typeof bytes !== 'number' || !Number.isSafeInteger(bytes) || bytes <= 0) {
    throw new ShmArrayError('ERR_SHM_BAD_ARGUMENT', `SharedCache.open's budget must be a positive whole number of bytes or a size such as '8GiB', not ${typeof value === 'string' ? JSON.stringify(value) : String(value)}.`, { option: 'budget' });
  }
  return bytes;
}

function checkKey(key: unknown, what: string): asserts key is string {
  if (typeof key !== 'string' || key === '') throw new ShmArrayError('ERR_SHM_BAD_ARGUMENT', `${what} needs a non-empty string key, not ${typeof key === 'string' ? 'an empty string' : typeof key}.`, { option: 'key' });
}

/**
 * A machine-wide cache of datasets, shared by every process of this user that opens it by the
 * same name (and base). See the module comment and README "One copy per machine".
 */
export class SharedCache {
  /** Its name. */
  readonly name: string;
  /** Its directory, `<base>/<name>`. */
  readonly dir: string;
  /** The base directory, e.g. /dev/shm/shmarray-cache-1000. */
  readonly base: string;
  /** Why it lives there — read it: a cache in the temp directory is on disk. */
  readonly reason: string;
  readonly #budget: number;

  private constructor(name: string, dir: string, base: string, reason: string, budget: number) {
    this.name = name;
    this.dir = dir;
    this.base = base;
    this.reason = reason;
    this.#budget = budget;
  }

  /**
   * Bytes it may hold: the cache's, as cache.json records it (the budget last given to
   * SharedCache.open by any process), else the one this process opened it with. Every process
   * evicts and reserves against the same figure.
   */
  get budget(): number {
    return recordedBudget(this.dir) ?? this.#budget;
  }

  /** Opens (creating) the cache; nothing is built or evicted. */
  static async open(options: CacheOptions = {}): Promise<SharedCache> {
    checkOptions('SharedCache.open', options, { name: own, dir: filePath, budget: own });
    const name = options.name ?? 'default';
    checkCacheName(name, "SharedCache.open's name");
    const given = options.budget === undefined ? undefined : checkBudget(options.budget);
    const where = locateCache(name, given, options.dir);
    const budget = given ?? recordedBudget(where.dir) ?? Math.floor(diskSpace(where.dir).size / 2);
    if (given !== undefined) recordBudget(where.dir, given);
    // What SIGKILLed builders left (their staging takes tmpfs RAM) goes now, not at the next build of their key.
    sweepLeftovers(where.dir);
    return new SharedCache(name, where.dir, where.base, where.reason, budget);
  }

  /**
   * The caches that exist (nothing is created): those named `name`, or all, in `dir` if given,
   * else in the default bases (`$SHMARRAY_CACHE_DIR`, else /dev/shm's and the temp directory's).
   */
  static find(options: { name?: string; dir?: string } = {}): { name: string; base: string; dir: string }[] {
    checkOptions('SharedCache.find', options, { name: own, dir: filePath });
    if (options.name !== undefined) checkCacheName(options.name, "SharedCache.find's name");
    const bases = options.dir !== undefined ? [resolve(options.dir)] : defaultBases();
    return bases.flatMap((base) => cacheNames(base, options.dir !== undefined).filter((n) => options.name === undefined || n === options.name).map((name) => ({ name, base, dir: join(base, name) })));
  }

  /**
   * The entry of `key`, built by `build` if no process has built it yet (exactly once per machine:
   * concurrent callers wait, then map). The build writes its files with `b.create` (or into
   * `b.dir`); it must create at least one. A build that throws, or whose process dies, leaves
   * nothing, and the next caller builds. The entry is held until `release()` (or its arrays close).
   */
  async get(key: string, build: (b: CacheBuilder) => unknown, options: WaitOptions = {}): Promise<CacheEntry> {
    checkKey(key, 'cache.get');
    if (typeof build !== 'function') throw new ShmArrayError('ERR_SHM_BAD_ARGUMENT', 'cache.get needs a build function as its second argument.', { option: 'build' });
    checkOptions('cache.get', options, WAIT_OPTIONS);
    return this.#acquire(key, build, jobSignal(options));
  }

  /**
   * The arrays of a zip archive, extracted once per machine: keyed by the archive's identity (real
   * path, device, inode, size, mtime in ns) and the shaping options, so a changed archive makes a
   * new entry. Held until every returned array is closed.
   */
  async extractZip<D extends DType>(zipPath: string, options: CacheExtractOptions<D> & { dtype: D }): Promise<SharedArray<D>[]>;
  async extractZip(zipPath: string, options?: CacheExtractOptions): Promise<AnySharedArray[]>;
  async extractZip(zipPath: string, options: CacheExtractOptions = {}): Promise<SharedArray[]> {
    return [...(await this.extractZipEntry(zipPath, options)).arrays];
  }

  /** {@link extractZip} as an entry: its arrays, handles, and whether this call extracted it (`built`). */
  async extractZipEntry(zipPath: string, options: CacheExtractOptions = {}): Promise<CacheEntry> {
    checkPath(zipPath, "cache.extractZip's zipPath");
    checkOptions('cache.extractZip', options, { shape: own, columns: integer(1), dtype: own, ...WAIT_OPTIONS });
    const { timeout, signal, ...shaping } = options;
    return this.#archiveEntry(zipPath, shaping, jobSignal({ timeout, signal }));
  }

  /**
   * {@link SharedStore.extractNpz} for the machine: the arrays of an .npz by numpy's names. Those
   * that map in place are mapped from the archive itself (every process mapping it shares its page
   * cache: there is nothing to copy once); the others — compressed, misaligned, big-endian — are
   * extracted once per machine into one cache entry, held until each of its arrays is closed.
   */
  async extractNpz(npzPath: string, options: OpenNpzOptions & WaitOptions = {}): Promise<Record<string, AnySharedArray>> {
    checkPath(npzPath, "cache.extractNpz's npzPath");
    checkOptions('cache.extractNpz', options, { verify: boolean, ...WAIT_OPTIONS });
    const plan = planNpz(npzPath);
    const only = plan.filter((e) => e.handle === undefined).map((e) => e.name);
    const entry = only.length === 0 ? undefined : await this.#archiveEntry(npzPath, { only: new Set(only) }, jobSignal(options));
    try {
      return npzArrays(plan, (entry?.arrays ?? []) as AnySharedArray[], options.verify ?? true);
    } catch (err) {
      entry?.release();
      throw err;
    }
  }

  /**
   * A safetensors file copied once per machine into the cache (pinned in RAM on tmpfs, beside
   * every process that asks), its tensors mapped in place from that copy: for weights on a slow or
   * network disk, where each process reading its own copy — or the page cache evicting them — is
   * what hurts. Keyed by the file's identity (path, device, inode, size, mtime); held until each
   * tensor is closed. A file on a local disk needs none of this: `openSafetensors(path)` maps it,
   * and every process shares its page cache.
   */
  async openSafetensors(path: string, options: WaitOptions = {}): Promise<Safetensors> {
    checkPath(path, "cache.openSafetensors's path");
    checkOptions('cache.openSafetensors', options, WAIT_OPTIONS);
    readSafetensors(path); // a hostile file is refused before anything is copied
    const entry = await this.#copyEntry('safetensors', path, 'model.safetensors', (copy) => Object.values(readSafetensors(copy).handles), jobSignal(options));
    // The copy's header names the arrays, in the order the build returned them.
    const copy = join(entry.dir, 'model.safetensors');
    const { handles, metadata } = readSafetensors(copy);
    const tensors = Object.create(null) as Record<string, AnySharedArray>;
    Object.keys(handles).forEach((name, i) => (tensors[name] = entry.arrays[i] as AnySharedArray));
    return { tensors, metadata };
  }

  /**
   * An Arrow IPC file copied once per machine into the cache and mapped from there, as
   * {@link openSafetensors} does for a model: for a table on a slow or network disk. Checked
   * first (what openSharedTable refuses is refused before anything is copied); the returned
   * table's close() ends this call's hold on the entry.
   */
  async openTable(path: string, options: WaitOptions = {}): Promise<SharedTable> {
    checkPath(path, "cache.openTable's path");
    checkOptions('cache.openTable', options, WAIT_OPTIONS);
    (await openSharedTable(path)).close();
    // The copy joins the entry as its bytes (a handle, nothing mapped); entry.table() reads them as a table.
    const entry = await this.#copyEntry('arrow', path, 'table.arrow', (copy) => [describeShared(copy, { shape: [statSync(copy).size], dtype: 'uint8' })], jobSignal(options));
    try {
      const table = await entry.table();
      table.onClose(() => entry.release());
      return table;
    } catch (err) {
      entry.release();
      throw err;
    }
  }

  /**
   * The cache entry of an archive's entries (all, or those in `shaping.only`), keyed by the
   * archive's identity and the shaping, extracted by the one builder of the machine.
   */
  #archiveEntry(zipPath: string, shaping: ArchiveOptions, signal: AbortSignal | undefined): Promise<CacheEntry> {
    const identity = fileIdentity(zipPath);
    const { only, ...rest } = shaping;
    const key = `zip:${JSON.stringify({
      ...identity,
      shape: rest.shape === undefined ? null : normalizeShape(rest.shape),
      columns: rest.columns ?? null,
      dtype: rest.dtype ?? null,
      // Only when given, so the keys of whole archives are what they were.
      ...(only === undefined ? {} : { only: [...only].sort() }),
    })}`;
    return this.#acquire(key, async (b) => {
      b.reserve(await zipUncompressedBytes(zipPath));
      const handles = await extractArchive(zipPath, b.dir, 'z', shaping, undefined, availableParallelism(), b.signal);
      checkUnchanged(zipPath, identity, 'extracted');
      return handles;
    }, signal);
  }

  /**
   * The entry of a file copied into the cache as `name` (a model, a table), keyed by `kind` and
   * the file's identity; `handlesOf(copy)` says which arrays of the copy the entry holds.
   */
  #copyEntry(kind: string, path: string, name: string, handlesOf: (copy: string) => SharedHandle[], signal: AbortSignal | undefined): Promise<CacheEntry> {
    const identity = fileIdentity(path);
    return this.#acquire(`${kind}:${JSON.stringify(identity)}`, async (b) => {
      const copy = join(b.dir, name);
      b.reserve(statSync(path).size);
      await copyInto(path, copy);
      checkUnchanged(path, identity, 'copied');
      return handlesOf(copy);
    }, signal);
  }

  /** Entries being built now by live builders, and the bytes their staging directories already take (not yet in list()). */
  building(): { builds: number; bytes: number } {
    return inProgress(this.dir);
  }

  /** The sealed entries, least recently used first, with their holders. */
  list(): CacheEntryInfo[] {
    return listEntries(this.dir);
  }

  /** Evicts unheld entries, least recently used first, until the cache fits `budget` bytes (default: its own). */
  prune(budget = this.budget): { removed: CacheEntryInfo[]; kept: CacheEntryInfo[] } {
    if (!Number.isSafeInteger(budget) || budget < 0) {
      throw new ShmArrayError('ERR_SHM_BAD_ARGUMENT', `cache.prune's budget must be a whole number of bytes ≥ 0, not ${String(budget)}.`, { option: 'budget' });
    }
    sweepLeftovers(this.dir);
    const { removed } = this.#evictTo(budget);
    reclaimLocks(this.dir); // and the lock files of failed builds whose processes died (rule 5)
    return { removed, kept: this.list() };
  }

  /** Evicts every unheld entry; returns what it removed and what it left (held) with the holders' pids. */
  clear(): { removed: CacheEntryInfo[]; left: CacheEntryInfo[] } {
    const { removed, kept } = this.prune(0);
    return { removed, left: kept };
  }

  /**
   * Removes the whole cache — its entries, lock files, budget and directory — when nobody holds
   * any of it; otherwise removes what it can, keeps the directory, and returns what is held (with
   * the holders' pids), as {@link clear} does. A process that opens the cache afterwards makes it
   * anew.
   */
  remove(): { removed: CacheEntryInfo[]; left: CacheEntryInfo[]; removedDir: boolean } {
    const { removed, left } = this.clear();
    if (left.length > 0) return { removed, left, removedDir: false };
    // Nothing is held: what remains is lock files of keys being built right now (kept: rule 5) and the budget.
    const building = readdirSync(this.dir).some((n) => n.startsWith('.build-'));
    if (building) return { removed, left, removedDir: false };
    rmSync(this.dir, { recursive: true, force: true });
    return { removed, left, removedDir: true };
  }

  async #acquire(key: string, build: (b: CacheBuilder) => unknown, signal: AbortSignal | undefined): Promise<CacheEntry> {
    const id = entryId(key);
    const entryDir = join(this.dir, id);
    let fd = openLock(this.dir, id);
    /** Lets go of the lock file and opens the path again: its entry changed, or the file was reclaimed (rule 5). */
    const reopen = (): void => {
      closeSync(fd);
      fd = openLock(this.dir, id);
    };
    // Watched before the first look (rule 6), so that no change between a look and the wait is missed.
    const changes = watchEntry(this.dir, id);
    try {
      for (let wait = POLL_FIRST_MS; ; ) {
        if (signal?.aborted === true) throw abortedError(signal);
        if (readMeta(entryDir) !== undefined) {
          // Rule 3: built, it is held by a shared lock, and cannot be evicted while any is held.
          if (tryLock(fd, true)) {
            const meta = readMeta(entryDir);
            // Rule 5: the lock counts only if it is on the file at the path now.
            if (meta !== undefined && lockIsCurrent(fd, this.dir, id)) return this.#hold(fd, entryDir, meta, false);
            reopen(); // evicted just before we locked, or its lock file reclaimed: look again
            continue;
          }
        } else if (tryLock(fd)) {
          if (!lockIsCurrent(fd, this.dir, id)) {
            reopen(); // rule 5: an evictor reclaimed the file we had open
            continue;
          }
          // Rule 2: nobody builds it and nobody holds it: ours to build (unless it was sealed meanwhile).
          const existing = readMeta(entryDir);
          let meta: EntryMeta;
          try {
            meta = existing ?? (await this.#build(key, id, entryDir, build, signal));
          } catch (err) {
            // Rule 5: a failed build leaves no entry, and (still held exclusively) no lock file either.
            if (readMeta(entryDir) === undefined) reclaimLock(this.dir, id);
            throw err;
          }
          // Rule 4: EX → SH is not atomic — an evictor may get in between — so the entry and its
          // lock file are looked at again before the entry is handed out.
          if (CONVERSION_PAUSE !== undefined) fd = widenConversion(fd, this.dir, id);
          if (tryLock(fd, true) && lockIsCurrent(fd, this.dir, id) && readMeta(entryDir) !== undefined) return this.#hold(fd, entryDir, meta, existing === undefined);
          reopen();
          continue;
        }
        // Rule 6: after a change, a few quick looks (a sealing builder converts its lock just after
        // the rename); then, watched, one look per IDLE_MS until the next change; unwatched, polling.
        const woke = await changes.wait(changes.active && wait > POLL_MAX_MS ? IDLE_MS : Math.min(wait, POLL_MAX_MS), signal);
        wait = woke ? POLL_FIRST_MS : wait * 2;
      }
    } catch (err) {
      closeSync(fd);
      throw err;
    } finally {
      changes.close();
    }
  }

  #hold(fd: number, entryDir: string, meta: EntryMeta, built: boolean): CacheEntry {
    touch(entryDir);
    const arrays: SharedArray[] = [];
    try {
      for (const f of meta.files) {
        arrays.push(openShared({ path: join(entryDir, f.file), shape: f.shape, dtype: f.dtype as DType, offset: f.offset, npy: f.npy, mode: 'r', window: f.window === true, ...(f.order === 'F' ? { order: 'F' as const } : {}), inPlace: f.inPlace === true }));
      }
    } catch (err) {
      for (const a of arrays) a.close();
      throw err;
    }
    new Hold(fd, arrays);
    return new CacheEntry(meta.key, entryDir, arrays, meta.bytes, built);
  }

  /** Builds entry `id` in a staging directory and seals it; called with its lock held exclusively. */
  async #build(key: string, id: string, entryDir: string, build: (b: CacheBuilder) => unknown, signal: AbortSignal | undefined): Promise<EntryMeta> {
    const staging = stagingDir(this.dir, id);
    removeOnExit(staging);
    const created: SharedArray[] = [];
    let reserved = false; // a reservation to drop if the build fails
    const reserve = (bytes: number): void => {
      this.#reserve(bytes, id);
      reserved = true;
    };
    try {
      const builder: CacheBuilder = {
        key,
        dir: staging,
        signal,
        create: <D extends DType = 'float32'>(name: string, shape: ShapeLike, opts: { dtype?: D; npy?: boolean } = {}): SharedArray<D> => {
          checkOptions('builder.create', opts, { dtype: own, npy: own });
          // Rule 7: its bytes are reserved before they are written (a .npy header is at most a page more).
          reserve(elementCount(normalizeShape(shape)) * itemSize(parseDType(opts.dtype ?? 'float32')) + (opts.npy === true ? 4096 : 0));
          const a = createShared<D>(join(staging, safeName(name, 'array')), shape, opts);
          created.push(a);
          return a;
        },
        reserve,
        writeTable: async (name: string, table: Table): Promise<void> => {
          const file = join(staging, safeName(name.endsWith('.arrow') ? name : `${name}.arrow`, 'table.arrow'));
          const t = await createSharedTable(file, table);
          t.close();
          // The file joins the entry as its bytes; entry.table() reads them as a table.
          created.push(openShared(file, [statSync(file).size], { dtype: 'uint8' }));
        },
      };
      const returned = await build(builder);
      if (signal?.aborted === true) throw abortedError(signal);
      // Files the build wrote: what it created, and handles it returned (extractZip's).
      const handles = [...created.map((a) => a.handle), ...(Array.isArray(returned) ? (returned as unknown[]).filter(isHandle) : [])];
      for (const a of created) a.close();
      const files = uniqueFiles(handles, staging);
      if (files.length === 0) {
        throw new ShmArrayError('ERR_SHM_BAD_ARGUMENT', `The build of cache key ${JSON.stringify(key)} created nothing; create its arrays with b.create(name, shape).`, { key });
      }
      const names = [...new Set(files.map((f) => f.file))];
      // Rule 7: every byte of the staging directory counts, files written by other means included.
      const bytes = bytesUnder(staging, 'size');
      for (const f of names) chmodSync(join(staging, f), 0o400);
      const meta: EntryMeta = { format: ENTRY_FORMAT, key, bytes, created: new Date().toISOString(), files };
      // Sealed under the ledger: the entry's real bytes replace its reservation, if they still fit.
      withLedger(this.dir, (reservations) => {
        this.#makeRoom(bytes, id, reservations);
        writeMeta(staging, meta);
        // Under the exclusive lock nobody holds or builds this entry: what stands at its name is
        // not a sealed entry (no readable entry.json) and goes.
        rmSync(entryDir, { recursive: true, force: true });
        try {
          renameSync(staging, entryDir);
        } catch (err) {
          throw fsError(err, 'seal the cache entry', entryDir);
        }
        dropReservation(reservations, id);
      });
      return meta;
    } catch (err) {
      for (const a of created) a.close();
      rmSync(staging, { recursive: true, force: true });
      if (reserved) withLedger(this.dir, (reservations) => dropReservation(reservations, id));
      throw err;
    } finally {
      forget(staging);
    }
  }

  /**
   * Evicts unheld entries (all but entry `except`), least recently used first, until the rest
   * total at most `limit` bytes. Returns what it removed, the held ones it met, and the total left.
   */
  #evictTo(limit: number, except?: string): { removed: CacheEntryInfo[]; held: CacheEntryInfo[]; total: number } {
    const entries = this.list().filter((e) => basename(e.dir) !== except);
    let total = entries.reduce((s, e) => s + e.bytes, 0);
    const removed: CacheEntryInfo[] = [];
    const held: CacheEntryInfo[] = [];
    for (const e of entries) {
      if (total <= limit) break;
      if (evict(this.dir, e.dir)) {
        removed.push(e);
        total -= e.bytes;
      } else held.push(e);
    }
    return { removed, held, total };
  }

  /** Evicts unheld entries, least recently used first, until `bytes` more fit; ERR_SHM_NO_SPACE when the held ones leave no room. */
  /** Rule 7: adds `bytes` to entry `id`'s reservation, evicting what it must; ERR_SHM_NO_SPACE if they cannot fit. */
  #reserve(bytes: number, id: string): void {
    withLedger(this.dir, (reservations) => {
      const mine = reservations.find((r) => r.id === id);
      const want = (mine?.bytes ?? 0) + bytes;
      this.#makeRoom(want, id, reservations);
      if (mine !== undefined) mine.bytes = want;
      else reservations.push({ id, pid: process.pid, bytes: want });
    });
  }

  /**
   * Evicts unheld entries until `bytes` for entry `id` fit in the budget beside the sealed entries
   * and the other live builders' reservations (called under the ledger lock); ERR_SHM_NO_SPACE if not.
   */
  #makeRoom(bytes: number, id: string, reservations: readonly Reservation[]): void {
    // A dead builder's reservation went with its lock, but its staging still takes room: it goes first.
    sweepLeftovers(this.dir);
    const budget = this.budget;
    const others = reservations.filter((r) => r.id !== id).reduce((s, r) => s + r.bytes, 0);
    const { held, total } = this.#evictTo(budget - bytes - others, id);
    if (total + others + bytes <= budget) return;
    const holding = held.map((e) => `${JSON.stringify(e.key)} (${formatBytes(e.bytes)}, held by pid ${e.holders.join(', ') || '?'})`).join('; ');
    const building = others > 0 ? `, ${formatBytes(others)} reserved by builds in progress` : '';
    throw new ShmArrayError(
      'ERR_SHM_NO_SPACE',
      `Cache ${this.name} cannot take ${formatBytes(bytes)} within its budget of ${formatBytes(budget)}: ${formatBytes(total)} is held${holding === '' ? '' : ` — ${holding}`}${building}. Release entries, or open the cache with a larger budget.`,
      { budget, bytes, held: total, reserved: others },
    );
  }
}

/** Removes entry `id`'s reservation (sealed, or failed). */
function dropReservation(reservations: Reservation[], id: string): void {
  const i = reservations.findIndex((r) => r.id === id);
  if (i >= 0) reservations.splice(i, 1);
}

function isHandle(v: unknown): v is SharedHandle {
  return typeof v === 'object' && v !== null && typeof (v as SharedHandle).path === 'string' && Array.isArray((v as SharedHandle).shape);
}

/**
 * The arrays of `handles`, each once, their files named relative to the staging directory they
 * must lie in. A file may hold several arrays (the tensors of a safetensors file): each is a window.
 */
function uniqueFiles(handles: readonly SharedHandle[], staging: string): EntryFile[] {
  const seen = new Set<string>();
  const files: EntryFile[] = [];
  for (const h of handles) {
    if (!h.path.startsWith(`${staging}/`) || h.path.slice(staging.length + 1).includes('/')) {
      throw new ShmArrayError('ERR_SHM_BAD_ARGUMENT', `A cache build returned ${h.path}, which is not a file of its entry (${staging}).`, { path: h.path });
    }
    const file = h.path.slice(staging.length + 1);
    const id = JSON.stringify([file, h.offset, h.dtype, h.shape]);
    if (seen.has(id)) continue;
    seen.add(id);
    files.push({ file, shape: [...h.shape], dtype: h.dtype, offset: h.offset, npy: h.npy, ...(h.window === true ? { window: true } : {}), ...(h.order === 'F' ? { order: 'F' as const } : {}), ...(h.inPlace === true ? { inPlace: true } : {}) });
  }
  return files;
}

/** Copies `from` into a staging directory; a full filesystem is ERR_SHM_NO_SPACE (the staging directory goes with the failed build). */
async function copyInto(from: string, to: string): Promise<void> {
  try {
    await copyFile(from, to);
  } catch (err) {
    throw fsError(err, 'copy into the cache', to);
  }
}

/**
 * ERR_SHM_IO if `path` is no longer the file `identity` described when its build began: a key
 * names the file as it was, and a file rewritten meanwhile must not be sealed under it.
 */
function checkUnchanged(path: string, identity: Record<string, string>, doing: 'extracted' | 'copied'): void {
  if (JSON.stringify(fileIdentity(path)) !== JSON.stringify(identity)) {
    throw new ShmArrayError('ERR_SHM_IO', `${path} changed while it was being ${doing} into the cache; nothing was kept. Try again once it is complete.`, { path });
  }
}

/** What identifies a file's bytes (an archive, a model): its real path, device, inode, size and mtime in ns. */
function fileIdentity(path: string): Record<string, string> {
  try {
    const st = statSync(path, { bigint: true });
    return { path: realpathSync(path), dev: String(st.dev), ino: String(st.ino), size: String(st.size), mtimeNs: String(st.mtimeNs) };
  } catch (err) {
    throw fsError(err, 'read', path);
  }
}

