/** `shmarray gzip`: parallel gzip of a file or of stdin. */
import { formatBytes, gzipParallel, type Runtime } from '../../index.js';

/** Options of the gzip command. */
export interface GzipCommandOptions {
  output: string;
  workers?: number;
  level: number;
  chunk: number;
  singleMember?: boolean;
  runtime?: Runtime;
}

/** Compresses `input` (a path, or `-` for stdin) into `o.output` and reports on stderr. */
export async function gzipCommand(input: string, o: GzipCommandOptions): Promise<void> {
  const r = await gzipParallel(input === '-' ? process.stdin : input, o.output, {
    workers: o.workers,
    level: o.level,
    chunkSize: o.chunk,
    singleMember: o.singleMember === true,
    runtime: o.runtime,
  });
  const ratio = r.bytesIn === 0 ? 0 : (100 * r.bytesOut) / r.bytesIn;
  console.error(`${o.output}: ${formatBytes(r.bytesIn)} → ${formatBytes(r.bytesOut)} (${ratio.toFixed(1)}%), ${r.members} member${r.members === 1 ? '' : 's'}, ${r.seconds.toFixed(2)} s`);
}
