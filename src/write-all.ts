import type { FileHandle } from 'node:fs/promises';

/** Writes all of `data` at the file's current position: write(2) may take less than asked. */
export async function writeAll(fh: FileHandle, data: Uint8Array): Promise<void> {
  for (let done = 0; done < data.length; ) done += (await fh.write(data, done, data.length - done)).bytesWritten;
}
