import { execFileSync, spawnSync } from 'node:child_process';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Tinypool from 'tinypool';
import { bfloat16FromBits, bfloat16ToBits, float16FromBits, float16ToBits, HAS_FLOAT16ARRAY, ShmArrayError, type DType, type ShmErrorCode } from '../dist/index.js';

/** Both pool runtimes: every worker behaviour is tested under each. */
export const RUNTIMES = ['worker_threads', 'child_process'] as const;
export type Runtime = (typeof RUNTIMES)[number];

/** A fresh directory on tmpfs (where shmarray puts data by default), removed by `dispose`. */
export function tempDir(prefix = 'shmarray-test-'): { dir: string; path: (name: string) => string; dispose: () => void } {
  const base = process.env['SHMARRAY_TEST_DIR'] ?? '/dev/shm';
  const dir = mkdtempSync(join(base, prefix));
  return { dir, path: (name) => join(dir, name), dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Absolute path of a worker fixture under test/fixtures. */
export function fixture(name: string): string {
  return fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
}

/** A tinypool of exactly `workers` workers of one runtime; v8 serialization for child processes. */
export function makePool(runtime: Runtime, file: string, workers = 2): Tinypool {
  return new Tinypool({
    filename: fixture(file),
    runtime,
    minThreads: workers,
    maxThreads: workers,
    isolateWorkers: false,
    serialization: 'advanced',
    env: { ...process.env } as Record<string, string>, // tinypool forks with an empty environment otherwise
  });
}

/** Asserts that `promise` rejects with a ShmArrayError (revived from the worker) of `code`. */
export async function rejectsWithCode(promise: Promise<unknown>, code: ShmErrorCode): Promise<ShmArrayError> {
  try {
    await promise;
  } catch (err) {
    const revived = ShmArrayError.from(err);
    if (revived === undefined) throw new Error(`expected ${code}, got a non-shmarray error: ${String(err)}`, { cause: err });
    if (revived.code !== code) throw new Error(`expected ${code}, got ${revived.code}: ${revived.message}`, { cause: err });
    return revived;
  }
  throw new Error(`expected ${code}, but it resolved`);
}

/** Asserts that `fn` throws a ShmArrayError of `code` in this process. */
export function throwsWithCode(fn: () => unknown, code: ShmErrorCode): ShmArrayError {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof ShmArrayError)) throw new Error(`expected ${code}, got ${String(err)}`, { cause: err });
    if (err.code !== code) throw new Error(`expected ${code}, got ${err.code}: ${err.message}`, { cause: err });
    return err;
  }
  throw new Error(`expected ${code}, but nothing was thrown`);
}

/**
 * A Python interpreter that can import numpy (python3 on PATH, else Debian's /usr/bin/python3),
 * or undefined: tests that need one are skipped with a loud reason (.ci/run installs python3-numpy).
 */
export const numpyPython: string | undefined = ['python3', '/usr/bin/python3'].find((py) => {
  try {
    execFileSync(py, ['-c', 'import numpy'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
});

/**
 * A small tmpfs of `mib` MiB (and at most `inodes` files, if given) mounted for one test (needs root), or undefined — the test is then
 * skipped with a loud reason. `dispose` unmounts it.
 */
export function smallTmpfs(mib: number, inodes?: number): { dir: string; dispose: () => void } | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'shmarray-tmpfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${mib}m,mode=1777${inodes === undefined ? '' : `,nr_inodes=${inodes}`}`, 'tmpfs', dir], { stdio: 'ignore' });
  } catch {
    rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
  return {
    dir,
    dispose: () => {
      execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The reason a test that needs {@link smallTmpfs} gives when it cannot run. */
export const NO_TMPFS = 'NOT RUN: mounting a small tmpfs needs root (mount -t tmpfs); run the suite as root to cover full filesystems';

/** A TCP port free on 127.0.0.1 now, for a server a test starts (redis-server, an HTTP app). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/**
 * `pid` and every process below it (children, grandchildren …), from each process's own
 * /proc/PID/stat: the processes a test started, never the machine's others.
 */
export function processTree(pid = process.pid): number[] {
  const parents = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // it ended meanwhile
    }
    // "pid (comm) state ppid …": comm may hold spaces and parentheses, so read after the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    parents.set(ppid, [...(parents.get(ppid) ?? []), Number(name)]);
  }
  const out: number[] = [];
  for (const queue = [pid]; queue.length > 0; ) {
    const p = queue.shift() as number;
    out.push(p);
    queue.push(...(parents.get(p) ?? []));
  }
  return out;
}

/**
 * Bytes of tmpfs (shared memory) pages that `pids` map, from each one's /proc/PID/smaps_rollup
 * (Pss_Shmem: each page divided among the processes mapping it): memory these processes hold,
 * which no other process on the machine moves.
 */
export function pssShmem(pids: readonly number[] = processTree()): number {
  let total = 0;
  for (const pid of pids) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    } catch {
      continue; // it ended meanwhile: it holds nothing
    }
    const m = /^Pss_Shmem:\s+(\d+) kB$/m.exec(text);
    if (m?.[1] === undefined) throw new Error(`no Pss_Shmem line in /proc/${pid}/smaps_rollup (Linux 5.4 or later is needed)`);
    total += Number(m[1]) * 1024;
  }
  return total;
}

/** The lines of /proc/PID/maps (for each of `pids`) that map `path` (deleted or not). */
export function mappingsOf(path: string, pids: readonly number[] = [process.pid]): string[] {
  return pids.flatMap((pid) => {
    try {
      return readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n').filter((l) => l.includes(path));
    } catch {
      return [];
    }
  });
}

/** Bytes the files below `dir` occupy on their filesystem (st_blocks × 512): the data's own pages. */
export function blocksUnder(dir: string): number {
  let total = 0;
  // Each inode once: a file being linked into place (createShared: link, then unlink the temporary) has two names.
  const seen = new Set<number>();
  for (const name of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    const st = lstatSync(join(dir, name));
    if (st.isFile() && !seen.has(st.ino)) {
      seen.add(st.ino);
      total += st.blocks * 512;
    }
  }
  return total;
}

const dist = fileURLToPath(new URL('../dist/index.js', import.meta.url));
let scripts = 0;

/**
 * Runs `body` (ESM, with `m` = shmarray) in a fresh node process; returns its status, signal and
 * output. The script is written into `dir` and removed after. A script file, not
 * `--input-type=module -e`: worker threads inherit execArgv, and that flag stops them from starting.
 */
export function inChild(dir: string, body: string, env: NodeJS.ProcessEnv = process.env): { status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string } {
  const script = join(dir, `child-${process.pid}-${scripts++}.mjs`);
  writeFileSync(script, `const m = await import(${JSON.stringify(dist)});\n${body}`);
  try {
    const r = spawnSync(process.execPath, [script], { encoding: 'utf8', env });
    return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
  } finally {
    rmSync(script, { force: true });
  }
}

/** Element values of an array of any dtype as numbers: 64-bit integers converted, float16/bfloat16 bits decoded. */
export function numbersOf(a: { data: ArrayLike<number | bigint>; dtype: DType }): number[] {
  const out = Array.from(a.data as ArrayLike<number | bigint>, (v) => Number(v));
  if (a.dtype === 'bfloat16') return out.map(bfloat16FromBits);
  if (a.dtype === 'float16' && !HAS_FLOAT16ARRAY) return out.map(float16FromBits);
  return out;
}

/** Writes `values` into an array of any dtype as its elements: BigInt for 64-bit integers, bits for float16 (Node < 24) and bfloat16. */
export function setNumbers(a: { data: ArrayLike<number | bigint>; dtype: DType }, values: readonly number[]): void {
  const data = a.data as unknown as { [i: number]: number | bigint };
  values.forEach((v, i) => {
    data[i] =
      a.dtype === 'int64' ? BigInt(v) : a.dtype === 'uint64' ? BigInt.asUintN(64, BigInt(v)) : a.dtype === 'bfloat16' ? bfloat16ToBits(v) : a.dtype === 'float16' && !HAS_FLOAT16ARRAY ? float16ToBits(v) : v;
  });
}
