/** The benchmark's delivery modes: a module of its own, so the CLI parses `--modes` without loading the benchmark. */

/** How the dataset reaches the workers. */
export type BenchMode = 'copy' | 'sab' | 'map';

/** Every mode, in report order. */
export const BENCH_MODES: readonly BenchMode[] = ['copy', 'sab', 'map'];
