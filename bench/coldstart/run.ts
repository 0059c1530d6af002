/**
 * Cold start: time from spawning the server to the first GET reply, for a store holding 100k,
 * 1M and 5M keys, beside redis-server loading an RDB of the same keys, in the same run.
 *
 *   node bench/coldstart/run.ts [--sizes 100k,1m,5m] [--runs 3] [--from build|source] [--tmp DIR] [--keep]
 *
 * Both hold keys key:0..key:N-1 with values value:0.. (what Redis's DEBUG POPULATE makes). The
 * Shale store is bulk-loaded through the engine and the keyspace in this process and closed
 * cleanly; the RDB is made by DEBUG POPULATE and SAVE. Each measurement spawns a fresh process
 * on the prepared data and polls for a connection every 2 ms, then sends GET key:N/2 and
 * repeats it while Redis answers -LOADING. Shale runs as deployed: compiled to JavaScript (into
 * the bench's temp dir, so the shared dist/ is left alone), with Node's compile cache warmed by
 * one unmeasured start (--from source runs the TypeScript sources instead). The OS page cache
 * is warm for both.
 *
 * Writes bench/results/coldstart.md and bench/results/coldstart.json.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setImmediate as yieldLoop } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Engine, LocalStore } from '../../src/engine/index.ts';
import { Keyspace } from '../../src/types/keyspace.ts';
import { busyProcesses, cpuBusyPercent, machineInfo, machineMarkdown, repoRoot } from '../lib/machine.ts';
import { median } from '../lib/measure.ts';
import { fmtCount, fmtMet, fmtMs, mdTable, textTable, writeResults } from '../lib/report.ts';
import { freePort } from '../lib/servers.ts';

const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: '100k,1m,5m' },
    runs: { type: 'string', default: '3' },
    tmp: { type: 'string' },
    keep: { type: 'boolean', default: false },
    from: { type: 'string', default: 'build' },
  },
});

function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)([km]?)$/i.exec(s.trim());
  if (!m) throw new Error(`bad size ${s} (use e.g. 100k, 1m, 5000)`);
  return Math.round(Number(m[1]) * { '': 1, k: 1e3, m: 1e6 }[m[2]!.toLowerCase() as '' | 'k' | 'm']);
}

const sizes = args.sizes.split(',').map(parseSize);
const runs = Math.max(1, Number(args.runs));
const root = mkdtempSync(path.join(args.tmp ?? os.tmpdir(), 'shale-coldstart-'));
const ENV = { ...process.env, NODE_COMPILE_CACHE: path.join(root, 'compile-cache') };

/** The Shale entry point: a fresh compile of src (tsc errors elsewhere do not stop the emit). */
function shaleEntry(): string {
  if (args.from === 'source') return path.join(repoRoot, 'src/server/main.ts');
  const out = path.join(root, 'build');
  // Packages resolve from the build's parent directories.
  symlinkSync(path.join(repoRoot, 'node_modules'), path.join(root, 'node_modules'));
  const tsc = path.join(repoRoot, 'node_modules/typescript/bin/tsc');
  spawnSync(process.execPath, [tsc, '-p', path.join(repoRoot, 'tsconfig.build.json'), '--outDir', out, '--tsBuildInfoFile', path.join(root, 'tsbuildinfo')], { stdio: 'ignore' });
  const entry = path.join(out, 'server/main.js');
  if (!existsSync(entry)) throw new Error('tsc produced no build (try --from source)');
  return entry;
}
const ENTRY = shaleEntry();

function dirBytes(d: string): number {
  return readdirSync(d, { withFileTypes: true }).reduce((n, e) => n + (e.isDirectory() ? dirBytes(path.join(d, e.name)) : statSync(path.join(d, e.name)).size), 0);
}

/** One RESP request/reply on a fresh connection; rejects on refusal. */
function request(port: number, argv: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let buf = '';
    sock.once('error', reject);
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      // Enough for the replies used here: a simple line, or a bulk string.
      const nl = buf.indexOf('\r\n');
      if (nl < 0) return;
      if (buf[0] === '$') {
        const len = Number(buf.slice(1, nl));
        if (len >= 0 && buf.length < nl + 2 + len + 2) return;
        sock.destroy();
        resolve(len < 0 ? '$-1' : buf.slice(nl + 2, nl + 2 + len));
      } else {
        sock.destroy();
        resolve(buf.slice(0, nl));
      }
    });
    sock.on('connect', () => sock.write(argv.reduce((s, a) => s + `$${Buffer.byteLength(a)}\r\n${a}\r\n`, `*${argv.length}\r\n`)));
  });
}

/** CPU time (user + system, all threads) a process has used so far, from /proc; NaN elsewhere. */
function cpuMs(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'latin1').replace(/^.*\) /, '').split(' ');
    // utime and stime are fields 14 and 15 of stat, in clock ticks (100 per second on Linux).
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return NaN;
  }
}

/**
 * Spawns a server and times spawn -> first GET reply with the expected value; also the CPU time
 * the server used until then, which other load on the machine does not inflate.
 */
async function coldStart(cmd: string, argv: string[], port: number, key: string, expect: string): Promise<{ ms: number; cpuMs: number; stop: (sig: NodeJS.Signals) => Promise<void> }> {
  const t0 = performance.now();
  const proc = spawn(cmd, argv, { env: ENV, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const stop = async (sig: NodeJS.Signals) => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill(sig);
    await exited;
  };
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`${cmd} exited ${proc.exitCode}: ${stderr}`);
    if (performance.now() - t0 > 600_000) throw new Error(`${cmd} did not answer in 10 minutes`);
    let reply: string;
    try {
      reply = await request(port, ['GET', key]);
    } catch {
      await new Promise((r) => setTimeout(r, 2));
      continue;
    }
    if (reply.startsWith('-LOADING')) {
      await new Promise((r) => setTimeout(r, 2));
      continue;
    }
    if (reply !== expect) throw new Error(`${cmd}: GET ${key} answered ${JSON.stringify(reply.slice(0, 80))}`);
    return { ms: performance.now() - t0, cpuMs: cpuMs(proc.pid!), stop };
  }
}

/** Bulk-loads key:i -> value:i through the keyspace (no WAL: tables are written as it goes). */
async function buildShale(dir: string, n: number): Promise<void> {
  const engine = await Engine.open({ store: new LocalStore(dir), wal: false });
  // A hot set big enough that no key leaves memory: new keys then need no store read.
  const ks = await Keyspace.open(engine, { maxmemory: 4 * 2 ** 30 });
  const BATCH = 8192;
  for (let i = 0; i < n; i += BATCH) {
    const keys = Array.from({ length: Math.min(BATCH, n - i) }, (_, j) => `key:${i + j}`);
    // Once keys have left memory, writes need to know what the store has (as SET's dispatch does).
    const loaded = ks.prefetch(0, keys);
    if (loaded) await loaded;
    for (const [j, key] of keys.entries()) ks.set(0, key, `value:${i + j}`);
    if (engine.writeStalled) await engine.waitForCapacity();
    await yieldLoop();
  }
  await ks.close();
}

async function buildRdb(dir: string, n: number): Promise<void> {
  const port = await freePort();
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--enable-debug-command', 'yes'], { stdio: 'ignore' });
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  for (;;) {
    try {
      if ((await request(port, ['PING'])) === '+PONG') break;
    } catch {
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  for (const cmd of [['DEBUG', 'POPULATE', String(n)], ['SAVE']]) {
    const r = await request(port, cmd);
    if (r !== '+OK') throw new Error(`redis ${cmd.join(' ')}: ${r}`);
  }
  proc.kill('SIGKILL');
  await exited;
}

/** Store requests made up to the first reply (INFO after the measured GET). */
async function shaleReads(port: number): Promise<Record<string, number>> {
  const text = await request(port, ['INFO', 'persistence']);
  const out: Record<string, number> = {};
  for (const l of text.split('\r\n')) {
    const m = /^shale_store_(lists|gets|heads|bytes_read):(\d+)$/.exec(l);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

const haveRedis = spawnSync('redis-server', ['--version']).status === 0;
console.log(`cold start: sizes ${sizes.map(fmtCount).join(', ')}, ${runs} runs each, in ${root}`);
const busyBefore = await cpuBusyPercent(1000);
const busyProcs = busyProcesses();
const machine = machineInfo({ packages: ['ioredis'], dirs: [root] });

// One unmeasured start fills Node's compile cache, as any earlier start of the same build would.
{
  const dir = path.join(root, 'warmup');
  const port = await freePort();
  const s = await coldStart(process.execPath, [ENTRY, '--port', String(port), '--dir', dir], port, 'none', '$-1');
  await s.stop('SIGTERM');
}

interface Row {
  keys: number;
  shaleMs: number[];
  redisMs: number[];
  shaleCpuMs: number[];
  redisCpuMs: number[];
  shaleStoreBytes: number;
  rdbBytes: number;
  shaleReads: Record<string, number>;
  buildShaleMs: number;
  buildRdbMs: number;
}
const rows: Row[] = [];

for (const n of sizes) {
  const shaleDir = path.join(root, `shale-${n}`);
  const redisDir = path.join(root, `redis-${n}`);
  mkdirSync(redisDir, { recursive: true });
  let t = performance.now();
  await buildShale(shaleDir, n);
  const buildShaleMs = performance.now() - t;
  t = performance.now();
  if (haveRedis) await buildRdb(redisDir, n);
  const buildRdbMs = performance.now() - t;
  console.log(`${fmtCount(n)} keys: Shale store built in ${fmtMs(buildShaleMs)}, RDB in ${fmtMs(buildRdbMs)}`);

  const key = `key:${Math.floor(n / 2)}`;
  const value = `value:${Math.floor(n / 2)}`;
  const row: Row = { keys: n, shaleMs: [], redisMs: [], shaleCpuMs: [], redisCpuMs: [], shaleStoreBytes: 0, rdbBytes: 0, shaleReads: {}, buildShaleMs, buildRdbMs };
  for (let r = 0; r < runs; r++) {
    const sp = await freePort();
    const s = await coldStart(process.execPath, [ENTRY, '--port', String(sp), '--dir', shaleDir], sp, key, value);
    row.shaleMs.push(s.ms);
    row.shaleCpuMs.push(s.cpuMs);
    if (r === 0) row.shaleReads = await shaleReads(sp);
    await s.stop('SIGTERM');
    if (haveRedis) {
      const rp = await freePort();
      const argv = ['--port', String(rp), '--bind', '127.0.0.1', '--dir', redisDir, '--save', '', '--appendonly', 'no'];
      const rs = await coldStart('redis-server', argv, rp, key, value);
      row.redisMs.push(rs.ms);
      row.redisCpuMs.push(rs.cpuMs);
      await rs.stop('SIGKILL');
    }
    console.log(`  run ${r + 1}: Shale ${fmtMs(s.ms)} (CPU ${fmtMs(s.cpuMs)})${haveRedis ? `, Redis ${fmtMs(row.redisMs[r]!)} (CPU ${fmtMs(row.redisCpuMs[r]!)})` : ''}`);
  }
  row.shaleStoreBytes = dirBytes(shaleDir);
  row.rdbBytes = haveRedis ? dirBytes(redisDir) : 0;
  rows.push(row);
  if (!args.keep) {
    rmSync(shaleDir, { recursive: true, force: true });
    rmSync(redisDir, { recursive: true, force: true });
  }
}
if (!args.keep) rmSync(root, { recursive: true, force: true });

// ------------------------------------------------------------------ report

const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
const headers = ['keys', 'Shale: spawn to first GET', 'Redis: spawn to first GET', 'Shale / Redis', 'Shale CPU', 'Redis CPU', 'Shale store', 'RDB', 'Shale reads before the reply (LIST/GET, bytes)'];
const table = rows.map((r) => {
  const s = median(r.shaleMs);
  const red = r.redisMs.length ? median(r.redisMs) : NaN;
  return [
    fmtCount(r.keys),
    fmtMs(s),
    r.redisMs.length ? fmtMs(red) : 'n/a (no redis-server)',
    r.redisMs.length ? `${(s / red).toFixed(2)}x` : 'n/a',
    fmtMs(median(r.shaleCpuMs)),
    r.redisCpuMs.length ? fmtMs(median(r.redisCpuMs)) : 'n/a',
    mib(r.shaleStoreBytes),
    r.rdbBytes ? mib(r.rdbBytes) : 'n/a',
    `${r.shaleReads.lists ?? '?'}/${(r.shaleReads.gets ?? 0) + (r.shaleReads.heads ?? 0)}, ${mib(r.shaleReads.bytes_read ?? 0)}`,
  ];
});
const med = rows.map((r) => median(r.shaleMs));
const flat = rows.length > 1 ? Math.max(...med) <= Math.min(...med) * 1.5 : undefined;
const cpuMed = rows.map((r) => median(r.shaleCpuMs));
const flatCpu = rows.length > 1 ? Math.max(...cpuMed) <= Math.min(...cpuMed) * 1.5 : undefined;
const bigRows = rows.filter((r) => r.keys >= 1e6 && r.redisMs.length > 0);
const belowRedis = bigRows.length > 0 ? bigRows.every((r) => median(r.shaleMs) < median(r.redisMs)) : undefined;

console.log('\n' + textTable(headers, table));
const md = `# Cold start: spawn to first GET reply

Generated by \`node bench/coldstart/run.ts --sizes ${args.sizes} --runs ${runs}\`. Median of ${runs} runs per size; every
run spawns a fresh process on the same prepared data, polls for a TCP connection every 2 ms, sends
\`GET key:N/2\` and repeats it while Redis answers \`-LOADING\`.

- **Shale**: a store of N keys (\`key:i\` -> \`value:i\`) on the local directory store, bulk-loaded
  through the keyspace and closed cleanly. Start-up reads the manifest and the WAL tail, then the
  catalog record; the GET reads one block. ${args.from === 'source' ? 'Runs from the TypeScript sources (Node type stripping)' : 'Runs compiled to JavaScript, as deployed'},
  with Node's compile cache warmed by one unmeasured start.
- **Redis 7.0**: an RDB of the same keys made with \`DEBUG POPULATE N\` + \`SAVE\`; redis-server loads the
  whole RDB before it answers anything but \`-LOADING\`.
- Both read warm files from the OS page cache.
- *CPU* is the user + system time the server process (all its threads) had used when the reply
  arrived, from /proc (10 ms resolution): unlike the wall time, other load on the machine does not
  inflate it.

${mdTable(headers, table)}

| target | result |
|---|---|
| Shale's time stays flat as the store grows (largest median ≤ 1.5 × smallest) | ${fmtMet(flat)} (${med.map((m) => fmtMs(m)).join(' → ')}) |
| ...and so does the CPU time it takes (same rule, not inflated by other load) | ${fmtMet(flatCpu)} (${cpuMed.map((m) => fmtMs(m)).join(' → ')}) |
| Shale answers before Redis from 1M keys on | ${fmtMet(belowRedis)} |

All runs (ms): ${rows.map((r) => `${fmtCount(r.keys)}: Shale ${r.shaleMs.map((x) => x.toFixed(0)).join('/')}${r.redisMs.length ? `, Redis ${r.redisMs.map((x) => x.toFixed(0)).join('/')}` : ''}`).join('; ')}.

Building the data: ${rows.map((r) => `${fmtCount(r.keys)} keys: Shale ${fmtMs(r.buildShaleMs)}, RDB ${fmtMs(r.buildRdbMs)}`).join('; ')}.

## Machine

${machineMarkdown(machine)}
- CPU busy before the run: ${busyBefore === undefined ? 'unknown' : `${busyBefore}%`}${busyProcs.length ? ` (busiest other processes: ${busyProcs.slice(0, 5).join(', ')})` : ''}

The two cores are shared with other work (other test suites and benchmarks ran at the same time),
so absolute times are noisy; Shale and Redis runs alternate so both see the same conditions.
`;
const out = writeResults('coldstart', md, { generated: new Date().toISOString(), sizes, runs, rows, flat, flatCpu, belowRedis, machine, busyBefore, busyProcs });
console.log(`\nwrote ${out.md} and ${out.json}`);
