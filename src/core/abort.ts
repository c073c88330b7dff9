/**
 * How a caller stops long work — an AbortSignal, a timeout in milliseconds, or both — as one
 * signal, and the option checks for them. Jobs (jobs/) and the cache's waits (store/cache.ts)
 * share them; neither needs the other to bound its work.
 */
import { ShmArrayError } from './errors.js';
import { integer, type Check } from './options.js';

/** How a caller stops a job: an AbortSignal, a timeout in milliseconds, or both. */
export interface JobControl {
  /** Abort the job: running tasks' workers are terminated (and replaced), the job rejects with ERR_SHM_ABORTED. */
  signal?: AbortSignal;
  /** Milliseconds the whole job may take before it is aborted the same way. */
  timeout?: number;
}

/** The option check of a `signal`: an AbortSignal. */
export const isSignal: Check = (v, what) => {
  if (!(v instanceof AbortSignal)) throw new ShmArrayError('ERR_SHM_BAD_ARGUMENT', `${what} must be an AbortSignal (e.g. new AbortController().signal).`, { option: what });
};

/** The option checks of {@link JobControl}, for {@link checkOptions}. */
export const CONTROL_OPTIONS = { signal: isSignal, timeout: integer(1) } as const;

/** One signal for a job from its `signal` and `timeout` options, or undefined for neither. */
export function jobSignal(control: JobControl): AbortSignal | undefined {
  const signals = [control.signal, control.timeout === undefined ? undefined : AbortSignal.timeout(control.timeout)].filter((s): s is AbortSignal => s !== undefined);
  return signals.length === 0 ? undefined : signals.length === 1 ? signals[0] : AbortSignal.any(signals);
}
