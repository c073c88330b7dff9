#!/usr/bin/env node
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { ShmArrayError } from './errors.js';
import { openShared } from './shared-array.js';
import { parseDType, type DType } from './dtype.js';

/** Parses `4`, `1000x4` or `1000,4` into a shape. */
function parseShape(text: string): number[] {
  const dims = text.split(/[x,]/).map((s) => Number(s.trim()));
  if (dims.some((n) => !Number.isSafeInteger(n) || n < 0)) throw new InvalidArgumentError(`"${text}" is not a shape; write it like 1000x4.`);
  return dims;
}

function parseDtypeOption(text: string): DType {
  try {
    return parseDType(text);
  } catch (err) {
    throw new InvalidArgumentError(err instanceof Error ? err.message : String(err));
  }
}

function info(file: string, opts: { shape?: number[]; dtype?: DType; json?: boolean }): void {
  const array = openShared(file, opts.shape, { dtype: opts.dtype });
  const { resident, total } = array.residency();
  const facts = {
    path: array.path,
    format: array.npy ? 'npy' : 'raw',
    shape: array.shape,
    dtype: array.dtype,
    offset: array.offset,
    bytes: array.byteLength,
    residentPages: resident,
    pages: total,
  };
  array.close();
  if (opts.json) {
    console.log(JSON.stringify(facts));
    return;
  }
  console.log(`${facts.path}
  format    ${facts.format}
  shape     [${facts.shape.join(', ')}]
  dtype     ${facts.dtype}
  bytes     ${facts.bytes} (data at offset ${facts.offset})
  resident  ${total === 0 ? 'nothing mapped' : `${resident} of ${total} pages (${((100 * resident) / total).toFixed(1)}%)`}`);
}

/** Builds the `shmarray` command-line program. */
export function program(): Command {
  const cmd = new Command('shmarray')
    .description('Share large numeric arrays between Node workers without copying them.')
    .exitOverride();
  cmd
    .command('info')
    .description('Show the shape, dtype, size and page residency of a shared array file.')
    .argument('<file>', 'a .npy file, or a raw file with --shape')
    .option('-s, --shape <shape>', 'shape of a raw file, e.g. 1000x4', parseShape)
    .option('-d, --dtype <dtype>', 'element type of a raw file (default float32)', parseDtypeOption)
    .option('--json', 'print one JSON object')
    .addHelpText('after', '\nExamples:\n  $ shmarray info data.npy\n  $ shmarray info /dev/shm/job/a.f32 --shape 1000000x4')
    .action(info);
  return cmd;
}

async function main(argv: string[]): Promise<number> {
  try {
    await program().parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (err instanceof ShmArrayError) {
      console.error(`shmarray: ${err.message} [${err.code}]`);
      return 1;
    }
    throw err;
  }
}

process.exitCode = await main(process.argv);
