/**
 * Worker: compresses one chunk of the input for gzipParallel. The chunk is read from the input
 * file (a byte window) or arrives as bytes (stream input); the compressed bytes go back, moved
 * rather than copied between threads.
 */
import { constants, crc32, deflateRawSync, gzipSync } from 'node:zlib';
import Tinypool from 'tinypool';
import { closeSync } from 'node:fs';
import { ShmArrayError } from '../core/errors.js';
import { openFile, readAt } from '../core/files.js';
import type { SharedHandle } from '../core/handle.js';

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

/**
 * The chunk's bytes. A file window is read (pread), not mapped: the input is not ours, and a file
 * that shrinks under a mapping kills the process with SIGBUS; under a read it is a short read,
 * reported as ERR_SHM_IO.
 */
function bytesOf(source: ChunkSource): { input: Uint8Array; dictionary: Uint8Array } {
  if ('bytes' in source) return { input: source.bytes, dictionary: source.dictionary };
  const { path, offset } = source.window;
  const length = source.window.shape[0] ?? 0;
  let all: Buffer;
  const fd = openFile(path, 'r', 'read');
  try {
    all = readAt(fd, offset, length);
    if (all.length < length) {
      throw new ShmArrayError('ERR_SHM_IO', `${path} shrank while it was being compressed (${offset + all.length} bytes left of ${offset + length}); nothing was written.`, { path, offset: offset + all.length });
    }
  } finally {
    closeSync(fd);
  }
  return { input: all.subarray(source.dictionaryBytes), dictionary: all.subarray(0, source.dictionaryBytes) };
}

/**
 * Compresses the chunk (see {@link CompressTask.format}). Returns the compressed bytes; for
 * 'raw', followed by 4 bytes: the CRC-32 of the input, little-endian. One buffer, so that between
 * threads it is moved rather than cloned.
 */
export default function compress(task: CompressTask): Uint8Array {
  const { input, dictionary } = bytesOf(task.source);
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
  // A small result may be a slice of Buffer's shared pool: moving it would take the whole pool
  // (Node 24 refuses: DataCloneError). Such results are small; they are copied out first.
  if (out.byteOffset !== 0 || out.byteLength !== out.buffer.byteLength) out = new Uint8Array(out);
  return (Tinypool.isWorkerThread ? Tinypool.move(out) : out) as Uint8Array;
}
