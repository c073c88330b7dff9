import { execFileSync } from 'node:child_process';
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { maxArrayLength, type ShmErrorCode } from '../dist/index.js';

/** One way to provoke an error: which call, with which arguments (all plain, so they cross to workers). */
export interface Scenario {
  readonly name: string;
  readonly code: ShmErrorCode;
  readonly fn: 'open' | 'create' | 'use-after-close';
  readonly args: unknown[];
}

function npyWithHeader(text: string, declaredLength = text.length): Uint8Array {
  const out = new Uint8Array(10 + text.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0);
  new DataView(out.buffer).setUint16(8, declaredLength, true);
  out.set(Buffer.from(text, 'latin1'), 10);
  return out;
}

/** Pads a header dict with spaces and a newline so the data starts on a 64-byte boundary. */
function aligned(dict: string): string {
  return dict + ' '.repeat(63 - ((10 + dict.length) % 64)) + '\n';
}

/** A sysfs attribute: a regular file of 4096 bytes that the kernel refuses to mmap (ENODEV). */
function unmappableFile(): string {
  for (const dir of ['/sys/kernel/mm/transparent_hugepage', '/sys/kernel', '/sys/power']) {
    try {
      for (const name of readdirSync(dir)) {
        const p = join(dir, name);
        const st = statSync(p);
        if (st.isFile() && st.size === 4096) return p;
      }
    } catch {
      // not on this kernel: try the next directory
    }
  }
  throw new Error('no sysfs attribute file found to provoke a failing mmap');
}

/** Makes the files the scenarios need inside `dir` and returns every scenario. */
export function makeErrorCases(dir: string, vectors: string): Scenario[] {
  const raw = join(dir, 'raw16.f32');
  writeFileSync(raw, new Uint8Array(16));
  const fifo = join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  // One element past the largest typed array this Node can make (Node 20: 2^32 float32 elements).
  const tooLong = maxArrayLength('float32') + 1;
  const files: Record<string, Uint8Array> = {
    'notdict.npy': npyWithHeader("['descr', '<f4']            \n"),
    'badvalue.npy': npyWithHeader("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (1,), }\n"),
    'missingkey.npy': npyWithHeader("{'descr': '<f4', 'shape': (1,), }\n"),
    'truncated.npy': npyWithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }\n").subarray(0, 30),
    'hugeheader.npy': npyWithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }\n", 20_000),
    'shortdata.npy': new Uint8Array([...npyWithHeader(aligned("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }")), 0, 0, 0, 0]),
  };
  for (const [name, bytes] of Object.entries(files)) writeFileSync(join(dir, name), bytes);
  const p = (name: string): string => join(dir, name);
  return [
    { name: 'missing file', code: 'ERR_SHM_NOT_FOUND', fn: 'open', args: [p('missing.f32'), [4]] },
    { name: 'directory', code: 'ERR_SHM_NOT_A_FILE', fn: 'open', args: [dir, [4]] },
    { name: 'fifo (must not hang)', code: 'ERR_SHM_NOT_A_FILE', fn: 'open', args: [fifo, [4]] },
    { name: 'device', code: 'ERR_SHM_NOT_A_FILE', fn: 'open', args: ['/dev/zero', [4]] },
    { name: 'negative dimension', code: 'ERR_SHM_BAD_SHAPE', fn: 'open', args: [raw, [-1, 4]] },
    { name: 'raw file without shape', code: 'ERR_SHM_BAD_SHAPE', fn: 'open', args: [raw] },
    { name: 'fractional dimension', code: 'ERR_SHM_BAD_SHAPE', fn: 'create', args: [p('frac.f32'), [1.5]] },
    { name: 'shape larger than file', code: 'ERR_SHM_SHAPE_MISMATCH', fn: 'open', args: [raw, [5]] },
    { name: 'shape smaller than file', code: 'ERR_SHM_SHAPE_MISMATCH', fn: 'open', args: [raw, [3]] },
    { name: 'npy shape differs from header', code: 'ERR_SHM_SHAPE_MISMATCH', fn: 'open', args: [join(vectors, 'float32.npy'), [6, 4]] },
    { name: 'npy data truncated', code: 'ERR_SHM_SHAPE_MISMATCH', fn: 'open', args: [p('shortdata.npy')] },
    { name: 'unknown dtype', code: 'ERR_SHM_BAD_DTYPE', fn: 'open', args: [raw, [4], { dtype: 'complex64' }] },
    { name: 'dtype differs from npy header', code: 'ERR_SHM_BAD_DTYPE', fn: 'open', args: [join(vectors, 'int16.npy'), undefined, { dtype: 'float32' }] },
    { name: 'npy header not a dict', code: 'ERR_SHM_BAD_NPY', fn: 'open', args: [p('notdict.npy')] },
    { name: 'npy header bad value', code: 'ERR_SHM_BAD_NPY', fn: 'open', args: [p('badvalue.npy')] },
    { name: 'npy header missing key', code: 'ERR_SHM_BAD_NPY', fn: 'open', args: [p('missingkey.npy')] },
    { name: 'npy header truncated', code: 'ERR_SHM_BAD_NPY', fn: 'open', args: [p('truncated.npy')] },
    { name: 'npy header over 10,000 bytes', code: 'ERR_SHM_BAD_NPY', fn: 'open', args: [p('hugeheader.npy')] },
    { name: 'big-endian npy', code: 'ERR_SHM_UNSUPPORTED_NPY', fn: 'open', args: [join(vectors, 'bigendian.npy')] },
    { name: 'structured npy', code: 'ERR_SHM_UNSUPPORTED_NPY', fn: 'open', args: [join(vectors, 'structured.npy')] },
    { name: 'object npy', code: 'ERR_SHM_UNSUPPORTED_NPY', fn: 'open', args: [join(vectors, 'object.npy')] },
    { name: 'offset not a multiple of the item size', code: 'ERR_SHM_MISALIGNED', fn: 'open', args: [raw, [3], { offset: 2 }] },
    { name: 'create past the typed-array limit', code: 'ERR_SHM_TOO_LARGE', fn: 'create', args: [p('big.f32'), [tooLong]] },
    { name: 'open past the typed-array limit', code: 'ERR_SHM_TOO_LARGE', fn: 'open', args: [raw, [tooLong]] },
    { name: 'create over an existing file', code: 'ERR_SHM_EXISTS', fn: 'create', args: [raw, [4]] },
    { name: 'use after close', code: 'ERR_SHM_CLOSED', fn: 'use-after-close', args: [raw, [4]] },
    { name: 'file the kernel cannot map', code: 'ERR_SHM_MAP_FAILED', fn: 'open', args: [unmappableFile(), [4096], { dtype: 'uint8' }] },
  ];
}
