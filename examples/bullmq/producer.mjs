// Adds one BullMQ flow — a child job per shard (an archive path), a parent that merges their
// partials — waits for it, and prints {stats, shards, failed, failedShards} as JSON.
//   REDIS_PORT=6379 node examples/bullmq/producer.mjs data/*.zip
import { FlowProducer, QueueEvents } from 'bullmq';

const connection = { host: '127.0.0.1', port: Number(process.env.REDIS_PORT ?? 6379), maxRetriesPerRequest: null };
const zips = process.argv.slice(2);
const events = new QueueEvents('merge', { connection });
await events.waitUntilReady();
const flows = new FlowProducer({ connection });
const flow = await flows.add({
  name: 'merge',
  queueName: 'merge',
  children: zips.map((zip) => ({ name: 'shard', queueName: 'shards', data: { zip }, opts: { ignoreDependencyOnFailure: true } })),
});
const result = await flow.job.waitUntilFinished(events);
// Which shard each failure was: the failed children's keys name their jobs, whose data names the archive.
const failedShards = {};
for (const child of flow.children ?? []) {
  const key = `bull:shards:${child.job.id}`;
  if (key in result.failed) failedShards[child.job.data.zip] = result.failed[key];
}
console.log(JSON.stringify({ ...result, failedShards }));
await Promise.all([flows.close(), events.close()]);
