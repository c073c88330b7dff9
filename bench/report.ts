import { mkdirSync, writeFileSync } from 'node:fs';
import { stopwatch, textTable } from '../dist/bench/index.js';
import { dirname } from 'node:path';

import { memoryUsage } from '../dist/index.js';

export { machineInfo as machine, median } from '../dist/bench/index.js';

/** Prints rows as an aligned text table. */
export function printTable(headers: readonly string[], rows: readonly (readonly string[])[]): void {
  for (const line of textTable(headers, rows)) console.log(line);
}

/** Writes a JSON report, creating its directory. */
export function writeJson(path: string, value: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`);
}

/** Seconds taken by `fn`, measured with the high-resolution clock. */
export function timeIt(fn: () => void): number {
  const elapsed = stopwatch();
  fn();
  return elapsed();
}

/** Seconds taken by `fn`, awaited. */
export async function timeAsync(fn: () => unknown): Promise<number> {
  const elapsed = stopwatch();
  await fn();
  return elapsed();
}

/**
 * Peak RSS and anonymous memory of process `pid`, read from outside it (so the sampling adds
 * nothing to what is measured) every `everyMs` until `until` settles.
 */
export async function samplePeak(pid: number, until: Promise<unknown>, everyMs: number): Promise<{ rss: number; anonymous: number }> {
  let done = false;
  const settled = until.finally(() => (done = true));
  let rss = 0;
  let anonymous = 0;
  while (!done) {
    try {
      const m = memoryUsage(pid);
      rss = Math.max(rss, m.rss);
      anonymous = Math.max(anonymous, m.anonymous ?? 0);
    } catch {
      // the process ended between two samples
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  await settled;
  return { rss, anonymous };
}

/**
 * Fills `out` with float32 in [0, 1) of 24 random bits each, as np.random.rand gives: the data of
 * issue 13's anchors, nearly incompressible (only the exponent bytes repeat). xorshift32 from
 * `seed` (not 0): deterministic, and no easier for deflate than numpy's generator.
 */
export function fillRandom(out: Float32Array, seed: number): void {
  let s = seed >>> 0 || 1;
  for (let i = 0; i < out.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) >>> 8) / 2 ** 24;
  }
}
