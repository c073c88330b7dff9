// What the SharedCache suites share: a fresh base directory per test (in one temp directory
// removed after the suite), and independent child processes running test/fixtures/cache-child.mjs.
import { after } from 'node:test';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fixture, tempDir } from './helpers.js';

export const tmp = tempDir('shmarray-cache-test-');
after(() => tmp.dispose());
let n = 0;

/** The path the next {@link base} call makes (a test that must look where a refused call would have written). */
export const basePath = (): string => tmp.path(`base-${n + 1}`);

/** A fresh cache base for one test. */
export const base = (): string => {
  const d = tmp.path(`base-${++n}`);
  mkdirSync(d, { mode: 0o700 });
  return d;
};

/** A child process of cache-child.mjs: its lines as they come, and how it exited. */
export interface Child {
  proc: ChildProcess;
  /** The next line the child prints. */
  line: () => Promise<string>;
  exit: Promise<number | null>;
}

/** Starts `node cache-child.mjs ARGS…` (see that file for its modes). */
export function child(args: string[], env: Record<string, string> = {}): Child {
  const proc = spawn(process.execPath, [fixture('cache-child.mjs'), ...args], { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  const lines: string[] = [];
  const waiting: ((l: string) => void)[] = [];
  createInterface({ input: proc.stdout as NonNullable<ChildProcess['stdout']> }).on('line', (l) => {
    const w = waiting.shift();
    if (w !== undefined) w(l);
    else lines.push(l);
  });
  const exit = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return { proc, exit, line: () => new Promise((r) => (lines.length > 0 ? r(lines.shift() as string) : waiting.push(r))) };
}

/** SIGKILLs a child; resolves when it is gone. */
export const killed = (c: Child): Promise<number | null> => {
  c.proc.kill('SIGKILL');
  return c.exit;
};

/** Staging and evicting directories left in the cache 'test' under `dir`. */
export const stagingLeft = (dir: string): string[] => readdirSync(join(dir, 'test')).filter((f) => f.startsWith('.build-') || f.startsWith('.evict-'));

/** Σ i/4 over a race table of `rows` × 4 (what cache-child.mjs builds). */
export const table = (rows: number): number => (rows * 4 * (rows * 4 - 1)) / 2 / 4;
