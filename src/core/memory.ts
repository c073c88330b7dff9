import { readFileSync } from 'node:fs';
import { ShmArrayError } from './errors.js';

/**
 * Memory of one process, in bytes. RSS counts every shared page in full in every process that
 * maps it, so summing RSS over workers overstates shared data N times; PSS splits shared pages
 * between the processes that map them. `anonymous` / `pssAnon` are heap, ArrayBuffers and message
 * copies: the measure of copied data. Fields are `null` where the kernel does not provide them.
 */
export interface MemoryUsage {
  /** Resident set size: shared pages counted in full. */
  rss: number;
  /** Proportional set size: shared pages divided among their mappers. */
  pss: number | null;
  /**
   * Unique set size (private clean + private dirty). A mapped file's clean pages count as private
   * in a process that is the only one mapping them, so USS is not a measure of copies.
   */
  uss: number | null;
  /** Anonymous memory (heap, ArrayBuffers, received message copies): `Anonymous` in smaps_rollup. */
  anonymous: number | null;
  pssAnon: number | null;
  pssFile: number | null;
  /** PSS of shmem (tmpfs, /dev/shm) mappings. */
  pssShmem: number | null;
}

/**
 * Reads the memory of `pid` (default: this process) from /proc/PID/smaps_rollup (Linux 4.14+).
 * Elsewhere only this process's RSS is known and every other field is `null`.
 */
export function memoryUsage(pid: number = process.pid): MemoryUsage {
  if (!Number.isSafeInteger(pid) || pid <= 0) {
    throw new ShmArrayError('ERR_SHM_BAD_ARGUMENT', `memoryUsage needs a positive integer pid, not ${String(pid)}.`, {});
  }
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  } catch (err) {
    const errno = (err as NodeJS.ErrnoException).code;
    if (errno === 'ENOENT' && process.platform === 'linux') {
      throw new ShmArrayError('ERR_SHM_NOT_FOUND', `No process with pid ${pid} (it may have exited).`, { pid });
    }
    if (pid === process.pid) {
      return { rss: process.memoryUsage.rss(), pss: null, uss: null, anonymous: null, pssAnon: null, pssFile: null, pssShmem: null };
    }
    throw new ShmArrayError('ERR_SHM_IO', `Cannot read the memory of pid ${pid}: ${errno ?? String(err)} (smaps_rollup needs Linux 4.14+ and the same user).`, { pid, errnoName: errno ?? null });
  }
  const fields = parseSmaps(text);
  const kb = (name: string): number | null => {
    const v = fields.get(name);
    return v === undefined ? null : v * 1024;
  };
  const privateClean = kb('Private_Clean');
  const privateDirty = kb('Private_Dirty');
  return {
    rss: kb('Rss') ?? 0,
    pss: kb('Pss'),
    uss: privateClean === null || privateDirty === null ? null : privateClean + privateDirty,
    anonymous: kb('Anonymous'),
    pssAnon: kb('Pss_Anon'),
    pssFile: kb('Pss_File'),
    pssShmem: kb('Pss_Shmem'),
  };
}

function parseSmaps(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^(\w+):\s+(\d+) kB$/.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined) out.set(m[1], Number(m[2]));
  }
  return out;
}
