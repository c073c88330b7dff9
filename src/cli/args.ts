/** Option parsers shared by the commands: each turns text into a value or a one-line reason. */
import { InvalidArgumentError } from 'commander';
// The small modules themselves, not the package's index: parsing arguments must not load the library.
import { BENCH_MODES, type BenchMode } from '../bench/modes.js';
import { DTYPES, type DType } from '../core/dtype.js';
import { parseBytes } from '../core/units.js';
import type { Runtime } from '../jobs/pool.js';

function wrap<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new InvalidArgumentError(err instanceof Error ? err.message : String(err));
  }
}

/** A positive integer. */
export function positiveInt(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`"${text}" is not a positive integer.`);
  return n;
}

/** A compression level, 0–9. */
export function level(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > 9) throw new InvalidArgumentError(`"${text}" is not a level; use 0 to 9.`);
  return n;
}

/** A size such as 240MiB, 480MB or 2GiB. */
export function bytes(text: string): number {
  const n = wrap(() => parseBytes(text));
  if (n < 1) throw new InvalidArgumentError(`"${text}" is not a positive size.`);
  return n;
}

/** A shape such as 1000x4 or 1000,4. */
export function shape(text: string): number[] {
  const dims = text.split(/[x,]/).map((s) => Number(s.trim()));
  if (dims.some((n) => !Number.isSafeInteger(n) || n < 0)) throw new InvalidArgumentError(`"${text}" is not a shape; write it like 1000x4.`);
  return dims;
}

/** A dtype name. */
export function dtype(text: string): DType {
  if (!(DTYPES as readonly string[]).includes(text)) throw new InvalidArgumentError(`Unsupported dtype ${JSON.stringify(text)}: use one of ${DTYPES.join(', ')}.`);
  return text as DType;
}

/** `worker_threads`, `child_process`, or `both`. */
export function runtimes(text: string): Runtime[] {
  if (text === 'both') return ['worker_threads', 'child_process'];
  if (text === 'worker_threads' || text === 'child_process') return [text];
  throw new InvalidArgumentError(`"${text}" is not a runtime; use worker_threads, child_process or both.`);
}

/** One runtime: the commands that run one pool take no `both`. */
export function runtime(text: string): Runtime {
  if (text === 'worker_threads' || text === 'child_process') return text;
  throw new InvalidArgumentError(`"${text}" is not a runtime here; use worker_threads or child_process (one pool runs one runtime).`);
}

/** A comma-separated list of bench modes. */
export function modes(text: string): BenchMode[] {
  const list = text.split(',').map((s) => s.trim());
  const bad = list.find((m) => !BENCH_MODES.includes(m as BenchMode));
  if (bad !== undefined) throw new InvalidArgumentError(`"${bad}" is not a mode; use copy, sab, map (comma-separated).`);
  return list as BenchMode[];
}
