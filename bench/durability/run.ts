/**
 * Strict durability versus the flush interval: for each group-commit interval, SET latency
 * (p50/p99, hdr-histogram-js) and object-store PUTs per second under a fixed client load, on
 * one Shale server in `durability strict` whose flush-interval is changed with CONFIG SET
 * between the steps (the run-time change is part of what is measured).
 *
 *   node bench/durability/run.ts [--intervals 1,5,10,50,100,250] [--clients 16] [--seconds 5]
 *                                [--store DIR] [--tmp DIR]
 *
 * Writes bench/results/durability.md, durability.json and durability.svg (the chart README
 * shows).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { busyProcesses, cpuBusyPercent, machineInfo, machineMarkdown } from '../lib/machine.ts';
import { Latency, type LatencySummary } from '../lib/measure.ts';
import { fmtCount, fmtMs, mdTable, resultsDir, textTable, writeResults } from '../lib/report.ts';
import { chartSvg } from './chart.ts';
import { freePort, spawnShale } from '../lib/servers.ts';

const { values: args } = parseArgs({
  options: {
    intervals: { type: 'string', default: '1,5,10,50,100,250' },
    clients: { type: 'string', default: '16' },
    seconds: { type: 'string', default: '5' },
    tmp: { type: 'string' },
  },
});

const intervals = args.intervals.split(',').map(Number);
const clients = Number(args.clients);
const seconds = Number(args.seconds);
/** S3 Standard PUT price (USD per 1,000), for the monthly cost column. */
const PUT_PRICE = 0.005;
const SECONDS_PER_MONTH = 730 * 3600;

async function infoNumbers(c: Redis): Promise<Record<string, number>> {
  const text = await c.info('persistence');
  return Object.fromEntries(text.split('\r\n').filter((l) => l.startsWith('shale_')).map((l) => [l.split(':')[0]!, Number(l.split(':')[1])]));
}

const dir = mkdtempSync(path.join(args.tmp ?? os.tmpdir(), 'shale-durability-bench-'));
const port = await freePort();
console.log(`durability bench: intervals ${intervals.join(', ')} ms, ${clients} clients, ${seconds} s each, store ${dir}`);
const busyBefore = await cpuBusyPercent(1000);
const busyProcs = busyProcesses();
const machine = machineInfo({ packages: ['ioredis', 'hdr-histogram-js'], dirs: [dir] });

const server = spawnShale(['--port', String(port), '--dir', dir, '--durability', 'strict', '--loglevel', 'warning'], { stdio: ['ignore', 'ignore', 'inherit'] });
// Ready once it answers PING.
for (const deadline = Date.now() + 60_000; ; ) {
  const up = await new Promise<boolean>((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('data', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
    s.once('connect', () => s.write('PING\r\n'));
  });
  if (up) break;
  if (Date.now() > deadline) throw new Error('shale did not start');
  await new Promise((r) => setTimeout(r, 20));
}
const conns = Array.from({ length: clients + 1 }, () => new Redis({ port, host: '127.0.0.1' }));
const admin = conns.pop()!;
await Promise.all(conns.map((c) => c.ping()));
await admin.ping();

interface Step {
  intervalMs: number;
  sets: number;
  setsPerSec: number;
  latency: LatencySummary;
  putsPerSec: number;
  walFlushesPerSec: number;
  /** Writes sharing one WAL object, on average. */
  setsPerFlush: number;
  putCostPerMonthUsd: number;
}
const steps: Step[] = [];
const value = 'v'.repeat(100);
let seq = 0;

for (const interval of intervals) {
  await admin.config('SET', 'flush-interval', String(interval));
  // Each client writes its own keys, one SET at a time: the reply is the durable acknowledgement.
  const run = async (ms: number, lat?: Latency) => {
    const end = performance.now() + ms;
    let n = 0;
    await Promise.all(
      conns.map(async (c) => {
        while (performance.now() < end) {
          const t = performance.now();
          await c.set(`k:${seq++}`, value);
          lat?.recordMs(performance.now() - t);
          n++;
        }
      }),
    );
    return n;
  };
  await run(500); // settle into the new interval
  const before = await infoNumbers(admin);
  const lat = new Latency();
  const t0 = performance.now();
  const sets = await run(seconds * 1000, lat);
  const elapsed = (performance.now() - t0) / 1000;
  const after = await infoNumbers(admin);
  const puts = (after.shale_store_puts! - before.shale_store_puts!) / elapsed;
  const flushes = (after.shale_wal_flushes! - before.shale_wal_flushes!) / elapsed;
  const step: Step = {
    intervalMs: interval,
    sets,
    setsPerSec: sets / elapsed,
    latency: lat.summary(),
    putsPerSec: puts,
    walFlushesPerSec: flushes,
    setsPerFlush: flushes > 0 ? sets / elapsed / flushes : 0,
    putCostPerMonthUsd: puts * SECONDS_PER_MONTH * (PUT_PRICE / 1000),
  };
  steps.push(step);
  console.log(
    `flush-interval ${interval} ms: p50 ${fmtMs(step.latency.p50Ms)}, p99 ${fmtMs(step.latency.p99Ms)}, ` +
      `${fmtCount(step.setsPerSec)} SET/s, ${puts.toFixed(1)} PUT/s`,
  );
}

for (const c of [...conns, admin]) c.disconnect();
server.kill('SIGTERM');
await new Promise((r) => server.once('exit', r));
rmSync(dir, { recursive: true, force: true });

// ------------------------------------------------------------------ report

const headers = ['flush-interval', 'SET p50', 'SET p99', 'SET max', 'SETs/s', 'store PUTs/s', 'SETs per WAL object', 'PUT cost / month (S3)'];
const rows = steps.map((s) => [
  `${s.intervalMs} ms`,
  fmtMs(s.latency.p50Ms),
  fmtMs(s.latency.p99Ms),
  fmtMs(s.latency.maxMs),
  fmtCount(s.setsPerSec),
  s.putsPerSec.toFixed(1),
  s.setsPerFlush.toFixed(1),
  `$${s.putCostPerMonthUsd.toFixed(2)}`,
]);
console.log('\n' + textTable(headers, rows));

writeFileSync(
  path.join(resultsDir, 'durability.svg'),
  chartSvg(steps.map((s) => ({ interval: s.intervalMs, p50: s.latency.p50Ms, p99: s.latency.p99Ms, puts: s.putsPerSec }))),
);
const md = `# Strict durability: latency and store PUTs versus the flush interval

Generated by \`node bench/durability/run.ts --intervals ${args.intervals} --clients ${clients} --seconds ${seconds}\`.
One Shale server in \`durability strict\` on the local directory store (each WAL object is a file
written, fdatasync'd and linked); \`CONFIG SET flush-interval\` between the steps. ${clients} ioredis
clients each send one \`SET\` (100-byte value, a new key each time) at a time, for ${seconds} s per step
after 0.5 s of settling. A strict SET is answered once the WAL object holding it is in the store,
so its latency is the wait for the next group commit plus the PUT; every client's write in a window
shares one PUT. PUTs/s counts every store PUT (WAL objects, and the occasional table or manifest).

![SET latency and store PUTs per second versus flush interval](durability.svg)

${mdTable(headers, rows)}

How to read it: a short interval buys latency with PUTs (and money on S3). Once the interval is
longer than a PUT, latency follows the interval: each client's next write arrives just after the
flush that answered its previous one, so it waits about a whole interval (p50 ≈ interval), while
PUTs fall to 1000/interval per second, each carrying up to ${clients} writes (one per client). Below
that, PUTs are back to back and the PUT time (a file write, fdatasync and link here; tens of ms on
S3) sets both latency and the PUT rate.

## Machine

${machineMarkdown(machine)}
- CPU busy before the run: ${busyBefore === undefined ? 'unknown' : `${busyBefore}%`}${busyProcs.length ? ` (busiest other processes: ${busyProcs.slice(0, 5).join(', ')})` : ''}

The two cores are shared with other work (other test suites and benchmarks ran at the same time),
so latencies, p99 especially, carry that noise.
`;
const out = writeResults('durability', md, { generated: new Date().toISOString(), intervals, clients, seconds, steps, machine, busyBefore, busyProcs });
console.log(`\nwrote ${out.md}, ${out.json} and ${path.join(resultsDir, 'durability.svg')}`);
