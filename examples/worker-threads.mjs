// Plain worker_threads: 2 Workers sum a shared 256 MiB table; workerData carries only the handle.
// Run: node examples/worker-threads.mjs
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { SharedStore } from 'shmarray';
import { makeTable, report, sumRows } from './table.mjs';

if (isMainThread) {
  const store = await SharedStore.create();
  const made = makeTable(store);
  const task = (part) => ({ handle: made.table.handle, part, parts: 2 });
  const results = await Promise.all([0, 1].map((part) => new Promise((resolve, reject) => {
    const worker = new Worker(new URL(import.meta.url), { workerData: task(part) });
    worker.once('message', resolve).once('error', reject);
  })));
  report('worker_threads', made, task(0), results);
  await store.dispose();
} else {
  parentPort.postMessage(sumRows(workerData));
}
