/** Elapsed time, measured with the monotonic high-resolution clock. */

/** Starts a stopwatch: the function it returns gives the seconds since this call. */
export function stopwatch(): () => number {
  const t0 = process.hrtime.bigint();
  return () => Number(process.hrtime.bigint() - t0) / 1e9;
}
