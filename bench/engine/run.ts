/**
 * Engine benchmark: Shale's LSM engine (src/engine) against SlateDB's Node binding
 * (@slatedb/uniffi), side by side in one run, each on its own subdirectory of one temp dir.
 *
 *   node bench/engine/run.ts [--size default|large|smoke] [--keep] [--skip-slatedb] [--tmp DIR]
 *
 * Writes bench/results/engine.md and engine.json (other sizes: engine-<size>.md/.json). See
 * the md for what each number means. --keep keeps the databases; --skip-slatedb measures
 * Shale alone; --tmp puts the databases under DIR instead of the OS temp dir.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { busyProcesses, cpuBusyPercent, machineInfo, machineMarkdown } from '../lib/machine.ts';
import {
  Latency,
  type LatencySummary,
  maxInWindow,
  median,
  minGap,
  permutation,
  rng,
  runOps,
  type RunResult,
  sleep,
  wallNow,
  withTimeout,
} from '../lib/measure.ts';
import { elapsedSeconds, progress, section } from '../lib/progress.ts';
import {
  fmtCount,
  fmtMet,
  fmtMs,
  fmtNum,
  fmtRate,
  fmtRatio,
  isNA,
  type Measured,
  mdTable,
  na,
  ratio,
  textTable,
  writeResults,
} from '../lib/report.ts';
import { KEY_BYTES, Keys, VALUE_BYTES, Values } from './keys.ts';
import { type BenchDb, loadSlateDb, shaleSubject, slateSubject, type Subject } from './subjects.ts';

// ------------------------------------------------------------------ configuration

const { values: args } = parseArgs({
  options: {
    size: { type: 'string', default: 'default' },
    keep: { type: 'boolean', default: false },
    'skip-slatedb': { type: 'boolean', default: false },
    tmp: { type: 'string' },
  },
});

interface Size {
  /** Keys in the throughput data set. */
  keys: number;
  /** Longest any one throughput measurement may run. */
  capMs: number;
  /** Concurrency of the pipelined variants. */
  pipeline: number;
  /** Keys per batch in the batched-write measurement, and how many keys it writes at most. */
  batch: number;
  batchKeys: number;
  /** Short range scans of scanLength keys. */
  shortScans: number;
  scanLength: number;
  /** Durable-write latency: idle samples, and the concurrent writers / duration under load. */
  idleSamples: number;
  loadWriters: number;
  loadMs: number;
  /** Group-commit intervals to test. */
  intervals: number[];
  /** Open time: key counts and repeats. */
  openKeys: number[];
  openRepeats: number;
  /** Memtable size in the throughput phase (large enough that "memtable hits" stay in it). */
  memtableBytes: number;
}

const SIZES: Record<string, Size> = {
  /** Seconds, not minutes: checks that the bench itself works (numbers mean little). */
  smoke: {
    keys: 20_000,
    capMs: 500,
    pipeline: 16,
    batch: 100,
    batchKeys: 10_000,
    shortScans: 200,
    scanLength: 100,
    idleSamples: 5,
    loadWriters: 16,
    loadMs: 500,
    intervals: [10, 100],
    openKeys: [10_000, 50_000],
    openRepeats: 3,
    memtableBytes: 64 << 20,
  },
  default: {
    keys: 200_000,
    capMs: 5_000,
    pipeline: 64,
    batch: 100,
    batchKeys: 100_000,
    shortScans: 5_000,
    scanLength: 100,
    idleSamples: 60,
    loadWriters: 64,
    loadMs: 3_000,
    intervals: [10, 50, 100],
    openKeys: [100_000, 1_000_000],
    openRepeats: 3,
    memtableBytes: 256 << 20,
  },
  large: {
    keys: 1_000_000,
    capMs: 20_000,
    pipeline: 64,
    batch: 100,
    batchKeys: 1_000_000,
    shortScans: 20_000,
    scanLength: 100,
    idleSamples: 200,
    loadWriters: 64,
    loadMs: 10_000,
    intervals: [10, 50, 100],
    openKeys: [100_000, 1_000_000, 5_000_000],
    openRepeats: 3,
    memtableBytes: 512 << 20,
  },
};

const sizeName = args.size ?? 'default';
const size = SIZES[sizeName];
if (!size) {
  console.error(`unknown --size ${sizeName} (expected ${Object.keys(SIZES).join(' | ')})`);
  process.exit(2);
}
const S: Size = size;
const TARGET_INTERVAL = 100;
/** A single durable write (idle test) that takes longer than this fails its measurement. */
const OP_TIMEOUT_MS = 30_000;
/** Closing (which may flush a large memtable) gets this long before the bench gives up on it. */
const CLOSE_TIMEOUT_MS = 300_000;
const command = ['node', ...process.argv.slice(1).map((a, i) => (i === 0 ? path.relative(process.cwd(), a) || a : a))].join(' ');

const baseTmp = args.tmp ?? os.tmpdir();
mkdirSync(baseTmp, { recursive: true });
const root = mkdtempSync(path.join(baseTmp, 'shale-bench-engine-'));
let dirSeq = 0;
function freshDir(subject: Subject, what: string): string {
  const d = path.join(root, subject.id, `${String(++dirSeq).padStart(2, '0')}-${what}`);
  mkdirSync(d, { recursive: true });
  return d;
}

// ------------------------------------------------------------------ subjects

const keys = new Keys(S.keys + S.scanLength + 1);
const values = new Values();
const shale = shaleSubject(keys, values, { fsync: false });
const shaleFsync = shaleSubject(keys, values, { fsync: true, id: 'shale-fsync', label: 'Shale (fsync on)' });

let slate: Subject | undefined;
let slateMissing = '';
if (args['skip-slatedb']) {
  slateMissing = 'skipped (--skip-slatedb)';
} else {
  try {
    slate = slateSubject(keys, values, await loadSlateDb());
  } catch (e) {
    slateMissing = `binding failed to load: ${(e as Error).message}`;
  }
}

/** Databases open right now, so a failed measurement can still close them (and the process exit). */
const openDbs = new Set<BenchDb>();

async function openDb(subject: Subject, dir: string, options: Parameters<Subject['open']>[1]): Promise<BenchDb> {
  const db = await subject.open(dir, options);
  openDbs.add(db);
  return db;
}

async function closeDb(db: BenchDb): Promise<void> {
  openDbs.delete(db);
  await withTimeout(db.close(), CLOSE_TIMEOUT_MS, 'close');
}

/** Runs fn for a subject, turning a failure into n/a with the reason. */
async function guarded<T>(subject: Subject, what: string, fn: () => Promise<T>): Promise<T | { na: string }> {
  try {
    return await fn();
  } catch (e) {
    const reason = `${what} failed: ${(e as Error).message}`.slice(0, 200);
    progress(`${subject.label}: ${reason}`);
    for (const db of [...openDbs]) await closeDb(db).catch(() => {});
    return na(reason);
  }
}

// ------------------------------------------------------------------ phase A: throughput

interface Rate {
  perSec: number;
  ops: number;
  ms: number;
  capped: boolean;
  mode: string;
  /** WAL objects the engine wrote during the measurement (by its own counter). */
  walFlushes?: number;
}

interface ThroughputResult {
  puts: Rate[];
  putsBest: Rate;
  batched: Rate;
  memGets: Rate[];
  memGetsBest: Rate;
  memFullScan: Rate;
  memShortScans: Rate & { entriesPerSec: number };
  flushToTablesMs: number;
  reopenMs: number;
  sstColdGets: Rate;
  sstWarmGets: Rate[];
  sstWarmGetsBest: Rate;
  sstFullScan: Rate;
  sstShortScans: Rate & { entriesPerSec: number };
  statsAfterLoad: Record<string, unknown>;
  statsAfterReads: Record<string, unknown>;
}

function rate(r: RunResult, mode: string, perOp = 1): Rate {
  return { perSec: r.perSec * perOp, ops: r.ops * perOp, ms: r.ms, capped: r.capped, mode };
}

function best(rs: Rate[]): Rate {
  return rs.reduce((a, b) => (b.perSec > a.perSec ? b : a));
}

function logRate(subject: Subject, what: string, r: Rate, unit = 'ops'): void {
  const wal = r.walFlushes === undefined ? '' : `, ${r.walFlushes} WAL PUTs meanwhile`;
  progress(`${subject.label}: ${what} [${r.mode}]: ${fmtCount(r.perSec)} ${unit}/s (${fmtCount(r.ops)} in ${(r.ms / 1000).toFixed(2)} s${r.capped ? ', time-capped' : ''}${wal})`);
}

/** rate() plus the WAL PUTs the engine made while fn ran. */
async function withWal(db: BenchDb, mode: string, fn: () => Promise<RunResult>): Promise<Rate> {
  const c0 = db.walFlushCounter();
  const r = rate(await fn(), mode);
  // Let a pending interval flush happen before reading the counter again.
  await sleep(TARGET_INTERVAL + 20);
  const c1 = db.walFlushCounter();
  if (c0 !== undefined && c1 !== undefined) r.walFlushes = c1 - c0;
  return r;
}

/**
 * Warms the JIT and the binding: a few thousand of each operation on a throwaway database,
 * so the first measured phase does not pay for compilation.
 */
async function jitWarmup(subject: Subject): Promise<void> {
  const db = await openDb(subject, freshDir(subject, 'warmup'), { flushIntervalMs: TARGET_INTERVAL });
  try {
    const n = Math.min(20_000, S.keys);
    const order = permutation(n, rng(99));
    const gate = () => db.gate();
    await runOps(n, (i) => db.put(order[i]!), { maxMs: 1500, gate });
    await runOps(n / S.batch, (b) => db.putBatch(order, b * S.batch, S.batch), { maxMs: 500, gate, yieldEvery: 16 });
    await runOps(n, (i) => db.get(order[i]!), { maxMs: 1500 });
    await runOps(n, (i) => db.get(order[i]!), { maxMs: 500, concurrency: S.pipeline });
    await db.scanAll(500);
    await runOps(200, (i) => db.scanRange(order[i]! % (n - S.scanLength), S.scanLength), { maxMs: 500 });
  } finally {
    await closeDb(db);
  }
}

async function checkValues(subject: Subject, db: BenchDb, sample: ArrayLike<number>, what: string): Promise<void> {
  for (let j = 0; j < Math.min(50, sample.length); j++) {
    const k = sample[j]!;
    const v = await db.get(k);
    if (!values.matches(k, v)) throw new Error(`${subject.label}: ${what}: wrong value for key ${k}`);
  }
}

/** Gets every key at a stride in key order, so every block is in the block cache. */
async function touchAllBlocks(db: BenchDb): Promise<void> {
  const stride = 8;
  for (let k = 0; k < S.keys; k += stride) await db.get(k);
}

async function throughput(subject: Subject): Promise<ThroughputResult> {
  const N = S.keys;
  const dir = freshDir(subject, 'throughput');
  const open = () => openDb(subject, dir, { flushIntervalMs: TARGET_INTERVAL, memtableBytes: S.memtableBytes });
  const order = permutation(N, rng(1));
  let db = await open();
  const gate = () => db.gate();

  // Puts: every key once, in random order.
  const puts: Rate[] = [];
  let loaded = 0;
  if (subject.syncPuts) {
    const r = await withWal(db, 'sync call', () => runOps(N, (i) => db.put(order[i]!), { maxMs: S.capMs, gate }));
    loaded += r.ops;
    puts.push(r);
  } else {
    const seq = await withWal(db, 'sequential await', () => runOps(N - loaded, (i) => db.put(order[loaded + i]!), { maxMs: S.capMs }));
    loaded += seq.ops;
    puts.push(seq);
    logRate(subject, 'puts', seq);
    const pipe = await withWal(db, `pipelined, ${S.pipeline} in flight`, () =>
      runOps(N - loaded, (i) => db.put(order[loaded + i]!), { maxMs: S.capMs, concurrency: S.pipeline }),
    );
    loaded += pipe.ops;
    puts.push(pipe);
  }
  logRate(subject, 'puts', puts[puts.length - 1]!);
  if (loaded < N) {
    progress(`${subject.label}: loading the remaining ${fmtCount(N - loaded)} keys in batches (not timed)`);
    for (let j = loaded; j < N; j += 1000) {
      const g = db.gate();
      if (g) await g;
      await db.putBatch(order, j, Math.min(1000, N - j));
    }
  }
  // Batched writes (informational): overwrite keys in atomic batches.
  const nBatches = Math.floor(Math.min(N, S.batchKeys) / S.batch);
  const batched = rate(
    await runOps(nBatches, (b) => db.putBatch(order, b * S.batch, S.batch), { maxMs: S.capMs, gate, yieldEvery: 16 }),
    `batches of ${S.batch}, sequential`,
    S.batch,
  );
  logRate(subject, 'batched puts', batched, 'keys');
  await checkValues(subject, db, order, 'after load');
  const statsAfterLoad = db.stats();

  // Memtable gets.
  const gorder = permutation(N, rng(2));
  const memGets = [
    rate(await runOps(N, (i) => db.get(gorder[i]!), { maxMs: S.capMs }), 'sequential await'),
    rate(await runOps(N, (i) => db.get(gorder[i]!), { maxMs: S.capMs, concurrency: S.pipeline }), `pipelined, ${S.pipeline} in flight`),
  ];
  for (const r of memGets) logRate(subject, 'memtable gets', r);

  // Memtable scans.
  const scans = async (label: string) => {
    const t0 = performance.now();
    const n = await db.scanAll(S.capMs * 2);
    const ms = performance.now() - t0;
    if (n > N || (n < N && ms < S.capMs * 2)) throw new Error(`${subject.label}: full scan returned ${n} entries, expected ${N}`);
    const full: Rate = { perSec: (n / ms) * 1000, ops: n, ms, capped: n < N, mode: 'one ordered scan' };
    logRate(subject, `${label} full scan`, full, 'entries');
    const starts = Array.from({ length: S.shortScans }, (_, i) => Math.floor(rng(3 + i)() * (N - S.scanLength)));
    let entries = 0;
    const r = await runOps(
      S.shortScans,
      async (i) => {
        entries += await db.scanRange(starts[i]!, S.scanLength);
      },
      { maxMs: S.capMs },
    );
    if (entries !== r.ops * S.scanLength) throw new Error(`${subject.label}: short scans returned ${entries} entries, expected ${r.ops * S.scanLength}`);
    const short = { ...rate(r, `${S.scanLength}-key ranges, sequential`), entriesPerSec: (entries / r.ms) * 1000 };
    logRate(subject, `${label} short scans`, short, 'scans');
    return { full, short };
  };
  const mem = await scans('memtable');

  // To tables, reopen.
  let t0 = performance.now();
  await db.flushToTables();
  const flushToTablesMs = performance.now() - t0;
  await closeDb(db);
  t0 = performance.now();
  db = await open();
  const reopenMs = performance.now() - t0;
  progress(`${subject.label}: flushed to tables in ${fmtMs(flushToTablesMs)}, reopened in ${fmtMs(reopenMs)}`);

  // Table gets: the first pass is cold (engine caches empty; the OS page cache is warm).
  const corder = permutation(N, rng(4));
  const sstColdGets = rate(await runOps(N, (i) => db.get(corder[i]!), { maxMs: S.capMs }), 'sequential await, first pass after reopen');
  logRate(subject, 'table gets (cold)', sstColdGets);
  await touchAllBlocks(db);
  const sstWarmGets = [
    rate(await runOps(N, (i) => db.get(gorder[i]!), { maxMs: S.capMs }), 'sequential await'),
    rate(await runOps(N, (i) => db.get(gorder[i]!), { maxMs: S.capMs, concurrency: S.pipeline }), `pipelined, ${S.pipeline} in flight`),
  ];
  for (const r of sstWarmGets) logRate(subject, 'table gets (warm)', r);
  await checkValues(subject, db, gorder, 'after reopen');
  const sst = await scans('table');
  const statsAfterReads = db.stats();
  await closeDb(db);

  return {
    puts,
    putsBest: best(puts),
    batched,
    memGets,
    memGetsBest: best(memGets),
    memFullScan: mem.full,
    memShortScans: mem.short,
    flushToTablesMs,
    reopenMs,
    sstColdGets,
    sstWarmGets,
    sstWarmGetsBest: best(sstWarmGets),
    sstFullScan: sst.full,
    sstShortScans: sst.short,
    statsAfterLoad,
    statsAfterReads,
  };
}

// ------------------------------------------------------------------ phase B: durability

interface WalWindow {
  /** WAL objects written during the window. */
  count: number;
  windowMs: number;
  perSec: number;
  /** Most WAL objects in any 1-second window. */
  maxPerSecond: number;
  /** Smallest gap between consecutive WAL objects (ms). */
  minGapMs: number | null;
  /** The engine's own WAL-flush counter over the window, if it has one. */
  engineCounter: number | null;
  bound: number;
  withinBound: boolean;
}

interface DurabilityResult {
  intervalMs: number;
  idle: LatencySummary;
  idlePauseMs: [number, number];
  idleQuiet: LatencySummary | null;
  idleQuietPauseMs: [number, number] | null;
  /** unfinished: writes still waiting for durability when the bench stopped waiting (their wait so far is recorded). */
  load: LatencySummary & { writers: number; writesPerSec: number; unfinished: number; stragglerWaitMs: number };
  loadWal: WalWindow;
  firehose: { puts: number; putsPerSec: number; mode: string };
  firehoseWal: WalWindow;
  /** Batches of S.batch puts with BIG_VALUE-byte values, as fast as they go. */
  bigFirehose: { puts: number; putsPerSec: number; mbPerSec: number; mode: string };
  bigFirehoseWal: WalWindow;
}

/** Value size of the heavy firehose: enough WAL bytes per second to test size-triggered flushes. */
const BIG_VALUE = 1024;

async function idleLatency(db: BenchDb, samples: number, pause: [number, number], seed: number): Promise<LatencySummary> {
  const lat = new Latency();
  const random = rng(seed);
  for (let s = 0; s < samples; s++) {
    await sleep(pause[0] + random() * (pause[1] - pause[0]));
    const k = Math.floor(random() * S.keys);
    const t0 = performance.now();
    await withTimeout(db.putDurable(k), OP_TIMEOUT_MS, 'a durable write');
    lat.recordMs(performance.now() - t0);
  }
  return lat.summary();
}

async function walWindow(db: BenchDb, start: number, end: number, counterBefore: number | undefined, intervalMs: number): Promise<WalWindow> {
  // Let the last WAL object of the window land before listing.
  await sleep(intervalMs + 50);
  const times = (await db.walPutTimes()).filter((t) => t >= start && t <= end);
  const counterAfter = db.walFlushCounter();
  const windowMs = end - start;
  const bound = 1000 / intervalMs + 1;
  const maxPerSecond = maxInWindow(times, 1000);
  return {
    count: times.length,
    windowMs,
    perSec: (times.length / windowMs) * 1000,
    maxPerSecond,
    minGapMs: minGap(times) ?? null,
    engineCounter: counterBefore !== undefined && counterAfter !== undefined ? counterAfter - counterBefore : null,
    bound,
    withinBound: maxPerSecond <= bound,
  };
}

async function durability(subject: Subject, intervalMs: number, quietVariant: boolean): Promise<DurabilityResult> {
  const db = await openDb(subject, freshDir(subject, `durable-${intervalMs}ms`), { flushIntervalMs: intervalMs });
  try {
    // Warm the write path once.
    await db.putDurable(0);

    const idlePauseMs: [number, number] = [20, 150];
    const idle = await idleLatency(db, S.idleSamples, idlePauseMs, 10 + intervalMs);
    progress(`${subject.label} @${intervalMs}ms: idle durable write p50 ${fmtMs(idle.p50Ms)} p99 ${fmtMs(idle.p99Ms)} (pauses ${idlePauseMs.join('-')} ms)`);
    let idleQuiet: LatencySummary | null = null;
    let idleQuietPauseMs: [number, number] | null = null;
    if (quietVariant) {
      idleQuietPauseMs = [intervalMs + 10, intervalMs + 60];
      idleQuiet = await idleLatency(db, S.idleSamples, idleQuietPauseMs, 20 + intervalMs);
      progress(`${subject.label} @${intervalMs}ms: quiet durable write p50 ${fmtMs(idleQuiet.p50Ms)} p99 ${fmtMs(idleQuiet.p99Ms)} (pauses ${idleQuietPauseMs.join('-')} ms)`);
    }

    // Under load: concurrent writers, each awaiting durability in a loop.
    const lat = new Latency();
    const random = rng(30 + intervalMs);
    let writes = 0;
    let counter = db.walFlushCounter();
    let start = wallNow();
    let deadline = performance.now() + S.loadMs;
    // After the deadline, wait a bounded time for writes still in flight; any left are counted
    // as unfinished, with their wait so far recorded (a lower bound).
    const stragglerWaitMs = Math.max(5_000, 20 * intervalMs);
    const inflight = new Map<number, number>();
    let stopped = false;
    const writers = Promise.all(
      Array.from({ length: S.loadWriters }, async (_, w) => {
        while (!stopped && performance.now() < deadline) {
          const k = Math.floor(random() * S.keys);
          const t0 = performance.now();
          inflight.set(w, t0);
          await db.putDurable(k);
          inflight.delete(w);
          if (stopped) return;
          lat.recordMs(performance.now() - t0);
          writes++;
        }
      }),
    );
    await Promise.race([writers, sleep(S.loadMs + stragglerWaitMs)]);
    stopped = true;
    const unfinished = inflight.size;
    const stopAt = performance.now();
    for (const t0 of inflight.values()) lat.recordMs(stopAt - t0);
    if (unfinished > 0) progress(`${subject.label} @${intervalMs}ms: ${unfinished} durable writes still unfinished ${fmtMs(stragglerWaitMs)} after the load stopped`);
    let end = wallNow();
    const loadSummary = lat.summary();
    const load = { ...loadSummary, writers: S.loadWriters, writesPerSec: (writes / (end - start)) * 1000, unfinished, stragglerWaitMs };
    const loadWal = await walWindow(db, start, end, counter, intervalMs);
    progress(
      `${subject.label} @${intervalMs}ms: ${S.loadWriters} durable writers: p50 ${fmtMs(load.p50Ms)} p99 ${fmtMs(load.p99Ms)}, ${fmtCount(load.writesPerSec)} writes/s; WAL PUTs ${loadWal.count} in ${(loadWal.windowMs / 1000).toFixed(1)} s, max ${loadWal.maxPerSecond}/s (bound ${fmtNum(loadWal.bound)})`,
    );

    // Firehose: non-durable writes as fast as they go.
    counter = db.walFlushCounter();
    start = wallNow();
    deadline = performance.now() + S.loadMs;
    // One writer loop (SlateDB: sequential await; with many puts in flight its WAL flush
    // timer starves, see the pipelined puts in the throughput details).
    const fr = await runOps(Number.MAX_SAFE_INTEGER, (i) => db.put(i % S.keys), { maxMs: S.loadMs, gate: () => db.gate() });
    end = wallNow();
    const firehose = { puts: fr.ops, putsPerSec: fr.perSec, mode: subject.syncPuts ? 'sync call' : 'sequential await' };
    const firehoseWal = await walWindow(db, start, end, counter, intervalMs);
    progress(
      `${subject.label} @${intervalMs}ms: firehose ${fmtCount(firehose.putsPerSec)} puts/s; WAL PUTs ${firehoseWal.count} in ${(firehoseWal.windowMs / 1000).toFixed(1)} s, max ${firehoseWal.maxPerSecond}/s (bound ${fmtNum(firehoseWal.bound)})`,
    );

    // Heavy firehose: atomic batches with 1 KiB values, to push many WAL bytes per second.
    counter = db.walFlushCounter();
    start = wallNow();
    const ids = new Uint32Array(S.batch);
    const hr = await runOps(
      Number.MAX_SAFE_INTEGER,
      (b) => {
        for (let j = 0; j < S.batch; j++) ids[j] = (b * S.batch + j) % S.keys;
        return db.putBatch(ids, 0, S.batch, BIG_VALUE);
      },
      { maxMs: S.loadMs, gate: () => db.gate(), yieldEvery: 4 },
    );
    end = wallNow();
    const bigPerSec = hr.perSec * S.batch;
    const bigFirehose = {
      puts: hr.ops * S.batch,
      putsPerSec: bigPerSec,
      mbPerSec: (bigPerSec * (BIG_VALUE + KEY_BYTES)) / 2 ** 20,
      mode: `batches of ${S.batch} x ${BIG_VALUE} B values, ${subject.syncPuts ? 'sync call' : 'sequential await'}`,
    };
    const bigFirehoseWal = await walWindow(db, start, end, counter, intervalMs);
    progress(
      `${subject.label} @${intervalMs}ms: 1 KiB batched firehose ${fmtCount(bigPerSec)} puts/s (${fmtNum(bigFirehose.mbPerSec)} MiB/s); WAL PUTs ${bigFirehoseWal.count} in ${(bigFirehoseWal.windowMs / 1000).toFixed(1)} s, max ${bigFirehoseWal.maxPerSecond}/s (bound ${fmtNum(bigFirehoseWal.bound)})`,
    );
    return { intervalMs, idle, idlePauseMs, idleQuiet, idleQuietPauseMs, load, loadWal, firehose, firehoseWal, bigFirehose, bigFirehoseWal };
  } finally {
    // A close that hangs must not lose the numbers already taken.
    await closeDb(db).catch((e: Error) => progress(`${subject.label}: ${e.message}; moving on`));
  }
}

// ------------------------------------------------------------------ phase C: open time

interface OpenResult {
  keys: number;
  loadMs: number;
  runsMs: number[];
  /** Each run split into the open itself and the first get. */
  openMs: number[];
  firstGetMs: number[];
  medianMs: number;
  stats: Record<string, unknown>;
}

async function openTime(subject: Subject, n: number): Promise<OpenResult> {
  const dir = freshDir(subject, `open-${n}`);
  const t0 = performance.now();
  let db = await openDb(subject, dir, { flushIntervalMs: TARGET_INTERVAL });
  const batch = 1000;
  const ids = new Uint32Array(batch);
  for (let j = 0; j < n; j += batch) {
    const c = Math.min(batch, n - j);
    for (let i = 0; i < c; i++) ids[i] = j + i;
    const g = db.gate();
    if (g) await g;
    await db.putBatch(ids, 0, c);
    if (j % 200_000 === 0 && j > 0) progress(`${subject.label}: open-time data set: ${fmtCount(j)} / ${fmtCount(n)} keys`);
  }
  await db.flushToTables();
  await closeDb(db);
  const loadMs = performance.now() - t0;
  const random = rng(40 + n);
  const runsMs: number[] = [];
  const openMs: number[] = [];
  const firstGetMs: number[] = [];
  let stats: Record<string, unknown> = {};
  for (let r = 0; r < S.openRepeats; r++) {
    const k = Math.floor(random() * n);
    const t = performance.now();
    db = await openDb(subject, dir, { flushIntervalMs: TARGET_INTERVAL });
    const t1 = performance.now();
    const v = await db.get(k);
    const t2 = performance.now();
    stats = db.stats();
    await closeDb(db);
    if (!values.matches(k, v)) throw new Error(`${subject.label}: wrong value for key ${k} after reopen`);
    runsMs.push(t2 - t);
    openMs.push(t1 - t);
    firstGetMs.push(t2 - t1);
  }
  const result = { keys: n, loadMs, runsMs, openMs, firstGetMs, medianMs: median(runsMs), stats };
  progress(
    `${subject.label}: open + first get with ${fmtCount(n)} keys: ${runsMs.map((m, i) => `${fmtMs(m)} (${fmtMs(openMs[i]!)} + ${fmtMs(firstGetMs[i]!)})`).join(', ')}; median ${fmtMs(result.medianMs)}; loaded in ${fmtMs(loadMs)}`,
  );
  return result;
}

// ------------------------------------------------------------------ run

const machine = machineInfo({ packages: ['@slatedb/uniffi', 'koffi', 'hdr-histogram-js', 'lru-cache'], dirs: [root] });
section(`engine benchmark, size ${sizeName}: ${S.keys} keys of ${KEY_BYTES} B, values of ${VALUE_BYTES} B; temp dir ${root}`);
const busyBefore = await cpuBusyPercent(1000);
const busyProcs = busyProcesses();
progress(`CPU busy before start: ${busyBefore ?? '?'}% (load average ${machine.loadAverage.join(' / ')})${busyProcs.length ? `; busy processes: ${busyProcs.join(', ')}` : ''}`);
if (!slate) progress(`SlateDB: n/a (${slateMissing})`);

const subjects: Subject[] = slate ? [shale, slate] : [shale];
type PerSubject<T> = Record<string, T | { na: string }>;
const results = {
  throughput: {} as PerSubject<ThroughputResult>,
  durability: {} as PerSubject<PerSubject<DurabilityResult>>,
  open: {} as PerSubject<PerSubject<OpenResult>>,
};

try {
  section('JIT warm-up (throwaway databases, not measured)');
  for (const s of subjects) await guarded(s, 'warm-up', () => jitWarmup(s));

  section('throughput: puts, gets, scans');
  for (const s of subjects) results.throughput[s.id] = await guarded(s, 'throughput', () => throughput(s));

  section('durable writes and WAL PUT rate');
  for (const s of [...subjects, shaleFsync]) {
    const per: PerSubject<DurabilityResult> = {};
    const intervals = s === shaleFsync ? [TARGET_INTERVAL] : S.intervals;
    for (const i of intervals) per[`${i}`] = await guarded(s, `durability @${i}ms`, () => durability(s, i, i > 20));
    results.durability[s.id] = per;
  }

  section('open time');
  for (const s of subjects) {
    const per: PerSubject<OpenResult> = {};
    for (const n of S.openKeys) per[`${n}`] = await guarded(s, `open time (${n} keys)`, () => openTime(s, n));
    results.open[s.id] = per;
  }
} finally {
  if (args.keep) progress(`kept ${root}`);
  else rmSync(root, { recursive: true, force: true });
}

// ------------------------------------------------------------------ report

const totalSeconds = elapsedSeconds();
const loadAfter = os.loadavg().map((x) => Math.round(x * 100) / 100);
const contended = (busyBefore ?? 0) > 25 || Math.max(machine.loadAverage[0]!, loadAfter[0]!) > machine.cores * 0.75;
const slateNA = (): { na: string } => na(slateMissing || 'not measured');

function pick<T>(v: T | { na: string } | undefined, f: (t: T) => number | null | undefined, missing: () => { na: string }): Measured {
  if (v === undefined) return missing();
  if (isNA(v)) return v;
  const x = f(v as T);
  return x === null || x === undefined ? na('not measured') : x;
}

const tp = (id: string, f: (t: ThroughputResult) => number): Measured => pick(results.throughput[id], f, id === 'slatedb' ? slateNA : () => na('not run'));
function dur(id: string, interval: number, f: (d: DurabilityResult) => number | null): Measured {
  const per = results.durability[id];
  if (per === undefined) return id === 'slatedb' ? slateNA() : na('not run');
  if (isNA(per)) return per;
  return pick((per as PerSubject<DurabilityResult>)[`${interval}`], f, () => na('not run'));
}
function opn(id: string, n: number): Measured {
  const per = results.open[id];
  if (per === undefined) return id === 'slatedb' ? slateNA() : na('not run');
  if (isNA(per)) return per;
  return pick((per as PerSubject<OpenResult>)[`${n}`], (o) => o.medianMs, () => na('not run'));
}
const modeOf = (id: string, f: (t: ThroughputResult) => Rate): string => {
  const t = results.throughput[id];
  return t && !isNA(t) ? f(t as ThroughputResult).mode : '';
};

interface Row {
  metric: string;
  shale: Measured;
  slate: Measured;
  kind: 'rate' | 'ms' | 'count';
  unit?: string;
  target?: string;
  met?: boolean;
  note?: string;
}

function fmtValue(v: Measured, kind: Row['kind'], unit = '/s'): string {
  if (kind === 'rate') return fmtRate(v, unit);
  if (kind === 'ms') return fmtMs(v);
  return fmtNum(v);
}

const rows: Row[] = [];
const tenX = (a: Measured, b: Measured): boolean | undefined => {
  const r = ratio(a, b);
  return r === null ? undefined : r >= 10;
};

{
  const sp = tp('shale', (t) => t.putsBest.perSec);
  const lp = tp('slatedb', (t) => t.putsBest.perSec);
  rows.push({ metric: `puts/s, non-durable, single key (Shale: ${modeOf('shale', (t) => t.putsBest)}; SlateDB: best of sequential/pipelined = ${modeOf('slatedb', (t) => t.putsBest) || 'n/a'})`, shale: sp, slate: lp, kind: 'rate', target: '>= 10x SlateDB', met: tenX(sp, lp) });
  rows.push({ metric: `puts/s in atomic batches of ${S.batch} (informational)`, shale: tp('shale', (t) => t.batched.perSec), slate: tp('slatedb', (t) => t.batched.perSec), kind: 'rate' });
  const sg = tp('shale', (t) => t.memGetsBest.perSec);
  const lg = tp('slatedb', (t) => t.memGetsBest.perSec);
  rows.push({ metric: `gets/s, memtable hits (best of sequential/pipelined: Shale ${modeOf('shale', (t) => t.memGetsBest)}, SlateDB ${modeOf('slatedb', (t) => t.memGetsBest) || 'n/a'})`, shale: sg, slate: lg, kind: 'rate', target: '>= 10x SlateDB', met: tenX(sg, lg) });
  const sw = tp('shale', (t) => t.sstWarmGetsBest.perSec);
  const lw = tp('slatedb', (t) => t.sstWarmGetsBest.perSec);
  rows.push({ metric: `gets/s, table hits, warm block cache (best: Shale ${modeOf('shale', (t) => t.sstWarmGetsBest)}, SlateDB ${modeOf('slatedb', (t) => t.sstWarmGetsBest) || 'n/a'})`, shale: sw, slate: lw, kind: 'rate', target: '>= 10x SlateDB', met: tenX(sw, lw) });
  rows.push({ metric: 'gets/s, table hits, cold (first random pass after reopen; OS page cache warm)', shale: tp('shale', (t) => t.sstColdGets.perSec), slate: tp('slatedb', (t) => t.sstColdGets.perSec), kind: 'rate' });
  rows.push({ metric: 'full ordered scan, memtable (entries/s)', shale: tp('shale', (t) => t.memFullScan.perSec), slate: tp('slatedb', (t) => t.memFullScan.perSec), kind: 'rate' });
  rows.push({ metric: 'full ordered scan, tables (entries/s)', shale: tp('shale', (t) => t.sstFullScan.perSec), slate: tp('slatedb', (t) => t.sstFullScan.perSec), kind: 'rate' });
  rows.push({ metric: `short scans of ${S.scanLength} keys, memtable (scans/s)`, shale: tp('shale', (t) => t.memShortScans.perSec), slate: tp('slatedb', (t) => t.memShortScans.perSec), kind: 'rate' });
  rows.push({ metric: `short scans of ${S.scanLength} keys, tables (scans/s)`, shale: tp('shale', (t) => t.sstShortScans.perSec), slate: tp('slatedb', (t) => t.sstShortScans.perSec), kind: 'rate' });
}
for (const i of S.intervals) {
  const sp50 = dur('shale', i, (d) => d.idle.p50Ms);
  const isTarget = i === TARGET_INTERVAL;
  rows.push({
    metric: `durable write p50, idle, interval ${i} ms (one writer, 20-150 ms pauses)`,
    shale: sp50,
    slate: dur('slatedb', i, (d) => d.idle.p50Ms),
    kind: 'ms',
    ...(isTarget ? { target: '< 10 ms', met: isNA(sp50) ? undefined : sp50 < 10 } : {}),
  });
  rows.push({ metric: `durable write p99, idle, interval ${i} ms`, shale: dur('shale', i, (d) => d.idle.p99Ms), slate: dur('slatedb', i, (d) => d.idle.p99Ms), kind: 'ms' });
  if (i > 20) {
    const q50 = dur('shale', i, (d) => d.idleQuiet?.p50Ms ?? null);
    rows.push({
      metric: `durable write p50, quiet, interval ${i} ms (pauses ${i + 10}-${i + 60} ms: previous WAL PUT > 1 interval ago)`,
      shale: q50,
      slate: dur('slatedb', i, (d) => d.idleQuiet?.p50Ms ?? null),
      kind: 'ms',
      ...(isTarget ? { target: '< 10 ms', met: isNA(q50) ? undefined : q50 < 10 } : {}),
    });
    rows.push({ metric: `durable write p99, quiet, interval ${i} ms`, shale: dur('shale', i, (d) => d.idleQuiet?.p99Ms ?? null), slate: dur('slatedb', i, (d) => d.idleQuiet?.p99Ms ?? null), kind: 'ms' });
  }
  rows.push({ metric: `durable write p50, ${S.loadWriters} concurrent writers, interval ${i} ms`, shale: dur('shale', i, (d) => d.load.p50Ms), slate: dur('slatedb', i, (d) => d.load.p50Ms), kind: 'ms' });
  rows.push({ metric: `durable write p99, ${S.loadWriters} concurrent writers, interval ${i} ms`, shale: dur('shale', i, (d) => d.load.p99Ms), slate: dur('slatedb', i, (d) => d.load.p99Ms), kind: 'ms' });
  const bound = 1000 / i + 1;
  for (const [label, f] of [
    [`${S.loadWriters} durable writers`, (d: DurabilityResult) => d.loadWal],
    ['non-durable firehose', (d: DurabilityResult) => d.firehoseWal],
    [`firehose of ${S.batch}-put batches with ${BIG_VALUE} B values`, (d: DurabilityResult) => d.bigFirehoseWal],
  ] as const) {
    const s = dur('shale', i, (d) => f(d).maxPerSecond);
    rows.push({
      metric: `WAL PUTs in the busiest 1 s, ${label}, interval ${i} ms`,
      shale: s,
      slate: dur('slatedb', i, (d) => f(d).maxPerSecond),
      kind: 'count',
      target: `<= ${fmtNum(bound)}`,
      met: isNA(s) ? undefined : s <= bound,
    });
  }
}
{
  const f = 'shale-fsync';
  const bound = 1000 / TARGET_INTERVAL + 1;
  for (const [label, g] of [
    [`${S.loadWriters} durable writers`, (d: DurabilityResult) => d.loadWal],
    ['non-durable firehose', (d: DurabilityResult) => d.firehoseWal],
    [`firehose of ${S.batch}-put batches with ${BIG_VALUE} B values`, (d: DurabilityResult) => d.bigFirehoseWal],
  ] as const) {
    const v = dur(f, TARGET_INTERVAL, (d) => g(d).maxPerSecond);
    rows.push({
      metric: `Shale with LocalStore fsync on: WAL PUTs in the busiest 1 s, ${label}, interval ${TARGET_INTERVAL} ms`,
      shale: v,
      slate: na('SlateDB file:// never fsyncs'),
      kind: 'count',
      target: `<= ${fmtNum(bound)}`,
      met: isNA(v) ? undefined : v <= bound,
    });
  }
  const fsyncNA = na('SlateDB file:// never fsyncs');
  rows.push({ metric: `Shale with LocalStore fsync on: durable write p50, idle, interval ${TARGET_INTERVAL} ms (informational)`, shale: dur(f, TARGET_INTERVAL, (d) => d.idle.p50Ms), slate: fsyncNA, kind: 'ms' });
  rows.push({ metric: `Shale with LocalStore fsync on: durable write p50, quiet, interval ${TARGET_INTERVAL} ms (informational)`, shale: dur(f, TARGET_INTERVAL, (d) => d.idleQuiet?.p50Ms ?? null), slate: fsyncNA, kind: 'ms' });
  rows.push({ metric: `Shale with LocalStore fsync on: durable write p50, ${S.loadWriters} concurrent writers, interval ${TARGET_INTERVAL} ms (informational)`, shale: dur(f, TARGET_INTERVAL, (d) => d.load.p50Ms), slate: fsyncNA, kind: 'ms' });
}
for (const n of S.openKeys) {
  const s = opn('shale', n);
  const is1M = n === 1_000_000;
  rows.push({
    metric: `open + first get, ${fmtCount(n)} keys (median of ${S.openRepeats})`,
    shale: s,
    slate: opn('slatedb', n),
    kind: 'ms',
    ...(is1M ? { target: '< 300 ms', met: isNA(s) ? undefined : s < 300 } : {}),
  });
}
{
  const small = opn('shale', S.openKeys[0]!);
  const big = opn('shale', 1_000_000);
  const lsmall = opn('slatedb', S.openKeys[0]!);
  const lbig = opn('slatedb', 1_000_000);
  const growth = (a: Measured, b: Measured): Measured => (isNA(a) ? a : isNA(b) ? b : b / a);
  const g = growth(small, big);
  const met = isNA(small) || isNA(big) ? undefined : big <= small * 1.5 + 5;
  rows.push({ metric: `open time growth, 1M / ${fmtCount(S.openKeys[0]!)} keys`, shale: g, slate: growth(lsmall, lbig), kind: 'count', target: 'not growing: 1M <= 1.5 x 100k + 5 ms', met });
}

// Observations computed from this run's numbers.
const notes: string[] = [];
{
  const t = results.throughput.slatedb;
  const pipe = t && !isNA(t) ? (t as ThroughputResult).puts.find((r) => r.mode.startsWith('pipelined')) : undefined;
  if (pipe && pipe.walFlushes !== undefined && pipe.ms > 4 * TARGET_INTERVAL && pipe.walFlushes <= 1) {
    notes.push(
      `SlateDB wrote ${pipe.walFlushes} WAL object(s) during ${(pipe.ms / 1000).toFixed(1)} s of pipelined non-durable puts ` +
        `(${S.pipeline} in flight) at a ${TARGET_INTERVAL} ms flush interval, against ~${Math.round(pipe.ms / TARGET_INTERVAL)} expected: with many ` +
        'puts in flight its WAL flush timer does not get to run, so non-durable writes stay unflushed until the load stops. ' +
        'Its sequential puts flushed normally; the firehose measurements therefore use sequential puts for SlateDB.',
    );
  }
  const idle = dur('shale', TARGET_INTERVAL, (d) => d.idle.p50Ms);
  const quiet = dur('shale', TARGET_INTERVAL, (d) => d.idleQuiet?.p50Ms ?? null);
  if (!isNA(idle) && !isNA(quiet) && idle >= 10 && quiet < 10) {
    notes.push(
      `Shale's idle p50 at ${TARGET_INTERVAL} ms (${fmtMs(idle)}) misses the target while the quiet one (${fmtMs(quiet)}) meets it: ` +
        'the engine keeps WAL PUTs at least one interval apart, so a write that arrives less than an interval after the ' +
        'previous PUT waits for the rest of the interval. With 20-150 ms pauses that is most writes at a 100 ms interval.',
    );
  }
  for (const s of [...subjects, shaleFsync]) {
    const per = results.durability[s.id];
    if (!per || isNA(per)) continue;
    for (const d0 of Object.values(per as PerSubject<DurabilityResult>)) {
      if (isNA(d0)) continue;
      const d = d0 as DurabilityResult;
      if (d.load.maxMs > 10 * d.intervalMs + 1000 || d.load.unfinished > 0) {
        notes.push(
          `${s.label}, ${d.intervalMs} ms interval, ${d.load.writers} durable writers: the slowest durable write took ${fmtMs(d.load.maxMs)}` +
            `${d.load.unfinished ? ` (${d.load.unfinished} still unfinished when the bench stopped waiting)` : ''} — a stall far beyond the interval.`,
        );
      }
    }
  }
  const scanT = results.throughput.shale;
  if (scanT && !isNA(scanT)) {
    const st = scanT as ThroughputResult;
    if (st.memFullScan.perSec < st.sstFullScan.perSec / 2) {
      notes.push(
        `Shale scans its memtable (${fmtCount(st.memFullScan.perSec)} entries/s) much slower than its tables (${fmtCount(st.sstFullScan.perSec)} entries/s).`,
      );
    }
  }
}

const headers = ['metric', 'Shale', 'SlateDB', 'ratio Shale/SlateDB', 'target', 'met'];
const tableRows = rows.map((r) => [
  r.metric,
  fmtValue(r.shale, r.kind),
  fmtValue(r.slate, r.kind),
  r.kind === 'count' && r.metric.startsWith('open time growth') ? '' : fmtRatio(r.shale, r.slate),
  r.target ?? '',
  fmtMet(r.met),
]);

const targets = rows.filter((r) => r.met !== undefined);
const metCount = targets.filter((r) => r.met).length;

// ------------------------------------------------------------------ markdown

function detailTables(): string {
  const out: string[] = [];
  const ths = ['measurement', 'mode', ...subjects.map((s) => s.label)];
  const tRows: string[][] = [];
  const get = (id: string) => {
    const t = results.throughput[id];
    return t && !isNA(t) ? (t as ThroughputResult) : undefined;
  };
  const add = (label: string, f: (t: ThroughputResult) => Rate | Rate[], unit = 'ops') => {
    const per = subjects.map((s) => {
      const t = get(s.id);
      if (!t) return [] as Rate[];
      const r = f(t);
      return Array.isArray(r) ? r : [r];
    });
    const n = Math.max(...per.map((p) => p.length));
    for (let j = 0; j < n; j++) {
      const modes = per.map((p) => p[j]?.mode).filter(Boolean);
      tRows.push([
        label,
        [...new Set(modes)].join(' / '),
        ...per.map((p) => {
          const r = p[j];
          if (!r) return '';
          const wal = r.walFlushes === undefined ? '' : `; ${r.walFlushes} WAL PUTs meanwhile`;
          return `${fmtCount(r.perSec)} ${unit}/s (${fmtCount(r.ops)} in ${(r.ms / 1000).toFixed(2)} s${r.capped ? ', capped' : ''}${wal})`;
        }),
      ]);
    }
  };
  add('puts', (t) => t.puts);
  add(`batched puts (${S.batch}/batch)`, (t) => t.batched, 'keys');
  add('memtable gets', (t) => t.memGets);
  add('table gets, cold', (t) => t.sstColdGets);
  add('table gets, warm', (t) => t.sstWarmGets);
  add('memtable full scan', (t) => t.memFullScan, 'entries');
  add('memtable short scans', (t) => t.memShortScans, 'scans');
  add('table full scan', (t) => t.sstFullScan, 'entries');
  add('table short scans', (t) => t.sstShortScans, 'scans');
  tRows.push([
    'memtable -> tables, then reopen',
    '',
    ...subjects.map((s) => {
      const t = get(s.id);
      return t ? `flush ${fmtMs(t.flushToTablesMs)}, reopen ${fmtMs(t.reopenMs)}` : '';
    }),
  ]);
  out.push('### Throughput details\n', mdTable(ths, tRows));

  const dRows: string[][] = [];
  for (const s of [...subjects, shaleFsync]) {
    const per = results.durability[s.id];
    if (!per || isNA(per)) continue;
    for (const [i, d0] of Object.entries(per as PerSubject<DurabilityResult>)) {
      if (isNA(d0)) {
        dRows.push([s.label, i, `n/a (${d0.na})`, '', '', '', '', '']);
        continue;
      }
      const d = d0 as DurabilityResult;
      const lat = (l: LatencySummary | null) => (l ? `${fmtMs(l.p50Ms)} / ${fmtMs(l.p99Ms)} / ${fmtMs(l.maxMs)} (n=${l.count})` : '-');
      const wal = (w: WalWindow) =>
        `${w.count} in ${(w.windowMs / 1000).toFixed(1)} s = ${fmtNum(w.perSec)}/s; busiest 1 s: ${w.maxPerSecond}; min gap ${w.minGapMs === null ? '-' : fmtMs(w.minGapMs)}${w.engineCounter !== null ? `; engine counter ${w.engineCounter}` : ''}`;
      dRows.push([
        s.label,
        `${i} ms`,
        lat(d.idle),
        lat(d.idleQuiet),
        `${lat(d.load)}; ${fmtCount(d.load.writesPerSec)} writes/s${d.load.unfinished ? `; **${d.load.unfinished} unfinished after ${fmtMs(d.load.stragglerWaitMs)}**` : ''}`,
        wal(d.loadWal),
        `${fmtCount(d.firehose.putsPerSec)} puts/s; ${wal(d.firehoseWal)}`,
        `${fmtCount(d.bigFirehose.putsPerSec)} puts/s = ${fmtNum(d.bigFirehose.mbPerSec)} MiB/s; ${wal(d.bigFirehoseWal)}`,
      ]);
    }
  }
  out.push(
    '\n### Durable writes and WAL PUTs (latency p50 / p99 / max)\n',
    mdTable(['engine', 'interval', 'idle (20-150 ms pauses)', 'quiet (interval+10..60 ms pauses)', `${S.loadWriters} durable writers`, `WAL PUTs, ${S.loadWriters} durable writers`, 'WAL PUTs, non-durable firehose', `WAL PUTs, firehose of ${S.batch}-put batches with ${BIG_VALUE} B values`], dRows),
  );

  const oRows: string[][] = [];
  for (const s of subjects) {
    const per = results.open[s.id];
    if (!per || isNA(per)) continue;
    for (const [n, o0] of Object.entries(per as PerSubject<OpenResult>)) {
      if (isNA(o0)) {
        oRows.push([s.label, fmtCount(Number(n)), `n/a (${o0.na})`, '', '']);
        continue;
      }
      const o = o0 as OpenResult;
      oRows.push([
        s.label,
        fmtCount(o.keys),
        o.runsMs.map((m, j) => `${fmtMs(m)} (${fmtMs(o.openMs[j]!)} + ${fmtMs(o.firstGetMs[j]!)})`).join(', '),
        fmtMs(o.medianMs),
        fmtMs(o.loadMs),
      ]);
    }
  }
  out.push('\n### Open time (Engine.open / DbBuilder.build + first get of a random key)\n', mdTable(['engine', 'keys', 'runs: total (open + first get)', 'median', 'data set write + flush + close'], oRows));
  return out.join('\n');
}

const md = `# Engine benchmark: Shale vs SlateDB

Generated by \`bench/engine/run.ts\` on ${new Date().toISOString()} in ${totalSeconds.toFixed(0)} s.

Command:

\`\`\`
${command}
\`\`\`

(\`npm run bench:engine\` runs the default size; \`npm run bench:engine -- --size large\` the large one.)

## Machine

${machineMarkdown(machine)}
- CPU busy just before the run (1 s sample of /proc/stat): ${busyBefore ?? 'unknown'}%; load average at the end: ${loadAfter.join(' / ')}
${busyProcs.length ? `- Other busy processes at start (ps, lifetime CPU%): ${busyProcs.join(', ')}\n` : ''}${
  contended
    ? `
> **The machine was shared with other work during this run** (see the CPU/load figures above), so absolute
> numbers are noisy and probably low; both engines ran in the same conditions, interleaved phase by phase.
`
    : ''
}
## Summary

Size \`${sizeName}\`: ${fmtCount(S.keys)} keys of ${KEY_BYTES} bytes with ${VALUE_BYTES}-byte values for the throughput
measurements; each engine on its own subdirectory of one temp directory (${machine.filesystems[root] ?? 'unknown'} filesystem).
SlateDB: ${slate ? `@slatedb/uniffi ${machine.packages['@slatedb/uniffi']} on a \`file://\` object store URL` : `n/a (${slateMissing})`}.
Targets met: ${metCount} of ${targets.length}.

${mdTable(headers, tableRows)}

${notes.length ? `## Observations from this run\n\n${notes.map((n) => `- ${n}`).join('\n')}\n\n` : ''}## How it was measured

- **Same storage for both.** Shale runs on \`LocalStore\` (one file per object) with **fsync off**, because
  SlateDB's \`file://\` store (Rust \`object_store\` LocalFileSystem) never fsyncs (checked with strace: no
  fsync/fdatasync on its puts). A Shale run with fsync on is reported separately (informational row).
- **Puts**: every key once, in random order, non-durable (Shale: \`engine.put()\`, synchronous, with the
  engine's backpressure honoured every 1024 writes; SlateDB: \`put_with_options(..., {await_durable: false})\`,
  measured sequential-await and pipelined with ${S.pipeline} in flight, the better one reported). Each
  measurement is capped at ${S.capMs / 1000} s; keys a capped SlateDB run did not reach are loaded in untimed batches.
  Memtable size ${S.memtableBytes >> 20} MiB for both (Shale \`memtableBytes\`, SlateDB \`l0_sst_size_bytes\`) so the
  memtable phase really reads the memtable.
- **Gets**: random keys, sequential await and ${S.pipeline} in flight, the better one reported. Table gets
  come after \`flushMemtable()\` / \`flush_with_options(MemTable)\`, close and reopen. *Cold* is the first random
  pass after reopen (engine block caches empty, OS page cache warm, so "cold" excludes disk latency); *warm*
  is measured after touching every block.
- **Scans**: one full ordered scan of all keys, then random ${S.scanLength}-key ranges (start inclusive, end
  exclusive), each from the memtable and from tables. SlateDB iterates through \`DbIterator.next()\`, one FFI
  call per entry — there is no batched iterator in the binding.
- **Durable writes** (hdr-histogram-js): *idle* = one writer, write then await durability, then a random
  20-150 ms pause; *quiet* = the same with pauses of interval+10..60 ms, so the previous WAL PUT is always more
  than one interval old; *load* = ${S.loadWriters} concurrent writers each awaiting durability in a loop for ${S.loadMs / 1000} s.
  Shale: \`put()\` then \`awaitDurable(seq)\`; SlateDB: \`put_with_options(..., {await_durable: true})\` with
  \`flush_interval\` set to the interval.
- **WAL PUTs**: Shale's store is wrapped in a counting ObjectStore that timestamps every \`wal/\` PUT when it
  is issued (the engine's interval governs issuing; completions can bunch up);
  SlateDB's WAL objects are the files under \`<db>/wal/\` (timestamped by mtime, i.e. about completion; GC keeps
  them for 5 min), cross-checked with its \`slatedb.db.wal_buffer_flushes\` counter. Counted during the
  ${S.loadMs / 1000} s durable-writer load, during ${S.loadMs / 1000} s of non-durable writes from one writer loop as fast as
  they go (firehose; SlateDB sequential await), and during ${S.loadMs / 1000} s of atomic batches of ${S.batch} puts with
  ${BIG_VALUE}-byte values as fast as they go (many WAL bytes per second: tests flushes triggered by buffer size).
  Bound: 1000/interval + 1 WAL PUTs in any 1 s window.
- **Open time**: write N keys (batches of 1000), flush to tables, close; then ${S.openRepeats} times: time
  \`Engine.open\` / \`DbBuilder.build\` plus the first get of a random key, then close. Median reported.
- Before measuring, each engine does a few thousand of each operation on a throwaway database (JIT and
  binding warm-up). Block caches are left at each engine's default (Shale 64 MiB; the binding exposes no
  size for SlateDB's in-memory cache).${
  S.keys * (KEY_BYTES + VALUE_BYTES + 12) > 64 << 20
    ? ` At this size the table data (about ${Math.round((S.keys * (KEY_BYTES + VALUE_BYTES + 12)) / 2 ** 20)} MiB) is larger than
  Shale's default block cache, so "warm" table gets still miss the cache for part of the keys.`
    : ''
}

## Details

${detailTables()}

Raw numbers, engine counters and SlateDB metrics: \`bench/results/engine.json\`. CPU hot spots of Shale's
engine under the same workloads: \`node bench/engine/profile.ts\` (prints file:line hot spots, writes .cpuprofile files).
`;

const json = {
  generatedAt: new Date().toISOString(),
  command,
  size: sizeName,
  config: S,
  keyBytes: KEY_BYTES,
  valueBytes: VALUE_BYTES,
  totalSeconds,
  machine,
  slatedb: slate ? { available: true } : { available: false, reason: slateMissing },
  summary: rows.map((r) => ({ metric: r.metric, shale: r.shale, slatedb: r.slate, ratio: ratio(r.shale, r.slate), target: r.target ?? null, met: r.met ?? null })),
  notes,
  cpuBusyBeforePercent: busyBefore ?? null,
  busyProcessesAtStart: busyProcs,
  loadAverageAtEnd: loadAfter,
  results,
};

// The default size owns bench/results/engine.{md,json}; other sizes get their own files.
const files = writeResults(sizeName === 'default' ? 'engine' : `engine-${sizeName}`, md, json);
console.log(`\nEngine benchmark (${sizeName}), ${totalSeconds.toFixed(0)} s; targets met: ${metCount}/${targets.length}\n`);
console.log(textTable(headers, tableRows));
console.log(`\nwrote ${path.relative(process.cwd(), files.md)} and ${path.relative(process.cwd(), files.json)}`);
