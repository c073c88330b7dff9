// Parent: a zipped dataset extracted once into a store, two workers, no copies.
// Run: node examples/parent.mjs
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Tinypool from 'tinypool';
import { SharedStore } from 'shmarray';
import { generateDataset } from 'shmarray/bench';

const data = mkdtempSync(join(tmpdir(), 'shmarray-example-'));
try {
  const [zip] = await generateDataset({ dir: data, files: 1, bytes: 16 * 2 ** 20 }); // file_0.zip
  const store = await SharedStore.create(); // /dev/shm/shmarray-<pid>-<random>/
  try {
    const [input] = await store.extractZip(zip.path, { columns: 4 });
    const out = store.create('doubled.f32', input.shape);
    // env: tinypool starts child processes with an empty environment unless it is given one.
    const pool = new Tinypool({ filename: new URL('./double.mjs', import.meta.url).href, runtime: 'child_process', env: process.env });
    const half = input.shape[0] >> 1;
    await Promise.all([[0, half], [half, input.shape[0]]].map(([from, to]) => pool.run({ input: input.handle, out: out.handle, from, to })));
    console.log('row 0 in:', input.row(0), 'out:', out.row(0));
    await pool.destroy();
  } finally {
    await store.dispose(); // also done on exit, Ctrl-C, SIGTERM and crashes
  }
} finally {
  rmSync(data, { recursive: true }); // the generated archive, however the example ends
}
