// The workerpool worker: registers the function the pool calls by name.
import workerpool from 'workerpool';
import { sumRows } from './table.mjs';

workerpool.worker({ sumRows });
