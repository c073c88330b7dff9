#!/usr/bin/env node
/** The `shmarray` executable: runs the program and exits with its status. */
import { main } from './main.js';

// A reader that stops early (`shmarray info x.npz | head -3`) closes the pipe: that ends the output, as
// for any Unix tool, rather than printing a stack trace for EPIPE.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    process.exit(process.exitCode ?? 0);
  });
}

process.exitCode = await main(process.argv);
