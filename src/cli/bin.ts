#!/usr/bin/env node
/** The `shmarray` executable: runs the program and exits with its status. */
import { main } from './main.js';

process.exitCode = await main(process.argv);
