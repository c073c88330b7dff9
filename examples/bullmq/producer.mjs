// Adds one BullMQ flow — a child job per shard (an archive path), a parent that merges their
// partials — waits for it, and prints {stats, shards, failed, failedShards} as JSON.
//   REDIS_PORT=6379 node examples/bullmq/producer.mjs [--allow-partial] data/*.zip
// Exit status: 0 every shard merged; 3 some shards failed (the JSON is still printed, and which
// failed; --allow-partial makes that 0); 1 no answer: every shard failed, the flow was lost from
// Redis, or it did not finish within TIMEOUT_MS (default 600000, printed at the start).
// CHECK_MS (default 2000): how often it checks that the flow still exists in Redis.
import { FlowProducer, Job, Queue, QueueEvents } from 'bullmq';

const connection = { host: '127.0.0.1', port: Number(process.env.REDIS_PORT ?? 6379), maxRetriesPerRequest: null };
const args = process.argv.slice(2);
const allowPartial = args.includes('--allow-partial');
const zips = args.filter((a) => a !== '--allow-partial');
const timeoutMs = Number(process.env.TIMEOUT_MS ?? 600_000);
const checkMs = Number(process.env.CHECK_MS ?? 2000);
if (zips.length === 0) {
  console.error('producer: give the shard archives: node examples/bullmq/producer.mjs [--allow-partial] data/*.zip');
  process.exit(2);
}

const events = new QueueEvents('merge', { connection });
const flows = new FlowProducer({ connection });
const merges = new Queue('merge', { connection });
const shards = new Queue('shards', { connection });
const closeAll = () => Promise.all([flows.close(), events.close(), merges.close(), shards.close()]);

/** Ends the producer with one line on stderr (never a stack) and exit status `code`. */
async function fail(code, line) {
  console.error(`producer: ${line}`);
  // Closing waits for Redis; a Redis that is gone must not keep the process (and its exit status) waiting.
  await Promise.race([closeAll(), new Promise((r) => setTimeout(r, 2000).unref())]);
  process.exit(code);
}

await events.waitUntilReady();
const flow = await flows.add({
  name: 'merge',
  queueName: 'merge',
  children: zips.map((zip) => ({ name: 'shard', queueName: 'shards', data: { zip }, opts: { ignoreDependencyOnFailure: true } })),
});
console.error(`producer: flow ${flow.job.id} of ${zips.length} shards added; waiting up to ${timeoutMs / 1000} s (TIMEOUT_MS), checking every ${checkMs / 1000} s that it still exists in Redis (CHECK_MS)`);

/**
 * Rejects when the flow's merge job is no longer in Redis: a Redis restarted without persistence
 * has lost it (and every shard's result), and no completion event will ever come.
 */
function watchFlow() {
  let timer;
  const stop = () => clearTimeout(timer);
  const lost = new Promise((_, reject) => {
    const check = async () => {
      try {
        if ((await Job.fromId(merges, flow.job.id)) === undefined) {
          return reject(Object.assign(new Error(`flow ${flow.job.id} is gone from Redis (was Redis restarted without persistence?): its shards' results are lost; run the producer again`), { producer: true }));
        }
      } catch {
        // Redis unreachable for now: its client reconnects; the deadline bounds the wait.
      }
      timer = setTimeout(check, checkMs);
    };
    timer = setTimeout(check, checkMs);
  });
  return { lost, stop };
}

/** Why the merge failed, in one line: each failed shard's archive and reason (shortened), else the merge's own reason. */
async function mergeFailure(err) {
  const reasons = [];
  for (const child of flow.children ?? []) {
    const job = await Job.fromId(shards, child.job.id).catch(() => undefined);
    if (job?.failedReason) reasons.push(`${child.job.data.zip}: ${job.failedReason.slice(0, 200)}`);
  }
  const why = err instanceof Error ? err.message : String(err);
  return reasons.length === zips.length ? `every shard failed, so there is nothing to merge: ${reasons.join('; ')}` : `the merge failed: ${why.slice(0, 500)}`;
}

const watch = watchFlow();
let deadline;
const late = new Promise((_, reject) => {
  deadline = setTimeout(() => reject(Object.assign(new Error(`flow ${flow.job.id} did not finish within ${timeoutMs / 1000} s (TIMEOUT_MS): are the machines running, and is Redis up?`), { producer: true })), timeoutMs);
});
let result;
try {
  result = await Promise.race([flow.job.waitUntilFinished(events), watch.lost, late]);
} catch (err) {
  // The flow was lost or time ran out (their messages say so), or the merge failed: every shard failed.
  if (err?.producer === true) await fail(1, err.message);
  await fail(1, await mergeFailure(err));
} finally {
  watch.stop();
  clearTimeout(deadline);
}

// Which shard each failure was: the failed children's keys name their jobs, whose data names the archive.
const failedShards = {};
for (const child of flow.children ?? []) {
  const key = `bull:shards:${child.job.id}`;
  if (key in result.failed) failedShards[child.job.data.zip] = result.failed[key];
}
console.log(JSON.stringify({ ...result, failedShards }));
await closeAll();
const failed = Object.keys(failedShards);
if (failed.length > 0 && !allowPartial) {
  console.error(`producer: a partial answer: ${failed.length} of ${zips.length} shards failed (${failed.join(', ')}), so the statistics cover ${result.shards}; exit 3 (--allow-partial accepts it with exit 0)`);
  process.exitCode = 3;
}
