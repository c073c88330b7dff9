/**
 * The one zip writer of this repository: datasets for benchmarks and demos, and — because every
 * header field can be set to a lie — the corrupt and hostile archives the tests build byte by byte.
 */
import { open } from 'node:fs/promises';
import { crc32, deflateRawSync } from 'node:zlib';

/** One entry of {@link zipParts}; every field past `name` and `data` overrides what is true. */
export interface RawEntry {
  name: string | Uint8Array;
  data: Uint8Array;
  /** 8 (deflate, the default) or 0 (stored), or any other number to test refusals. */
  method?: number;
  /** Bytes stored as the entry's data (default: data, deflated at `level` when method is 8). */
  payload?: Uint8Array;
  /** Deflate level for the default payload (default: zlib's 6). */
  level?: number;
  crc?: number;
  uncompressedSize?: number;
  flags?: number;
}

/**
 * A whole archive as a list of buffers, in file order: local headers and data, central
 * directory, end record. A list so that a big entry is written without being copied once more.
 */
function zipParts(entries: readonly RawEntry[]): Buffer[] {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = typeof e.name === 'string' ? Buffer.from(e.name, 'utf8') : Buffer.from(e.name);
    const method = e.method ?? 8;
    const payload = e.payload ?? (method === 8 ? deflateRawSync(e.data, e.level === undefined ? {} : { level: e.level }) : e.data);
    const crc = e.crc ?? crc32(e.data);
    const size = e.uncompressedSize ?? e.data.length;
    const flags = e.flags ?? 0x800;
    // Sizes past 4 GiB go in a Zip64 extra field; the header says 0xffffffff.
    const zip64 = size > 0xffffffff;
    const extra = Buffer.alloc(zip64 ? 12 : 0);
    if (zip64) {
      extra.writeUInt16LE(1, 0);
      extra.writeUInt16LE(8, 2);
      extra.writeBigUInt64LE(BigInt(size), 4);
    }
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(flags, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt32LE(crc >>> 0, 14);
    local.writeUInt32LE(payload.length, 18);
    local.writeUInt32LE(zip64 ? 0xffffffff : size, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(extra.length, 28);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(0x0314, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(flags, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt32LE(crc >>> 0, 16);
    central.writeUInt32LE(payload.length, 20);
    central.writeUInt32LE(zip64 ? 0xffffffff : size, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt16LE(extra.length, 30);
    central.writeUInt32LE((0o100644 << 16) >>> 0, 38);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, extra, Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength));
    centrals.push(central, name, extra);
    offset += local.length + name.length + extra.length + payload.length;
  }
  const cdBytes = centrals.reduce((n, b) => n + b.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cdBytes, 12);
  end.writeUInt32LE(offset, 16);
  return [...locals, ...centrals, end];
}

/** A whole archive in one buffer (see {@link zipParts}). */
export function buildZip(entries: readonly RawEntry[]): Buffer {
  return Buffer.concat(zipParts(entries));
}

/** Writes a one-entry deflate zip holding `data`, deflated at `level` (default 1). */
export async function writeZip(path: string, entry: string, data: Uint8Array, level = 1): Promise<void> {
  const fh = await open(path, 'w');
  try {
    await fh.writev(zipParts([{ name: entry, data, level }]));
  } finally {
    await fh.close();
  }
}
