// Arrow tables — strings included — shared by handle: apache-arrow on both sides, real worker
// pools in both runtimes, hostile files refused with a code (fuzzed as the zip suite fuzzes).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { serialize } from 'node:v8';
import { compressionRegistry, CompressionType, Dictionary, Float32, Int32, makeVector, RecordBatchFileWriter, Table, tableFromArrays, tableFromIPC, tableToIPC, Utf8, vectorFromArray } from 'apache-arrow';
import { CacheEntry, columnStats, createSharedTable, openSharedTable, SharedCache, SharedStore } from '../dist/index.js';
import { makePool, mappingsOf, rejectsWithCode, RUNTIMES, tempDir } from './helpers.js';

const tmp = tempDir('shmarray-table-');
after(() => tmp.dispose());
const MiB = 2 ** 20;

/** A table of `rows` rows: float32 price, int64 qty, utf8 name (~100 characters) and a dictionary-encoded category. */
function makeRows(rows: number): Table {
  const pad = 'x'.repeat(90);
  const names = Array.from({ length: rows }, (_, i) => `product ${i} ${pad}`);
  const categories = ['tools', 'toys', 'books', 'food', 'garden'];
  return new Table({
    price: makeVector(Float32Array.from({ length: rows }, (_, i) => (i % 1000) / 8)),
    qty: makeVector(BigInt64Array.from({ length: rows }, (_, i) => BigInt(i % 97))),
    name: vectorFromArray(names, new Utf8()),
    category: vectorFromArray(Array.from({ length: rows }, (_, i) => categories[i % 5] as string), new Dictionary(new Utf8(), new Int32())),
  });
}

describe('a 256 MiB table with strings, shared by handle', () => {
  const rows = 2_400_000;
  const path = tmp.path('big.arrow');
  let made: Promise<void> | undefined;
  const make = (): Promise<void> =>
    (made ??= (async () => {
      const t = await createSharedTable(path, makeRows(rows));
      assert.ok(t.byteLength > 256 * MiB, `${t.byteLength} bytes`);
      t.close();
    })());

  for (const runtime of RUNTIMES) {
    test(`a ${runtime} worker opens it by handle (a message under 1 KiB), reads its strings and sums a column, its anonymous memory growing by < 8 MiB; the values equal tableFromIPC(readFileSync(path))`, { timeout: 300_000 }, async () => {
      await make();
      const t = await openSharedTable(path);
      const pool = makePool(runtime, 'table-worker.mjs', 1);
      try {
        const sample = [0, 1, 2, 1_234_567, rows - 1];
        const task = { handle: t.handle, rows: sample };
        assert.ok(serialize(task).length < 1024, `${serialize(task).length} bytes`);
        const r = (await pool.run(task)) as { sum: number; strings: [string, string, string][]; numRows: number; grew: number };
        const reference = tableFromIPC(readFileSync(path));
        let sum = 0;
        for (const v of reference.getChild('price')?.toArray() as Float32Array) sum += v;
        assert.equal(r.numRows, rows);
        assert.equal(r.sum, sum);
        assert.deepEqual(r.strings, sample.map((i) => [reference.getChild('name')?.get(i), reference.getChild('category')?.get(i), String(reference.getChild('qty')?.get(i))]));
        assert.ok(r.grew < 8 * MiB, `the worker's anonymous memory grew by ${(r.grew / MiB).toFixed(1)} MiB`);
      } finally {
        await pool.destroy();
        t.close();
      }
    });
  }

  test('close() detaches every buffer of the table at once: reads see length 0, and the file is no longer mapped', async () => {
    await make();
    const t = await openSharedTable(path);
    const price = t.table.getChild('price');
    const name = t.table.getChild('name');
    assert.ok(mappingsOf(path).length > 0);
    t.close();
    assert.equal((price?.data[0] as unknown as { values: Float32Array }).values.length, 0);
    assert.equal((name?.data[0] as unknown as { values: Uint8Array }).values.length, 0);
    assert.deepEqual(mappingsOf(path), []);
    assert.throws(() => t.table, { code: 'ERR_SHM_CLOSED' } as never);
  });
});

describe('columns as SharedArrays, and what cannot be one', () => {
  test('column(name) of a numeric column is a SharedArray over the file (columnStats takes it); strings, nulls and several chunks are refused saying why', async () => {
    await using store = await SharedStore.create({ dir: tmp.dir });
    const t = await store.writeTable('cols.arrow', tableFromArrays({ price: Float32Array.from([1, 2, 3, 4]), label: ['a', 'b', 'c', 'd'] }));
    const price = t.column('price');
    assert.equal(price.dtype, 'float32');
    assert.equal(price.path, t.path);
    assert.deepEqual(Array.from(price.data as Float32Array), [1, 2, 3, 4]);
    assert.deepEqual((await columnStats(price, { workers: 0 })).mean, [2.5]);
    assert.throws(() => t.column('label'), /its type is Dictionary<Int32, Utf8>, not a number type/);
    assert.throws(() => t.column('nope'), /has no column "nope"; it has "price", "label"/);
    const nulls = await store.writeTable('nulls.arrow', new Table({ x: vectorFromArray([1, null, 3], new Float32()) }));
    assert.throws(() => nulls.column('x'), /it has 1 nulls/);
    const two = tableFromArrays({ x: Float32Array.from([1, 2]) }).concat(tableFromArrays({ x: Float32Array.from([3]) }));
    const chunked = await store.writeTable('chunks.arrow', two);
    assert.throws(() => chunked.column('x'), /in 2 chunks/);
  });

  test('createSharedTable refuses an existing file (ERR_SHM_EXISTS, the file untouched) and what is not a Table', async () => {
    const path = tmp.path('exists.arrow');
    writeFileSync(path, 'keep');
    await rejectsWithCode(createSharedTable(path, tableFromArrays({ x: Float32Array.from([1]) })), 'ERR_SHM_EXISTS');
    assert.equal(readFileSync(path, 'utf8'), 'keep');
    await rejectsWithCode(createSharedTable(tmp.path('x.arrow'), { numRows: 1 } as unknown as Table), 'ERR_SHM_BAD_ARGUMENT');
  });
});

describe('files it cannot map: ERR_SHM_BAD_ARROW naming the reason, never a crash or a view past the file', () => {
  const good = (): Uint8Array => tableToIPC(tableFromArrays({ x: Float32Array.from({ length: 1000 }, (_, i) => i), s: Array.from({ length: 1000 }, (_, i) => `s${i}`) }), 'file');
  const write = (name: string, bytes: Uint8Array): string => {
    const p = tmp.path(name);
    writeFileSync(p, bytes);
    return p;
  };

  test('the IPC stream format: refused, saying to write the file format', async () => {
    const p = write('stream.arrows', tableToIPC(tableFromArrays({ x: Float32Array.from([1, 2]) }), 'stream'));
    const err = await rejectsWithCode(openSharedTable(p), 'ERR_SHM_BAD_ARROW');
    assert.equal(err.details['reason'], 'stream-format');
    assert.match(err.message, /tableToIPC\(table, 'file'\)/);
  });

  test('compressed record batches (ZSTD): "compressed" without a codec to read them, "copied" with one (arrow would decompress into copies)', async () => {
    // A stand-in ZSTD codec — a frame header, then a buffer of one repeated byte as [length, byte] —
    // that shrinks the zeros written below, so apache-arrow keeps the compressed bodies.
    const header = [40, 181, 47, 253, 0, 0];
    const codec = {
      encode: (d: Uint8Array): Uint8Array => Uint8Array.from([...header, d.length & 0xff, (d.length >> 8) & 0xff, d[0] ?? 0]),
      decode: (d: Uint8Array): Uint8Array => new Uint8Array((d[6] ?? 0) | ((d[7] ?? 0) << 8)).fill(d[8] ?? 0),
    };
    compressionRegistry.set(CompressionType.ZSTD, codec);
    try {
      const writer = new RecordBatchFileWriter({ compressionType: CompressionType.ZSTD });
      writer.write(tableFromArrays({ x: new Float32Array(1000) }));
      const p = write('zstd.arrow', await writer.toUint8Array());
      assert.equal((await rejectsWithCode(openSharedTable(p), 'ERR_SHM_BAD_ARROW')).details['reason'], 'copied');
      compressionRegistry.set(CompressionType.ZSTD, null as never);
      const err = await rejectsWithCode(openSharedTable(p), 'ERR_SHM_BAD_ARROW');
      assert.equal(err.details['reason'], 'compressed');
      assert.match(err.message, /compressed \(LZ4\/ZSTD\)/);
      assert.deepEqual(mappingsOf(p), []);
    } finally {
      compressionRegistry.set(CompressionType.ZSTD, null as never);
    }
  });

  test('a truncated file, a footer length past the file, a file that is not Arrow', async () => {
    const bytes = good();
    assert.equal((await rejectsWithCode(openSharedTable(write('cut.arrow', bytes.subarray(0, bytes.length - 100))), 'ERR_SHM_BAD_ARROW')).details['reason'], 'truncated');
    const lying = Uint8Array.from(bytes);
    new DataView(lying.buffer).setInt32(lying.length - 10, 0x7fffffff, true);
    assert.equal((await rejectsWithCode(openSharedTable(write('footer.arrow', lying)), 'ERR_SHM_BAD_ARROW')).details['reason'], 'bad-footer');
    assert.equal((await rejectsWithCode(openSharedTable(write('text.arrow', Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]))), 'ERR_SHM_BAD_ARROW')).details['reason'], 'not-arrow');
  });

  test('fuzz: 300 files with bytes of the footer, the schema and the batch messages overwritten — each opens with every buffer in the file, or is an ERR_SHM_* error; nothing stays mapped', async () => {
    const bytes = good();
    let seed = 42;
    const random = (n: number): number => ((seed = (seed * 1103515245 + 12345) >>> 0) % n);
    const codes = new Map<string, number>();
    for (let i = 0; i < 300; i++) {
      const b = Uint8Array.from(bytes);
      // Most hits in the metadata: the first 512 bytes (schema, first message header) and the last 512 (footer).
      for (let k = 0; k < 1 + random(4); k++) {
        const at = random(2) === 0 ? random(512) : b.length - 1 - random(512);
        b[at] = random(256);
      }
      const p = write(`fuzz-${i}.arrow`, b);
      try {
        const t = await openSharedTable(p);
        t.table.getChild('s')?.get(999);
        t.close();
        codes.set('opened', (codes.get('opened') ?? 0) + 1);
      } catch (err) {
        const code = (err as { code?: string }).code ?? 'none';
        assert.match(code, /^ERR_SHM_/, `fuzz ${i}: ${String(err)}`);
        codes.set(code, (codes.get(code) ?? 0) + 1);
      }
      assert.deepEqual(mappingsOf(p), [], `fuzz ${i} left a mapping`);
    }
    assert.ok((codes.get('ERR_SHM_BAD_ARROW') ?? 0) > 0, JSON.stringify([...codes]));
  });
});

test('shmarray info table.arrow prints the schema, rows and size; stats --column price takes one numeric column (--json, --partial); a string column is exit 2 saying why', async () => {
  const path = tmp.path('sales.arrow');
  (await createSharedTable(path, tableFromArrays({ price: Float32Array.from([1, 2, 3, 4]), label: ['a', 'b', 'c', 'd'] }))).close();
  const cli = new URL('../dist/cli/bin.js', import.meta.url).pathname;
  const run = (...args: string[]): { status: number | null; stdout: string; stderr: string } => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
  const info = run('info', path);
  assert.equal(info.status, 0, info.stderr);
  assert.match(info.stdout, /Arrow IPC file, 4 rows in 1 record batch\(es\)/);
  assert.match(info.stdout, /\nprice +Float32 +no/);
  assert.match(info.stdout, /\nlabel +Dictionary<Int32, Utf8> +yes/);
  assert.deepEqual((JSON.parse(run('info', path, '--json').stdout) as { columns: { name: string }[] }).columns.map((c) => c.name), ['price', 'label']);
  const stats = JSON.parse(run('stats', path, '--column', 'price', '--json').stdout) as { rows: number; mean: number[] };
  assert.deepEqual([stats.rows, stats.mean], [4, [2.5]]);
  const partial = JSON.parse(run('stats', path, '--column', 'price', '--partial').stdout) as { format: string; rows: number };
  assert.deepEqual([partial.format, partial.rows], ['shmarray-partial-stats/1', 4]);
  const label = run('stats', path, '--column', 'label');
  assert.equal(label.status, 2, 'a bad --column is a bad argument');
  assert.match(label.stderr, /Column "label" .* not a number type .* \[ERR_SHM_BAD_ARGUMENT\]/);
  const none = run('stats', path);
  assert.equal(none.status, 2);
  assert.match(none.stderr, /holds 2 columns \("price", "label"\); choose one with --column NAME/);
});

test('the node-wide cache: cache.get builds a table once (b.writeTable), entry.table() maps it; cache.openTable copies a file once and its close() ends the hold', async () => {
  const cache = await SharedCache.open({ name: 'tables', dir: tmp.path('.') });
  const source = tableFromArrays({ price: Float32Array.from([5, 6, 7]), label: ['x', 'y', 'z'] });
  let builds = 0;
  const build = async (b: { writeTable: (n: string, t: Table) => Promise<void> }): Promise<void> => {
    builds++;
    await b.writeTable('sales', source);
  };
  const [e1, e2] = await Promise.all([cache.get('sales', build), cache.get('sales', build)]);
  assert.equal(builds, 1, 'built once');
  const t = await (e1 as CacheEntry).table();
  assert.deepEqual([t.numRows, t.table.getChild('label')?.get(2)], [3, 'z']);
  assert.ok(t.path.startsWith(cache.dir));
  t.close();
  e1?.release();
  e2?.release();
  const file = tmp.path('to-cache.arrow');
  (await createSharedTable(file, source)).close();
  const a = await cache.openTable(file);
  const b = await cache.openTable(file);
  assert.equal(a.path, b.path, 'one copy in the cache');
  assert.ok(a.path.startsWith(cache.dir));
  const entry = cache.list().find((e) => e.key.startsWith('arrow:'));
  assert.deepEqual(entry?.holders, [process.pid, process.pid]);
  a.close();
  b.close();
  assert.deepEqual(cache.list().find((e) => e.key.startsWith('arrow:'))?.holders, [], 'closing the tables ended the holds');
  const stream = tmp.path('cache-stream.arrows');
  writeFileSync(stream, tableToIPC(source, 'stream'));
  await rejectsWithCode(cache.openTable(stream), 'ERR_SHM_BAD_ARROW');
  assert.equal(cache.list().filter((e) => e.key.startsWith('arrow:')).length, 1, 'nothing copied for it');
  cache.clear();
});
