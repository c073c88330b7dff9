/**
 * A barrier across workers of any runtime: an int32 counter in a mapped file. Each worker takes
 * one task that arrives here and waits until all `parties` have: so a pool of N workers given N
 * such tasks runs exactly one on each worker (tinypool cannot address a worker directly).
 */
import { openShared, type SharedHandle } from '../core/shared-array.js';

/** Counts this worker in at `gate` and resolves once `parties` workers have arrived. */
export async function arrive(gate: SharedHandle, parties: number): Promise<void> {
  const mapping = openShared(gate);
  const g = mapping.data as Int32Array;
  Atomics.add(g, 0, 1);
  while (Atomics.load(g, 0) < parties) await new Promise((r) => setImmediate(r));
  mapping.close();
}
