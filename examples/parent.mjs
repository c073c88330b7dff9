// Parent: one dataset file, two workers, no copies. Run: node examples/parent.mjs
import { rmSync } from 'node:fs';
import Tinypool from 'tinypool';
import { createShared } from 'shmarray';

const rows = 1_000_000;
const input = createShared(`/dev/shm/example-${process.pid}-in.f32`, [rows, 4]);
input.data.forEach((_, i) => (input.data[i] = i));
const out = createShared(`/dev/shm/example-${process.pid}-out.f32`, [rows, 4]);
const pool = new Tinypool({ filename: new URL('./double.mjs', import.meta.url).href, runtime: 'child_process' });
const half = rows / 2;
await Promise.all([[0, half], [half, rows]].map(([from, to]) => pool.run({ input: input.handle, out: out.handle, from, to })));
console.log(out.row(rows - 1)); // Float32Array(4) [ 7999992, 7999994, 7999996, 7999998 ]
await pool.destroy();
for (const a of [input, out]) rmSync(a.path);
