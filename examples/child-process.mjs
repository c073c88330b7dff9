// Plain child_process.fork: 2 processes sum a shared 256 MiB table; the IPC message is the handle.
// Run: node examples/child-process.mjs
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SharedStore } from 'shmarray';
import { makeTable, report, sumRows } from './table.mjs';

if (process.send === undefined) {
  const store = await SharedStore.create();
  const made = makeTable(store);
  const task = (part) => ({ handle: made.table.handle, part, parts: 2 });
  const results = await Promise.all([0, 1].map((part) => new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), { serialization: 'advanced' });
    child.once('message', (m) => resolve(m) || child.disconnect()).once('error', reject);
    child.send(task(part));
  })));
  report('child_process.fork', made, task(0), results);
  await store.dispose();
} else {
  process.once('message', (task) => process.send(sumRows(task)));
}
