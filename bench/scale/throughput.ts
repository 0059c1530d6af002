/**
 * Data-type throughput: redis-benchmark against a real redis-server and a real Shale server in
 * the same run, test by test, alternating which server goes first, and the ratio Shale/Redis
 * of requests per second for each test (target: >= 0.7). A pop test runs after the push it
 * follows in redis-benchmark's own order, so it pops what one run of all the tests would. It
 * also measures PING on a bare Node.js server (bench/lib/bare-node-server.ts), the ceiling of
 * that ratio for any Node.js process.
 *
 *   node bench/scale/throughput.ts [--requests 100000] [--clients 50] [--rounds 3]
 *                                  [--tests lpush,rpop,...] [--no-custom] [--profile]
 *
 * Writes bench/results/datatypes-throughput.md and .json. Both servers run with persistence
 * as shipped for a fair default: Redis without RDB/AOF (--save '' --appendonly no), Shale with
 * its default durability (relaxed: acknowledged once in memory, WAL flushed every interval).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { busyProcesses, cpuBusyPercent, machineInfo, machineMarkdown, repoRoot } from '../lib/machine.ts';
import { type CpuProfile, formatSummary, summarizeProfile } from '../lib/cpuprofile.ts';
import { progress, section } from '../lib/progress.ts';
import { fmtCount, fmtMet, fmtMs, mdTable, textTable, writeResults } from '../lib/report.ts';
import { freePort, spawnShale } from '../lib/servers.ts';

const { values: args } = parseArgs({
  allowNegative: true, // --no-custom
  options: {
    requests: { type: 'string', default: '100000' },
    clients: { type: 'string', default: '50' },
    tests: { type: 'string', default: 'lpush,rpop,sadd,hset,spop,zadd,zpopmin,lrange_100' },
    target: { type: 'string', default: '0.7' },
    // Measured runs of each test on each server; the table takes each server's median run.
    rounds: { type: 'string', default: '3' },
    // Record a V8 CPU profile of the Shale server for the whole run and summarize it in the md.
    profile: { type: 'boolean', default: false },
    // Also measure bitmap, HLL and SORT requests (informational, no target).
    custom: { type: 'boolean', default: true },
  },
});

const REQUESTS = Number(args.requests);
const CLIENTS = Number(args.clients);
const TESTS = args.tests!.split(',').map((t) => t.trim().toLowerCase()).filter(Boolean);
const TARGET = Number(args.target);
const ROUNDS = Math.max(1, Number(args.rounds));
const WARMUP_REQUESTS = 20_000;

/** The test each pop follows in redis-benchmark's order, on the same key. */
const PRIOR: Record<string, string> = { rpop: 'lpush', lpop: 'lpush', spop: 'sadd', zpopmin: 'zadd' };

/** One CSV row of redis-benchmark. */
interface Row {
  test: string;
  rps: number;
  avgMs: number;
  p50Ms: number;
  p99Ms: number;
}

async function waitReady(port: number, proc: ChildProcess): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`server on port ${port} exited with code ${proc.exitCode}`);
    try {
      const out = execFileSync('redis-cli', ['-p', String(port), 'PING'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      if (out.trim() === 'PONG') return;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`server on port ${port} did not answer PING`);
}

interface Server {
  name: string;
  port: number;
  proc: ChildProcess;
  /** Data directory, removed at stop (none for the bare server). */
  dir?: string;
}

async function startRedis(): Promise<Server> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'shale-tput-redis-'));
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  await waitReady(port, proc);
  return { name: 'redis', port, proc, dir };
}

async function startShale(profileDir: string | undefined): Promise<Server> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'shale-tput-shale-'));
  const node = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  const proc = spawnShale(['--port', String(port), '--bind', '127.0.0.1', '--dir', dir], { nodeArgs: node, stdio: 'ignore' });
  await waitReady(port, proc);
  return { name: 'shale', port, proc, dir };
}

/** bench/lib/bare-node-server.ts: the runtime's ceiling (a server that runs no command at all). */
async function startBareNode(): Promise<Server> {
  const port = await freePort();
  const proc = spawn(process.execPath, [path.join(repoRoot, 'bench/lib/bare-node-server.ts'), String(port)], { stdio: 'ignore' });
  await waitReady(port, proc);
  return { name: 'bare', port, proc };
}

async function stop(s: Server): Promise<void> {
  if (s.proc.exitCode === null) {
    const exited = new Promise((r) => s.proc.once('exit', r));
    s.proc.kill('SIGTERM');
    await exited;
  }
  if (s.dir) rmSync(s.dir, { recursive: true, force: true });
}

/** Runs redis-benchmark for one test against one server; returns its CSV rows. */
function bench(port: number, test: string, requests = REQUESTS): Row[] {
  const out = execFileSync('redis-benchmark', ['-p', String(port), '-t', test, '-c', String(CLIENTS), '-n', String(requests), '--csv'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
    maxBuffer: 16 * 1024 * 1024,
  });
  const rows: Row[] = [];
  for (const line of out.trim().split('\n').slice(1)) {
    const cells = line.split('","').map((c) => c.replace(/^"|"$/g, ''));
    rows.push({ test: cells[0]!, rps: Number(cells[1]), avgMs: Number(cells[2]), p50Ms: Number(cells[4]), p99Ms: Number(cells[6]) });
  }
  return rows;
}

/**
 * Bitmap, HyperLogLog and SORT requests (not in redis-benchmark's -t list), as custom
 * redis-benchmark commands after a setup. __rand_int__ is zero-padded, so bit offsets are fixed.
 */
const CUSTOM: { label: string; setup: string[][]; cmd: string[]; random?: number; requests?: number }[] = [
  { label: 'SETBIT, small bitmap', setup: [], cmd: ['SETBIT', 'bits', '1000', '1'] },
  { label: 'GETBIT, 1 MiB bitmap', setup: [['SETBIT', 'big', '8388607', '1']], cmd: ['GETBIT', 'big', '4000000'] },
  { label: 'BITFIELD INCRBY (a write every time), 1 KiB bitmap', setup: [['SETBIT', 'kb', '8191', '1']], cmd: ['BITFIELD', 'kb', 'INCRBY', 'u8', '#100', '1'] },
  // Each request logs the whole 1 MiB value: 5,000 of them write 5 GB through the store, which
  // keeps replaced objects for its GC age (10 minutes), so this row runs fewer requests.
  { label: 'BITFIELD INCRBY (a write every time), 1 MiB bitmap', setup: [['SETBIT', 'big', '8388607', '1']], cmd: ['BITFIELD', 'big', 'INCRBY', 'u8', '#100', '1'], requests: 5000 },
  { label: 'BITCOUNT, 1 MiB bitmap', setup: [['SETBIT', 'big', '8388607', '1']], cmd: ['BITCOUNT', 'big'] },
  { label: 'PFADD a random element, sparse HLL', setup: [], cmd: ['PFADD', 'hll', 'e:__rand_int__'], random: 1000 },
  { label: 'PFADD a random element, dense HLL', setup: [['PFADD', 'hll', ...Array.from({ length: 3000 }, (_, i) => `s${i}`)]], cmd: ['PFADD', 'hll', 'e:__rand_int__'], random: 100_000_000 },
  { label: 'PFCOUNT, dense HLL (cached)', setup: [['PFADD', 'hll', ...Array.from({ length: 3000 }, (_, i) => `s${i}`)]], cmd: ['PFCOUNT', 'hll'] },
  { label: 'SORT a 100-element list, LIMIT 0 10', setup: [['RPUSH', 'l', ...Array.from({ length: 100 }, (_, i) => String((i * 37) % 101))]], cmd: ['SORT', 'l', 'LIMIT', '0', '10'] },
];

function benchCustom(port: number, c: (typeof CUSTOM)[number]): Row {
  for (const setup of c.setup) execFileSync('redis-cli', ['-p', String(port), ...setup], { stdio: 'ignore' });
  const rand = c.random ? ['-r', String(c.random)] : [];
  const n = Math.min(REQUESTS, c.requests ?? 50_000);
  const out = execFileSync('redis-benchmark', ['-p', String(port), '-c', String(CLIENTS), '-n', String(n), '--csv', ...rand, ...c.cmd], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const line = out.trim().split('\n').pop()!;
  const cells = line.split('","').map((x) => x.replace(/^"|"$/g, ''));
  return { test: c.label, rps: Number(cells[1]), avgMs: Number(cells[2]), p50Ms: Number(cells[4]), p99Ms: Number(cells[6]) };
}

/** The run with the median requests per second (the lower middle one for an even count). */
function median(rows: Row[]): Row {
  return [...rows].sort((a, b) => a.rps - b.rps)[Math.floor((rows.length - 1) / 2)]!;
}

function flush(port: number): void {
  execFileSync('redis-cli', ['-p', String(port), 'FLUSHALL'], { stdio: 'ignore' });
}

async function main(): Promise<void> {
  const started = new Date();
  const t0 = performance.now();
  const machine = machineInfo({ packages: ['.'] });
  const busy = await cpuBusyPercent();
  const others = busyProcesses();
  const redisVersion = execFileSync('redis-server', ['--version'], { encoding: 'utf8' }).trim();
  section(`redis-benchmark -t ${TESTS.join(',')} -c ${CLIENTS} -n ${REQUESTS}`);
  const profileDir = args.profile ? mkdtempSync(path.join(os.tmpdir(), 'shale-tput-prof-')) : undefined;
  const servers = [await startRedis(), await startShale(profileDir)];
  const results: { test: string; redis: Row; shale: Row; roundRatios: number[] }[] = [];
  const custom: { test: string; redis: Row; shale: Row }[] = [];
  const ceiling: { redis: Row; bare: Row; shale: Row }[] = [];
  try {
    // A long-running server is warm: every test runs once, unmeasured, on both servers first,
    // so that Node's JIT has compiled Shale's paths (each measured run starts from FLUSHALL).
    section(`warm-up: ${WARMUP_REQUESTS} requests of each test on each server, not measured`);
    for (const s of servers) bench(s.port, TESTS.join(','), WARMUP_REQUESTS);
    // lrange_100 also reports the LPUSH that fills the list; keep the row named after the test.
    const pick = (test: string, rows: Row[]) => rows.find((r) => r.test.toLowerCase().startsWith(test.split('_')[0]!) && !r.test.includes('needed'))!;
    for (const [i, test] of TESTS.entries()) {
      const runs: Record<string, Row[]> = { redis: [], shale: [] };
      // A pop runs right after the push it follows in the command, so that it pops what
      // that push left (as in one redis-benchmark run of all the tests); only its row counts.
      const prior = TESTS.includes(PRIOR[test] ?? '') ? `${PRIOR[test]},` : '';
      for (let round = 0; round < ROUNDS; round++) {
        // Alternate which server goes first, so neither always gets the cooler machine.
        const order = (i + round) % 2 === 0 ? servers : [...servers].reverse();
        for (const s of order) {
          flush(s.port);
          progress(`${prior}${test} on ${s.name}, round ${round + 1} of ${ROUNDS}`);
          runs[s.name]!.push(pick(test, bench(s.port, prior + test)));
        }
      }
      const roundRatios = runs.shale!.map((r, k) => r.rps / runs.redis![k]!.rps);
      results.push({ test, redis: median(runs.redis!), shale: median(runs.shale!), roundRatios });
    }
    // The same PING test on a bare Node.js server: how close any Node.js process gets to Redis
    // here. Two rounds, in opposite orders.
    section('ceiling: PING_MBULK on Redis, a bare Node.js server and Shale');
    const bare = await startBareNode();
    try {
      for (const order of [[...servers, bare], [bare, ...[...servers].reverse()]]) {
        const got: Record<string, Row> = {};
        for (const s of order) {
          progress(`ping_mbulk on ${s.name}`);
          got[s.name] = bench(s.port, 'ping_mbulk')[0]!;
        }
        ceiling.push({ redis: got.redis!, bare: got.bare!, shale: got.shale! });
      }
    } finally {
      await stop(bare);
    }
    if (args.custom) {
      section('bitmap, HyperLogLog and SORT requests');
      for (const [i, c] of CUSTOM.entries()) {
        const order = i % 2 === 0 ? servers : [...servers].reverse();
        const got: Record<string, Row> = {};
        for (const s of order) {
          flush(s.port);
          progress(`${c.label} on ${s.name}`);
          got[s.name] = benchCustom(s.port, c);
        }
        custom.push({ test: c.label, redis: got.redis!, shale: got.shale! });
      }
    }
  } finally {
    for (const s of servers) await stop(s);
  }

  // The profile is written when the server exits (after SIGTERM above).
  let profileText: string | undefined;
  if (profileDir) {
    const file = readdirSync(profileDir).find((f) => f.endsWith('.cpuprofile'));
    if (file) {
      const prof = JSON.parse(readFileSync(path.join(profileDir, file), 'utf8')) as CpuProfile;
      profileText = formatSummary('Shale server, whole run', summarizeProfile(prof, 25), 25);
      console.log(profileText);
    }
    rmSync(profileDir, { recursive: true, force: true });
  }
  const rows = results.map((r) => {
    const ratio = r.shale.rps / r.redis.rps;
    return { ...r, ratio, met: ratio >= TARGET };
  });
  const headers = ['test', 'Redis req/s', 'Shale req/s', 'Shale/Redis', `target >= ${TARGET}`, 'Shale/Redis by round', 'Redis p50 / p99', 'Shale p50 / p99'];
  const table = rows.map((r) => [
    r.redis.test,
    fmtCount(r.redis.rps),
    fmtCount(r.shale.rps),
    r.ratio.toFixed(2),
    fmtMet(r.met),
    r.roundRatios.map((x) => x.toFixed(2)).join(', '),
    `${fmtMs(r.redis.p50Ms)} / ${fmtMs(r.redis.p99Ms)}`,
    `${fmtMs(r.shale.p50Ms)} / ${fmtMs(r.shale.p99Ms)}`,
  ]);
  console.log(textTable(headers, table));
  const met = rows.filter((r) => r.met).length;
  const seconds = Math.round((performance.now() - t0) / 1000);
  const md = [
    '# Data-type throughput: Shale vs Redis (redis-benchmark)',
    '',
    `Generated by \`bench/scale/throughput.ts\` on ${started.toISOString()} in ${seconds} s.`,
    '',
    'Command:',
    '',
    '```',
    `node bench/scale/throughput.ts --requests ${REQUESTS} --clients ${CLIENTS} --rounds ${ROUNDS} --tests ${TESTS.join(',')}${args.profile ? ' --profile' : ''}`,
    '```',
    '',
    `Each test is \`redis-benchmark -t <test> -c ${CLIENTS} -n ${REQUESTS} --csv\` against a real \`redis-server\``,
    `(${redisVersion.split(' ').slice(0, 3).join(' ')}, no persistence) and a real Shale server (\`bin/shale\`, local`,
    'directory store, default durability `relaxed`), one server after the other, alternating which goes first,',
    `after a FLUSHALL, ${ROUNDS} time${ROUNDS === 1 ? '' : 's'} on each server. A pop test runs as \`-t <push>,<pop>\` (lpush,rpop; sadd,spop;`,
    'zadd,zpopmin): it pops what the push before it in the full command leaves, and only its own row counts.',
    `The table gives each server's median run (requests per second, and that`,
    'run\'s latencies) and the ratio of the medians; "by round" gives the ratio of each round, where both servers ran back to back.',
    'redis-benchmark runs on the same machine as the server it measures. Before any of it, every',
    `test ran once with -n ${WARMUP_REQUESTS} on both servers, unmeasured (a long-running Node process has its hot paths compiled).`,
    '',
    '## Machine',
    '',
    machineMarkdown(machine),
    `- CPU busy just before the run (1 s sample): ${busy ?? 'n/a'}%`,
    `- Other busy processes at start: ${others.length ? others.join(', ') : 'none'}`,
    '',
    '> The machine has 2 cores shared with other work, and redis-benchmark itself takes CPU from the server it',
    '> measures; absolute numbers are noisy. Both servers ran under the same conditions in the same run.',
    '',
    '## Results',
    '',
    `Targets met: ${met} of ${rows.length}.`,
    '',
    mdTable(headers, table),
    '',
    '## Ceiling: what any Node.js server reaches here',
    '',
    'The same run measured `redis-benchmark -t ping_mbulk` on redis-server, on a bare Node.js TCP server',
    '(`bench/lib/bare-node-server.ts`: it answers +PONG to each request without parsing it or running anything)',
    'and on Shale, in two rounds in opposite orders. The bare server\'s ratio is the most a Node.js process can',
    'reach against redis-server on this machine: its per-request cost is the runtime\'s own (socket read, stream',
    'events, socket write), before any command runs.',
    '',
    mdTable(
      ['round', 'Redis req/s', 'bare Node.js req/s', 'bare / Redis', 'Shale req/s', 'Shale / Redis', 'Shale / bare'],
      ceiling.map((c, i) => [
        String(i + 1),
        fmtCount(c.redis.rps),
        fmtCount(c.bare.rps),
        (c.bare.rps / c.redis.rps).toFixed(2),
        fmtCount(c.shale.rps),
        (c.shale.rps / c.redis.rps).toFixed(2),
        (c.shale.rps / c.bare.rps).toFixed(2),
      ]),
    ),
    '',
    ...(custom.length
      ? [
          '## Bitmaps, HyperLogLog and SORT (informational)',
          '',
          `Custom redis-benchmark commands (\`-c ${CLIENTS} -n ${Math.min(REQUESTS, 50_000)}\`, 5,000 for the 1 MiB BITFIELD) after a setup; no target.`,
          'A bitmap or HLL is one string record in Shale, so a write rewrites the whole value (compare the 1 KiB and',
          '1 MiB BITFIELD rows).',
          '',
          mdTable(
            ['request', 'Redis req/s', 'Shale req/s', 'Shale/Redis', 'Redis p50 / p99', 'Shale p50 / p99'],
            custom.map((r) => [
              r.test,
              fmtCount(r.redis.rps),
              fmtCount(r.shale.rps),
              (r.shale.rps / r.redis.rps).toFixed(2),
              `${fmtMs(r.redis.p50Ms)} / ${fmtMs(r.redis.p99Ms)}`,
              `${fmtMs(r.shale.p50Ms)} / ${fmtMs(r.shale.p99Ms)}`,
            ]),
          ),
          '',
        ]
      : []),
    ...(profileText
      ? [
          '## Where the Shale server spends its time',
          '',
          'V8 CPU profile of the Shale process over the whole run (`--profile`); self time is time in the function',
          'itself, inclusive time includes what it calls. `(idle)` is time the server waited for requests.',
          '',
          '```',
          profileText,
          '```',
          '',
        ]
      : []),
  ].join('\n');
  const json = {
    generated: started.toISOString(),
    seconds,
    requests: REQUESTS,
    clients: CLIENTS,
    rounds: ROUNDS,
    target: TARGET,
    redisVersion,
    machine,
    cpuBusyPercent: busy,
    busyProcesses: others,
    results: rows,
    custom: custom.map((r) => ({ ...r, ratio: r.shale.rps / r.redis.rps })),
    ceiling: ceiling.map((c) => ({ ...c, bareRatio: c.bare.rps / c.redis.rps, shaleRatio: c.shale.rps / c.redis.rps })),
  };
  const out = writeResults('datatypes-throughput', md, json);
  progress(`wrote ${out.md} and ${out.json}`);
}

await main();
