/**
 * Store request efficiency: object-store PUTs and GETs per million client writes and reads,
 * with Shale on the S3 test server (every request counted there), at flush intervals 10 and
 * 100 ms, under a stated sustained workload (1000 writes/s and 10,000 reads/s), and the monthly
 * S3 request bill that implies at S3 Standard prices.
 *
 *   node bench/store-requests/run.ts [--size tiny|default|large] [--large]
 *
 * Writes bench/results/store-requests.md and .json (other sizes: store-requests-<size>).
 */
import { closeAll, closedLoop, connectMany, openLoop } from '../lib/drive.ts';
import { beginBench, fmtBytes, finishBench, type HeadlineRow, row } from '../lib/headline.ts';
import { maxInWindow, median, rng, sleep } from '../lib/measure.ts';
import { progress, section } from '../lib/progress.ts';
import { fmtCount, mdTable } from '../lib/report.ts';
import { encode } from '../lib/resp.ts';
import { diffCounts, type S3Counts, startS3Process, startShale, waitDurable } from '../lib/servers.ts';

interface Size {
  /** Keys written before measuring (reads pick from them, writes overwrite them). */
  keys: number;
  valueBytes: number;
  writesPerSec: number;
  readsPerSec: number;
  seconds: number;
  intervals: number[];
  connections: number;
}

const ctx = await beginBench<Size>({
  name: 'store-requests',
  title: 'Object-store requests and their cost',
  sizes: {
    tiny: { keys: 2_000, valueBytes: 100, writesPerSec: 1_000, readsPerSec: 10_000, seconds: 3, intervals: [10, 100], connections: 16 },
    default: { keys: 100_000, valueBytes: 100, writesPerSec: 1_000, readsPerSec: 10_000, seconds: 15, intervals: [10, 100], connections: 32 },
    large: { keys: 1_000_000, valueBytes: 100, writesPerSec: 1_000, readsPerSec: 10_000, seconds: 120, intervals: [10, 100], connections: 32 },
  },
});
const S = ctx.size;

/** S3 Standard request prices, USD per 1000 requests (us-east-1). LIST is billed like PUT. */
const PRICE = { put: 0.005, get: 0.0004, list: 0.005 };
/** AWS bills a month as 730 hours. */
const SECONDS_PER_MONTH = 730 * 3600;

const key = (i: number) => `key:${String(i).padStart(9, '0')}`;
const value = Buffer.alloc(S.valueBytes, 'v');
const POOL = 1 << 16;
const random = rng(7);
const getCmds = Array.from({ length: POOL }, () => encode(['GET', key(Math.floor(random() * S.keys))]));
const setCmds = Array.from({ length: POOL }, () => encode(['SET', key(Math.floor(random() * S.keys)), value]));
const totalRate = S.writesPerSec + S.readsPerSec;
/** Request i is a write when i % every === 0 (writes spread evenly among the reads). */
const every = Math.round(totalRate / S.writesPerSec);

interface IntervalResult {
  interval: number;
  commandLine: string;
  seconds: number;
  writes: number;
  reads: number;
  unanswered: number;
  errors: number;
  counts: S3Counts;
  /** WAL PUTs in the busiest 1 s window and the bound 1000/interval + 1. */
  walPutsBusiestSecond: number;
  walPutBound: number;
  /** INFO shale_durable_lag_ms sampled every 200 ms during the window: median and max. */
  durableLagMs: { p50: number; max: number; samples: number };
  perMillionWrites: { puts: number; walPuts: number };
  perMillionReads: { gets: number };
  perSecond: { puts: number; gets: number; lists: number };
  /** Table PUTs (sst + manifest) per MiB written, measured while loading and SAVE. */
  tablePutsPerMiB: number;
  estTablePutsPerSec: number;
  monthly: { put: number; get: number; list: number; tables: number; total: number };
  loadCounts: S3Counts;
  loadBytes: number;
}

section('starting the S3 test server');
const s3 = await startS3Process();
progress(`S3 test server at ${s3.endpoint}`);

const results: IntervalResult[] = [];
for (const interval of S.intervals) {
  section(`flush-interval ${interval} ms`);
  const c0 = await s3.counts();
  const shale = await startShale({ durability: 'relaxed', flushInterval: interval, store: s3.storeUrl(`fi-${interval}`), env: s3.env });
  const clients = await connectMany(shale.port, S.connections);
  const LOAD_BATCH = 100;
  const load = await closedLoop(
    clients.slice(0, 4),
    (b) => {
      const args: (string | Buffer)[] = ['MSET'];
      for (let i = b * LOAD_BATCH; i < Math.min(S.keys, (b + 1) * LOAD_BATCH); i++) args.push(key(i), value);
      return encode(args);
    },
    { count: Math.ceil(S.keys / LOAD_BATCH), depth: 8 },
  );
  if (load.errors) throw new Error(`load: ${load.firstError}`);
  await waitDurable(shale);
  await shale.control.call('SAVE');
  await sleep(1000);
  const c1 = await s3.counts();
  const loadCounts = diffCounts(c0, c1);
  const loadBytes = S.keys * (key(0).length + S.valueBytes);
  progress(`loaded ${fmtCount(S.keys)} keys (${fmtBytes(loadBytes)}) at ${fmtCount(load.perSec * LOAD_BATCH)} keys/s; store requests during load + SAVE: ${fmtCount(loadCounts.PUT)} PUT, ${fmtCount(loadCounts.GET)} GET, ${fmtCount(loadCounts.LIST)} LIST`);

  // The measured window: a fixed-rate mix, writes evenly spread among reads.
  await s3.record(true);
  const before = await s3.counts();
  // Meanwhile, sample how far the store is behind (age of the oldest write not yet durable).
  const lagSamples: number[] = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const info = await shale.info('persistence');
      lagSamples.push(Number(info['shale_durable_lag_ms'] ?? NaN));
      await sleep(200);
    }
  })();
  const r = await openLoop(clients, totalRate, S.seconds * 1000, (i) => (i % every === 0 ? setCmds[(i / every) % POOL]! : getCmds[i % POOL]!));
  sampling = false;
  await sampler;
  const after = await s3.counts();
  await s3.record(false);
  const reqs = await s3.requests();
  const counts = diffCounts(before, after);
  const seconds = r.ms / 1000;
  const writes = Math.ceil(r.scheduled / every);
  const reads = r.scheduled - writes;
  const walPutTimes = reqs.filter((q) => q.op === 'PUT' && q.kind === 'wal').map((q) => q.t);
  const walPuts = counts.byKind['PUT:wal'] ?? 0;
  const gets = counts.GET + counts.HEAD;
  const tablePuts = (loadCounts.byKind['PUT:sst'] ?? 0) + (loadCounts.byKind['PUT:manifest'] ?? 0);
  const tablePutsPerMiB = tablePuts / (loadBytes / 2 ** 20);
  const writeBytesPerSec = S.writesPerSec * (key(0).length + S.valueBytes);
  const estTablePutsPerSec = (tablePutsPerMiB * writeBytesPerSec) / 2 ** 20;
  const perSecond = { puts: counts.PUT / seconds, gets: gets / seconds, lists: counts.LIST / seconds };
  const monthly = {
    put: perSecond.puts * SECONDS_PER_MONTH * (PRICE.put / 1000),
    get: perSecond.gets * SECONDS_PER_MONTH * (PRICE.get / 1000),
    list: perSecond.lists * SECONDS_PER_MONTH * (PRICE.list / 1000),
    tables: estTablePutsPerSec * SECONDS_PER_MONTH * (PRICE.put / 1000),
    total: 0,
  };
  monthly.total = monthly.put + monthly.get + monthly.list + monthly.tables;
  const res: IntervalResult = {
    interval,
    commandLine: shale.commandLine.replace(/--store '[^']*'/, "--store 's3://bench/fi-N?endpoint=<S3 test server>&forcePathStyle=true&region=us-east-1'"),
    seconds,
    writes,
    reads,
    unanswered: r.unanswered,
    errors: r.errors,
    counts,
    walPutsBusiestSecond: maxInWindow(walPutTimes, 1000),
    walPutBound: Math.floor(1000 / interval) + 1,
    durableLagMs: { p50: median(lagSamples.filter(Number.isFinite)), max: Math.max(...lagSamples.filter(Number.isFinite)), samples: lagSamples.length },
    perMillionWrites: { puts: (counts.PUT / writes) * 1e6, walPuts: (walPuts / writes) * 1e6 },
    perMillionReads: { gets: (gets / reads) * 1e6 },
    perSecond,
    tablePutsPerMiB,
    estTablePutsPerSec,
    monthly,
    loadCounts,
    loadBytes,
  };
  results.push(res);
  progress(
    `${fmtCount(writes)} writes + ${fmtCount(reads)} reads in ${seconds.toFixed(1)} s (${fmtCount(r.perSec)}/s answered${r.unanswered ? `, ${r.unanswered} unanswered` : ''}${r.errors ? `, ${r.errors} errors: ${r.firstError}` : ''}): ` +
      `${counts.PUT} PUT (${walPuts} WAL; busiest 1 s ${res.walPutsBusiestSecond}, bound ${res.walPutBound}), ${gets} GET/HEAD, ${counts.LIST} LIST; ~$${monthly.total.toFixed(2)}/month; ` +
      `durable lag p50 ${res.durableLagMs.p50} ms, max ${res.durableLagMs.max} ms`,
  );
  closeAll(clients);
  await shale.stop();
}
await s3.stop();

// ------------------------------------------------------------------ report

const workload = `${fmtCount(S.writesPerSec)} writes/s + ${fmtCount(S.readsPerSec)} reads/s`;
const naivePutsPerSec = S.writesPerSec;
const naiveMonthly = naivePutsPerSec * SECONDS_PER_MONTH * (PRICE.put / 1000);
const headline: HeadlineRow[] = [];
for (const r of results) {
  headline.push(
    row({
      metric: `WAL PUTs in the busiest 1 s, ${workload}, flush-interval ${r.interval} ms`,
      shale: r.walPutsBusiestSecond,
      peer: r.walPutBound,
      peerName: 'bound 1000/interval + 1',
      unit: 'count',
      better: 'lower',
      target: `<= ${r.walPutBound}`,
      met: r.walPutsBusiestSecond <= r.walPutBound,
      readme: true,
    }),
    row({
      metric: `durable lag (age of the oldest write not yet in the store), max over the window, flush-interval ${r.interval} ms (p50 ${r.durableLagMs.p50} ms)`,
      shale: r.durableLagMs.max,
      peer: r.interval,
      peerName: 'the flush interval',
      unit: 'ms',
      better: 'lower',
      target: null,
      met: null,
    }),
    row({
      metric: `store PUTs per 1M client writes, flush-interval ${r.interval} ms (at ${fmtCount(S.writesPerSec)} writes/s)`,
      shale: r.perMillionWrites.puts,
      peer: 1e6,
      peerName: 'one PUT per write',
      unit: 'per 1M',
      better: 'lower',
      target: null,
      met: null,
    }),
    row({
      metric: `store GETs per 1M client reads, flush-interval ${r.interval} ms (hot set holds the ${fmtCount(S.keys)} keys)`,
      shale: r.perMillionReads.gets,
      peer: 1e6,
      peerName: 'one GET per read',
      unit: 'per 1M',
      better: 'lower',
      target: null,
      met: null,
    }),
    row({
      metric: `S3 request cost of ${workload} sustained, flush-interval ${r.interval} ms`,
      shale: r.monthly.total,
      peer: naiveMonthly,
      peerName: 'one PUT per write (reads free)',
      unit: 'usd/month',
      better: 'lower',
      target: null,
      met: null,
      readme: true,
    }),
  );
}

const detail = mdTable(
  ['flush interval', 'window', 'writes / reads', 'PUT (wal / sst / manifest / other)', 'GET+HEAD', 'LIST', 'DELETE', 'WAL PUTs busiest 1 s (bound)', 'PUTs per 1M writes', 'GETs per 1M reads', 'PUT/s', 'GET/s', 'durable lag p50 / max'],
  results.map((r) => {
    const k = r.counts.byKind;
    const wal = k['PUT:wal'] ?? 0;
    const sst = k['PUT:sst'] ?? 0;
    const man = k['PUT:manifest'] ?? 0;
    return [
      `${r.interval} ms`,
      `${r.seconds.toFixed(1)} s`,
      `${fmtCount(r.writes)} / ${fmtCount(r.reads)}${r.unanswered ? ` (${r.unanswered} unanswered)` : ''}`,
      `${r.counts.PUT} (${wal} / ${sst} / ${man} / ${r.counts.PUT - wal - sst - man})`,
      String(r.counts.GET + r.counts.HEAD),
      String(r.counts.LIST),
      String(r.counts.DELETE),
      `${r.walPutsBusiestSecond} (${r.walPutBound})`,
      fmtCount(r.perMillionWrites.puts),
      fmtCount(r.perMillionReads.gets),
      r.perSecond.puts.toFixed(1),
      r.perSecond.gets.toFixed(2),
      `${r.durableLagMs.p50} / ${r.durableLagMs.max} ms`,
    ];
  }),
);

const money = (x: number) => `$${x >= 100 ? Math.round(x).toLocaleString('en-US') : x.toFixed(2)}`;
const costTable = mdTable(
  ['flush interval', 'PUTs (WAL and others seen)', 'GETs', 'LISTs', 'table flushes (estimate)', 'total per month', 'one PUT per write'],
  results.map((r) => [`${r.interval} ms`, money(r.monthly.put), money(r.monthly.get), money(r.monthly.list), money(r.monthly.tables), `**${money(r.monthly.total)}**`, money(naiveMonthly)]),
);

const body = `## Requests in the measured window

${detail}

## Monthly request cost at S3 Standard prices, ${workload} sustained

${costTable}

Prices: PUT/COPY/POST/LIST $${PRICE.put} per 1,000, GET/HEAD $${PRICE.get} per 1,000, DELETE free (S3 Standard, us-east-1); a month is 730 hours.
Storage (GB-month) and data transfer are not included.

## How it was measured

- **Store.** The S3 test server (\`test/support/s3-server.ts\`) in its own process, speaking S3's REST API to Shale's real S3
  client over HTTP on 127.0.0.1; it counts every request by operation and by the object's folder (\`wal/\`, \`sst/\`, \`manifest/\`)
  and timestamps them as they arrive. Shale: ${results[0] ? `\`${results[0].commandLine}\`` : ''} (durability relaxed), one fresh server and prefix per interval.
- **Workload.** ${fmtCount(S.keys)} keys with ${S.valueBytes}-byte values are written first, then \`SAVE\` writes the memtable out as tables. Then for
  ${S.seconds} s an open-loop mix at a fixed ${fmtCount(totalRate)} requests/s over ${S.connections} connections: every ${every}th request a SET that
  overwrites a random key (${fmtCount(S.writesPerSec)}/s), the others GETs of random keys (${fmtCount(S.readsPerSec)}/s). Every request in that window
  is counted; the per-second rates are counts / window length and the monthly cost is that rate over a month.
- **WAL PUTs.** The engine writes at most one WAL object per flush interval, so a sustained write stream costs about
  1000 / interval PUTs a second whatever the write rate; the busiest 1 s window of WAL PUT arrival times is checked
  against the bound 1000/interval + 1.
- **Durable lag.** \`INFO persistence\` sampled every 200 ms during the window: \`shale_durable_lag_ms\`, the age of the oldest
  acknowledged write not yet in the store. Relaxed durability promises writes reach the store within about one flush interval.
- **Reads.** The keys fit in the hot set, so reads cost no store requests; \`bench/results/larger-than-memory.md\` measures store
  GETs per read when the data set is ten times the memory bound.
- **Tables and compaction.** At ${fmtCount(S.writesPerSec)} writes/s of ${S.valueBytes}-byte values the 64 MiB memtable fills only every few
  minutes, so no table is written in the window. Their cost is estimated from the load phase: (sst + manifest PUTs
  during load and SAVE) per MiB written (${results.map((r) => `${r.tablePutsPerMiB.toFixed(2)}`).join(' / ')} at ${results.map((r) => `${r.interval} ms`).join(' / ')}),
  times the workload's ${fmtBytes(S.writesPerSec * (key(0).length + S.valueBytes))}/s. Compaction's re-writes are not included.
- The peer "one PUT per write" is what a store that wrote each acknowledged write as its own object would pay; it is a
  reference point, not a measured system.`;

finishBench(ctx, {
  headline,
  body,
  summaryIntro: `Shale (relaxed) on the S3 test server under ${workload}; every store request counted. Lower is better for every ratio.`,
  json: { prices: PRICE, secondsPerMonth: SECONDS_PER_MONTH, results },
});
process.exit(0);
