/**
 * The benchmark suite: runs every benchmark one after another (each as its own process, each
 * starting and stopping what it needs), prints their progress, a summary table at the end,
 * writes bench/results/suite.md/.json and regenerates the README's headline table (between
 * <!-- bench:start --> and <!-- bench:end -->) from bench/results/*.json.
 *
 *   node bench/run.ts [--large] [--size tiny] [--only a,b] [--skip a,b] [--no-readme] [--readme-only]
 *
 * --large runs every benchmark at its large size; --size tiny runs the suite's own benchmarks at
 * a tiny size to check the machinery (external ones are skipped, README untouched);
 * --readme-only rebuilds the README table and suite summary from the results already there.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fmtRatioValue, fmtValue, type HeadlineRow, resultName, type Unit } from './lib/headline.ts';
import { busyProcesses, cpuBusyPercent, machineInfo, machineMarkdown, repoRoot } from './lib/machine.ts';
import { elapsedSeconds, progress, section } from './lib/progress.ts';
import { fmtMet, mdTable, resultsDir, textTable, writeResults } from './lib/report.ts';

const { values: args } = parseArgs({
  options: {
    large: { type: 'boolean', default: false },
    size: { type: 'string', default: 'default' },
    only: { type: 'string' },
    skip: { type: 'string' },
    'no-readme': { type: 'boolean', default: false },
    'readme-only': { type: 'boolean', default: false },
  },
});
const sizeName = args.large ? 'large' : String(args.size);
if (!['tiny', 'default', 'large'].includes(sizeName)) {
  console.error(`unknown --size ${sizeName} (expected tiny | default | large)`);
  process.exit(2);
}

interface Bench {
  name: string;
  what: string;
  /** Written for this suite (bench/lib/headline.ts results, --size tiny|default|large). */
  own: boolean;
  /** Script, relative to the repository root (default bench/<name>/run.ts). */
  script?: string;
  /** Arguments per size for benchmarks with their own options (external ones). */
  args?: { default: string[]; large: string[] };
  /** Results file base name per size (default <name> / <name>-large). */
  results?: { default: string; large: string };
  /** Longest the benchmark may run at the default size, minutes (x4 at --large); then it is stopped. */
  timeoutMin?: number;
}

/**
 * Order and sizes. The external benchmarks get arguments that keep the default suite within
 * about 20 minutes on 2 cores; --large gives them their own (bigger) defaults.
 */
const BENCHES: Bench[] = [
  { name: 'throughput', what: 'redis-benchmark, common commands, -c 50 with and without -P 16, vs Redis', own: true },
  { name: 'latency', what: 'p50/p99/p99.9 of GET and SET at a fixed rate, relaxed/strict vs Redis everysec/always', own: true },
  { name: 'memory', what: 'bytes per key for 1M small keys vs Redis', own: true },
  { name: 'store-requests', what: 'store PUTs/GETs per million writes/reads and their monthly S3 cost', own: true },
  { name: 'larger-than-memory', what: 'data set 10x maxmemory: uniform and Zipfian GETs, store GETs per request', own: true },
  {
    name: 'coldstart',
    what: 'cold start (spawn to first GET) vs Redis loading an RDB',
    own: false,
    args: { default: ['--sizes', '100k,1m'], large: ['--sizes', '100k,1m,5m'] },
    timeoutMin: 5,
    results: { default: 'coldstart', large: 'coldstart' },
  },
  {
    name: 'durability',
    what: 'strict-mode SET latency and store PUTs across flush intervals',
    own: false,
    args: { default: [], large: ['--seconds', '20'] },
    timeoutMin: 3,
    results: { default: 'durability', large: 'durability' },
  },
  {
    name: 'datatypes-throughput',
    what: 'redis-benchmark on list/set/zset/hash commands vs Redis (no persistence)',
    own: false,
    script: 'bench/scale/throughput.ts',
    // Seven rounds: on a shared 2-core machine one round's ratio can swing by 0.4.
    args: { default: ['--requests', '10000'], large: ['--rounds', '7'] },
    timeoutMin: 20,
    results: { default: 'datatypes-throughput', large: 'datatypes-throughput' },
  },
  {
    name: 'scale',
    what: 'a big sorted set and list on one server: build, operations, DEL, RSS',
    own: false,
    args: { default: ['--elements', '1000000'], large: [] },
    timeoutMin: 5,
    results: { default: 'scale-1000000', large: 'scale' },
  },
  {
    name: 'engine',
    what: 'the LSM engine vs SlateDB',
    own: false,
    args: { default: [], large: ['--size', 'large'] },
    results: { default: 'engine', large: 'engine-large' },
    timeoutMin: 9,
  },
];

const only = args.only ? new Set(args.only.split(',')) : undefined;
const skip = new Set((args.skip ?? '').split(',').filter(Boolean));
for (const n of [...(only ?? []), ...skip]) {
  if (!BENCHES.some((b) => b.name === n)) {
    console.error(`unknown benchmark ${n} (known: ${BENCHES.map((b) => b.name).join(', ')})`);
    process.exit(2);
  }
}

const scriptRel = (b: Bench) => b.script ?? `bench/${b.name}/run.ts`;
const scriptOf = (b: Bench) => path.join(repoRoot, scriptRel(b));
const resultBase = (b: Bench) => (b.results ? (sizeName === 'large' ? b.results.large : b.results.default) : resultName(b.name, sizeName));

interface RunOutcome {
  name: string;
  status: 'ok' | 'failed' | 'skipped' | 'not run';
  note: string;
  seconds: number;
  command: string;
}

function runChild(b: Bench, argv: string[], timeoutMs: number): Promise<{ code: number | null; seconds: number; timedOut: boolean }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [scriptOf(b), ...argv], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      process.stderr.write(`\n${b.name}: still running after ${(timeoutMs / 60_000).toFixed(0)} min; stopping it\n`);
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 15_000).unref();
    }, timeoutMs);
    const prefix = `  ${b.name} |`;
    const pipe = (stream: NodeJS.ReadableStream) => {
      let buf = '';
      stream.on('data', (d: Buffer) => {
        buf += d.toString();
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          process.stderr.write(`${prefix} ${buf.slice(0, i)}\n`);
          buf = buf.slice(i + 1);
        }
      });
      stream.on('end', () => buf && process.stderr.write(`${prefix} ${buf}\n`));
    };
    pipe(child.stdout!);
    pipe(child.stderr!);
    // Ctrl-C or a kill of the suite stops the running benchmark (which stops its servers) first.
    const stop = (sig: NodeJS.Signals) => {
      process.stderr.write(`\n${sig}: stopping ${b.name}\n`);
      child.kill('SIGTERM');
      child.once('exit', () => process.exit(130));
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    child.once('exit', (code) => {
      clearTimeout(timer);
      process.removeListener('SIGINT', stop);
      process.removeListener('SIGTERM', stop);
      resolve({ code, seconds: (performance.now() - t0) / 1000, timedOut });
    });
  });
}

// ------------------------------------------------------------------ run

const suiteStart = new Date();
const machine = machineInfo({ dirs: [os.tmpdir()] });
const busyAtStart = busyProcesses();
const outcomes: RunOutcome[] = [];
if (!args['readme-only']) {
  const cpuBusy = await cpuBusyPercent();
  section(`Shale benchmark suite, size ${sizeName}: ${BENCHES.filter((b) => (!only || only.has(b.name)) && !skip.has(b.name)).length} benchmarks`);
  progress(`machine: ${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGiB} GiB; CPU busy ${cpuBusy ?? '?'}%, load ${machine.loadAverage.join(' / ')}`);
  for (const [i, b] of BENCHES.entries()) {
    const tag = `[${i + 1}/${BENCHES.length}] ${b.name}`;
    if ((only && !only.has(b.name)) || skip.has(b.name)) {
      outcomes.push({ name: b.name, status: 'not run', note: 'left out (--only/--skip)', seconds: 0, command: '' });
      continue;
    }
    if (!existsSync(scriptOf(b))) {
      progress(`${tag}: skipped, ${scriptRel(b)} does not exist`);
      outcomes.push({ name: b.name, status: 'skipped', note: `${scriptRel(b)} not found`, seconds: 0, command: '' });
      continue;
    }
    let argv: string[] = [];
    if (sizeName === 'tiny') {
      if (!b.own) {
        progress(`${tag}: skipped at --size tiny (only the suite's own benchmarks have a tiny size)`);
        outcomes.push({ name: b.name, status: 'skipped', note: 'no tiny size', seconds: 0, command: '' });
        continue;
      }
      argv = ['--size', 'tiny'];
    } else if (b.own) {
      argv = sizeName === 'large' ? ['--large'] : [];
    } else {
      argv = (sizeName === 'large' ? b.args?.large : b.args?.default) ?? [];
    }
    const command = ['node', scriptRel(b), ...argv].join(' ');
    section(`${tag}: ${b.what}\n         ${command}`);
    const timeoutMs = (b.timeoutMin ?? 8) * 60_000 * (sizeName === 'large' ? 4 : 1);
    const { code, seconds, timedOut } = await runChild(b, argv, timeoutMs);
    const ok = code === 0 && !timedOut;
    const note = ok ? '' : timedOut ? `stopped after ${(timeoutMs / 60_000).toFixed(0)} min (the suite's limit for it)` : `exit code ${code}`;
    outcomes.push({ name: b.name, status: ok ? 'ok' : 'failed', note, seconds, command });
    progress(`${tag}: ${ok ? 'done' : `FAILED (${note})`} in ${seconds.toFixed(0)} s; suite so far ${elapsedSeconds().toFixed(0)} s`);
  }
}
const totalSeconds = elapsedSeconds();

// ------------------------------------------------------------------ collect results

interface Collected {
  bench: Bench;
  file: string | undefined;
  generatedAt: string | undefined;
  fresh: boolean;
  seconds: number | undefined;
  rows: HeadlineRow[];
  /** Targets met / with a target, over all the benchmark's rows (not only the README ones). */
  met: number;
  targets: number;
  notMet: string[];
  note?: string;
}

type Json = Record<string, unknown>;

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

function guessUnit(metric: string): Unit {
  if (/\/s\b|per second|throughput|ops\b|req\/s/i.test(metric) && !/PUTs in the busiest/i.test(metric)) return '/s';
  if (/latency|\bp50\b|\bp99|\bp90\b|open \+|open time|\btime\b|\bms\b|start/i.test(metric) && !/growth/i.test(metric)) return 'ms';
  return 'count';
}

/** Rows from another author's results: `headline` in our shape, or `summary`/`rows` with metric/shale/peer. */
function foreignRows(j: Json): HeadlineRow[] {
  const list = (Array.isArray(j['headline']) ? j['headline'] : Array.isArray(j['summary']) ? j['summary'] : Array.isArray(j['rows']) ? j['rows'] : []) as Json[];
  return list
    .filter((r) => typeof r === 'object' && r !== null)
    .map((r) => {
      const metric = String(r['metric'] ?? r['name'] ?? r['label'] ?? '?');
      const peerKey = ['peer', 'redis', 'slatedb', 'baseline'].find((k) => k in r);
      const shale = num(r['shale']);
      const peer = peerKey ? num(r[peerKey]) : null;
      const unit = (typeof r['unit'] === 'string' ? r['unit'] : guessUnit(metric)) as Unit;
      const peerName = typeof r['peerName'] === 'string' ? r['peerName'] : peerKey === 'slatedb' ? 'SlateDB' : peerKey === 'redis' ? 'Redis' : (peerKey ?? '');
      return {
        metric,
        shale,
        peer,
        peerName,
        unit,
        ratio: num(r['ratio']) ?? (shale !== null && peer ? shale / peer : null),
        better: r['better'] === 'lower' ? 'lower' : 'higher',
        target: typeof r['target'] === 'string' ? r['target'] : null,
        met: typeof r['met'] === 'boolean' ? r['met'] : null,
        readme: r['readme'] === true,
      } satisfies HeadlineRow;
    });
}

/** The engine's README rows: its targeted rows, with the WAL PUT bound checks folded into one line. */
function engineReadmeRows(rows: HeadlineRow[]): HeadlineRow[] {
  const targeted = rows.filter((r) => r.target !== null);
  const wal = targeted.filter((r) => /WAL PUTs in the busiest/.test(r.metric));
  const others = targeted.filter((r) => !wal.includes(r));
  const out = others.map((r) => ({ ...r, readme: true }));
  if (wal.length > 0) {
    const met = wal.filter((r) => r.met === true).length;
    const worst = wal.reduce((w, r) => ((r.shale ?? 0) / Math.max(1, Number(/\d+/.exec(r.target ?? '')?.[0] ?? 1)) > (w.shale ?? 0) / Math.max(1, Number(/\d+/.exec(w.target ?? '')?.[0] ?? 1)) ? r : w));
    out.push({
      metric: `WAL PUTs in the busiest 1 s within 1000/interval + 1: ${met} of ${wal.length} checks (intervals 10/50/100 ms; closest: ${worst.metric.replace(/^WAL PUTs in the busiest 1 s, /, '')})`,
      shale: worst.shale,
      peer: worst.peer,
      peerName: worst.peerName,
      unit: 'count',
      ratio: worst.ratio,
      better: 'lower',
      target: worst.target,
      met: met === wal.length,
      readme: true,
    });
  }
  return out;
}

const MAX_FOREIGN_README_ROWS = 10;

function arr(v: unknown): Json[] {
  return Array.isArray(v) ? (v.filter((x) => typeof x === 'object' && x !== null) as Json[]) : [];
}

function obj(v: unknown): Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : {};
}

function medianOf(xs: unknown): number | null {
  const v = Array.isArray(xs) ? xs.filter((x): x is number => typeof x === 'number') : [];
  if (v.length === 0) return null;
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Rows for the external benchmarks whose results have their own shapes (coldstart, durability,
 * datatypes-throughput, scale): all rows (targets counted over these) and the README subset.
 * Returns undefined for an unknown shape (then foreignRows() guesses).
 */
function externalRows(b: Bench, j: Json): { all: HeadlineRow[]; readme: HeadlineRow[] } | undefined {
  const r = (x: Omit<HeadlineRow, 'ratio'>): HeadlineRow => ({ ...x, ratio: x.shale !== null && x.peer ? x.shale / x.peer : null });
  if (b.name === 'coldstart' && Array.isArray(j['rows'])) {
    const rows = arr(j['rows']).map((x) => ({ keys: num(x['keys']) ?? 0, shale: medianOf(x['shaleMs']), redis: medianOf(x['redisMs']) }));
    const all = rows.map((x) =>
      r({
        metric: `cold start, spawn to first GET reply, ${fmtCountShort(x.keys)} keys (Redis loads an RDB of the same keys)`,
        shale: x.shale,
        peer: x.redis,
        peerName: 'Redis (RDB load)',
        unit: 'ms',
        better: 'lower',
        target: x.keys >= 1e6 ? 'below Redis from 1M keys' : null,
        met: x.keys >= 1e6 ? x.shale !== null && x.redis !== null && x.shale < x.redis : null,
        readme: true,
      }),
    );
    const meds = rows.map((x) => x.shale).filter((x): x is number => x !== null);
    if (meds.length > 1) {
      const lo = Math.min(...meds);
      const hi = Math.max(...meds);
      all.push(
        r({
          metric: `cold start stays flat from ${fmtCountShort(rows[0]!.keys)} to ${fmtCountShort(rows.at(-1)!.keys)} keys: slowest / fastest size (medians)`,
          shale: hi / lo,
          peer: null,
          peerName: '',
          unit: 'ratio',
          better: 'lower',
          target: 'flat: <= 1.5',
          met: typeof j['flat'] === 'boolean' ? j['flat'] : hi <= lo * 1.5,
          readme: true,
        }),
      );
    }
    return { all, readme: all };
  }
  if (b.name === 'durability' && Array.isArray(j['steps'])) {
    const clients = num(j['clients']);
    const all: HeadlineRow[] = [];
    for (const st of arr(j['steps'])) {
      const interval = num(st['intervalMs']) ?? 0;
      const lat = obj(st['latency']);
      const bound = Math.floor(1000 / Math.max(1, interval)) + 1;
      const wal = num(st['walFlushesPerSec']);
      all.push(
        r({
          metric: `strict, flush-interval ${interval} ms, ${clients ?? '?'} clients: WAL PUTs/s (SET p50 ${fmtValue(num(lat['p50Ms']), 'ms')}, p99 ${fmtValue(num(lat['p99Ms']), 'ms')}; all store PUTs/s ${fmtValue(num(st['putsPerSec']), 'count')})`,
          shale: wal,
          peer: bound,
          peerName: 'bound 1000/interval + 1',
          unit: 'count',
          better: 'lower',
          target: `<= ${bound}/s`,
          met: wal === null ? null : wal <= bound,
          readme: true,
        }),
      );
    }
    return { all, readme: all };
  }
  if (b.name === 'datatypes-throughput' && Array.isArray(j['results'])) {
    const target = num(j['target']) ?? 0.7;
    const all = arr(j['results']).map((x) => {
      const sh = num(obj(x['shale'])['rps']);
      const rd = num(obj(x['redis'])['rps']);
      return r({
        metric: `${String(obj(x['shale'])['test'] ?? x['test'])} -c ${num(j['clients']) ?? 50}, ${fmtCountShort(num(j['requests']) ?? 0)} requests`,
        shale: sh,
        peer: rd,
        peerName: 'Redis (no persistence)',
        unit: '/s',
        better: 'higher',
        target: `>= ${target}x Redis`,
        met: typeof x['met'] === 'boolean' ? x['met'] : sh !== null && rd !== null && sh / rd >= target,
      });
    });
    const measured = all.filter((x) => x.ratio !== null);
    const worst = measured.reduce<HeadlineRow | undefined>((w, x) => (w === undefined || x.ratio! < w.ratio! ? x : w), undefined);
    const metCount = all.filter((x) => x.met === true).length;
    const readme: HeadlineRow[] = [
      {
        metric: `list/set/zset/hash commands at >= ${target}x Redis (redis-benchmark, Redis without persistence): ${metCount} of ${all.length}; lowest${worst ? ` (${worst.metric.replace(/ -c .*/, '')})` : ''}`,
        shale: worst?.shale ?? null,
        peer: worst?.peer ?? null,
        peerName: 'Redis (no persistence)',
        unit: '/s',
        ratio: worst?.ratio ?? null,
        better: 'higher',
        target: `every command >= ${target}x Redis`,
        met: all.length > 0 && metCount === all.length,
        readme: true,
      },
    ];
    // The ceiling: PING on a server that runs nothing, the most any Node.js process reaches here.
    const ceiling = arr(j['ceiling']);
    if (ceiling.length > 0) {
      const mean = (f: (c: Json) => number | null) => ceiling.reduce((t, c) => t + (f(c) ?? 0), 0) / ceiling.length;
      readme.push(r({
        metric: 'ceiling: a bare Node.js server (answers PING, parses and runs nothing; in the Shale column), redis-benchmark ping_mbulk, mean of 2 rounds',
        shale: mean((c) => num(obj(c['bare'])['rps'])),
        peer: mean((c) => num(obj(c['redis'])['rps'])),
        peerName: 'Redis (no persistence)',
        unit: '/s',
        better: 'higher',
        target: null,
        met: null,
        readme: true,
      }));
    }
    return { all, readme };
  }
  if (b.name === 'scale' && Array.isArray(j['results'])) {
    const n = num(j['elements']) ?? 0;
    const builds = obj(j['builds']);
    const mem = obj(j['memory']);
    const readme: HeadlineRow[] = [];
    for (const [k, label] of [
      ['zset', 'ZADD'],
      ['list', 'RPUSH'],
    ] as const) {
      const bld = obj(builds[k]);
      if (num(bld['perSec']) !== null) {
        readme.push(r({ metric: `build a ${fmtCountShort(n)}-element ${k === 'zset' ? 'sorted set' : 'list'} through the server (${label} batches), elements/s`, shale: num(bld['perSec']), peer: null, peerName: '', unit: '/s', better: 'higher', target: null, met: null, readme: true }));
      }
    }
    for (const m of arr(j['results']).slice(0, 6)) {
      const lat = obj(m['latency']);
      readme.push(r({ metric: `${String(m['name'])} on the ${fmtCountShort(n)}-element collection, p50 (sequential)`, shale: num(lat['p50Ms']), peer: null, peerName: '', unit: 'ms', better: 'lower', target: null, met: null, readme: true }));
    }
    if (num(mem['maxRss']) !== null) {
      readme.push(r({ metric: `max server RSS over the scale run (maxmemory ${String(j['maxmemory'] ?? '?')} bounds the hot set)`, shale: num(mem['maxRss']), peer: num(j['maxmemoryBytes']), peerName: 'maxmemory', unit: 'B', better: 'lower', target: null, met: null, readme: true }));
    }
    return { all: readme, readme };
  }
  return undefined;
}

function fmtCountShort(n: number): string {
  return n >= 1e6 && n % 1e6 === 0 ? `${n / 1e6}M` : n >= 1e3 && n % 1e3 === 0 ? `${n / 1e3}k` : String(n);
}

function collect(b: Bench): Collected {
  const base = resultBase(b);
  const file = path.join(resultsDir, `${base}.json`);
  const ran = outcomes.find((o) => o.name === b.name);
  if (!existsSync(file)) return { bench: b, file: undefined, generatedAt: undefined, fresh: false, seconds: ran?.seconds, rows: [], met: 0, targets: 0, notMet: [], note: ran?.note || 'no results' };
  let j: Json;
  try {
    j = JSON.parse(readFileSync(file, 'utf8')) as Json;
  } catch (e) {
    return { bench: b, file, generatedAt: undefined, fresh: false, seconds: ran?.seconds, rows: [], met: 0, targets: 0, notMet: [], note: `unreadable results: ${(e as Error).message}` };
  }
  const generatedAt = typeof j['generatedAt'] === 'string' ? j['generatedAt'] : typeof j['generated'] === 'string' ? j['generated'] : statSync(file).mtime.toISOString();
  const fresh = new Date(generatedAt) >= suiteStart;
  const ext = b.own ? undefined : externalRows(b, j);
  const all = b.own ? ((j['headline'] as HeadlineRow[] | undefined) ?? []) : (ext?.all ?? foreignRows(j));
  const targeted = all.filter((r) => r.met !== null);
  let rows: HeadlineRow[];
  if (b.own) rows = all.filter((r) => r.readme);
  else if (ext) rows = ext.readme;
  else if (b.name === 'engine') rows = engineReadmeRows(all);
  else {
    const marked = all.filter((r) => r.readme);
    rows = (marked.length > 0 ? marked : all.filter((r) => r.target !== null).length > 0 ? all.filter((r) => r.target !== null) : all).slice(0, MAX_FOREIGN_README_ROWS);
  }
  return {
    bench: b,
    file,
    generatedAt,
    fresh,
    seconds: num(j['totalSeconds']) ?? ran?.seconds,
    rows,
    met: targeted.filter((r) => r.met === true).length,
    targets: targeted.length,
    notMet: targeted.filter((r) => r.met === false).map((r) => r.metric),
    note: ran?.status === 'failed' ? `this run failed (${ran.note}); results are from ${generatedAt}` : undefined,
  };
}

const collected = BENCHES.map(collect);

// ------------------------------------------------------------------ summary

const summaryRows = collected.map((c) => {
  const o = outcomes.find((x) => x.name === c.bench.name);
  return [
    c.bench.name,
    o ? (o.status === 'ok' ? 'ran' : o.status === 'failed' ? 'FAILED' : o.status) : 'not run',
    o && o.seconds ? `${o.seconds.toFixed(0)} s` : c.seconds ? `(${c.seconds.toFixed(0)} s earlier)` : '',
    c.file ? `${path.relative(repoRoot, c.file).replace(/\.json$/, '.md')}${c.fresh ? '' : ` (from ${c.generatedAt?.slice(0, 16)})`}` : (c.note ?? 'no results'),
    c.targets > 0 ? `${c.met} of ${c.targets}` : '',
    c.notMet.length > 0 ? c.notMet.slice(0, 3).map((m) => (m.length > 70 ? `${m.slice(0, 67)}...` : m)).join('; ') + (c.notMet.length > 3 ? `; +${c.notMet.length - 3} more` : '') : '',
  ];
});
const summaryHeaders = ['benchmark', 'this run', 'time', 'results', 'targets met', 'not met'];
process.stderr.write(`\n== Suite summary (size ${sizeName}, ${totalSeconds.toFixed(0)} s)\n${textTable(summaryHeaders, summaryRows)}\n`);

const headlineHeaders = ['benchmark', 'metric', 'Shale', 'peer', 'peer value', 'Shale / peer', 'target', 'met'];
const headlineRowsMd = collected.flatMap((c) =>
  c.rows.map((r) => [`[${c.bench.name}](bench/results/${path.basename(c.file ?? `${c.bench.name}.json`).replace(/\.json$/, '.md')})`, r.metric, fmtValue(r.shale, r.unit), r.peerName, fmtValue(r.peer, r.unit), fmtRatioValue(r.ratio), r.target ?? '', fmtMet(r.met ?? undefined)]),
);
process.stderr.write(`\n${textTable(headlineHeaders, headlineRowsMd.map((r) => [r[0]!.replace(/^\[([^\]]+)\].*/, '$1'), ...r.slice(1)]))}\n`);

const stale = outcomes.length > 0 ? collected.filter((c) => c.file && !c.fresh) : [];
const totalMet = collected.reduce((a, c) => a + c.met, 0);
const totalTargets = collected.reduce((a, c) => a + c.targets, 0);
const missing = collected.filter((c) => !c.file).map((c) => `${c.bench.name} (${c.note ?? 'no results'})`);

const suiteCommand = sizeName === 'default' ? 'npm run bench' : `npm run bench -- ${sizeName === 'large' ? '--large' : `--size ${sizeName}`}`;
const ranAll = outcomes.length > 0 && !only && skip.size === 0;
const suiteMd = [
  `# Benchmark suite (size ${sizeName})`,
  '',
  args['readme-only'] ? `Rebuilt from the results in \`bench/results/\` on ${new Date().toISOString()} (no benchmark was run).` : `Run by \`bench/run.ts\` on ${suiteStart.toISOString()}; ${ranAll ? 'the whole suite' : 'part of the suite'} took **${(totalSeconds / 60).toFixed(1)} min**.`,
  '',
  'Command:',
  '',
  '```',
  ['node', 'bench/run.ts', ...process.argv.slice(2)].join(' '),
  '```',
  '',
  `(\`${suiteCommand}\`.)`,
  '',
  '## Machine',
  '',
  machineMarkdown(machine),
  busyAtStart.length > 0 ? `- Other busy processes at start (ps, lifetime CPU%): ${busyAtStart.slice(0, 6).join(', ')}` : '',
  '',
  '## Benchmarks',
  '',
  mdTable(summaryHeaders, summaryRows),
  '',
  `Targets met across the suite: ${totalMet} of ${totalTargets}.${missing.length ? ` No results: ${missing.join(', ')}.` : ''}`,
  '',
  '## Headline figures',
  '',
  mdTable(headlineHeaders, headlineRowsMd),
].join('\n');

if (sizeName !== 'tiny' || outcomes.length > 0) {
  writeResults(resultName('suite', sizeName), suiteMd, {
    generatedAt: new Date().toISOString(),
    size: sizeName,
    command: ['node', 'bench/run.ts', ...process.argv.slice(2)].join(' '),
    totalSeconds: args['readme-only'] ? null : totalSeconds,
    machine,
    outcomes,
    benchmarks: collected.map((c) => ({ name: c.bench.name, file: c.file && path.relative(repoRoot, c.file), generatedAt: c.generatedAt, fresh: c.fresh, seconds: c.seconds, met: c.met, targets: c.targets, notMet: c.notMet, readmeRows: c.rows })),
  });
}

// ------------------------------------------------------------------ README

const START = '<!-- bench:start -->';
const END = '<!-- bench:end -->';
if (sizeName === 'default' && !args['no-readme']) {
  const readmePath = path.join(repoRoot, 'README.md');
  const readme = readFileSync(readmePath, 'utf8');
  const a = readme.indexOf(START);
  const b = readme.indexOf(END);
  if (a < 0 || b < a) {
    progress(`README.md has no ${START} ... ${END} markers; not updated`);
  } else {
    const suiteTime = !args['readme-only'] && ranAll ? totalSeconds : undefined;
    const generated = [
      START,
      `<!-- generated by bench/run.ts from bench/results/*.json; edits here are overwritten -->`,
      '',
      `Results of \`${suiteCommand}\`${suiteTime !== undefined ? ` (the whole suite: ${(suiteTime / 60).toFixed(1)} min)` : ''} on ${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.os}, Node ${machine.node}, redis-server ${versionOf('redis-server')}; ` +
        `each benchmark's report in \`bench/results/<name>.md\` has its machine block, load, command line and method. ` +
        `Targets met: **${totalMet} of ${totalTargets}**.${missing.length ? ` Not yet measured: ${missing.map((m) => m.replace(/ \(.*/, '')).join(', ')}.` : ''}` +
        `${stale.length ? ` Older results (not from this run): ${stale.map((c) => `${c.bench.name} (${c.generatedAt?.slice(0, 10)})`).join(', ')}.` : ''}`,
      '',
      mdTable(headlineHeaders, headlineRowsMd),
      '',
      END,
    ].join('\n');
    writeFileSync(readmePath, readme.slice(0, a) + generated + readme.slice(b + END.length));
    progress('README.md headline table regenerated');
  }
}

function versionOf(name: string): string {
  for (const c of collected) {
    if (!c.file) continue;
    try {
      const j = JSON.parse(readFileSync(c.file, 'utf8')) as { versions?: Record<string, string> };
      if (j.versions?.[name]) return j.versions[name]!;
    } catch {
      // ignore
    }
  }
  return '?';
}

const failed = outcomes.filter((o) => o.status === 'failed');
progress(`suite ${failed.length ? `finished with ${failed.length} failure(s): ${failed.map((f) => f.name).join(', ')}` : 'finished'} in ${(totalSeconds / 60).toFixed(1)} min; targets met ${totalMet} of ${totalTargets}; summary in bench/results/${resultName('suite', sizeName)}.md`);
process.exit(failed.length ? 1 : 0);
