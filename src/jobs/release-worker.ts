/** Worker: drops this worker's cached mappings of files that were removed or replaced (see WorkerPool.releaseMappings). */
import { pruneMapCache } from '../core/map-cache.js';
import type { SharedHandle } from '../core/shared-array.js';
import { arrive } from './barrier.js';

/** One task per worker (the barrier keeps a worker from taking two). */
export interface ReleaseTask {
  gate: SharedHandle;
  parties: number;
}

export default async function release(task: ReleaseTask): Promise<void> {
  pruneMapCache();
  await arrive(task.gate, task.parties);
}
