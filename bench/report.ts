import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

import { memoryUsage } from '../dist/index.js';

export { machineInfo as machine, median } from '../dist/index.js';

/** Prints rows as an aligned text table. */
export function printTable(headers: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  console.log(line(headers));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
}

/** Writes a JSON report, creating its directory. */
export function writeJson(path: string, value: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`);
}

/** Seconds taken by `fn`, measured with the high-resolution clock. */
export function timeIt(fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** Seconds taken by `fn`, awaited. */
export async function timeAsync(fn: () => unknown): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
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
