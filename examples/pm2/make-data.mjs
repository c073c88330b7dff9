// Makes the example's dataset: one 64 MiB zip of float32 rows (4 columns), deterministic.
//   node examples/pm2/make-data.mjs DIR   → prints the archive's path
import { generateDataset } from 'shmarray/bench';

const [file] = await generateDataset({ dir: process.argv[2] ?? 'pm2-data', files: 1, bytes: 64 * 2 ** 20, columns: 4 });
console.log(file.path);
