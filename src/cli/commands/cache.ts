/** `shmarray cache list | prune | clear`: the node-wide caches of this user, from a shell. */
import { formatBytes, parseBytes, SharedCache, ShmArrayError, type CacheEntryInfo } from '../../index.js';
import { textTable } from '../../core/text-table.js';

/** Options the cache commands share. */
export interface CacheCommandOptions {
  name?: string;
  dir?: string;
  budget?: string;
  json?: boolean;
}

/** A cache found by the command, with why it is where it is, in the command's own terms. */
interface Found {
  cache: SharedCache;
  where: string;
}

async function caches(o: CacheCommandOptions): Promise<Found[]> {
  const found = SharedCache.find({ name: o.name, dir: o.dir });
  if (found.length === 0 && o.name !== undefined) {
    throw new ShmArrayError('ERR_SHM_NOT_FOUND', `There is no cache named ${o.name}${o.dir === undefined ? '' : ` in ${o.dir}`}; shmarray cache list shows those there are.`, { name: o.name });
  }
  // Opened by the base it was found in; the reason is the command's: --dir, or the default places.
  const where = o.dir !== undefined ? 'given with --dir' : "one of this user's default places";
  return Promise.all(found.map(async (c) => ({ cache: await SharedCache.open({ name: c.name, dir: c.base }), where })));
}

/** `n` things, in the singular for one. */
const count = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

const ago = (d: Date): string => {
  const s = Math.max(0, Math.round((Date.now() - d.getTime()) / 1000));
  return s < 120 ? `${s} s ago` : s < 7200 ? `${Math.round(s / 60)} min ago` : `${Math.round(s / 3600)} h ago`;
};
/**
 * A key as a person reads it: the archive, model or table a file-keyed entry was made from
 * (`zip /data/a.zip, columns 4`), else the key itself, cut to 60 characters.
 */
function shortKey(k: string): string {
  const m = /^(zip|arrow|safetensors):(\{.*\})$/.exec(k);
  if (m !== null) {
    try {
      const o = JSON.parse(m[2] as string) as Record<string, unknown>;
      const shaping = ['columns', 'shape', 'dtype'].filter((f) => o[f] !== null && o[f] !== undefined).map((f) => `${f} ${Array.isArray(o[f]) ? (o[f] as number[]).join('x') : String(o[f])}`);
      const only = Array.isArray(o['only']) ? [`${(o['only'] as string[]).length} of its entries`] : [];
      const text = [`${m[1]} ${String(o['path'])}`, ...shaping, ...only].join(', ');
      return text.length > 80 ? `…${text.slice(-79)}` : text;
    } catch {
      // not one of ours after all: shown as it is
    }
  }
  return k.length > 60 ? `${k.slice(0, 57)}...` : k;
}
const asJson = (e: CacheEntryInfo): object => ({ ...e, lastUse: e.lastUse.toISOString() });

function printEntries({ cache, where }: Found, entries: readonly CacheEntryInfo[]): void {
  const total = entries.reduce((s, e) => s + e.bytes, 0);
  console.log(`${cache.name}: ${cache.dir} (${where}); ${count(entries.length, 'entry', 'entries')}, ${formatBytes(total)} of its ${formatBytes(cache.budget)} budget`);
  const { builds, bytes } = cache.building();
  if (builds > 0) console.log(`  being built now: ${count(builds, 'entry', 'entries')}, ${formatBytes(bytes)} written so far (sealed entries only are listed below)`);
  if (entries.length === 0) return;
  const rows = entries.map((e) => [shortKey(e.key), formatBytes(e.bytes), e.holders.length === 0 ? '-' : `${e.holders.length} (pid ${e.holders.join(', ')})`, ago(e.lastUse)]);
  for (const l of textTable(['key', 'bytes', 'holders', 'last use'], rows, 1)) console.log(`  ${l}`);
}

/** Lists the entries of each cache: key, bytes, holders, last use, where. */
export async function cacheListCommand(o: CacheCommandOptions): Promise<void> {
  const all = await caches(o);
  if (o.json === true) {
    console.log(JSON.stringify(all.map(({ cache: c, where }) => ({ name: c.name, dir: c.dir, reason: where, budget: c.budget, building: c.building(), entries: c.list().map(asJson) })), null, 2));
    return;
  }
  if (all.length === 0) console.log(`no caches${o.dir === undefined ? '' : ` in ${o.dir}`} (SharedCache.open makes one)`);
  for (const f of all) printEntries(f, f.cache.list());
}

/** Evicts unheld entries of each cache down to its budget (or --budget). */
export async function cachePruneCommand(o: CacheCommandOptions): Promise<void> {
  const budget = o.budget === undefined ? undefined : parseBytes(o.budget);
  for (const { cache: c } of await caches(o)) {
    const { removed, kept } = c.prune(budget);
    const total = kept.reduce((s, e) => s + e.bytes, 0);
    console.log(`${c.name}: removed ${count(removed.length, 'entry', 'entries')} (${formatBytes(removed.reduce((s, e) => s + e.bytes, 0))}); ${kept.length} left, ${formatBytes(total)} of ${formatBytes(budget ?? c.budget)}${total > (budget ?? c.budget) ? ' — the rest is held' : ''}`);
  }
}

/** Evicts every unheld entry; says what it left and why. */
export async function cacheClearCommand(o: CacheCommandOptions): Promise<void> {
  for (const { cache: c } of await caches(o)) {
    const { removed, left } = c.clear();
    console.log(`${c.name}: removed ${count(removed.length, 'entry', 'entries')} (${formatBytes(removed.reduce((s, e) => s + e.bytes, 0))})`);
    for (const e of left) console.log(`  left ${shortKey(e.key)} (${formatBytes(e.bytes)}): held by pid ${e.holders.join(', ') || '(a holder this namespace cannot see)'}`);
  }
}

/** Removes a whole cache when nobody holds any of it; otherwise says who holds what (exit 1). */
export async function cacheRemoveCommand(o: CacheCommandOptions): Promise<void> {
  for (const { cache: c } of await caches(o)) {
    const { removed, left, removedDir } = c.remove();
    if (removedDir) {
      console.log(`${c.name}: removed the cache (${count(removed.length, 'entry', 'entries')}, ${formatBytes(removed.reduce((s, e) => s + e.bytes, 0))}) and its directory ${c.dir}`);
      continue;
    }
    const held = left.map((e) => `${shortKey(e.key)} (pid ${e.holders.join(', ') || '?'})`).join('; ');
    throw new ShmArrayError(
      'ERR_SHM_HELD',
      `${c.name}: not removed — ${left.length > 0 ? `${count(left.length, 'entry is', 'entries are')} held: ${held}` : 'an entry is being built'}; stop those processes, then run shmarray cache remove --name ${c.name} again (${count(removed.length, 'unheld entry was', 'unheld entries were')} removed).`,
      { name: c.name },
    );
  }
}
