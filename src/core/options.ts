/**
 * One validator per public function: every option is checked for type and range before any work
 * starts (no file is opened, no pool is started), unknown keys are refused with the list of known
 * ones (a misspelt `worker: 2` must not silently mean "default"), and keys that cannot go together
 * (`pool` with `workers`) are refused with which to keep.
 */
import { ShmArrayError } from './errors.js';

/** Checks one option's value (never undefined); throws with `what` naming it. */
export type Check = (value: unknown, what: string) => void;

function bad(what: string, wanted: string, value: unknown): ShmArrayError {
  const shown = typeof value === 'string' ? JSON.stringify(value) : typeof value === 'number' || typeof value === 'boolean' ? String(value) : `a ${value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value}`;
  return new ShmArrayError('ERR_SHM_BAD_ARGUMENT', `${what} must be ${wanted}, not ${shown}.`, { option: what, value: typeof value === 'object' ? null : String(value) });
}

/** A whole number in [min, max]. */
export function integer(min: number, max = Number.MAX_SAFE_INTEGER): Check {
  const wanted = max === Number.MAX_SAFE_INTEGER ? `a whole number ≥ ${min}` : `a whole number from ${min} to ${max}`;
  return (v, what) => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) throw bad(what, wanted, v);
  };
}

/** One of the given strings. */
export function oneOf(values: readonly string[]): Check {
  return (v, what) => {
    if (typeof v !== 'string' || !values.includes(v)) throw bad(what, `one of ${values.map((x) => `'${x}'`).join(', ')}`, v);
  };
}

/** A non-empty list, each element one of the given strings. */
export function listOf(values: readonly string[]): Check {
  return (v, what) => {
    if (!Array.isArray(v) || v.length === 0 || v.some((x) => typeof x !== 'string' || !values.includes(x))) {
      throw bad(what, `a non-empty list of ${values.map((x) => `'${x}'`).join(', ')}`, v);
    }
  };
}

export const boolean: Check = (v, what) => {
  if (typeof v !== 'boolean') throw bad(what, 'true or false', v);
};

/**
 * A file or directory path: a non-empty string without NUL bytes. No file name can hold a NUL, and
 * Node's own check would throw its TypeError from deep inside the work (naming a temporary file).
 */
export const filePath: Check = (v, what) => {
  if (typeof v !== 'string' || v === '' || v.includes('\0')) throw bad(what, 'a non-empty string without NUL bytes (no file name can hold one)', v);
};

/** Checks a path argument before anything touches it (see {@link filePath}); `what` names it. */
export function checkPath(value: unknown, what: string): asserts value is string {
  filePath(value, what);
}

export const func: Check = (v, what) => {
  if (typeof v !== 'function') throw bad(what, 'a function', v);
};

/** Anything: the function checks it itself (a shape, a dtype, a pool), with its own message. */
export const own: Check = () => {};

/**
 * Checks `options` of `fn` against `spec` (key → check). `conflicts`: [key, keys it excludes].
 * `undefined` values count as absent, so `{ workers: undefined }` is the default.
 */
export function checkOptions(fn: string, options: unknown, spec: Readonly<Record<string, Check>>, conflicts: readonly (readonly [string, readonly string[]])[] = []): void {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw bad(`the options of ${fn}`, 'an object', options);
  }
  const given = Object.entries(options as Record<string, unknown>).filter(([, v]) => v !== undefined);
  for (const [key, value] of given) {
    const check = spec[key];
    if (check === undefined || !Object.hasOwn(spec, key)) {
      throw new ShmArrayError('ERR_SHM_BAD_ARGUMENT', `${fn} has no option ${JSON.stringify(key)}; its options are ${Object.keys(spec).join(', ')}.`, { option: key });
    }
    check(value, `${fn}'s ${key}`);
  }
  const present = new Set(given.map(([k]) => k));
  for (const [key, excluded] of conflicts) {
    const clash = excluded.filter((k) => present.has(k));
    if (present.has(key) && clash.length > 0) {
      throw new ShmArrayError(
        'ERR_SHM_BAD_ARGUMENT',
        `${fn} got both ${key} and ${clash.join(' and ')}: the ${key} decides ${clash.join(' and ')}; pass one or the other.`,
        { option: key, conflicts: clash.join(',') },
      );
    }
  }
}
