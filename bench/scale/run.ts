/**
 * Scale benchmark: a real Shale server (bin/shale, local directory store, --maxmemory 256mb)
 * holding a ten-million-element sorted set and a ten-million-element list, built through the
 * server with pipelined ZADD/RPUSH; then ZADD, ZRANGE by rank and by score, LPUSH/RPOP and DEL
 * measured on them, while the server's RSS is sampled.
 *
 *   node bench/scale/run.ts [--elements 10000000] [--batch 1000] [--depth 16] [--keep] [--tmp DIR]
 *
 * Writes bench/results/scale.md and scale.json (for other --elements: scale-<N>.md/.json, so a
 * quick development run does not overwrite the full one).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { busyProcesses, cpuBusyPercent, machineInfo, machineMarkdown } from '../lib/machine.ts';
import { Latency, type LatencySummary, rng, type RunResult } from '../lib/measure.ts';
import { progress, section } from '../lib/progress.ts';
import { fmtCount, fmtMs, fmtRate, mdTable, textTable, writeResults } from '../lib/report.ts';
import { freePort, spawnShale } from '../lib/servers.ts';

const { values: args } = parseArgs({
  options: {
    elements: { type: 'string', default: '10000000' },
    batch: { type: 'string', default: '1000' },
    depth: { type: 'string', default: '16' },
    maxmemory: { type: 'string', default: '256mb' },
    // Shale's bound on waiting for the store (backpressure included); 0 = wait as long as it takes.
    'store-timeout': { type: 'string', default: '0' },
    keep: { type: 'boolean', default: false },
    tmp: { type: 'string' },
  },
});

const N = Number(args.elements);
const BATCH = Number(args.batch);
const DEPTH = Number(args.depth);
const MAXMEMORY = args.maxmemory!;
const MAXMEMORY_BYTES = parseMemory(MAXMEMORY);
const STORE_TIMEOUT = args['store-timeout']!;
/** Operations per measurement, and the longest one may run. */
const SEQ_OPS = 2_000;
const PAR_OPS = 20_000;
const PAR_CONCURRENCY = 50;
const CAP_MS = 20_000;
/** Requests slower than this (p50) are not also run 50 at a time. */
const SLOW_MS = 100;

function parseMemory(s: string): number {
  const m = /^(\d+)(kb|mb|gb|k|m|g|b)?$/i.exec(s.trim());
  if (!m) throw new Error(`bad memory size ${s}`);
  const mult: Record<string, number> = { b: 1, k: 1000, kb: 1024, m: 1e6, mb: 1024 ** 2, g: 1e9, gb: 1024 ** 3 };
  return Number(m[1]) * (mult[(m[2] ?? 'b').toLowerCase()] ?? 1);
}

// ------------------------------------------------------------------ the server and its memory

/** RSS of a process in bytes (from /proc), or undefined once it is gone. */
function rssOf(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

class RssSampler {
  readonly samples: { t: number; phase: string; rss: number }[] = [];
  phase = 'start';
  private readonly timer: NodeJS.Timeout;
  constructor(pid: number, everyMs = 250) {
    const t0 = performance.now();
    this.timer = setInterval(() => {
      const rss = rssOf(pid);
      if (rss !== undefined) this.samples.push({ t: Math.round(performance.now() - t0), phase: this.phase, rss });
    }, everyMs);
    this.timer.unref();
  }
  stop(): void {
    clearInterval(this.timer);
  }
  max(phase?: string): number {
    let m = 0;
    for (const s of this.samples) if (!phase || s.phase === phase) m = Math.max(m, s.rss);
    return m;
  }
}

/** Engine figures from INFO, sampled alongside RSS to show where memory goes. */
interface InfoSample {
  t: number;
  phase: string;
  heapUsed: number;
  stalls: number;
  l0Flushes: number;
  compactions: number;
  durableLagBytes: number;
}

class InfoSampler {
  readonly samples: InfoSample[] = [];
  phase = 'start';
  private readonly timer: NodeJS.Timeout;
  private busy = false;
  constructor(c: Redis, everyMs = 2000) {
    const t0 = performance.now();
    const num = (info: string, name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? NaN);
    this.timer = setInterval(() => {
      if (this.busy) return;
      this.busy = true;
      c.info()
        .then((info) => {
          this.samples.push({
            t: Math.round(performance.now() - t0),
            phase: this.phase,
            heapUsed: num(info, 'shale_heap_used'),
            stalls: num(info, 'shale_write_stalls'),
            l0Flushes: num(info, 'shale_l0_flushes'),
            compactions: num(info, 'shale_compactions'),
            durableLagBytes: num(info, 'shale_durable_lag_bytes'),
          });
        })
        .catch(() => {})
        .finally(() => (this.busy = false));
    }, everyMs);
    this.timer.unref();
  }
  stop(): void {
    clearInterval(this.timer);
  }
  max(phase: string, f: (s: InfoSample) => number): number {
    let m = 0;
    for (const s of this.samples) if (s.phase === phase && Number.isFinite(f(s))) m = Math.max(m, f(s));
    return m;
  }
  last(f: (s: InfoSample) => number): number {
    const s = this.samples[this.samples.length - 1];
    return s ? f(s) : NaN;
  }
}

async function startShale(dir: string, port: number): Promise<ChildProcess> {
  const proc = spawnShale(
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--maxmemory', MAXMEMORY, '--store-timeout', STORE_TIMEOUT],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let err = '';
  proc.stderr!.on('data', (b: Buffer) => (err = (err + b.toString()).slice(-4000)));
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`shale exited with ${proc.exitCode}: ${err}`);
    try {
      const c = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      c.on('error', () => {}); // refused while the server starts: retried below
      await c.connect();
      await c.ping();
      c.disconnect();
      return proc;
    } catch {
      if (Date.now() > deadline) throw new Error(`shale did not start: ${err}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** INFO memory used_memory: the hot set's accounted bytes. */
async function usedMemory(c: Redis): Promise<number> {
  const info = await c.info('memory');
  const m = /used_memory:(\d+)/.exec(info);
  return m ? Number(m[1]) : NaN;
}

// ------------------------------------------------------------------ measurements

interface Measurement {
  name: string;
  /** Sequential: one request at a time, each awaited. */
  latency: LatencySummary;
  /** Concurrent: PAR_CONCURRENCY requests in flight over a few connections (skipped for slow requests). */
  throughput: RunResult | undefined;
}

async function measure(name: string, clients: Redis[], op: (c: Redis, i: number) => Promise<unknown>): Promise<Measurement> {
  // Each loop checks its deadline before every request: some requests here take seconds.
  progress(`${name}: up to ${SEQ_OPS} sequential`);
  const lat = new Latency();
  let i = 0;
  const seqEnd = performance.now() + CAP_MS;
  for (let k = 0; k < SEQ_OPS && performance.now() < seqEnd; k++) {
    const t = performance.now();
    await op(clients[0]!, i++);
    lat.recordMs(performance.now() - t);
  }
  const latency = lat.summary();
  if (latency.p50Ms > SLOW_MS) {
    progress(`${name}: p50 ${fmtMs(latency.p50Ms)}, no concurrent run`);
    return { name, latency, throughput: undefined };
  }
  progress(`${name}: up to ${PAR_OPS} with ${PAR_CONCURRENCY} in flight`);
  const t0 = performance.now();
  const deadline = t0 + CAP_MS;
  let issued = 0;
  let done = 0;
  const loop = async (w: number) => {
    while (issued < PAR_OPS && performance.now() < deadline) {
      issued++;
      await op(clients[w % clients.length]!, i++);
      done++;
    }
  };
  await Promise.all(Array.from({ length: PAR_CONCURRENCY }, (_, w) => loop(w)));
  const ms = performance.now() - t0;
  return { name, latency, throughput: { ops: done, ms, perSec: (done / ms) * 1000, capped: issued < PAR_OPS } };
}

interface Build {
  ms: number;
  perSec: number;
  /** Elements acknowledged (less than asked if a command failed). */
  done: number;
  /** Latency of the individual ZADD/RPUSH commands (a stall shows as a long one). */
  commands: LatencySummary;
  error?: string;
}

/** Builds a collection through the server: `depth` pipelined commands of `batch` elements. */
async function build(c: Redis, n: number, command: (from: number, count: number) => [string, ...(string | number)[]]): Promise<Build> {
  const t0 = performance.now();
  const lat = new Latency();
  let next = 0;
  let done = 0;
  let error: string | undefined;
  let lastReport = t0;
  const worker = async () => {
    while (next < n && error === undefined) {
      const from = next;
      const count = Math.min(BATCH, n - from);
      next += count;
      const [cmd, ...rest] = command(from, count);
      const t = performance.now();
      try {
        await c.call(cmd, ...rest);
      } catch (e) {
        error ??= `${(e as Error).message} (after ${fmtCount(done)} elements)`;
        return;
      }
      const now = performance.now();
      lat.recordMs(now - t);
      done += count;
      if (now - lastReport > 10_000) {
        lastReport = now;
        progress(`  ${fmtCount(done)} of ${fmtCount(n)} (${fmtRate((done / (now - t0)) * 1000)}, slowest command so far ${fmtMs(lat.summary().maxMs)})`);
      }
    }
  };
  await Promise.all(Array.from({ length: DEPTH }, worker));
  const ms = performance.now() - t0;
  if (error) progress(`  failed: ${error}`);
  return { ms, perSec: (done / ms) * 1000, done, commands: lat.summary(), ...(error ? { error } : {}) };
}

const member = (i: number) => `member:${i}`;

async function main(): Promise<void> {
  const started = new Date();
  const t0 = performance.now();
  const base = args.tmp ?? os.tmpdir();
  const dir = mkdtempSync(path.join(base, 'shale-bench-scale-'));
  const machine = machineInfo({ packages: ['.', 'ioredis'], dirs: [dir] });
  const busy = await cpuBusyPercent();
  const others = busyProcesses();
  const port = await freePort();
  section(`Shale on ${dir}, --maxmemory ${MAXMEMORY}, ${fmtCount(N)} elements per collection`);
  const proc = await startShale(dir, port);
  const rss = new RssSampler(proc.pid!);
  const clients = Array.from({ length: 4 }, () => new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: null }));
  const c = clients[0]!;
  const infoClient = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: null });
  const info = new InfoSampler(infoClient);
  const setPhase = (p: string) => {
    rss.phase = p;
    info.phase = p;
  };
  const random = rng(42);
  const scoreOf = (i: number) => (i * 2654435761) % 1_000_000_007; // distinct, scattered
  const used: Record<string, number> = {};
  const builds: Record<string, Build> = {};
  /** ZCARD / LLEN right after each build: the collections really hold N elements. */
  const counts: Record<string, number> = {};
  const results: Measurement[] = [];
  const dels: { key: string; ms: number; elements: number }[] = [];
  let zsetSupported = true;
  try {
    // ---------------------------------------------------------------- build
    setPhase('build zset');
    section(`ZADD ${fmtCount(N)} members in commands of ${BATCH}, ${DEPTH} in flight`);
    try {
      await c.call('ZADD', 'probe', '1', 'x');
      await c.del('probe');
    } catch (e) {
      zsetSupported = false;
      progress(`ZADD not available (${(e as Error).message}): sorted-set phases skipped`);
    }
    if (zsetSupported) {
      builds.zset = await build(c, N, (from, count) => {
        const a: (string | number)[] = [];
        for (let i = from; i < from + count; i++) a.push(scoreOf(i), member(i));
        return ['ZADD', 'zbig', ...a];
      });
      counts.zset = Number(await c.call('ZCARD', 'zbig'));
      progress(`zset built: ${fmtRate(builds.zset.perSec)} (${counts.zset} members)`);
    }
    used.afterZset = await usedMemory(c);

    setPhase('build list');
    section(`RPUSH ${fmtCount(N)} elements in commands of ${BATCH}, ${DEPTH} in flight`);
    builds.list = await build(c, N, (from, count) => {
      const a: string[] = [];
      for (let i = from; i < from + count; i++) a.push(`element:${i}`);
      return ['RPUSH', 'lbig', ...a];
    });
    counts.list = await c.llen('lbig');
    progress(`list built: ${fmtRate(builds.list.perSec)} (${counts.list} elements)`);
    used.afterList = await usedMemory(c);

    // ---------------------------------------------------------------- operations
    setPhase('operations');
    section('operations on the big collections');
    if (zsetSupported) {
      let fresh = N;
      results.push(await measure('ZADD (one new member)', clients, (cl) => cl.call('ZADD', 'zbig', String(scoreOf(fresh)), member(fresh++))));
      results.push(await measure('ZRANGE by rank (10 members at a random rank)', clients, (cl) => {
        const r = Math.floor(random() * (counts.zset || N));
        return cl.call('ZRANGE', 'zbig', String(r), String(r + 9));
      }));
      results.push(await measure('ZRANGE by score (BYSCORE LIMIT 0 10 from a random score)', clients, (cl) => {
        const s = Math.floor(random() * 1_000_000_007);
        return cl.call('ZRANGE', 'zbig', String(s), '+inf', 'BYSCORE', 'LIMIT', '0', '10');
      }));
    }
    results.push(await measure('LPUSH (one element)', clients, (cl, i) => cl.lpush('lbig', `new:${i}`)));
    results.push(await measure('RPOP', clients, (cl) => cl.rpop('lbig')));
    results.push(await measure('LPUSH + RPOP pairs (MULTI-less, alternating)', clients, (cl, i) => (i % 2 ? cl.rpop('lbig') : cl.lpush('lbig', `p:${i}`))));
    used.afterOps = await usedMemory(c);

    // ---------------------------------------------------------------- DEL
    setPhase('del');
    section('DEL of the big collections');
    for (const key of zsetSupported ? ['zbig', 'lbig'] : ['lbig']) {
      const elements = Number(key === 'zbig' ? await c.call('ZCARD', key) : await c.llen(key));
      const t = performance.now();
      await c.del(key);
      const ms = performance.now() - t;
      dels.push({ key, ms, elements });
      progress(`DEL ${key} (${fmtCount(elements)} elements): ${fmtMs(ms)}`);
    }
    // The server stays responsive while the old elements are cleaned up in the background.
    const pings = new Latency();
    for (let i = 0; i < 200; i++) {
      const t = performance.now();
      await c.ping();
      pings.recordMs(performance.now() - t);
      await new Promise((r) => setTimeout(r, 5));
    }
    results.push({ name: 'PING right after the DELs (background cleanup running)', latency: pings.summary(), throughput: undefined });
    used.afterDel = await usedMemory(c);
    await new Promise((r) => setTimeout(r, 1000));
  } finally {
    rss.stop();
    info.stop();
    infoClient.disconnect();
    for (const cl of clients) cl.disconnect();
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    await exited;
    if (!args.keep) rmSync(dir, { recursive: true, force: true });
  }

  // ------------------------------------------------------------------ report
  const maxRss = rss.max();
  const phases = ['build zset', 'build list', 'operations', 'del'];
  const underMax = maxRss <= MAXMEMORY_BYTES;
  const headers = ['operation', 'p50', 'p99', 'max', `throughput (${PAR_CONCURRENCY} in flight)`];
  const rows = results.map((m) => [
    m.name,
    fmtMs(m.latency.p50Ms),
    fmtMs(m.latency.p99Ms),
    fmtMs(m.latency.maxMs),
    m.throughput ? `${fmtRate(m.throughput.perSec)}${m.throughput.capped ? ` (time-capped at ${fmtCount(m.throughput.ops)} requests)` : ''}` : m.latency.p50Ms > SLOW_MS ? 'not run (slow requests)' : '',
  ]);
  console.log(textTable(headers, rows));
  const buildRow = (what: string, b: Build, count: number | undefined) => [
    what,
    fmtCount(N),
    String(count ?? ''),
    fmtMs(b.ms),
    fmtRate(b.perSec),
    `${fmtMs(b.commands.p50Ms)} / ${fmtMs(b.commands.p99Ms)} / ${fmtMs(b.commands.maxMs)}`,
    b.error ?? '',
  ];
  const mib = (b: number) => (b >= 2 ** 20 ? `${(b / 2 ** 20).toFixed(0)} MiB` : `${(b / 1024).toFixed(1)} KiB`);
  const seconds = Math.round((performance.now() - t0) / 1000);
  const name = N === 10_000_000 ? 'scale' : `scale-${N}`;
  const md = [
    `# Scale: ${fmtCount(N)}-element sorted set and list on one Shale server`,
    '',
    `Generated by \`bench/scale/run.ts\` on ${started.toISOString()} in ${seconds} s.`,
    '',
    '```',
    `node bench/scale/run.ts --elements ${N} --batch ${BATCH} --depth ${DEPTH} --maxmemory ${MAXMEMORY} --store-timeout ${STORE_TIMEOUT}`,
    '```',
    '',
    `A real Shale server (\`bin/shale --maxmemory ${MAXMEMORY} --store-timeout ${STORE_TIMEOUT}\`, local directory store, default`,
    'durability; store-timeout 0 lets a bulk load wait out write backpressure instead of failing after 30 s),',
    `driven through ioredis. The collections are built through the server: ZADD / RPUSH commands of ${BATCH}`,
    `elements, ${DEPTH} commands in flight. Sequential figures await each request (${SEQ_OPS} requests or ${CAP_MS / 1000} s);`,
    `throughput keeps ${PAR_CONCURRENCY} requests in flight over ${clients.length} connections (${PAR_OPS} requests,`,
    `at most ${CAP_MS / 1000} s). RSS is the server process's resident set (/proc, every 250 ms).`,
    '',
    '## Machine',
    '',
    machineMarkdown(machine),
    `- CPU busy just before the run (1 s sample): ${busy ?? 'n/a'}%`,
    `- Other busy processes at start: ${others.length ? others.join(', ') : 'none'}`,
    '',
    '> The machine has 2 cores shared with other work; latencies and rates are noisy and probably pessimistic.',
    '',
    '## Building the collections',
    '',
    mdTable(
      ['collection', 'elements asked', 'ZCARD / LLEN after', 'time', 'elements/s', 'command p50 / p99 / max', 'error'],
      [
        ...(builds.zset ? [buildRow('sorted set (ZADD)', builds.zset, counts.zset)] : [['sorted set (ZADD)', 'n/a', '', 'ZADD not available on this server', '', '', '']]),
        buildRow('list (RPUSH)', builds.list!, counts.list),
      ],
    ),
    '',
    '## Operations on the big collections',
    '',
    mdTable(headers, rows),
    '',
    '## DEL',
    '',
    mdTable(['key', 'elements', 'DEL latency'], dels.map((d) => [d.key, fmtCount(d.elements), fmtMs(d.ms)])),
    '',
    'DEL writes one metadata tombstone. Once it is durable, the background cleanup hands the element records\' key',
    'range to the engine (`dropRange`: one manifest update; compaction then rewrites the tables that hold it),',
    'see docs/data-model.md.',
    '',
    '## Memory',
    '',
    `Max RSS over the whole run: **${mib(maxRss)}** against maxmemory ${MAXMEMORY} (${mib(MAXMEMORY_BYTES)}): ${underMax ? '**stayed under maxmemory**' : '**went over maxmemory**'}.`,
    '',
    mdTable(
      ['phase', 'max RSS', 'max V8 heap used (INFO shale_heap_used)'],
      phases.map((p) => [p, rss.max(p) ? mib(rss.max(p)) : 'n/a', info.max(p, (x) => x.heapUsed) ? mib(info.max(p, (x) => x.heapUsed)) : 'n/a']),
    ),
    '',
    `Engine activity over the run (INFO, sampled every 2 s): ${info.last((x) => x.l0Flushes)} L0 flushes, ${info.last((x) => x.compactions)} compactions,`,
    `${info.last((x) => x.stalls)} write stalls (backpressure).`,
    '',
    `INFO used_memory (the hot set's accounted bytes): after the sorted set ${mib(used.afterZset ?? 0)}, after the list ${mib(used.afterList ?? 0)}, after the operations ${mib(used.afterOps ?? 0)}, after the DELs ${mib(used.afterDel ?? 0)}.`,
    '',
    'maxmemory bounds the decoded data Shale keeps in memory (noeviction: database mode, least recently used keys',
    'leave memory but stay in the engine); RSS also counts the Node runtime, the engine memtable and block caches.',
    '',
  ].join('\n');
  const json = {
    generated: started.toISOString(),
    seconds,
    elements: N,
    batch: BATCH,
    depth: DEPTH,
    maxmemory: MAXMEMORY,
    maxmemoryBytes: MAXMEMORY_BYTES,
    machine,
    cpuBusyPercent: busy,
    busyProcesses: others,
    zsetSupported,
    builds,
    counts,
    results,
    dels,
    memory: { maxRss, underMaxmemory: underMax, perPhase: Object.fromEntries(phases.map((p) => [p, rss.max(p)])), usedMemory: used, samples: rss.samples },
    info: info.samples,
  };
  const out = writeResults(name, md, json);
  progress(`wrote ${out.md} and ${out.json}`);
}

await main();
