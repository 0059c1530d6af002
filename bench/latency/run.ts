/**
 * Latency under load: GET and SET at a fixed request rate (open loop: requests are sent on a
 * schedule whatever the server does, and latency is measured from the scheduled time, with
 * hdr-histogram-js), p50/p99/p99.9, for Shale relaxed and strict against redis-server with
 * appendfsync everysec and always.
 *
 *   node bench/latency/run.ts [--size tiny|default|large] [--large]
 *
 * Writes bench/results/latency.md and .json (other sizes: latency-<size>).
 */
import { closeAll, closedLoop, connectMany, openLoop, type OpenLoopResult } from '../lib/drive.ts';
import { beginBench, finishBench, type HeadlineRow, row } from '../lib/headline.ts';
import { rng } from '../lib/measure.ts';
import { progress, section } from '../lib/progress.ts';
import { fmtCount, fmtMs, mdTable } from '../lib/report.ts';
import { encode } from '../lib/resp.ts';
import { haveTool, type RedisLike, startRedis, startShale, waitDurable } from '../lib/servers.ts';

interface Size {
  /** Keys loaded before measuring (GETs read them, SETs overwrite them). */
  keys: number;
  valueBytes: number;
  /** Requests per second and connections for the relaxed/everysec pair. */
  rate: number;
  connections: number;
  /** The same for the strict/always pair (see "Why a lower rate for strict" in the report). */
  strictRate: number;
  strictConnections: number;
  /** Measured seconds per command, after warmUpMs of the same load (not recorded). */
  seconds: number;
  warmUpMs: number;
}

const ctx = await beginBench<Size>({
  name: 'latency',
  title: 'Latency at a fixed request rate: Shale vs Redis',
  packages: ['hdr-histogram-js'],
  sizes: {
    tiny: { keys: 2_000, valueBytes: 100, rate: 1_000, connections: 8, strictRate: 200, strictConnections: 32, seconds: 1, warmUpMs: 300 },
    default: { keys: 100_000, valueBytes: 100, rate: 5_000, connections: 16, strictRate: 400, strictConnections: 64, seconds: 8, warmUpMs: 1_000 },
    large: { keys: 1_000_000, valueBytes: 100, rate: 10_000, connections: 16, strictRate: 400, strictConnections: 64, seconds: 30, warmUpMs: 5_000 },
  },
});
const S = ctx.size;

if (!haveTool('redis-server')) {
  console.error('redis-server is needed (apt-get install redis-server)');
  process.exit(3);
}

interface Config {
  id: string;
  label: string;
  group: 'relaxed' | 'strict';
  start: () => Promise<RedisLike>;
  /** CONFIG SET applied after the keys are loaded (loading under strict durability would take minutes). */
  afterLoad?: string[];
}

const CONFIGS: Config[] = [
  { id: 'redis-everysec', label: 'Redis appendfsync everysec', group: 'relaxed', start: () => startRedis({ appendfsync: 'everysec', label: 'Redis appendfsync everysec' }) },
  { id: 'shale-relaxed', label: 'Shale relaxed (flush-interval 100 ms)', group: 'relaxed', start: () => startShale({ durability: 'relaxed', label: 'Shale relaxed' }) },
  {
    id: 'redis-always',
    label: 'Redis appendfsync always',
    group: 'strict',
    start: () => startRedis({ appendfsync: 'everysec', label: 'Redis appendfsync always' }),
    afterLoad: ['appendfsync', 'always'],
  },
  {
    id: 'shale-strict-10',
    label: 'Shale strict, flush-interval 10 ms',
    group: 'strict',
    start: () => startShale({ durability: 'relaxed', flushInterval: 10, label: 'Shale strict 10 ms' }),
    afterLoad: ['durability', 'strict'],
  },
  {
    id: 'shale-strict-100',
    label: 'Shale strict, flush-interval 100 ms (default)',
    group: 'strict',
    start: () => startShale({ durability: 'relaxed', flushInterval: 100, label: 'Shale strict 100 ms' }),
    afterLoad: ['durability', 'strict'],
  },
];

const key = (i: number) => `key:${String(i).padStart(9, '0')}`;
const value = Buffer.alloc(S.valueBytes, 'v');
// Pre-encoded commands over random keys (a fixed sequence, the same for every server).
const POOL = 1 << 16;
const random = rng(42);
const getCmds = Array.from({ length: POOL }, () => encode(['GET', key(Math.floor(random() * S.keys))]));
const setCmds = Array.from({ length: POOL }, () => encode(['SET', key(Math.floor(random() * S.keys)), value]));

interface Phase {
  command: 'GET' | 'SET';
  scheduled: number;
  answered: number;
  unanswered: number;
  errors: number;
  firstError?: string;
  achievedPerSec: number;
  fromScheduled: Percentiles;
  fromSent: Percentiles;
  sendLag: Percentiles;
}

interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

function percentiles(r: OpenLoopResult['fromScheduled']): Percentiles {
  const s = r.summary();
  return { p50: r.percentileMs(50), p90: r.percentileMs(90), p99: r.percentileMs(99), p999: r.percentileMs(99.9), max: s.maxMs, mean: s.meanMs };
}

interface ConfigResult {
  id: string;
  label: string;
  commandLine: string;
  rate: number;
  connections: number;
  loadSeconds: number;
  phases: Phase[];
  storeCounters?: Record<string, string>;
}

const results: ConfigResult[] = [];
for (const [ci, cfg] of CONFIGS.entries()) {
  section(`[${ci + 1}/${CONFIGS.length}] ${cfg.label}`);
  const server = await cfg.start();
  const rate = cfg.group === 'strict' ? S.strictRate : S.rate;
  const clients = await connectMany(server.port, cfg.group === 'strict' ? S.strictConnections : S.connections);
  const t0 = performance.now();
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
  if (load.errors) throw new Error(`${cfg.label}: load failed: ${load.firstError}`);
  await waitDurable(server);
  const loadSeconds = (performance.now() - t0) / 1000;
  progress(`loaded ${fmtCount(S.keys)} keys of ${S.valueBytes} B in ${loadSeconds.toFixed(1)} s (${fmtCount(load.perSec * LOAD_BATCH)} keys/s)`);
  if (cfg.afterLoad) await server.control.call('CONFIG', 'SET', ...cfg.afterLoad);
  // Warm-up at the measured rate (JIT, caches, connections), not recorded.
  await openLoop(clients, rate, S.warmUpMs / 2, (i) => getCmds[i % POOL]!);
  await openLoop(clients, rate, S.warmUpMs / 2, (i) => setCmds[i % POOL]!);
  const phases: Phase[] = [];
  for (const command of ['GET', 'SET'] as const) {
    const cmds = command === 'GET' ? getCmds : setCmds;
    const offset = command === 'GET' ? 12345 : 54321;
    const r = await openLoop(clients, rate, S.seconds * 1000, (i) => cmds[(i + offset) % POOL]!);
    const p: Phase = {
      command,
      scheduled: r.scheduled,
      answered: r.answered,
      unanswered: r.unanswered,
      errors: r.errors,
      firstError: r.firstError,
      achievedPerSec: r.perSec,
      fromScheduled: percentiles(r.fromScheduled),
      fromSent: percentiles(r.fromSent),
      sendLag: percentiles(r.sendLag),
    };
    phases.push(p);
    progress(
      `${command} at ${fmtCount(rate)}/s: p50 ${fmtMs(p.fromScheduled.p50)}, p99 ${fmtMs(p.fromScheduled.p99)}, p99.9 ${fmtMs(p.fromScheduled.p999)}, max ${fmtMs(p.fromScheduled.max)}` +
        `${p.unanswered ? `, ${p.unanswered} unanswered` : ''}${p.errors ? `, ${p.errors} errors (${p.firstError})` : ''}; driver lag p99 ${fmtMs(p.sendLag.p99)}`,
    );
  }
  let storeCounters: Record<string, string> | undefined;
  if (server.kind === 'shale') {
    const info = await server.info('persistence');
    storeCounters = Object.fromEntries(Object.entries(info).filter(([k]) => /^shale_(store_(puts|gets)|wal_flushes|l0_flushes|compactions|write_stalls)/.test(k)));
  }
  closeAll(clients);
  await server.stop();
  results.push({ id: cfg.id, label: cfg.label, commandLine: `${server.commandLine}${cfg.afterLoad ? `, then CONFIG SET ${cfg.afterLoad.join(' ')} after loading` : ''}`, rate, connections: clients.length, loadSeconds, phases, storeCounters });
}

// ------------------------------------------------------------------ report

const byId = new Map(results.map((r) => [r.id, r]));
const phase = (id: string, cmd: 'GET' | 'SET') => byId.get(id)?.phases.find((p) => p.command === cmd);
const PCTS: [keyof Percentiles, string][] = [
  ['p50', 'p50'],
  ['p99', 'p99'],
  ['p999', 'p99.9'],
];
const headline: HeadlineRow[] = [];
const pairs: { shale: string; peer: string; cmds: ('GET' | 'SET')[]; readme: string[] }[] = [
  { shale: 'shale-relaxed', peer: 'redis-everysec', cmds: ['GET', 'SET'], readme: ['GET p50', 'GET p99', 'SET p50', 'SET p99'] },
  { shale: 'shale-strict-10', peer: 'redis-always', cmds: ['SET', 'GET'], readme: ['SET p50', 'SET p99'] },
  { shale: 'shale-strict-100', peer: 'redis-always', cmds: ['SET'], readme: ['SET p50'] },
];
for (const pair of pairs) {
  const sLabel = CONFIGS.find((c) => c.id === pair.shale)!.label;
  const pLabel = CONFIGS.find((c) => c.id === pair.peer)!.label;
  for (const cmd of pair.cmds) {
    const a = phase(pair.shale, cmd);
    const b = phase(pair.peer, cmd);
    for (const [k, name] of PCTS) {
      headline.push(
        row({
          metric: `${cmd} ${name} latency at ${fmtCount(byId.get(pair.shale)?.rate ?? 0)} req/s (open loop), ${sLabel}`,
          shale: a ? a.fromScheduled[k] : null,
          peer: b ? b.fromScheduled[k] : null,
          peerName: pLabel,
          unit: 'ms',
          better: 'lower',
          target: null,
          met: null,
          readme: pair.readme.includes(`${cmd} ${name}`),
        }),
      );
    }
  }
}

const detailRows: string[][] = [];
for (const r of results) {
  for (const p of r.phases) {
    const f = p.fromScheduled;
    detailRows.push([
      r.label,
      `${fmtCount(r.rate)}/s over ${r.connections}`,
      p.command,
      `${fmtCount(p.achievedPerSec)}/s`,
      fmtMs(f.p50),
      fmtMs(f.p90),
      fmtMs(f.p99),
      fmtMs(f.p999),
      fmtMs(f.max),
      `${fmtMs(p.fromSent.p50)} / ${fmtMs(p.fromSent.p99)}`,
      fmtMs(p.sendLag.p99),
      `${p.unanswered}${p.errors ? ` (+${p.errors} errors: ${p.firstError})` : ''}`,
    ]);
  }
}

const body = `## All measurements

Latency from the scheduled send time (hdr-histogram-js, µs resolution); "service" is measured from when the
request was actually written; "driver lag" is how late the driver wrote requests relative to their schedule
(its own jitter, included in the scheduled-time figures).

${mdTable(['server', 'rate / connections', 'command', 'answered/s', 'p50', 'p90', 'p99', 'p99.9', 'max', 'service p50 / p99', 'driver lag p99', 'unanswered'], detailRows)}

Servers (one at a time, each started fresh):

${results.map((r) => `- ${r.label}: \`${r.commandLine}\`; ${fmtCount(S.keys)} keys loaded in ${r.loadSeconds.toFixed(1)} s${r.storeCounters ? `; store counters at the end: ${Object.entries(r.storeCounters).map(([k, v]) => `${k.replace(/^shale_/, '')}=${v}`).join(', ')}` : ''}`).join('\n')}

## How it was measured

- **Load.** ${fmtCount(S.keys)} keys \`key:000000000..\` with ${S.valueBytes}-byte values are written first (MSETs of 100 keys, pipelined; for Shale,
  then until the store holds them). Then ${S.warmUpMs / 1000} s of GETs and SETs at the test rate (not recorded), then
  ${S.seconds} s of GETs of random existing keys, then ${S.seconds} s of SETs overwriting random keys. The key sequence is the same for every server.
- **Rates.** Relaxed/everysec pair: **${fmtCount(S.rate)} requests/s** over ${S.connections} connections. Strict/always pair:
  **${fmtCount(S.strictRate)} requests/s** over ${S.strictConnections} connections, because in strict mode Shale answers a connection's
  write only once it is in the store *and does not start that connection's next command before then*, so one connection
  carries at most 1000 / flush-interval writes a second (10/s at the default 100 ms; a single hot key is likewise limited,
  as its key lock is held until the write is durable). ${S.strictConnections} connections at ${fmtCount(S.strictRate)}/s keep each
  connection below that limit at 100 ms (one request every ${fmtMs((1000 * S.strictConnections) / S.strictRate)} per connection). Redis
  appendfsync always runs at the same rate. Requests go round-robin over the connections.
- **Open loop.** Request i is due at start + i/rate and is written then (or as soon as the driver gets to it),
  whether or not earlier replies have arrived; its latency is reply time - due time, so queueing behind a slow
  reply counts in full (no coordinated omission). Between sends the driver sleeps in slices of at most 0.1 ms
  (\`Atomics.wait\`) instead of spinning, so a reply is timestamped at most 0.1 ms late.
- **Durability pairs.** Shale relaxed (acknowledged from memory, in the store within the 100 ms flush interval) against Redis
  appendfsync everysec (AOF fsync once a second); Shale strict (a reply leaves only after the write is in the store, here a
  local directory with fsync) against Redis appendfsync always (fsync before replying), at flush intervals 10 ms and 100 ms.
  Strict servers load their keys under relaxed/everysec and switch with CONFIG SET before the measurement.
  A strict write waits for the next WAL flush, so its latency is set by the flush schedule more than by the
  fsync; \`bench/results/durability.md\` covers flush intervals in detail.
- The driver, the server and the store share the machine's ${ctx.machine.cores} cores.`;

finishBench(ctx, {
  headline,
  body,
  summaryIntro: `GET and SET latency at a fixed request rate (open loop, measured from the scheduled time): ${fmtCount(S.rate)}/s for Shale relaxed vs Redis everysec, ${fmtCount(S.strictRate)}/s for Shale strict vs Redis always (why: see How it was measured). Lower is better: a ratio below 1x means Shale is faster. No targets were set for these; they are reported as they are.`,
  json: { results },
});
process.exit(0);
