// A worker process of bench/table.ts: receives a table in one of three forms, makes it usable,
// sums the price column and reads a string, then reports and waits, holding what it received,
// until told to exit — so that the parent can read this process's own memory while it holds it.
import { tableFromIPC } from 'apache-arrow';
import { openSharedTable } from 'shmarray/worker';

let held;
/** An indexed loop in a function of its own: it allocates nothing per element once optimised. */
function total(values) {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i];
  return s;
}

process.on('message', async (m) => {
  if (m.exit) process.exit(0);
  if (m.gc) {
    // Module loading's garbage collected (--expose-gc): what grows after is the table's.
    globalThis.gc?.();
    process.send({ gc: true });
    return;
  }
  let price;
  let name;
  if (m.mode === 'clone') {
    held = m.columns; // the structured clone: every column copied into this process
    price = held.price;
    name = (i) => held.name[i];
  } else if (m.mode === 'ipc') {
    held = tableFromIPC(m.bytes); // the bytes were copied through the pipe; the table views them
    price = held.getChild('price').data[0].values;
    name = (i) => held.getChild('name').get(i);
  } else {
    held = await openSharedTable(m.handle); // the mapping: no copy
    price = held.table.getChild('price').data[0].values;
    name = (i) => held.table.getChild('name').get(i);
  }
  const reply = { sum: total(price), sample: name(12345) };
  globalThis.gc?.(); // what stays is what this worker holds
  process.send(reply);
});
process.send({ ready: true });
