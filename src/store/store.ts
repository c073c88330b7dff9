import { closeSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DType } from '../core/dtype.js';
import { fsError, ShmArrayError } from '../core/errors.js';
import { forget, removeOnExit } from '../core/cleanup.js';
import { holdLiveness, LOCK_FILE, sweepStale } from '../core/liveness.js';
import { boolean, checkOptions, checkPath, filePath, integer, own } from '../core/options.js';
import { POOL_CONFLICTS } from '../jobs/pool.js';
import { choosePlacement } from './placement.js';
import { EXTRACT_ALL_OPTIONS, extractArchives, type ExtractAllOptions } from './extract-all.js';
import type { ShapeLike } from '../core/shape.js';
import { createShared } from '../core/create-shared.js';
import { openShared, type AnySharedArray, type SharedArray, type SharedHandle } from '../core/shared-array.js';
import { npzArrays, planNpz, type NpzEntry, type OpenNpzOptions } from '../core/npz.js';
import { createSharedTable, type SharedTable } from '../core/table.js';
import type { Table } from 'apache-arrow';
import { extractArchive, safeName, zipEntries, zipUncompressedBytes, type ExtractOptions, type ZipEntryInfo } from './zip.js';

/** Options of {@link SharedStore.create}. */
export interface StoreOptions {
  /** Base directory (default: `$SHMARRAY_DIR`, else /dev/shm when it has room, else the temp directory). */
  dir?: string;
  /** Directory name prefix (default `shmarray`): the store is `<base>/<prefix>-<pid>-<random>`. */
  prefix?: string;
  /** Bytes about to be stored: /dev/shm is chosen only if it has this much free beyond a margin. */
  minFree?: number;
}

export type { ExtractAllOptions } from './extract-all.js';

const DEFAULT_PREFIX = 'shmarray';

/**
 * A private temporary directory for shared arrays: `<base>/<prefix>-<pid>-<random>`, mode 0700.
 * Files are named by the store, never by the data. Everything is removed by `dispose()`, and also
 * when the process exits, is interrupted (SIGINT, SIGTERM, SIGHUP) or dies of an uncaught
 * exception; a store left by a SIGKILLed process is swept by the next `SharedStore.create()`.
 */
export class SharedStore implements AsyncDisposable, Disposable {
  /** The store's own directory. */
  readonly dir: string;
  /** The base directory it was made in. */
  readonly base: string;
  /** Why that base was chosen, e.g. "tmpfs /dev/shm has 12288 MiB free …". */
  readonly reason: string;
  #disposed = false;
  readonly #names = new Set<string>();
  /** Arrays this store handed out, closed by dispose() so tmpfs is free when it returns. Weak: the store never keeps an array alive. */
  readonly #arrays = new Set<WeakRef<SharedArray>>();
  readonly #tables = new Set<WeakRef<SharedTable>>();
  #archives = 0;

  /** Held for the store's life: its flock tells a sweep, in any pid namespace, that the owner lives. */
  readonly #lockFd: number;

  private constructor(dir: string, base: string, reason: string, lockFd: number) {
    this.dir = dir;
    this.base = base;
    this.reason = reason;
    this.#lockFd = lockFd;
  }

  /** Creates a store, after sweeping stale stores of dead processes from its base directory. */
  static async create(options: StoreOptions = {}): Promise<SharedStore> {
    checkOptions('SharedStore.create', options, { dir: filePath, prefix: own, minFree: integer(0) });
    const prefix = options.prefix ?? DEFAULT_PREFIX;
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(prefix)) {
      throw new ShmArrayError('ERR_SHM_BAD_ARGUMENT', `prefix must be 1–64 characters of [A-Za-z0-9_.-], not ${JSON.stringify(prefix)}.`, {});
    }
    const { base, reason } = choosePlacement(options.minFree ?? 0, options.dir);
    sweepStale(base, prefix);
    const name = `${prefix}-${process.pid}-${randomBytes(6).toString('hex')}`;
    const dir = join(base, name);
    // Built under a name the sweep ignores, with its owner's lock taken, then renamed into place:
    // no other process can ever see the store without the lock that proves its owner alive.
    const staging = join(base, `.${name}.creating`);
    removeOnExit(staging);
    let lockFd = -1;
    try {
      mkdirSync(staging, { mode: 0o700 });
      lockFd = holdLiveness(staging);
      removeOnExit(dir);
      renameSync(staging, dir);
    } catch (err) {
      if (lockFd >= 0) closeSync(lockFd);
      rmSync(staging, { recursive: true, force: true });
      forget(dir);
      throw fsError(err, 'create the store directory', dir);
    } finally {
      forget(staging);
    }
    return new SharedStore(dir, base, reason, lockFd);
  }

  /**
   * Removes stale stores (`<prefix>-<pid>-<hex>` of dead pids, owned by this user) from `base`
   * (default: /dev/shm, `$SHMARRAY_DIR` and the temp directory). Returns the removed directories.
   */
  static sweep(options: { base?: string; prefix?: string } = {}): string[] {
    checkOptions('SharedStore.sweep', options, { base: filePath, prefix: own });
    const prefix = options.prefix ?? DEFAULT_PREFIX;
    const bases = options.base !== undefined ? [options.base] : [...new Set(['/dev/shm', tmpdir(), process.env['SHMARRAY_DIR'] ?? ''])].filter((b) => b !== '');
    return bases.flatMap((b) => sweepStale(b, prefix));
  }

  /** True once dispose() ran. */
  get disposed(): boolean {
    return this.#disposed;
  }

  /** A fresh path in the store for `name`, sanitised and made unique (`a.f32`, `a-2.f32`, …). */
  path(name: string): string {
    this.#check();
    const safe = safeName(name, 'array');
    const dot = safe.lastIndexOf('.');
    const [stem, ext] = dot > 0 ? [safe.slice(0, dot), safe.slice(dot)] : [safe, ''];
    let candidate = safe;
    for (let i = 2; this.#names.has(candidate) || existsSync(join(this.dir, candidate)); i++) candidate = `${stem}-${i}${ext}`;
    this.#names.add(candidate);
    return join(this.dir, candidate);
  }

  /** A writable shared array in the store (raw unless `npy` or a `.npy` name). */
  create<D extends DType = 'float32'>(name: string, shape: ShapeLike, options: { dtype?: D; npy?: boolean } = {}): SharedArray<D> {
    checkOptions('store.create', options, { dtype: own, npy: boolean });
    return this.#track([createShared(this.path(name), shape, options)])[0] as SharedArray<D>;
  }

  /**
   * Writes an `apache-arrow` Table into the store as an Arrow IPC file (complete or not at all) and
   * maps it: a {@link SharedTable} whose `handle` workers open with `openSharedTable`. Closed and
   * removed with the store.
   */
  async writeTable(name: string, table: Table): Promise<SharedTable> {
    this.#check();
    const t = await createSharedTable(this.path(name), table);
    this.#tables.add(new WeakRef(t));
    return t;
  }

  /**
   * Extracts every file entry of a zip archive into the store, streamed; see {@link ExtractOptions}.
   * With a `dtype` every array is of it (checked), and typed so; without one each .npy entry is
   * of its own dtype: narrow on `array.dtype`.
   */
  async extractZip<D extends DType>(zipPath: string, options: ExtractOptions<D> & { dtype: D }): Promise<SharedArray<D>[]>;
  async extractZip(zipPath: string, options?: ExtractOptions): Promise<AnySharedArray[]>;
  async extractZip(zipPath: string, options: ExtractOptions = {}): Promise<SharedArray[]> {
    checkPath(zipPath, "store.extractZip's zipPath");
    checkOptions('store.extractZip', options, { shape: own, columns: integer(1), dtype: own });
    this.#check();
    // Its entries inflate on as many of the addon's threads as there are cores.
    return this.#track(openAll(await extractArchive(zipPath, this.dir, this.#archivePrefix(), options, undefined, availableParallelism())));
  }

  /**
   * The arrays of an .npz archive (np.savez, np.savez_compressed) by numpy's names (`X`, `y`;
   * `arr_0` … for positional arrays). An entry stored uncompressed whose data is aligned for its
   * dtype is mapped in place from the archive (`array.inPlace`, `array.path` the .npz: nothing is
   * copied); the others — compressed, misaligned, big-endian (made little-endian, `array.converted`)
   * — are extracted into the store. `verify` (default true) checks in-place entries' CRC-32 once.
   */
  async extractNpz(npzPath: string, options: OpenNpzOptions = {}): Promise<Record<string, AnySharedArray>> {
    checkPath(npzPath, "store.extractNpz's npzPath");
    checkOptions('store.extractNpz', options, { verify: boolean });
    this.#check();
    const plan = planNpz(npzPath);
    const toExtract = plan.filter((e) => e.handle === undefined);
    const handles = toExtract.length === 0 ? [] : await extractArchive(npzPath, this.dir, this.#archivePrefix(), { only: new Set(toExtract.map((e) => e.name)) }, undefined, availableParallelism());
    const arrays = npzOf(plan, handles, options.verify ?? true);
    this.#track(Object.values(arrays));
    return arrays;
  }

  /**
   * Extracts many archives, `workers` at a time on the addon's threads in this process, or one
   * task per archive in `pool` when one is given (its workers write the files and return only
   * handles). The result lists the arrays in archive order, then entry order. If any archive
   * fails, or a worker dies, every file of this call is removed and the first error is thrown.
   */
  async extractAll<D extends DType>(zipPaths: readonly string[], options: ExtractAllOptions<D> & { dtype: D }): Promise<SharedArray<D>[]>;
  async extractAll(zipPaths: readonly string[], options?: ExtractAllOptions): Promise<AnySharedArray[]>;
  async extractAll(zipPaths: readonly string[], options: ExtractAllOptions = {}): Promise<SharedArray[]> {
    return this.#track(openAll(await this.extractHandles(zipPaths, options)));
  }

  /**
   * {@link extractAll} without mapping anything in this process: only the handles, to pass on to
   * workers. A parent that never maps the data never holds its pages.
   */
  async extractHandles(zipPaths: readonly string[], options: ExtractAllOptions = {}): Promise<SharedHandle[]> {
    for (const [i, z] of zipPaths.entries()) checkPath(z, `store.extractAll's zipPaths[${i}]`);
    checkOptions('store.extractAll', options, EXTRACT_ALL_OPTIONS, POOL_CONFLICTS);
    this.#check();
    return extractArchives(this.dir, zipPaths.map((zip) => ({ zip, prefix: this.#archivePrefix() })), options);
  }

  /** The files in the store now (full paths, sorted). */
  files(): string[] {
    this.#check();
    return readdirSync(this.dir).filter((n) => n !== LOCK_FILE).sort().map((n) => join(this.dir, n));
  }

  /** Bytes the store's files hold (on tmpfs: RAM, whether or not anything maps them). */
  bytes(): number {
    return this.files().reduce((s, f) => s + statSync(f).size, 0);
  }

  /**
   * Closes the arrays this store handed out (their views read length 0 from now on), then removes
   * every file and the directory: on tmpfs the memory is free when it returns, unless another
   * process or thread still maps a file (its pages return when that mapping is closed). Idempotent.
   */
  async dispose(): Promise<void> {
    if (!this.#startDisposal()) return;
    await rm(this.dir, { recursive: true, force: true });
    this.#endDisposal();
  }

  /** Synchronous {@link dispose}, for `using` and exit paths. */
  disposeSync(): void {
    if (!this.#startDisposal()) return;
    rmSync(this.dir, { recursive: true, force: true });
    this.#endDisposal();
  }

  /** Marks the store disposed and closes its arrays; false when it already was. */
  #startDisposal(): boolean {
    if (this.#disposed) return false;
    this.#disposed = true;
    this.#closeArrays();
    return true;
  }

  /** After the directory is gone: the exit hook and the liveness lock go too. */
  #endDisposal(): void {
    forget(this.dir);
    closeSync(this.#lockFd);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }

  [Symbol.dispose](): void {
    this.disposeSync();
  }

  #track<T extends SharedArray>(arrays: T[]): T[] {
    for (const ref of this.#arrays) if (ref.deref()?.closed !== false) this.#arrays.delete(ref);
    for (const a of arrays) this.#arrays.add(new WeakRef(a));
    return arrays;
  }

  #closeArrays(): void {
    for (const ref of this.#arrays) ref.deref()?.close();
    this.#arrays.clear();
    for (const ref of this.#tables) ref.deref()?.close();
    this.#tables.clear();
  }

  #archivePrefix(): string {
    return `z${String(this.#archives++).padStart(4, '0')}-`;
  }

  #check(): void {
    if (this.#disposed) throw new ShmArrayError('ERR_SHM_CLOSED', `The store ${this.dir} was disposed; create a new one.`, { path: this.dir });
  }
}

/** {@link npzArrays} over freshly extracted files: if it fails, they are closed and removed too. */
function npzOf(plan: readonly NpzEntry[], handles: readonly SharedHandle[], verify: boolean): Record<string, AnySharedArray> {
  const extracted = openAll(handles);
  try {
    return npzArrays(plan, extracted as AnySharedArray[], verify);
  } catch (err) {
    for (const a of extracted) a.close();
    for (const h of handles) rmSync(h.path, { force: true });
    throw err;
  }
}

/** Maps freshly extracted files; if one cannot be mapped, none stays mapped and the files are removed. */
function openAll(handles: readonly SharedHandle[]): SharedArray[] {
  const arrays: SharedArray[] = [];
  try {
    for (const h of handles) arrays.push(openShared(h));
    return arrays;
  } catch (err) {
    for (const a of arrays) a.close();
    for (const h of handles) rmSync(h.path, { force: true });
    throw err;
  }
}

/** Total bytes the archives inflate to (central directories only), e.g. for `SharedStore.create({ minFree })`. */
export async function zipsUncompressedBytes(zipPaths: readonly string[]): Promise<number> {
  for (const [i, z] of zipPaths.entries()) checkPath(z, `zipsUncompressedBytes's zipPaths[${i}]`);
  const sizes = await Promise.all(zipPaths.map((z) => zipUncompressedBytes(z)));
  return sizes.reduce((a, b) => a + b, 0);
}

/**
 * The file entries of a zip archive — name, inflated size, and whether each is a .npy (by its
 * first bytes) — checked as extraction checks them, without extracting anything.
 */
export async function listZip(zipPath: string): Promise<ZipEntryInfo[]> {
  checkPath(zipPath, "listZip's zipPath");
  return zipEntries(zipPath);
}
