/**
 * The `shmarray` command: bench, extract, stats, info, gzip, cache. Bad arguments exit 2 with one line;
 * every failure prints one line with its code and exits 1. Importing this module runs nothing:
 * bin.ts is the executable.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Command, CommanderError, Option } from 'commander';
import * as parse from './args.js';
import { ShmArrayError } from '../core/errors.js';
import { DTYPES } from '../core/dtype.js';

/** The installed package's version, from its package.json (dist/cli/ → the package root). */
function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

/**
 * A command's action whose module is loaded only when that command runs: the whole library takes
 * ~0.1 s to import, and `shmarray --version`, `--help` and each command pay only for what they use.
 */
function lazy<M>(load: () => Promise<M>, name: keyof M): (...args: unknown[]) => Promise<void> {
  return async (...args) => {
    const action = (await load())[name] as (...a: unknown[]) => unknown;
    await action(...args);
  };
}
const bench = (): Promise<typeof import('./commands/bench.js')> => import('./commands/bench.js');
const data = (): Promise<typeof import('./commands/data.js')> => import('./commands/data.js');
const gzip = (): Promise<typeof import('./commands/gzip.js')> => import('./commands/gzip.js');
const cacheCommands = (): Promise<typeof import('./commands/cache.js')> => import('./commands/cache.js');

const examples = (...lines: string[]): string => `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}`;

/** Builds the `shmarray` program. */
export function program(): Command {
  const cmd = new Command('shmarray')
    .description('Share large numeric arrays between Node workers without copying them: one memory-mapped file, many typed-array views.')
    .version(packageVersion(), '-V, --version', 'print the version of shmarray')
    .exitOverride()
    .showSuggestionAfterError()
    .addHelpText('after', examples('npx shmarray bench', 'shmarray extract data/*.zip --columns 4', 'shmarray stats data/*.zip --columns 4', 'shmarray info /dev/shm/x.npy', 'shmarray gzip big.csv -o big.csv.gz', 'shmarray cache list'));

  cmd
    .command('bench')
    .description('Generate zipped float32 datasets, then deliver them to a worker pool by copy, SharedArrayBuffer and memory map, run column statistics, and measure time and memory (PSS, not RSS).')
    .option('--files <n>', 'number of zip files', parse.positiveInt, 15)
    .addOption(new Option('--size <bytes>', 'total uncompressed size, e.g. 240MiB, 480MB, 2GiB').argParser(parse.bytes).default(240 * 2 ** 20, '240MiB'))
    .option('--columns <n>', 'float32 columns per row', parse.positiveInt, 4)
    .option('--workers <n>', `workers per pool (default: cores, here ${availableParallelism()})`, parse.positiveInt)
    .addOption(new Option('--runtime <runtime>', 'worker_threads, child_process or both').argParser(parse.runtimes).default(['worker_threads', 'child_process'], 'both'))
    .addOption(new Option('--modes <list>', 'delivery modes, comma-separated: copy, sab, map').argParser(parse.modes).default(['copy', 'sab', 'map'], 'copy,sab,map'))
    .option('--repeat <k>', 'runs per scenario; the median is reported', parse.positiveInt, 1)
    .option('--json <file>', 'write the full report as JSON')
    .option('--svg <file>', 'write a chart (open it in a browser)')
    .addHelpText('after', examples('npx shmarray bench', 'shmarray bench --size 2GiB --runtime child_process --modes copy,map', 'shmarray bench --repeat 3 --json bench.json --svg bench.svg'))
    .action(lazy(bench, 'benchCommand'));

  rawData(
    cmd
    .command('extract')
    .description('Extract zip archives (streamed, CRC-checked, in parallel) and print one handle per array as a JSON line.')
    .argument('<zip...>', 'zip archives')
    .option('--dir <dir>', 'output directory (default: a new directory on /dev/shm when it has room); the files stay')
    .option('--workers <n>', 'archives extracted at once (default: cores)', parse.positiveInt)
    .addHelpText('after', examples('shmarray extract data/file_*.zip --columns 4 --dir /dev/shm/job'))
    .action(lazy(data, 'extractCommand')),
    'raw entries (.npy entries carry their own)',
  );

  rawData(
    cmd
    .command('stats')
    .description('Per-column count, mean, std, min and max of zip archives and data files: archives extracted on the addon\'s threads, statistics taken in this process up to 1 GiB of data, past it in a worker pool.')
    .argument('<input...>', 'zip archives, .npy files, .npz and .safetensors files (one array each: --array), Arrow tables (.arrow: --column), or raw files with --columns or --shape')
    .option('--array <name>', 'the array of an .npz or the tensor of a safetensors file (needed when it holds more than one; shmarray info FILE lists them)')
    .option('--column <name>', 'the numeric column of an Arrow table (.arrow) to take the statistics of')
    .option('--workers <n>', 'extraction threads, and workers for the statistics (given, a pool is used whatever the size; default: cores, and no pool up to 1 GiB)', parse.positiveInt)
    .addOption(new Option('--runtime <runtime>', 'worker_threads or child_process').argParser(parse.runtime))
    .option('--json', 'print the statistics as JSON')
    .option('--partial', 'print (or write, with -o) the partial statistics instead, in the format shmarray merge and mergeColumnStats take')
    .option('-o, --output <file>', 'with --partial: write it to this file (atomically)')
    .addHelpText('after', examples('shmarray stats data/*.zip --columns 4', 'shmarray stats /dev/shm/job/means.npy --json', 'shmarray stats train.npz --array X', 'shmarray stats sales.arrow --column price', 'shmarray stats shard-3.zip --columns 4 --partial -o part-3.json'))
    .action(lazy(data, 'statsCommand')),
    'raw data (required for raw files and zips of raw entries; .npy carries its own)',
  );

  cmd
    .command('merge')
    .description('Merge partial statistics (shmarray stats --partial, from any machine, in any order) into the statistics of all their rows: the same table as stats.')
    .argument('<part...>', 'partial files (JSON)')
    .option('--json', 'print the statistics as JSON (the same object as stats --json)')
    .addHelpText('after', examples('shmarray merge parts/*.json', 'shmarray merge part-*.json --json'))
    .action(lazy(data, 'mergeCommand'));

  rawData(
    cmd
    .command('info')
    .description('Shape, dtype, size and page residency (mincore) of a data file, and where a store for it would go and why; or, with --engine, the compression engine in use and the addon file it is in.')
    .argument('[file]', 'a .npy file, an .npz or a .safetensors file (lists its arrays), an Arrow table (.arrow: its schema), or a raw file with --shape or --columns')
    .option('--engine', 'print the engine that inflates zip entries and deflates gzip members (libdeflate, or the zlib inside Node), and the addon file loaded')
    .option('--json', 'print one JSON object')
    .addHelpText('after', examples('shmarray info data.npy', 'shmarray info train.npz', 'shmarray info model.safetensors', 'shmarray info sales.arrow', 'shmarray info /dev/shm/job/a.f32 --columns 4', 'shmarray info --engine'))
    .action(lazy(data, 'infoCommand')),
    'a raw file',
  );
  cmd
    .command('gzip')
    .description("Compress a file or stdin in parallel: chunks become independent gzip members (or, with --single-member, one member) compressed on the addon's threads or in workers; one writer appends them in order. The output's directory is made when missing.")
    .argument('<input>', 'a file, or - for stdin')
    .requiredOption('-o, --output <file>', 'the .gz file to write (replaced atomically on success)')
    .option('--workers <n>', 'workers (default: cores)', parse.positiveInt)
    .option('--level <n>', 'compression level 0-9', parse.level, 6)
    .addOption(new Option('--chunk <bytes>', 'uncompressed bytes per chunk').argParser(parse.bytes).default(4 * 2 ** 20, '4MiB'))
    .option('--single-member', 'write one gzip member (pigz-style) for decoders that stop after the first member')
    .addOption(new Option('--runtime <runtime>', 'worker_threads or child_process').argParser(parse.runtime))
    .addHelpText('after', examples('shmarray gzip results.f32 -o results.f32.gz', 'producer | shmarray gzip - -o out.gz --workers 2 --single-member'))
    .action(lazy(gzip, 'gzipCommand'));

  const cache = cmd
    .command('cache')
    .description("The node-wide caches of datasets (SharedCache): one copy per machine, shared by every process of this user.")
    .addHelpText('after', examples('shmarray cache list', 'shmarray cache list --name my-app --json', 'shmarray cache prune --name my-app --budget 4GiB', 'shmarray cache clear --name my-app', 'shmarray cache remove --name my-app'));
  const where = (c: Command): Command =>
    c.option('--name <name>', 'the cache (default: every cache found)').option('--dir <dir>', 'the base directory (default: $SHMARRAY_CACHE_DIR, else /dev/shm and the temp directory)');
  where(cache.command('list').description('Each entry: key, bytes, holders (pids), last use; and where the cache is and why.'))
    .option('--json', 'print JSON')
    .action(lazy(cacheCommands, 'cacheListCommand'));
  where(cache.command('prune').description("Evict unheld entries, least recently used first, down to the cache's budget."))
    .option('--budget <bytes>', "evict down to this size instead, e.g. 4GiB")
    .action(lazy(cacheCommands, 'cachePruneCommand'));
  where(cache.command('clear').description('Evict every unheld entry; held ones stay, and the holders are named.')).action(lazy(cacheCommands, 'cacheClearCommand'));
  cache
    .command('remove')
    .description('Remove a whole cache — entries, lock files, budget, directory — when nobody holds any of it (stop its users first); else remove what is unheld and name the holders.')
    .requiredOption('--name <name>', 'the cache to remove')
    .option('--dir <dir>', 'the base directory (default: $SHMARRAY_CACHE_DIR, else /dev/shm and the temp directory)')
    .addHelpText('after', examples('shmarray cache remove --name my-app'))
    .action(lazy(cacheCommands, 'cacheRemoveCommand'));
  return cmd;
}

/**
 * --columns, --shape and --dtype: one flag, one parser and one wording wherever raw data is read
 * (extract, stats, info); `what` names the data in their help.
 */
function rawData(c: Command, what: string): Command {
  return c
    .option('--columns <n>', `columns of ${what}; rows are inferred`, parse.positiveInt)
    .option('--shape <shape>', `exact shape of ${what.replace(/ \(.*\)$/, '')}, e.g. 1000x4`, parse.shape)
    .option('--dtype <dtype>', `element type of ${what.replace(/ \(.*\)$/, '')} (default float32; ${DTYPES.join(', ')})`, parse.dtype);
}

/** Runs the program; returns the exit status (0 ok, 1 failed, 2 bad arguments). */
export async function main(argv: readonly string[]): Promise<number> {
  try {
    await program().parseAsync([...argv]);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    // Node's errno errors carry the path they failed on; only without one is it left unnamed.
    const path = (err as NodeJS.ErrnoException | null)?.path;
    const e = ShmArrayError.fromFs(err, 'use', typeof path === 'string' ? path : '(a path given on the command line)');
    if (e === undefined) {
      // Not a shmarray failure: still one line, and the stack only when asked for.
      const text = err instanceof Error ? err.message : String(err);
      console.error(`shmarray: unexpected error: ${text}${process.env['SHMARRAY_DEBUG'] ? `\n${(err as Error).stack ?? ''}` : ' (SHMARRAY_DEBUG=1 prints the stack)'}`);
      return 1;
    }
    console.error(`shmarray: ${e.message} [${e.code}]`);
    return e.code === 'ERR_SHM_BAD_ARGUMENT' ? 2 : 1;
  }
}
