/** `shmarray cache list | prune | clear`: the node-wide caches of this user, from a shell. */
import { formatBytes, parseBytes, SharedCache, ShmArrayError, type CacheEntryInfo } from '../../index.js';
import { textTable } from '../../bench/table.js';

/** Options the cache commands share. */
export interface CacheCommandOptions {
  name?: string;
  dir?: string;
  budget?: string;
  json?: boolean;
}

async function caches(o: CacheCommandOptions): Promise<SharedCache[]> {
  const found = SharedCache.find({ name: o.name, dir: o.dir });
  if (found.length === 0 && o.name !== undefined) {
    throw new ShmArrayError('ERR_SHM_NOT_FOUND', `There is no cache named ${o.name}${o.dir === undefined ? '' : ` in ${o.dir}`}; shmarray cache list shows those there are.`, { name: o.name });
  }
  return Promise.all(found.map((c) => SharedCache.open({ name: c.name, dir: c.base })));
}

const ago = (d: Date): string => {
  const s = Math.max(0, Math.round((Date.now() - d.getTime()) / 1000));
  return s < 120 ? `${s} s ago` : s < 7200 ? `${Math.round(s / 60)} min ago` : `${Math.round(s / 3600)} h ago`;
};
const shortKey = (k: string): string => (k.length > 60 ? `${k.slice(0, 57)}...` : k);
const asJson = (e: CacheEntryInfo): object => ({ ...e, lastUse: e.lastUse.toISOString() });

function printEntries(cache: SharedCache, entries: readonly CacheEntryInfo[]): void {
  const total = entries.reduce((s, e) => s + e.bytes, 0);
  console.log(`${cache.name}: ${cache.dir} (${cache.reason}); ${entries.length} entries, ${formatBytes(total)} of its ${formatBytes(cache.budget)} budget`);
  if (entries.length === 0) return;
  const rows = entries.map((e) => [shortKey(e.key), formatBytes(e.bytes), e.holders.length === 0 ? '-' : `${e.holders.length} (pid ${e.holders.join(', ')})`, ago(e.lastUse)]);
  for (const l of textTable(['key', 'bytes', 'holders', 'last use'], rows, 1)) console.log(`  ${l}`);
}

/** Lists the entries of each cache: key, bytes, holders, last use, where. */
export async function cacheListCommand(o: CacheCommandOptions): Promise<void> {
  const all = await caches(o);
  if (o.json === true) {
    console.log(JSON.stringify(all.map((c) => ({ name: c.name, dir: c.dir, reason: c.reason, budget: c.budget, entries: c.list().map(asJson) })), null, 2));
    return;
  }
  if (all.length === 0) console.log('no caches (SharedCache.open makes one)');
  for (const c of all) printEntries(c, c.list());
}

/** Evicts unheld entries of each cache down to its budget (or --budget). */
export async function cachePruneCommand(o: CacheCommandOptions): Promise<void> {
  const budget = o.budget === undefined ? undefined : parseBytes(o.budget);
  for (const c of await caches(o)) {
    const { removed, kept } = c.prune(budget);
    const total = kept.reduce((s, e) => s + e.bytes, 0);
    console.log(`${c.name}: removed ${removed.length} entries (${formatBytes(removed.reduce((s, e) => s + e.bytes, 0))}); ${kept.length} left, ${formatBytes(total)} of ${formatBytes(budget ?? c.budget)}${total > (budget ?? c.budget) ? ' — the rest is held' : ''}`);
  }
}

/** Evicts every unheld entry; says what it left and why. */
export async function cacheClearCommand(o: CacheCommandOptions): Promise<void> {
  for (const c of await caches(o)) {
    const { removed, left } = c.clear();
    console.log(`${c.name}: removed ${removed.length} entries (${formatBytes(removed.reduce((s, e) => s + e.bytes, 0))})`);
    for (const e of left) console.log(`  left ${shortKey(e.key)} (${formatBytes(e.bytes)}): held by pid ${e.holders.join(', ') || '(a holder this namespace cannot see)'}`);
  }
}
