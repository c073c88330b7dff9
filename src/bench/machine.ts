/** Small measuring helpers shared by `shmarray bench` and the scripts in bench/. */
import { cpus, release, totalmem } from 'node:os';
import { engine } from '../core/native.js';

/** What a benchmark report records about where it ran. */
export interface MachineInfo {
  cores: number;
  cpu: string;
  memoryBytes: number;
  node: string;
  kernel: string;
  /** The addon's compression engine (libdeflate, or the zlib inside Node). */
  engine: string;
}

/** This machine, as benchmark reports record it. */
export function machineInfo(): MachineInfo {
  return { cores: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', memoryBytes: totalmem(), node: process.version, kernel: release(), engine: engine() };
}

/** The median of a list (NaN when empty). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] ?? NaN) : ((s[m - 1] ?? NaN) + (s[m] ?? NaN)) / 2;
}
