/** Worker: extracts one zip archive into a store directory and returns only handles. */
import type { SharedHandle } from '../core/handle.js';
import { extractArchive, type ExtractOptions } from './zip.js';

/** The task `SharedStore.extractAll` sends for each archive. */
export interface ExtractTask {
  zip: string;
  dir: string;
  prefix: string;
  options: ExtractOptions;
  /** Names this call's temporary files, so the parent can remove them if this worker dies. */
  token: string;
}

/** Extracts `task.zip` and returns the handles of its arrays (never the arrays themselves). */
export default async function extract(task: ExtractTask): Promise<SharedHandle[]> {
  return extractArchive(task.zip, task.dir, task.prefix, task.options, task.token);
}
