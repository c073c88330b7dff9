// workerpool: 2 worker threads sum a shared 256 MiB table; tasks carry only the handle.
// Run: node examples/workerpool.mjs
import workerpool from 'workerpool';
import { SharedStore } from 'shmarray';
import { makeTable, report } from './table.mjs';

const store = await SharedStore.create();
const made = makeTable(store);
const pool = workerpool.pool(new URL('./workerpool-worker.mjs', import.meta.url).pathname, { workerType: 'thread', maxWorkers: 2 });
const task = (part) => ({ handle: made.table.handle, part, parts: 2 });
const results = await Promise.all([0, 1].map((part) => pool.exec('sumRows', [task(part)])));
report('workerpool', made, task(0), results);
await pool.terminate();
await store.dispose();
