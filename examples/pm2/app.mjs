// A pm2 cluster-mode app: every instance is started by pm2, none by another. Each asks the
// node-wide cache for the same archive; the first extracts it, the others map the same files.
// GET /row?i=N answers {pid, built, row}. Environment: DATA_ZIP (the archive), PORT (default
// 3000), SHMARRAY_CACHE_DIR (optional base), EVENTS (optional file: one line per instance).
import { appendFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { SharedCache } from 'shmarray';

const cache = await SharedCache.open({ name: 'pm2-example', budget: '1GiB' });
const entry = await cache.extractZipEntry(process.env.DATA_ZIP, { columns: 4 });
const [table] = entry.arrays;
if (process.env.EVENTS) appendFileSync(process.env.EVENTS, `${JSON.stringify({ pid: process.pid, built: entry.built })}\n`);

createServer((req, res) => {
  const i = Number(new URL(req.url, 'http://x').searchParams.get('i') ?? 0);
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ pid: process.pid, built: entry.built, row: Array.from(table.row(i)) }));
}).listen(Number(process.env.PORT ?? 3000), '127.0.0.1');
console.log(`instance ${process.pid}: ${entry.built ? 'extracted' : 'mapped'} ${table.shape.join('×')} from ${cache.dir} (${cache.reason})`);
