/**
 * Worker: compresses one chunk of the input for gzipParallel. The chunk is read straight from a
 * mapping of the input file (a byte window) or arrives as bytes (stream input); the compressed
 * bytes go back, moved rather than copied between threads.
 */
import { constants, crc32, deflateRawSync, gzipSync } from 'node:zlib';
import Tinypool from 'tinypool';
import { openShared, type SharedHandle } from '../shared-array.js';

/** Where a chunk's bytes are: a window of a file (with the 32 KiB before it), or the bytes themselves. */
export type ChunkSource = { window: SharedHandle; dictionaryBytes: number } | { bytes: Uint8Array; dictionary: Uint8Array };

/** One chunk to compress. */
export interface CompressTask {
  source: ChunkSource;
  level: number;
  /** 'member': a complete gzip member. 'raw': deflate continuing the previous chunk (pigz-style). */
  format: 'member' | 'raw';
  last: boolean;
}


function bytesOf(source: ChunkSource): { input: Uint8Array; dictionary: Uint8Array; close: () => void } {
  if ('bytes' in source) return { input: source.bytes, dictionary: source.dictionary, close: () => {} };
  const mapped = openShared(source.window);
  const all = mapped.data as Uint8Array;
  return { input: all.subarray(source.dictionaryBytes), dictionary: all.subarray(0, source.dictionaryBytes), close: () => mapped.close() };
}

/**
 * Compresses the chunk (see {@link CompressTask.format}). Returns the compressed bytes; for
 * 'raw', followed by 4 bytes: the CRC-32 of the input, little-endian. One buffer, so that between
 * threads it is moved rather than cloned.
 */
export default function compress(task: CompressTask): Uint8Array {
  const { input, dictionary, close } = bytesOf(task.source);
  try {
    const data =
      task.format === 'member'
        ? gzipSync(input, { level: task.level })
        : deflateRawSync(input, {
            level: task.level,
            ...(dictionary.length > 0 ? { dictionary } : {}),
            // A byte-aligned end without the final-block bit lets the next chunk's deflate follow on.
            finishFlush: task.last ? constants.Z_FINISH : constants.Z_SYNC_FLUSH,
          });
    let out: Uint8Array = data;
    if (task.format === 'raw') {
      out = new Uint8Array(data.length + 4);
      out.set(data);
      new DataView(out.buffer).setUint32(data.length, crc32(input), true);
    }
    return (Tinypool.isWorkerThread ? Tinypool.move(out) : out) as Uint8Array;
  } finally {
    close();
  }
}
