/**
 * Worker for `shmarray bench`: holds a dataset the way a mode delivers it (copied arrays,
 * SharedArrayBuffer views, or mapped handles), computes statistics over row ranges of what it
 * holds, and lets go. Each worker gets exactly one 'load' and one 'release': a gate (a mapped
 * int32 counter) keeps a worker from taking a second one before all have taken theirs.
 */
import { threadId } from 'node:worker_threads';
import { stopwatch } from '../core/clock.js';
import type { NumericArray } from '../core/dtype.js';
import { openShared, type SharedArray, type SharedHandle } from '../core/shared-array.js';
import { arrive } from '../jobs/barrier.js';
import { emptyStats, mergeStats, partialStats, type PartialStats } from '../jobs/stats-math.js';

/** A dataset as a mode delivers it: typed arrays (copy, sab) or handles (map). */
export type Delivery = (NumericArray | SharedHandle)[];

/** The tasks of the bench worker. */
export type HoldTask =
  | { phase: 'load'; data: Delivery; gate: SharedHandle; parties: number }
  | { phase: 'stats'; segments: { index: number; from: number; to: number }[]; columns: number }
  | { phase: 'release'; gate: SharedHandle; parties: number };

let held: NumericArray[] = [];
let mapped: SharedArray[] = [];


/** What 'load' and 'release' return: who ran it, and for 'load' how long the data took to become usable here. */
export interface HoldReceipt {
  pid: number;
  threadId: number;
  /** Seconds from the task's start in this worker to every array usable (map: every file mapped). */
  loadSeconds: number;
}

/** Runs one phase; 'load' and 'release' return a {@link HoldReceipt}. */
export default async function hold(task: HoldTask): Promise<HoldReceipt | PartialStats> {
  switch (task.phase) {
    case 'load': {
      const elapsed = stopwatch();
      mapped = [];
      held = task.data.map((d) => {
        if (ArrayBuffer.isView(d)) return d;
        const a = openShared(d);
        mapped.push(a);
        return a.data;
      });
      const loadSeconds = elapsed();
      await arrive(task.gate, task.parties);
      return { pid: process.pid, threadId, loadSeconds };
    }
    case 'stats': {
      let acc = emptyStats(task.columns);
      for (const s of task.segments) {
        const data = held[s.index];
        if (data === undefined) throw new Error(`the worker holds no array ${s.index}: was it loaded?`);
        acc = mergeStats(acc, partialStats(data, task.columns, s.from, s.to));
      }
      return acc;
    }
    case 'release': {
      for (const a of mapped) a.close();
      mapped = [];
      held = [];
      await arrive(task.gate, task.parties);
      return { pid: process.pid, threadId, loadSeconds: 0 };
    }
  }
}
