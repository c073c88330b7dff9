// One "machine" of a BullMQ fan-out: a process with its own node-wide cache and a small local pool.
// It takes shard jobs (an archive path each), maps the shard from its cache (extracted once per
// machine), and returns only the shard's partial statistics (< 1 KiB); it also takes merge jobs,
// whose children's partials it merges exactly. Nothing else travels through Redis.
//   REDIS_PORT=6379 CACHE_DIR=/dev/shm/m1 node examples/bullmq/machine.mjs
// Optional: MACHINE (a name for its events), EVENTS (a file: one JSON line per shard it takes),
// SLOW_MS (sleep per shard, to watch a kill), LOCK_MS / STALLED_MS (BullMQ's stalled-job timing).
import { appendFileSync } from 'node:fs';
import { UnrecoverableError, Worker } from 'bullmq';
import { createPool, mergeColumnStats, partialColumnStats, SharedCache, ShmArrayError, workerFiles } from 'shmarray';

const connection = { host: '127.0.0.1', port: Number(process.env.REDIS_PORT ?? 6379), maxRetriesPerRequest: null };
const machine = process.env.MACHINE ?? `machine-${process.pid}`;
const cache = await SharedCache.open({ name: 'bullmq-example', ...(process.env.CACHE_DIR ? { dir: process.env.CACHE_DIR } : {}) });
const pool = createPool(workerFiles.stats, { workers: 2 });
const timing = { lockDuration: Number(process.env.LOCK_MS ?? 30_000), stalledInterval: Number(process.env.STALLED_MS ?? 30_000) };
const event = (e) => process.env.EVENTS && appendFileSync(process.env.EVENTS, `${JSON.stringify({ machine, pid: process.pid, ...e })}\n`);

const shards = new Worker('shards', async (job) => {
  event({ zip: job.data.zip, started: true });
  if (process.env.SLOW_MS) await new Promise((r) => setTimeout(r, Number(process.env.SLOW_MS)));
  try {
    const entry = await cache.extractZipEntry(job.data.zip, { columns: 4 });
    try {
      const partial = await partialColumnStats(entry.arrays, { pool });
      event({ zip: job.data.zip, built: entry.built, rows: partial.rows });
      return partial;
    } finally {
      entry.release();
    }
  } catch (err) {
    // A bad shard is not worth retrying: fail its job with the shmarray code in the reason.
    const e = ShmArrayError.from(err);
    if (e !== undefined) throw new UnrecoverableError(`[${e.code}] ${e.message}`);
    throw err;
  }
}, { connection, concurrency: 1, ...timing });

const merges = new Worker('merge', async (job) => {
  const partials = Object.values(await job.getChildrenValues());
  const failed = await job.getIgnoredChildrenFailures(); // shards whose jobs failed: { jobKey: reason }
  // Nothing to merge is no answer, and retrying will not make one.
  if (partials.length === 0) throw new UnrecoverableError(`every shard failed (${Object.keys(failed).length}): nothing to merge`);
  return { stats: mergeColumnStats(partials), shards: partials.length, failed };
}, { connection, ...timing });

for (const w of [shards, merges]) w.on('error', (err) => console.error(`${machine}: ${err.message}`));
process.once('SIGTERM', async () => {
  await Promise.all([shards.close(), merges.close()]);
  await pool.destroy();
  process.exit(0);
});
console.log(`${machine} ready (cache ${cache.dir}: ${cache.reason})`);
