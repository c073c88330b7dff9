import { ShmArrayError } from './errors.js';

/** A shape as users may write it: a length, or one length per dimension. */
export type ShapeLike = number | readonly number[];

/** Validates a shape and returns it as a frozen array of non-negative safe integers. */
export function normalizeShape(shape: unknown): readonly number[] {
  const dims: unknown[] | undefined = typeof shape === 'number' ? [shape] : Array.isArray(shape) ? shape : undefined;
  if (dims === undefined || !dims.every((n): n is number => Number.isSafeInteger(n) && (n as number) >= 0)) {
    throw new ShmArrayError(
      'ERR_SHM_BAD_SHAPE',
      `Invalid shape ${describe(shape)}: give a non-negative integer or an array of them, e.g. [rows, 4].`,
      { shape: describe(shape) },
    );
  }
  const out = Object.freeze([...dims]);
  elementCount(out);
  return out;
}

/** The number of elements of a valid shape; `ERR_SHM_BAD_SHAPE` if it overflows a safe integer. */
export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  if (!Number.isSafeInteger(n)) {
    throw new ShmArrayError('ERR_SHM_BAD_SHAPE', `Shape [${shape.join(', ')}] has more elements than can be addressed.`, { shape: [...shape] });
  }
  return n;
}

function describe(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** True when two shapes have the same dimensions. */
export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((n, i) => n === b[i]);
}
