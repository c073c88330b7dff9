import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { openShared } from '../dist/index.js';
import { generateDataset, type BenchReport } from '../dist/bench/index.js';
import { NO_TMPFS, smallTmpfs, tempDir } from './helpers.js';

const cli = fileURLToPath(new URL('../dist/cli/bin.js', import.meta.url));
const run = promisify(execFile);
const tmp = tempDir('shmarray-cli-');
after(() => tmp.dispose());

/** Runs the CLI as a user would; resolves with its status and output, never rejects. */
async function shmarray(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [cli, ...args], { maxBuffer: 1 << 24 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test('bench: end to end, JSON of the documented shape, map uses less memory than copy', async () => {
  const json = tmp.path('bench.json');
  const svg = tmp.path('bench.svg');
  const r = await shmarray('bench', '--size', '16MB', '--files', '3', '--json', json, '--svg', svg);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /copy ÷ map footprint, worker_threads: [\d.]+×/);
  assert.equal(r.stderr, '', 'no progress bar when stderr is not a terminal');
  const report = JSON.parse(readFileSync(json, 'utf8')) as BenchReport;
  assert.equal(typeof report.machine.cores, 'number');
  assert.equal(typeof report.machine.memoryBytes, 'number');
  assert.match(report.machine.node, /^v\d+/);
  assert.equal(typeof report.machine.kernel, 'string');
  assert.equal(report.dataset.files, 3);
  assert.ok(Math.abs(report.dataset.bytes - 16e6) < 64);
  const combos = report.results.map((x) => `${x.mode}/${x.runtime}`).sort();
  assert.deepEqual(combos, ['copy/child_process', 'copy/worker_threads', 'map/child_process', 'map/worker_threads', 'sab/worker_threads']);
  for (const x of report.results) {
    for (const k of ['workers', 'extractSeconds', 'deliverSeconds', 'jobSeconds', 'totalSeconds', 'parentPss', 'workersPss', 'copiesBytes', 'footprintBytes'] as const) {
      assert.equal(typeof x[k], 'number', `${k} of ${x.mode}/${x.runtime}`);
      assert.ok(x[k] >= 0);
    }
    assert.equal(x.statsMatch, true, `${x.mode}/${x.runtime} computed the same statistics`);
  }
  for (const runtime of ['worker_threads', 'child_process'] as const) {
    const copy = report.results.find((x) => x.mode === 'copy' && x.runtime === runtime);
    const map = report.results.find((x) => x.mode === 'map' && x.runtime === runtime);
    assert.ok(copy && map);
    assert.ok(map.footprintBytes < copy.footprintBytes, `${runtime}: map ${map.footprintBytes} < copy ${copy.footprintBytes}`);
    assert.ok(map.copiesBytes < copy.copiesBytes);
  }
  const chart = readFileSync(svg, 'utf8');
  assert.match(chart, /^<\?xml[^]*<svg [^]*<rect [^]*<\/svg>\n$/);
  assert.match(r.stdout, /\ncopy = arrays sent in task messages; sab = one SharedArrayBuffer \(threads only[^\n]*so child_process has no sab row\); map = [^\n]*'same'/);
  assert.match(r.stdout, new RegExp(`wrote the report as JSON to ${json}\\nwrote the chart to ${svg} \\(open it in a browser\\)\\n$`));
});

test('bench --size 1TB: one line with ERR_SHM_NO_SPACE saying what fits, before anything is generated', async () => {
  const r = await shmarray('bench', '--size', '1TB');
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^shmarray: shmarray bench: --size 931\.3 GiB needs about .* is available; --size [\d.]+ [GM]iB fits, or leave out copy \(--modes sab,map\)\. \[ERR_SHM_NO_SPACE\]\n$/);
});

test('the chart\'s axis ticks are round numbers', async () => {
  const { niceTicks } = await import('../dist/bench/chart.js');
  assert.deepEqual(niceTicks(2481), [0, 1000, 2000, 3000]);
  assert.deepEqual(niceTicks(1861), [0, 500, 1000, 1500, 2000]);
  assert.deepEqual(niceTicks(1.861), [0, 0.5, 1, 1.5, 2]);
  assert.deepEqual(niceTicks(0.27), [0, 0.1, 0.2, 0.3]);
});

describe('extract, stats, info', () => {
  test('extract prints one handle per line; stats (in its own thread, or with --workers 2 in a pool) and info read them back', async () => {
    const zips = (await generateDataset({ dir: tmp.path('zips'), files: 2, bytes: 64 * 1024 })).map((d) => d.path);
    const out = tmp.path('extracted');
    const r = await shmarray('extract', ...zips, '--dir', out, '--columns', '4');
    assert.equal(r.code, 0, r.stderr);
    const handles = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { path: string; shape: number[] });
    assert.equal(handles.length, 2);
    assert.deepEqual(readdirSync(out).sort(), ['file_0-000-data.f32', 'file_1-000-data.f32']);
    assert.equal(openShared(handles[0] as never).shape[1], 4);

    const fromZips = await shmarray('stats', ...zips, '--columns', '4', '--json');
    const fromFiles = await shmarray('stats', ...handles.map((h) => h.path), '--columns', '4', '--json');
    assert.equal(fromZips.code, 0, fromZips.stderr);
    assert.deepEqual(JSON.parse(fromZips.stdout), JSON.parse(fromFiles.stdout));
    assert.equal((JSON.parse(fromZips.stdout) as { rows: number }).rows, 4096);

    // Without --workers the statistics are taken in the CLI's own thread, each archive's as it
    // finishes; with --workers 2, in a pool after all of them: the same statistics.
    const pooled = await shmarray('stats', ...zips, '--columns', '4', '--json', '--workers', '2');
    assert.equal(pooled.code, 0, pooled.stderr);
    const [a, b] = [JSON.parse(fromZips.stdout), JSON.parse(pooled.stdout)] as { rows: number; mean: number[]; std: number[]; min: number[]; max: number[] }[];
    assert.deepEqual([a?.rows, a?.min, a?.max], [b?.rows, b?.min, b?.max]);
    for (const k of ['mean', 'std'] as const) a?.[k].forEach((v, i) => assert.ok(Math.abs(v - (b?.[k][i] ?? NaN)) <= 1e-12 * Math.max(1, Math.abs(v)), `${k}[${i}]`));

    const info = await shmarray('info', handles[0]?.path ?? '', '--columns', '4', '--json');
    assert.equal(info.code, 0, info.stderr);
    const facts = JSON.parse(info.stdout) as { shape: number[]; storeDir: string; storeReason: string };
    assert.deepEqual(facts.shape, [2048, 4]);
    assert.equal(facts.storeDir, '/dev/shm');
    assert.match(facts.storeReason, /free/);
  });

  test('extracting again into the same --dir refuses to replace the files', async () => {
    const zips = (await generateDataset({ dir: tmp.path('again-zips'), files: 1, bytes: 4096 })).map((d) => d.path);
    const out = tmp.path('again');
    assert.equal((await shmarray('extract', ...zips, '--dir', out)).code, 0);
    const before = readFileSync(`${out}/file_0-000-data.f32`);
    const r = await shmarray('extract', ...zips, '--dir', out);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /\[ERR_SHM_EXISTS\]\n$/);
    assert.deepEqual(readdirSync(out), ['file_0-000-data.f32']);
    assert.ok(readFileSync(`${out}/file_0-000-data.f32`).equals(before));
  });

  test('a bad archive fails with its code and leaves nothing in --dir', async () => {
    const bad = tmp.path('bad.zip');
    await import('node:fs').then((fs) => fs.writeFileSync(bad, 'not a zip'));
    const out = tmp.path('bad-out');
    const r = await shmarray('extract', bad, '--dir', out);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /\[ERR_SHM_BAD_ZIP\]\n$/);
    assert.deepEqual(readdirSync(out), []);
  });
});

test('extract interrupted by SIGINT leaves nothing in --dir and dies of SIGINT', async () => {
  const zips = (await generateDataset({ dir: tmp.path('big-zips'), files: 4, bytes: 96 * 2 ** 20 })).map((d) => d.path);
  const out = tmp.path('interrupted');
  mkdirSync(out);
  const child = spawn(process.execPath, [cli, 'extract', ...zips, '--dir', out, '--workers', '1', '--columns', '4'], { stdio: 'ignore' });
  while (!readdirSync(out).some((n) => n.endsWith('.part'))) await new Promise((r) => setTimeout(r, 5));
  child.kill('SIGINT');
  const [code, signal] = (await new Promise((r) => child.once('exit', (...a) => r(a)))) as [number | null, string | null];
  assert.equal(signal ?? code, 'SIGINT');
  assert.deepEqual(readdirSync(out), []);
});

describe('a failing command prints one line with the error code and exits 1, never a stack', () => {
  const missing = tmp.path('missing.f32');
  for (const args of [['stats', missing, '--columns', '4'], ['info', missing, '--columns', '4'], ['info', missing], ['gzip', missing, '-o', tmp.path('out.gz')]]) {
    test(args.map((a) => (a === missing ? 'missing.f32' : a)).join(' '), async () => {
      const r = await shmarray(...args);
      assert.equal(r.code, 1);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, /^shmarray: .*(does not exist|no such file or directory \(ENOENT\)).*\[ERR_SHM_NOT_FOUND\]\n$/);
      assert.doesNotMatch(r.stderr, /: ENOENT/, 'an errno name alone is not a reason');
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    });
  }
});

describe('info answers in the terms of the CLI', () => {
  test('a zip (by name, and by its bytes under another name): exit 2, saying to use shmarray extract', async () => {
    const [zip] = (await generateDataset({ dir: tmp.path('info-zip'), files: 1, bytes: 64 * 1024 })).map((d) => d.path);
    const renamed = tmp.path('info-zip/archive.bin');
    writeFileSync(renamed, readFileSync(zip as string));
    for (const f of [zip as string, renamed]) {
      const r = await shmarray('info', f);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /is a zip archive; info reads one data file\. Extract it first \(shmarray extract /);
    }
  });

  test('a raw file without --columns or --shape: exit 2 naming --columns, not openShared', async () => {
    const raw = tmp.path('notes.txt');
    writeFileSync(raw, 'just some text\n');
    const r = await shmarray('info', raw);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /is raw data \(not \.npy\), so its shape is unknown; give --columns C \(or --shape RxC\)/);
    assert.doesNotMatch(r.stderr, /openShared/);
  });
});

test('--version and -V print the package version', async () => {
  const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  for (const flag of ['--version', '-V']) {
    const r = await shmarray(flag);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, `${version}\n`);
  }
});

test('gzip -o into a directory that does not exist yet makes it, as extract --dir does', async () => {
  const input = tmp.path('to-gzip.bin');
  writeFileSync(input, 'shmarray '.repeat(1000));
  const out = tmp.path('new-dir/deeper/x.gz');
  const r = await shmarray('gzip', input, '-o', out);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(readFileSync(out).length > 0);
});

test('same-named archives from different folders extract side by side into one --dir', async () => {
  const a = (await generateDataset({ dir: tmp.path('same-a'), files: 1, bytes: 4096 })).map((d) => d.path);
  const b = (await generateDataset({ dir: tmp.path('same-b'), files: 1, bytes: 8192 })).map((d) => d.path);
  const out = tmp.path('same-out');
  const r = await shmarray('extract', ...a, ...b, '--dir', out);
  assert.equal(r.code, 0, r.stderr);
  const handles = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { path: string; shape: number[] });
  assert.equal(handles.length, 2);
  assert.notEqual(handles[0]?.path, handles[1]?.path);
  assert.deepEqual(handles.map((h) => h.shape[0]), [1024, 2048]);
  assert.equal(readdirSync(out).length, 2);
});

test('importing the CLI module runs nothing (bin.js is the executable)', async () => {
  const script = `import(${JSON.stringify(fileURLToPath(new URL('../dist/cli/main.js', import.meta.url)))}).then((m) => console.log(typeof m.main, process.exitCode ?? 'unset'))`;
  const { stdout, stderr } = await run(process.execPath, ['-e', script]);
  assert.equal(stdout, 'function unset\n');
  assert.equal(stderr, '');
});

describe('stats --partial and merge', () => {
  test('partials of 3 shards, merged: the stats --json of all 3 archives (1e-12 relative); merge prints the same table', async () => {
    const zips = (await generateDataset({ dir: tmp.path('shards'), files: 3, bytes: 3 * 64 * 1024, seed: 11 })).map((d) => d.path);
    const parts: string[] = [];
    for (const [i, z] of zips.entries()) {
      const part = tmp.path(`part-${i}.json`);
      const r = await shmarray('stats', z, '--columns', '4', '--partial', '-o', part);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, new RegExp(`wrote the partial of 4096 rows × 4 columns to ${part}`));
      assert.ok(readFileSync(part).length < 1024, 'a partial is under 1 KiB');
      parts.push(part);
    }
    const all = JSON.parse((await shmarray('stats', ...zips, '--columns', '4', '--json')).stdout) as Record<string, number[] | number>;
    const merged = await shmarray('merge', ...parts.reverse(), '--json');
    assert.equal(merged.code, 0, merged.stderr);
    const m = JSON.parse(merged.stdout) as Record<string, number[] | number>;
    assert.equal(m['rows'], all['rows']);
    for (const field of ['mean', 'std', 'min', 'max']) {
      (m[field] as number[]).forEach((x, c) => {
        const y = (all[field] as number[])[c] as number;
        assert.ok(Math.abs(x - y) <= 1e-12 * Math.abs(y), `${field}[${c}] ${x} vs ${y}`);
      });
    }
    const table = await shmarray('merge', ...parts);
    assert.match(table.stdout, /^12288 rows × 4 columns merged from 3 partial\(s\)\ncolumn +mean +std +min +max\n/);
  });

  test('merge of a file that is not a partial: exit 2 naming the file and field', async () => {
    const badPart = tmp.path('bad-part.json');
    writeFileSync(badPart, JSON.stringify({ format: 'something-else' }));
    const r = await shmarray('merge', badPart);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, `shmarray: shmarray merge: ${badPart}: its format is "something-else", not 'shmarray-partial-stats/1'. [ERR_SHM_BAD_ARGUMENT]\n`);
  });

  test('merge of stats --json output beside a partial: exit 2 naming that file and saying to use stats --partial', async () => {
    const zips = (await generateDataset({ dir: tmp.path('merge-final'), files: 1, bytes: 64 * 1024, seed: 3 })).map((d) => d.path);
    const part = tmp.path('merge-final-part.json');
    const all = tmp.path('merge-final-all.json');
    assert.equal((await shmarray('stats', ...zips, '--columns', '4', '--partial', '-o', part)).code, 0);
    writeFileSync(all, (await shmarray('stats', ...zips, '--columns', '4', '--json')).stdout);
    const r = await shmarray('merge', part, all);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, `shmarray: shmarray merge: ${all} is finished statistics (shmarray stats --json output), not a partial: a std cannot be merged exactly; write partials with shmarray stats --partial. [ERR_SHM_BAD_ARGUMENT]\n`);
  });

  test('merge of a partial whose column is all NaN: exit 0, the same statistics as stats --json of the file', async () => {
    const file = tmp.path('all-nan-col.f32');
    writeFileSync(file, Buffer.from(Float32Array.from([NaN, 1, NaN, 2, NaN, 4]).buffer));
    const part = tmp.path('all-nan-part.json');
    assert.equal((await shmarray('stats', file, '--columns', '2', '--partial', '-o', part)).code, 0);
    const merged = await shmarray('merge', part, '--json');
    assert.equal(merged.code, 0, merged.stderr);
    assert.equal(merged.stdout, (await shmarray('stats', file, '--columns', '2', '--json')).stdout);
  });

  test('stats of raw data without --columns or --shape: exit 2 naming the zip (checked before extracting) and saying to give --columns', async () => {
    const zips = (await generateDataset({ dir: tmp.path('raw-nocols'), files: 1, bytes: 64 * 1024 })).map((d) => d.path);
    const storeBase = tmp.path('raw-nocols-store');
    mkdirSync(storeBase, { mode: 0o700 });
    const r = await run(process.execPath, [cli, 'stats', ...zips], { env: { ...process.env, SHMARRAY_DIR: storeBase } }).then(
      () => ({ code: 0, stdout: '', stderr: '' }),
      (e: { code: number; stdout: string; stderr: string }) => e,
    );
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, new RegExp(`^shmarray: shmarray stats: ${zips[0]} holds raw data \\(entry "[^"]+" is not \\.npy\\), so its columns are unknown; give --columns C`));
    assert.deepEqual(readdirSync(storeBase), [], 'no store was made: nothing was extracted');
    const rawFile = tmp.path('raw-nocols.f32');
    writeFileSync(rawFile, new Uint8Array(64));
    const f = await shmarray('stats', rawFile, ...zips);
    assert.equal(f.code, 2);
    assert.match(f.stderr, /^shmarray: shmarray stats: .*raw-nocols\.f32 is raw data \(not \.npy\), so its shape is unknown; give --columns C/);
  });
});

describe('bad arguments exit with status 2 and a one-line reason', () => {
  for (const args of [['bench', '--size', 'lots'], ['bench', '--runtime', 'fibers'], ['bench', '--modes', 'copy,teleport'], ['bench', '--workers', '0'], ['stats'], ['frobnicate'], ['info', 'x', '--shape', '4xq'], ['stats', 'x.npy', '--runtime', 'both']]) {
    test(args.join(' '), async () => {
      const r = await shmarray(...args);
      assert.equal(r.code, 2);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    });
  }

  test('stats --runtime child: the suggestion names only runtimes stats takes', async () => {
    const r = await shmarray('stats', 'x.npy', '--runtime', 'child');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /"child" is not a runtime here; use worker_threads or child_process \(one pool runs one runtime\)/);
    assert.doesNotMatch(r.stderr, /both/);
  });

  test('every command has --help with an example', async () => {
    for (const c of ['bench', 'extract', 'stats', 'merge', 'info', 'gzip', 'cache']) {
      const r = await shmarray(c, '--help');
      assert.equal(r.code, 0);
      assert.match(r.stdout, /Examples:\n {2}\$ /);
    }
  });
});

test('a reader that closes the pipe early (| head -1) ends the output quietly: exit 0, no EPIPE stack', async () => {
  const child = spawn(process.execPath, [cli, 'stats', '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  // Our end closed before the child writes (head after its line, earlier): its first write meets EPIPE.
  child.stdout.destroy();
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  assert.equal(code, 0);
  assert.doesNotMatch(stderr, /EPIPE|at /);
});

describe('two CLI extractions into one --dir at once', () => {
  const start = (...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      const c = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      c.once('exit', (code) => resolve({ code, stdout, stderr }));
    });
  const reported = (stdout: string): string[] => stdout.trim().split('\n').filter((l) => l !== '').map((l) => (JSON.parse(l) as { path: string }).path);

  test("a failing one never removes what a succeeding one reported (4 rounds)", async () => {
    const good = (await generateDataset({ dir: tmp.path('race-good'), files: 1, bytes: 2 * 2 ** 20 })).map((d) => d.path);
    const corrupt = tmp.path('race-bad/file_9.zip');
    mkdirSync(tmp.path('race-bad'));
    const bytes = readFileSync(good[0] as string);
    const at = Math.floor(bytes.length / 2);
    bytes[at] = (bytes[at] ?? 0) ^ 0xff; // a flipped byte of deflated data: fails late, at the CRC
    writeFileSync(corrupt, bytes);
    for (let round = 0; round < 4; round++) {
      const out = tmp.path(`race-${round}`);
      mkdirSync(out);
      const [failing, succeeding] = await Promise.all([start('extract', ...good, corrupt, '--dir', out, '--workers', '2'), start('extract', ...good, '--dir', out)]);
      assert.equal(failing.code, 1, 'the run with the corrupt archive fails');
      const files = readdirSync(out).map((n) => `${out}/${n}`).sort();
      if (succeeding.code === 0) assert.deepEqual(files, reported(succeeding.stdout).sort(), 'what it reported is there, and nothing else');
      else assert.deepEqual(files, [], `it failed cleanly: ${succeeding.stderr}`);
    }
  });

  test('the same archives twice at once: each run succeeds or fails cleanly with ERR_SHM_EXISTS, and the directory holds exactly what the winners reported', async () => {
    const zips = (await generateDataset({ dir: tmp.path('twice-zips'), files: 2, bytes: 4 * 2 ** 20 })).map((d) => d.path);
    for (let round = 0; round < 4; round++) {
      const out = tmp.path(`twice-${round}`);
      mkdirSync(out);
      const runs = await Promise.all([start('extract', ...zips, '--dir', out), start('extract', ...zips, '--dir', out)]);
      for (const r of runs) if (r.code !== 0) assert.match(r.stderr, /\[ERR_SHM_EXISTS\]\n$/);
      const winners = runs.filter((r) => r.code === 0).flatMap((r) => reported(r.stdout));
      assert.deepEqual(readdirSync(out).map((n) => `${out}/${n}`).sort(), winners.sort());
    }
  });
});

describe('CLI extract: a bad --dir is one line, and a failed extract leaves no directory behind', () => {
  const cli = fileURLToPath(new URL('../dist/cli/bin.js', import.meta.url));
  const zip = tmp.path('cli-ok.zip');
  execFileSync('sh', ['-c', `cd ${tmp.dir} && head -c 4096 /dev/zero > cli-ok.f32 && python3 -m zipfile -c cli-ok.zip cli-ok.f32`]);
  const run = (...args: string[]): { status: number | null; stderr: string } => {
    const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
    return { status: r.status, stderr: r.stderr };
  };

  test('--dir naming a regular file: ERR_SHM_NOT_A_FILE', () => {
    const file = tmp.path('a-file');
    writeFileSync(file, 'x');
    const r = run('extract', zip, '--dir', file);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^shmarray: .*\[ERR_SHM_NOT_A_FILE\]\n$/);
  });

  const ro = smallTmpfs(1);
  after(() => ro?.dispose());
  test('--dir on a read-only mount: ERR_SHM_PERMISSION', { skip: ro === undefined && NO_TMPFS }, () => {
    const dir = (ro as { dir: string }).dir;
    execFileSync('mount', ['-o', 'remount,ro', dir]);
    const r = run('extract', zip, '--dir', dir);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^shmarray: .*\[ERR_SHM_PERMISSION\]\n$/);
  });

  test('--dir naming a new directory on a read-only mount: ERR_SHM_PERMISSION that says read-only, and nothing about a file', { skip: ro === undefined && NO_TMPFS }, () => {
    const dir = (ro as { dir: string }).dir;
    execFileSync('mount', ['-o', 'remount,ro', dir]);
    const r = run('extract', zip, '--dir', join(dir, 'new', 'sub'));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^shmarray: .*is on a read-only filesystem.*\[ERR_SHM_PERMISSION\]\n$/);
    assert.doesNotMatch(r.stderr, /a file of that name/);
  });

  test('--dir below a regular file: ERR_SHM_NOT_A_FILE naming that file', () => {
    const file = tmp.path('a-file-in-the-way');
    writeFileSync(file, 'x');
    const r = run('extract', zip, '--dir', join(file, 'sub'));
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`^shmarray: .*${file} is a file, not a directory.*\\[ERR_SHM_NOT_A_FILE\\]\n$`));
  });

  test('a failed extract without --dir leaves no shmarray-extract-* directory', () => {
    const bad = tmp.path('cli-bad.zip');
    writeFileSync(bad, 'not a zip at all, but long enough to be read as one...');
    const before = readdirSync('/dev/shm').filter((n) => n.startsWith('shmarray-extract-'));
    const r = run('extract', bad);
    assert.equal(r.status, 1);
    assert.deepEqual(readdirSync('/dev/shm').filter((n) => n.startsWith('shmarray-extract-')), before);
  });
});
