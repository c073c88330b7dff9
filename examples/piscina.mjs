// piscina: a pool of 2 threads sums a shared 256 MiB table; tasks carry only the handle.
// Run: node examples/piscina.mjs
import Piscina from 'piscina';
import { SharedStore } from 'shmarray';
import { makeTable, report } from './table.mjs';

const store = await SharedStore.create();
const made = makeTable(store);
const pool = new Piscina({ filename: new URL('./piscina-worker.mjs', import.meta.url).href, minThreads: 2, maxThreads: 2 });
const task = (part) => ({ handle: made.table.handle, part, parts: 2 });
const results = await Promise.all([0, 1].map((part) => pool.run(task(part))));
report('piscina', made, task(0), results);
await pool.destroy();
await store.dispose();
