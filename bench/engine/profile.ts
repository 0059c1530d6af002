/**
 * CPU profiles of Shale's engine under the same workloads as run.ts (Shale only):
 *
 *   node bench/engine/profile.ts [--keys 200000] [--phase put,get,...] [--out DIR] [--top 15]
 *   node bench/engine/profile.ts --summarize FILE.cpuprofile [--top 15]
 *
 * Phases: put (random-order non-durable puts), get (memtable hits), scan / short (full and
 * 100-key scans of the memtable), flush (memtable -> L0 table; main thread only), sstget /
 * sstscan / sstshort (the same after reopening and warming the block cache). Prints the self
 * and inclusive hot spots of each phase with file:line and writes <phase>.cpuprofile files
 * (open in Chrome DevTools). The table build runs in a worker thread, which the in-process
 * profiler does not see: run with `node --cpu-prof --cpu-prof-dir=DIR` to get one profile per
 * thread, then summarize the worker's with --summarize.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { type CpuProfile, formatSummary, Profiler, saveProfile, summarizeProfile } from '../lib/cpuprofile.ts';
import { permutation, rng, runOps } from '../lib/measure.ts';
import { fmtCount } from '../lib/report.ts';
import { Keys, Values } from './keys.ts';
import { shaleSubject } from './subjects.ts';

const { values: args } = parseArgs({
  options: {
    keys: { type: 'string', default: '200000' },
    phase: { type: 'string', default: 'put,get,scan,short,flush,sstget,sstscan,sstshort' },
    out: { type: 'string' },
    top: { type: 'string', default: '15' },
    summarize: { type: 'string' },
  },
});

if (args.summarize) {
  const p = JSON.parse(readFileSync(args.summarize, 'utf8')) as CpuProfile;
  const n = Number(args.top);
  console.log(formatSummary(path.basename(args.summarize), summarizeProfile(p, n), n));
  process.exit(0);
}

const N = Number(args.keys);
const phases = new Set(args.phase!.split(','));
const top = Number(args.top);
const out = args.out ?? path.join(os.tmpdir(), 'shale-engine-profiles');
mkdirSync(out, { recursive: true });
const dir = mkdtempSync(path.join(os.tmpdir(), 'shale-engine-profile-db-'));

const keys = new Keys(N + 101);
const values = new Values();
const subject = shaleSubject(keys, values, { fsync: false });
const profiler = new Profiler();

const tablePhases = ['sstget', 'sstscan', 'sstshort'];
const needTables = tablePhases.some((p) => phases.has(p));

/** Runs a phase (profiled if asked for); phases nobody asked for are skipped unless later ones need them. */
async function phase(name: string, ops: number, unit: string, fn: () => Promise<unknown>, needed = false): Promise<void> {
  const on = phases.has(name);
  if (!on && !needed) return;
  if (on) await profiler.start();
  const t0 = performance.now();
  await fn();
  const ms = performance.now() - t0;
  console.log(`\n${name}: ${fmtCount((ops / ms) * 1000)} ${unit}/s (${fmtCount(ops)} in ${(ms / 1000).toFixed(2)} s)`);
  if (!on) return;
  const p = await profiler.stop();
  saveProfile(path.join(out, `${name}.cpuprofile`), p);
  console.log(formatSummary(name, summarizeProfile(p, top), top));
}

try {
  let db = await subject.open(dir, { flushIntervalMs: 100, memtableBytes: 1 << 30 });
  const order = permutation(N, rng(1));
  const g = permutation(N, rng(2));
  const starts = Array.from({ length: 5000 }, (_, i) => g[i]! % (N - 100));
  await phase('put', N, 'puts', () => runOps(N, (i) => db.put(order[i]!), { gate: () => db.gate() }), true);
  await phase('get', N, 'gets', () => runOps(N, (i) => db.get(g[i]!)));
  await phase('scan', N, 'entries', () => db.scanAll());
  await phase('short', starts.length, 'scans', () => runOps(starts.length, (i) => db.scanRange(starts[i]!, 100)));
  await phase('flush', N, 'entries', () => db.flushToTables(), needTables);
  await db.close();
  if (needTables) {
    db = await subject.open(dir, { flushIntervalMs: 100 });
    await runOps(N, (i) => db.get(g[i]!));
    await phase('sstget', N, 'gets', () => runOps(N, (i) => db.get(g[i]!)));
    await phase('sstscan', N, 'entries', () => db.scanAll());
    await phase('sstshort', starts.length, 'scans', () => runOps(starts.length, (i) => db.scanRange(starts[i]!, 100)));
    await db.close();
  }
  console.log(`\nprofiles in ${out}`);
} finally {
  profiler.close();
  rmSync(dir, { recursive: true, force: true });
}
