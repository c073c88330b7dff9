/** Where a store puts its files, and why: tmpfs first when it has room, else the temp directory. */
import { accessSync, constants, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { ShmArrayError } from '../core/errors.js';
import { checkPath } from '../core/options.js';
import { diskSpace } from '../core/files.js';
import { formatMiB as mib } from '../core/units.js';

/** The chosen base directory and the reason, in words a user can act on. */
export interface Placement {
  readonly base: string;
  readonly reason: string;
}

/**
 * Room to leave free on tmpfs: its pages are RAM, and a full /dev/shm breaks other programs
 * (and turns page faults on sparse files into SIGBUS). A 64 MB Docker /dev/shm is never used.
 */
export function tmpfsMargin(size: number): number {
  return Math.max(64 * 2 ** 20, Math.floor(size * 0.05));
}

function usableDir(dir: string): boolean {
  try {
    if (!statSync(dir).isDirectory()) return false;
    accessSync(dir, constants.W_OK | constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Refuses a base directory another user can tamper with: world-writable without the sticky bit
 * (anyone may rename our store away and put a symlink in its place), or owned by another user
 * (other than root). /dev/shm and /tmp are world-writable *with* the sticky bit: safe.
 */
export function checkSafeBase(dir: string): void {
  const st = statSync(dir);
  const uid = process.getuid?.();
  if ((st.mode & 0o002) !== 0 && (st.mode & 0o1000) === 0) {
    throw new ShmArrayError(
      'ERR_SHM_PERMISSION',
      `${dir} is writable by every user but has no sticky bit, so another user could replace the store with a symlink; use a directory of your own, or chmod +t ${dir}.`,
      { path: dir, mode: st.mode & 0o7777 },
    );
  }
  if (uid !== undefined && st.uid !== uid && st.uid !== 0) {
    throw new ShmArrayError('ERR_SHM_PERMISSION', `${dir} belongs to another user (uid ${st.uid}); use a directory of your own.`, { path: dir, owner: st.uid });
  }
}

/**
 * Chooses the base directory for `bytes` of data: `dir` if given, else `$SHMARRAY_DIR`, else
 * /dev/shm when it exists, is writable and has `bytes` free beyond its margin, else os.tmpdir().
 * A given directory is made absolute (a later chdir must not move the store) and checked for safety.
 */
export function choosePlacement(bytes: number, dir?: string, env: NodeJS.ProcessEnv = process.env): Placement {
  const given = dir ?? env['SHMARRAY_DIR'];
  if (given !== undefined && given !== '') {
    checkPath(given, dir !== undefined ? "choosePlacement's dir" : 'SHMARRAY_DIR');
    const explicit = resolve(given);
    if (!usableDir(explicit)) {
      throw new ShmArrayError('ERR_SHM_PERMISSION', `${explicit} is not a writable directory; create it or choose another (dir option or SHMARRAY_DIR).`, { path: explicit });
    }
    checkSafeBase(explicit);
    return { base: explicit, reason: dir !== undefined ? 'given as the dir option' : 'given by SHMARRAY_DIR' };
  }
  const shm = '/dev/shm';
  if (usableDir(shm)) {
    const { free, size } = diskSpace(shm);
    const margin = tmpfsMargin(size);
    if (free - margin >= bytes) return { base: shm, reason: `tmpfs /dev/shm has ${mib(free)} free (needed ${mib(bytes)} + ${mib(margin)} margin)` };
    return { base: tmpdir(), reason: `/dev/shm has only ${mib(free)} free, not ${mib(bytes)} + ${mib(margin)} margin; using the temp directory` };
  }
  return { base: tmpdir(), reason: '/dev/shm is missing or not writable; using the temp directory' };
}
