// The piscina worker: its default export runs each task.
export { sumRows as default } from './table.mjs';
