/**
 * Memory per key: 1M small string keys, all in Shale's hot set, against redis-server holding
 * the same keys. Reported two ways: the process's resident memory growth (RSS, from /proc: what
 * the machine pays) and each server's own INFO used_memory growth (Redis: allocator bytes;
 * Shale: its hot-set accounting of decoded keys).
 *
 *   node bench/memory/run.ts [--size tiny|default|large] [--large]
 *
 * Writes bench/results/memory.md and .json (other sizes: memory-<size>).
 */
import { closeAll, closedLoop, connectMany } from '../lib/drive.ts';
import { beginBench, fmtBytes, finishBench, type HeadlineRow, row } from '../lib/headline.ts';
import { sleep } from '../lib/measure.ts';
import { progress, section } from '../lib/progress.ts';
import { fmtCount, mdTable } from '../lib/report.ts';
import { encode, infoNumber } from '../lib/resp.ts';
import { haveTool, type RedisLike, startRedis, startShale, waitDurable } from '../lib/servers.ts';

interface Size {
  keys: number;
  keyBytes: number;
  valueBytes: number;
  /** Shale --maxmemory: large enough that every key stays in the hot set. */
  shaleMaxmemory: string;
  /** Keys per MSET. */
  batch: number;
}

const ctx = await beginBench<Size>({
  name: 'memory',
  title: 'Memory per key: Shale vs Redis',
  sizes: {
    tiny: { keys: 20_000, keyBytes: 10, valueBytes: 10, shaleMaxmemory: '1gb', batch: 100 },
    default: { keys: 1_000_000, keyBytes: 10, valueBytes: 10, shaleMaxmemory: '2gb', batch: 100 },
    large: { keys: 5_000_000, keyBytes: 10, valueBytes: 10, shaleMaxmemory: '8gb', batch: 100 },
  },
});
const S = ctx.size;

if (!haveTool('redis-server')) {
  console.error('redis-server is needed (apt-get install redis-server)');
  process.exit(3);
}

const key = (i: number) => `k:${String(i).padStart(S.keyBytes - 2, '0')}`;
const value = (i: number) => `v${String(i).padStart(S.valueBytes - 1, '0')}`;

interface Sample {
  usedMemory: number;
  rss: number;
  heapUsed?: number;
  hotsetBytes?: number;
}

interface Measurement {
  label: string;
  commandLine: string;
  before: Sample;
  after: Sample;
  dbsize: number;
  loadSeconds: number;
  rssPerKey: number;
  usedPerKey: number;
  heapPerKey?: number;
}

async function sample(s: RedisLike): Promise<Sample> {
  const info = await s.info('memory');
  return {
    usedMemory: infoNumber(info, 'used_memory'),
    rss: s.rss(),
    heapUsed: s.kind === 'shale' ? infoNumber(info, 'shale_heap_used') : undefined,
    hotsetBytes: s.kind === 'shale' ? infoNumber(info, 'shale_hotset_bytes') : undefined,
  };
}

/** Shale: a full GC first (through the inspector), so heap and RSS hold live data, not garbage. */
async function settled(s: RedisLike): Promise<Sample> {
  if (s.collectGarbage) {
    await s.collectGarbage();
    await sleep(500);
  }
  return sample(s);
}

async function measure(s: RedisLike): Promise<Measurement> {
  await sleep(1000);
  const before = await settled(s);
  const clients = await connectMany(s.port, 4);
  const batches = Math.ceil(S.keys / S.batch);
  const t0 = performance.now();
  let lastReport = t0;
  const r = await closedLoop(
    clients,
    (b) => {
      const args: string[] = ['MSET'];
      for (let i = b * S.batch; i < Math.min(S.keys, (b + 1) * S.batch); i++) args.push(key(i), value(i));
      const now = performance.now();
      if (now - lastReport > 5000) {
        lastReport = now;
        progress(`${s.label}: ${fmtCount(b * S.batch)} keys written`);
      }
      return encode(args);
    },
    { count: batches, depth: 4 },
  );
  if (r.errors) throw new Error(`${s.label}: ${r.errors} errors while loading: ${r.firstError}`);
  closeAll(clients);
  const loadSeconds = (performance.now() - t0) / 1000;
  await waitDurable(s, 120_000);
  // Shale: write the memtable out as a table, so what stays is the hot set (plus caches);
  // Redis has no equivalent (SAVE would fork and write an RDB, which changes nothing in memory).
  if (s.kind === 'shale') await s.control.call('SAVE');
  await sleep(3000);
  const after = await settled(s);
  const dbsize = Number(await s.control.call('DBSIZE'));
  const m: Measurement = {
    label: s.label,
    commandLine: s.commandLine,
    before,
    after,
    dbsize,
    loadSeconds,
    rssPerKey: (after.rss - before.rss) / S.keys,
    usedPerKey: (after.usedMemory - before.usedMemory) / S.keys,
    heapPerKey: after.heapUsed !== undefined && before.heapUsed !== undefined ? (after.heapUsed - before.heapUsed) / S.keys : undefined,
  };
  progress(
    `${s.label}: ${fmtCount(dbsize)} keys loaded in ${loadSeconds.toFixed(1)} s; RSS +${fmtBytes(after.rss - before.rss)} (${m.rssPerKey.toFixed(1)} B/key), used_memory +${fmtBytes(after.usedMemory - before.usedMemory)} (${m.usedPerKey.toFixed(1)} B/key)`,
  );
  return m;
}

section(`Redis: ${fmtCount(S.keys)} keys`);
const redis = await startRedis({ appendfsync: 'everysec' });
const r = await measure(redis);
await redis.stop();

section(`Shale: ${fmtCount(S.keys)} keys`);
const shale = await startShale({ durability: 'relaxed', maxmemory: S.shaleMaxmemory, inspect: true });
const s = await measure(shale);
const shaleInfo = await shale.info();
await shale.stop();

const allHot = s.after.hotsetBytes !== undefined && s.after.hotsetBytes - (s.before.hotsetBytes ?? 0) > 0 && s.dbsize === S.keys;

const headline: HeadlineRow[] = [
  row({
    metric: `memory per key, ${fmtCount(S.keys)} keys of ${S.keyBytes} B with ${S.valueBytes} B values, process RSS growth`,
    shale: s.rssPerKey,
    peer: r.rssPerKey,
    peerName: 'Redis (appendfsync everysec)',
    unit: 'B/key',
    better: 'lower',
    target: null,
    met: null,
    readme: true,
  }),
  row({
    metric: `memory per key, live data: Shale's V8 heap growth after a full GC vs Redis's used_memory growth`,
    shale: s.heapPerKey ?? null,
    peer: r.usedPerKey,
    peerName: 'Redis (appendfsync everysec)',
    unit: 'B/key',
    better: 'lower',
    target: null,
    met: null,
    readme: true,
  }),
  row({
    metric: `memory per key, INFO used_memory growth (Shale: hot-set accounting; Redis: allocator)`,
    shale: s.usedPerKey,
    peer: r.usedPerKey,
    peerName: 'Redis (appendfsync everysec)',
    unit: 'B/key',
    better: 'lower',
    target: null,
    met: null,
  }),
];

const table = mdTable(
  ['server', 'keys', 'load time', 'RSS before -> after', 'RSS per key', 'used_memory before -> after', 'used_memory per key', 'V8 heap per key'],
  [r, s].map((m) => [
    m.label,
    fmtCount(m.dbsize),
    `${m.loadSeconds.toFixed(1)} s`,
    `${fmtBytes(m.before.rss)} -> ${fmtBytes(m.after.rss)}`,
    `${m.rssPerKey.toFixed(1)} B`,
    `${fmtBytes(m.before.usedMemory)} -> ${fmtBytes(m.after.usedMemory)}`,
    `${m.usedPerKey.toFixed(1)} B`,
    m.heapPerKey === undefined ? '' : `${m.heapPerKey.toFixed(1)} B`,
  ]),
);

const body = `## Measurements

${table}

Servers: Redis \`${r.commandLine}\`; Shale \`${s.commandLine}\`.
${allHot ? '' : '\n> Shale\'s hot set did not grow as expected or DBSIZE is off: the Shale figures may not be "all keys in memory".\n'}
## How it was measured

- ${fmtCount(S.keys)} keys \`${key(0)}\`..\`${key(S.keys - 1)}\` (${S.keyBytes} bytes) with ${S.valueBytes}-byte values, written with MSET
  (${S.batch} keys per command, 4 connections, 4 commands in flight each), one server at a time.
- **Before / after.** Sampled 1 s after start-up and again after the load, once Shale had made everything durable
  and written its memtable out as a table (\`SAVE\`), plus 3 s to settle. Shale runs with the V8 inspector on
  (\`node --inspect=127.0.0.1:0\`) so that each sample is taken right after a full garbage collection
  (\`HeapProfiler.collectGarbage\`): the heap figure is live data, not garbage waiting for a collection. The per-key
  figures are (after - before) / keys.
- **RSS** is the server process's resident set (VmRSS in /proc/PID/status): everything the process holds, so for Shale it
  includes the engine's memtable, block and metadata caches, the V8 heap's free space (V8 keeps pages it has grown into), and
  for Redis the allocator's fragmentation. It is the number to compare for "how much RAM do N keys need".
- **used_memory.** Redis: bytes allocated by its allocator (data and overhead). Shale: its own estimate of the decoded keys
  in the hot set (\`shale_hotset_bytes\`), not a measurement of the V8 heap; \`shale_heap_used\` growth after the full GC is
  shown as "V8 heap per key" (live JavaScript objects: the hot set's entries and the engine's in-memory structures).
- Shale runs with \`--maxmemory ${S.shaleMaxmemory}\` (database mode, noeviction) so the hot set can hold every key; with the default
  hot-set bound (256 MiB) larger key counts would start leaving memory for the store.`;

finishBench(ctx, {
  headline,
  body,
  summaryIntro: `${fmtCount(S.keys)} small string keys held in memory by each server. Lower is better: a ratio above 1x means Shale needs more memory per key than Redis.`,
  json: {
    redis: r,
    shale: s,
    shaleMemoryInfo: Object.fromEntries(Object.entries(shaleInfo).filter(([k]) => /memory|heap|hotset/.test(k))),
  },
});
process.exit(0);
