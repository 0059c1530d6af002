/**
 * Larger than memory: a data set ten times Shale's --maxmemory (database mode: keys that leave
 * the hot set stay in the store), on the S3 test server, read with uniform and Zipfian GETs.
 * Reports throughput, store GETs per request (every store request counted at the S3 server)
 * and the share of GETs that found their key, against two Redis peers:
 *
 * - Redis with everything in memory (no maxmemory): the throughput peer. It needs RAM for the
 *   whole data set, which is what Shale avoids.
 * - Redis with the same maxmemory and allkeys-lru: it cannot hold the data, so most keys are
 *   evicted (lost); its figures are shown with that caveat.
 *
 *   node bench/larger-than-memory/run.ts [--size tiny|default|large] [--large]
 *
 * Writes bench/results/larger-than-memory.md and .json (other sizes: larger-than-memory-<size>).
 */
import { randomBytes } from 'node:crypto';
import { closeAll, closedLoop, connectMany, type LoopResult, Zipfian } from '../lib/drive.ts';
import { beginBench, fmtBytes, finishBench, type HeadlineRow, row } from '../lib/headline.ts';
import { permutation, rng, sleep } from '../lib/measure.ts';
import { progress, section } from '../lib/progress.ts';
import { fmtCount, fmtMs, mdTable } from '../lib/report.ts';
import { encode, infoNumber } from '../lib/resp.ts';
import { diffCounts, haveTool, type RedisLike, startRedis, startS3Process, startShale, waitDurable } from '../lib/servers.ts';

interface Size {
  keys: number;
  valueBytes: number;
  /** --maxmemory for Shale (and the LRU Redis): keys × valueBytes is about ten times this. */
  maxmemory: string;
  maxmemoryBytes: number;
  /** Shale's read phases: warm-up (not counted) and measurement. */
  warmUpMs: number;
  measureMs: number;
  /** The Redis peers' (steady from the first request: everything they hold is in memory). */
  redisWarmUpMs: number;
  redisMeasureMs: number;
  connections: number;
  zipfTheta: number;
}

const ctx = await beginBench<Size>({
  name: 'larger-than-memory',
  title: 'Larger than memory: a data set 10x maxmemory',
  sizes: {
    tiny: { keys: 20_000, valueBytes: 1000, maxmemory: '2mb', maxmemoryBytes: 2 << 20, warmUpMs: 500, measureMs: 1500, redisWarmUpMs: 300, redisMeasureMs: 1000, connections: 16, zipfTheta: 0.99 },
    default: { keys: 320_000, valueBytes: 1000, maxmemory: '32mb', maxmemoryBytes: 32 << 20, warmUpMs: 3000, measureMs: 8_000, redisWarmUpMs: 1000, redisMeasureMs: 4000, connections: 50, zipfTheta: 0.99 },
    large: { keys: 1_280_000, valueBytes: 1000, maxmemory: '128mb', maxmemoryBytes: 128 << 20, warmUpMs: 10_000, measureMs: 30_000, redisWarmUpMs: 2000, redisMeasureMs: 10_000, connections: 50, zipfTheta: 0.99 },
  },
});
const S = ctx.size;

if (!haveTool('redis-server')) {
  console.error('redis-server is needed (apt-get install redis-server)');
  process.exit(3);
}

const dataBytes = S.keys * S.valueBytes;
const key = (i: number) => `key:${String(i).padStart(9, '0')}`;
// Incompressible values: slices of a random pool at a per-key offset.
const POOL_BYTES = 1 << 22;
const pool = randomBytes(POOL_BYTES);
const valueOf = (i: number) => {
  const off = (i * 7919) % (POOL_BYTES - S.valueBytes);
  return pool.subarray(off, off + S.valueBytes);
};

// Request sequences (the same for every server): uniform, and Zipfian over ranks mapped to keys
// through a random permutation so the popular keys are spread over the key space (and tables).
const SEQ = 1 << 18;
const uniform: Buffer[] = [];
const zipf: Buffer[] = [];
{
  const r = rng(2024);
  for (let i = 0; i < SEQ; i++) uniform.push(encode(['GET', key(Math.floor(r() * S.keys))]));
  const z = new Zipfian(S.keys, S.zipfTheta, rng(77));
  const perm = permutation(S.keys, rng(5));
  for (let i = 0; i < SEQ; i++) zipf.push(encode(['GET', key(perm[z.next()]!)]));
}
const DISTS: { id: 'uniform' | 'zipfian'; label: string; cmds: Buffer[] }[] = [
  { id: 'uniform', label: 'uniform', cmds: uniform },
  { id: 'zipfian', label: `Zipfian (theta ${S.zipfTheta})`, cmds: zipf },
];

interface Phase {
  dist: 'uniform' | 'zipfian';
  requests: number;
  perSec: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  /** Share of GETs that found their key (from the reply: nil = not found). */
  found: number;
  /** Store requests per GET (S3 test server counts), Shale only. */
  storeGetsPerRequest?: number;
  storeBytesPerRequest?: number;
  /** INFO shale_store_gets delta per request, cross-check. */
  infoStoreGetsPerRequest?: number;
  rss: number;
}

interface ServerResult {
  id: string;
  label: string;
  commandLine: string;
  loadSeconds: number;
  loadPerSec: number;
  /** Keys the server holds after the load (DBSIZE). */
  dbsize: number;
  usedMemory: number;
  rssAfterLoad: number;
  phases: Phase[];
  storeObjects?: { objects: number; bytes: number };
  engine?: Record<string, string>;
  /** Random keys read back and compared with what was written (keys the server still has). */
  spotCheck?: { checked: number; wrong: number };
}

const LOAD_BATCH = 10;

async function load(s: RedisLike): Promise<{ seconds: number; perSec: number }> {
  const clients = await connectMany(s.port, 4);
  const t0 = performance.now();
  let last = t0;
  const r = await closedLoop(
    clients,
    (i) => {
      const now = performance.now();
      if (now - last > 5000) {
        last = now;
        progress(`${s.label}: ${fmtCount(i * LOAD_BATCH)} of ${fmtCount(S.keys)} keys written`);
      }
      const args: (string | Buffer)[] = ['MSET'];
      for (let k = i * LOAD_BATCH; k < Math.min(S.keys, (i + 1) * LOAD_BATCH); k++) args.push(key(k), valueOf(k));
      return encode(args);
    },
    { count: Math.ceil(S.keys / LOAD_BATCH), depth: 8 },
  );
  closeAll(clients);
  if (r.errors && s.kind === 'shale') throw new Error(`${s.label}: ${r.errors} errors while loading: ${r.firstError}`);
  return { seconds: (performance.now() - t0) / 1000, perSec: r.perSec * LOAD_BATCH };
}

/** Waits until Shale's background work (table flushes, compaction) has been quiet for 3 s. */
async function settle(s: RedisLike, maxMs = 120_000): Promise<void> {
  const deadline = performance.now() + maxMs;
  let last = '';
  let quiet = 0;
  while (performance.now() < deadline && quiet < 3) {
    const info = await s.info('persistence');
    const now = `${info['shale_l0_flushes']}/${info['shale_compactions']}/${info['shale_store_puts']}`;
    quiet = now === last ? quiet + 1 : 0;
    last = now;
    await sleep(1000);
  }
}

async function phase(s: RedisLike, dist: (typeof DISTS)[number], s3?: Awaited<ReturnType<typeof startS3Process>>): Promise<Phase> {
  const clients = await connectMany(s.port, S.connections);
  const offset = dist.id === 'uniform' ? 0 : 1000;
  // Warm-up (fills the hot set and block cache with this distribution), not counted.
  await closedLoop(clients, (i) => dist.cmds[(i + offset) % SEQ]!, { durationMs: s.kind === 'shale' ? S.warmUpMs : S.redisWarmUpMs });
  const c0 = s3 ? await s3.counts() : undefined;
  const i0 = s.kind === 'shale' ? await s.info('persistence') : undefined;
  let found = 0;
  const r: LoopResult = await closedLoop(clients, (i) => dist.cmds[(i + offset + 50_000) % SEQ]!, {
    durationMs: s.kind === 'shale' ? S.measureMs : S.redisMeasureMs,
    onReply: (reply) => {
      if (reply !== null && !(reply instanceof Error)) found++;
    },
  });
  const c1 = s3 ? await s3.counts() : undefined;
  const i1 = s.kind === 'shale' ? await s.info('persistence') : undefined;
  closeAll(clients);
  const p: Phase = {
    dist: dist.id,
    requests: r.ops,
    perSec: r.perSec,
    p50Ms: r.latency.percentileMs(50),
    p99Ms: r.latency.percentileMs(99),
    errors: r.errors,
    found: found / Math.max(1, r.ops),
    rss: s.rss(),
  };
  if (c0 && c1) {
    const d = diffCounts(c0, c1);
    p.storeGetsPerRequest = (d.GET + d.HEAD) / Math.max(1, r.ops);
    p.storeBytesPerRequest = d.bytesOut / Math.max(1, r.ops);
  }
  if (i0 && i1) p.infoStoreGetsPerRequest = (infoNumber(i1, 'shale_store_gets') - infoNumber(i0, 'shale_store_gets')) / Math.max(1, r.ops);
  progress(
    `${s.label}, ${dist.label}: ${fmtCount(p.perSec)} GET/s, p50 ${fmtMs(p.p50Ms)}, p99 ${fmtMs(p.p99Ms)}, found ${(p.found * 100).toFixed(1)}%` +
      `${p.storeGetsPerRequest !== undefined ? `, ${p.storeGetsPerRequest.toFixed(3)} store GETs/request` : ''}${r.errors ? `, ${r.errors} errors (${r.firstError})` : ''}`,
  );
  return p;
}

async function runServer(id: string, s: RedisLike, s3?: Awaited<ReturnType<typeof startS3Process>>): Promise<ServerResult> {
  const l = await load(s);
  if (s.kind === 'shale') {
    await waitDurable(s, 120_000);
    await s.control.call('SAVE');
    await settle(s);
  }
  const info = await s.info();
  const dbsize = Number(await s.control.call('DBSIZE'));
  progress(`${s.label}: loaded ${fmtCount(S.keys)} keys (${fmtBytes(dataBytes)} of values) in ${l.seconds.toFixed(1)} s; holds ${fmtCount(dbsize)}; RSS ${fmtBytes(s.rss())}`);
  const result: ServerResult = {
    id,
    label: s.label,
    commandLine: s.commandLine.replace(/--store '[^']*'/, "--store 's3://bench/ltm?endpoint=<S3 test server>&forcePathStyle=true&region=us-east-1'"),
    loadSeconds: l.seconds,
    loadPerSec: l.perSec,
    dbsize,
    usedMemory: infoNumber(info, 'used_memory'),
    rssAfterLoad: s.rss(),
    phases: [],
  };
  if (s3) result.storeObjects = await s3.objectBytes();
  for (const d of DISTS) result.phases.push(await phase(s, d, s3));
  // Spot check: the values read back are the values written (present keys only).
  const r = rng(31337);
  let checked = 0;
  let wrong = 0;
  for (let k = 0; k < 200; k++) {
    const i = Math.floor(r() * S.keys);
    const v = await s.control.call('GET', key(i));
    if (v === null) continue;
    checked++;
    if (!Buffer.isBuffer(v) || !v.equals(valueOf(i))) wrong++;
  }
  result.spotCheck = { checked, wrong };
  if (wrong) progress(`${s.label}: ${wrong} of ${checked} values read back differ from what was written!`);
  if (s.kind === 'shale') {
    const e = await s.info();
    result.engine = Object.fromEntries(Object.entries(e).filter(([k]) => /^shale_(store_|l0_|compactions|hotset|heap|write_stalls)/.test(k)));
  }
  return result;
}

const results: ServerResult[] = [];
let storeProbe: number | undefined;

section(`Shale, --maxmemory ${S.maxmemory} (noeviction), on the S3 test server: ${fmtCount(S.keys)} keys x ${S.valueBytes} B = ${fmtBytes(dataBytes)}`);
const s3 = await startS3Process();
{
  const shale = await startShale({ durability: 'relaxed', maxmemory: S.maxmemory, maxmemoryPolicy: 'noeviction', store: s3.storeUrl('ltm'), env: s3.env, label: `Shale (maxmemory ${S.maxmemory})` });
  results.push(await runServer('shale', shale, s3));
  await shale.stop();
  storeProbe = await s3.probeGets(16, 2000);
  progress(`S3 test server alone: ${storeProbe === undefined ? '?' : fmtCount(storeProbe)} ranged 4 KiB GETs/s (plain HTTP, 16 in flight)`);
}
await s3.stop();

section('Redis with the whole data set in memory (no maxmemory)');
{
  const redis = await startRedis({ appendfsync: 'everysec', label: 'Redis, all in memory' });
  results.push(await runServer('redis-all', redis));
  await redis.stop();
}

section(`Redis with maxmemory ${S.maxmemory}, allkeys-lru (evicts what does not fit)`);
{
  const redis = await startRedis({ appendfsync: 'everysec', maxmemory: S.maxmemory, maxmemoryPolicy: 'allkeys-lru', label: `Redis, maxmemory ${S.maxmemory} allkeys-lru` });
  results.push(await runServer('redis-lru', redis));
  await redis.stop();
}

// ------------------------------------------------------------------ report

const get = (id: string, d: 'uniform' | 'zipfian') => results.find((r) => r.id === id)?.phases.find((p) => p.dist === d);
const shaleR = results.find((r) => r.id === 'shale')!;
const redisAll = results.find((r) => r.id === 'redis-all')!;
const redisLru = results.find((r) => r.id === 'redis-lru')!;
const headline: HeadlineRow[] = [];
for (const d of DISTS) {
  const a = get('shale', d.id);
  const b = get('redis-all', d.id);
  const c = get('redis-lru', d.id);
  headline.push(
    row({
      metric: `GET throughput, ${d.label} keys, data set ${fmtBytes(dataBytes)} = 10x Shale's maxmemory ${S.maxmemory} (rest in the store)`,
      shale: a?.perSec ?? null,
      peer: b?.perSec ?? null,
      peerName: 'Redis with all data in memory',
      unit: '/s',
      better: 'higher',
      target: null,
      met: null,
      readme: true,
    }),
    row({
      metric: `store GETs per request, ${d.label} (S3 requests counted at the server; <= 1 - this share of GETs needed the store)`,
      shale: a?.storeGetsPerRequest ?? null,
      peer: 1,
      peerName: 'one store GET per request',
      unit: 'per request',
      better: 'lower',
      target: null,
      met: null,
      readme: true,
    }),
    row({
      metric: `GETs that found their key, ${d.label} (Redis at the same maxmemory evicts what does not fit: those keys are gone)`,
      shale: a?.found ?? null,
      peer: c?.found ?? null,
      peerName: `Redis maxmemory ${S.maxmemory} allkeys-lru`,
      unit: 'fraction',
      better: 'higher',
      target: null,
      met: null,
      readme: d.id === 'zipfian',
    }),
  );
}
headline.push(
  row({
    metric: `server RSS after the ${d2(DISTS.length)} read phases`,
    shale: shaleR.phases.at(-1)?.rss ?? null,
    peer: redisAll.phases.at(-1)?.rss ?? null,
    peerName: 'Redis with all data in memory',
    unit: 'B',
    better: 'lower',
    target: null,
    met: null,
  }),
);

function d2(n: number): string {
  return n === 2 ? 'two' : String(n);
}

const READS_PER_SEC = 10_000;
const GET_PRICE = 0.0004 / 1000;
const SECONDS_PER_MONTH = 730 * 3600;
const costLine = DISTS.map((d) => {
  const p = get('shale', d.id);
  if (p?.storeGetsPerRequest === undefined) return '';
  return `${d.label}: ${p.storeGetsPerRequest.toFixed(3)} store GETs per read = $${(p.storeGetsPerRequest * READS_PER_SEC * SECONDS_PER_MONTH * GET_PRICE).toFixed(2)}/month at ${fmtCount(READS_PER_SEC)} reads/s`;
})
  .filter(Boolean)
  .join('; ');

const detailRows: string[][] = [];
for (const r of results) {
  for (const p of r.phases) {
    detailRows.push([
      r.label,
      p.dist,
      `${fmtCount(p.perSec)}/s`,
      `${fmtMs(p.p50Ms)} / ${fmtMs(p.p99Ms)}`,
      `${(p.found * 100).toFixed(1)}%`,
      p.storeGetsPerRequest === undefined ? '' : `${p.storeGetsPerRequest.toFixed(3)} (INFO: ${p.infoStoreGetsPerRequest?.toFixed(3) ?? '?'})`,
      p.storeBytesPerRequest === undefined ? '' : fmtBytes(p.storeBytesPerRequest),
      fmtBytes(p.rss),
    ]);
  }
}
const loadRows = results.map((r) => [
  r.label,
  `${r.loadSeconds.toFixed(1)} s (${fmtCount(r.loadPerSec)}/s)`,
  fmtCount(r.dbsize),
  fmtBytes(r.usedMemory),
  fmtBytes(r.rssAfterLoad),
  r.storeObjects ? `${fmtCount(r.storeObjects.objects)} objects, ${fmtBytes(r.storeObjects.bytes)}` : '',
  r.spotCheck ? `${r.spotCheck.checked - r.spotCheck.wrong} of ${r.spotCheck.checked} random keys` : '',
]);

const body = `## Read phases

${mdTable(['server', 'keys read', 'GET/s', 'p50 / p99 (closed loop)', 'found', 'store GETs per request', 'store bytes per request', 'RSS after'], detailRows)}

Implied S3 GET cost for Shale: ${costLine} (GET $0.0004 per 1,000; see also \`bench/results/store-requests.md\`).

## Load

${mdTable(['server', 'load time', 'keys held (DBSIZE)', 'used_memory', 'RSS', 'store', 'values read back correct'], loadRows)}

Servers:
${results.map((r) => `- ${r.label}: \`${r.commandLine}\``).join('\n')}
${shaleR.engine ? `\nShale's store and engine counters at the end: ${Object.entries(shaleR.engine).map(([k, v]) => `${k.replace(/^shale_/, '')}=${v}`).join(', ')}.` : ''}

## How it was measured

- **Data.** ${fmtCount(S.keys)} keys \`key:000000000..\` with ${S.valueBytes}-byte incompressible values: ${fmtBytes(dataBytes)} of values, ten times
  \`--maxmemory ${S.maxmemory}\`. Written with MSETs of 10 keys (4 connections, 8 in flight each). Shale then makes everything durable,
  writes its memtable out (\`SAVE\`) and waits until table flushes and compaction have been quiet for 3 s, so reads come from tables in the store.
- **Shale.** Database mode (\`maxmemory-policy noeviction\`): \`maxmemory\` bounds the hot set of decoded keys; keys that leave it stay
  in the store and are read back on demand. The engine's own caches come on top of maxmemory (block cache 64 MiB,
  metadata cache 16 MiB, and the memtable up to 64 MiB, empty after SAVE), so Shale's memory is larger than maxmemory: see RSS.
  The store is the S3 test server in its own process on 127.0.0.1, with no added latency. On this machine it answered
  ${storeProbe === undefined ? 'n/a' : fmtCount(storeProbe)} ranged 4 KiB GETs a second to plain HTTP requests (16 in flight, no SDK; measured right after
  Shale's phases), which bounds any store-bound figure here; real S3 answers a GET in 10-30 ms but scales with concurrency.
- **Reads.** For each distribution, ${S.warmUpMs / 1000} s of warm-up (not counted), then ${S.measureMs / 1000} s of GETs (Redis: ${S.redisWarmUpMs / 1000} s and ${S.redisMeasureMs / 1000} s) from ${S.connections} connections, one request
  in flight each (like \`redis-benchmark -c ${S.connections}\`), closed loop. Uniform: every key equally likely. Zipfian: YCSB's generator
  with theta ${S.zipfTheta}, ranks mapped to keys through a fixed random permutation (popular keys spread over the key space).
  The same request sequence goes to every server.
- **Store GETs per request** = (GET + HEAD requests the S3 server received during the measured phase) / GETs answered; a request
  that misses the hot set and the block cache costs at least one ranged GET, so at least 1 - this share of requests were
  served from memory. Shale's INFO \`shale_store_gets\` gives the same count (shown in brackets).
- **Found** = share of GET replies that were not nil. Shale never loses a key in database mode; Redis with the same
  maxmemory and allkeys-lru keeps only what fits and answers nil for the rest (the data is gone, not slow). A GET that
  misses brings nothing back, so the keys Redis still has are the last ones written, whatever the read distribution.
- **Peers.** Throughput is compared with Redis holding everything in memory (it needs RAM for all ${fmtBytes(dataBytes)}); the
  LRU Redis is the like-for-like memory budget. Both use appendfsync everysec; Shale durability relaxed.`;

finishBench(ctx, {
  headline,
  body,
  summaryIntro: `A data set ten times Shale's \`maxmemory\` (${fmtBytes(dataBytes)} of values, maxmemory ${S.maxmemory}), read with uniform and Zipfian GETs. Shale keeps the rest in the store (the S3 test server); Redis peers: everything in memory (throughput), and the same maxmemory with allkeys-lru (it cannot hold the data).`,
  json: { dataBytes, storeProbeGetsPerSec: storeProbe ?? null, results, redisLruNote: `Redis with maxmemory ${S.maxmemory} allkeys-lru holds ${fmtCount(redisLru.dbsize)} of ${fmtCount(S.keys)} keys after the load.` },
});
process.exit(0);
