/**
 * The shape every suite benchmark's results share, so the suite runner (bench/run.ts) can build
 * its summary and the README table from bench/results/<name>.json alone:
 *
 *   { name, title, generatedAt, command, size, totalSeconds, machine, versions, load, headline: HeadlineRow[], ... }
 *
 * plus the common start of each markdown report (command, machine, versions, load) and the
 * --size / --large argument handling.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { busyProcesses, cpuBusyPercent, type MachineInfo, machineInfo, machineMarkdown } from './machine.ts';
import { elapsedSeconds, progress } from './progress.ts';
import { fmtCount, fmtMet, fmtMs, isNA, type Measured, mdTable, resultsDir, textTable, writeResults } from './report.ts';
import { toolVersion } from './servers.ts';

export type Unit = '/s' | 'ms' | 'B' | 'B/key' | 'usd/month' | 'count' | 'ratio' | 'fraction' | 'per request' | 'per 1M';

export interface HeadlineRow {
  /** What was measured, self-contained (the README shows it out of context). */
  metric: string;
  shale: number | null;
  peer: number | null;
  /** Who the peer is, e.g. "Redis (appendfsync everysec)". */
  peerName: string;
  unit: Unit;
  /** shale / peer (null when either is missing). */
  ratio: number | null;
  /** Which direction is better for Shale: decides how the ratio reads. */
  better: 'higher' | 'lower';
  /** The target from the issues, in words (null = informational). */
  target: string | null;
  met: boolean | null;
  /** Shown in the README headline table. */
  readme?: boolean;
  note?: string;
}

export function row(r: Omit<HeadlineRow, 'ratio'> & { ratio?: number | null }): HeadlineRow {
  const ratio = r.ratio !== undefined ? r.ratio : r.shale !== null && r.peer !== null && r.peer !== 0 ? r.shale / r.peer : null;
  return { ...r, ratio };
}

export function fmtValue(v: number | null, unit: Unit): string {
  if (v === null || !Number.isFinite(v)) return 'n/a';
  switch (unit) {
    case '/s':
      return `${fmtCount(v)}/s`;
    case 'ms':
      return fmtMs(v);
    case 'B':
      return fmtBytes(v);
    case 'B/key':
      return `${v >= 100 ? Math.round(v) : Number(v.toPrecision(3))} B/key`;
    case 'usd/month':
      return `$${v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(2)}/month`;
    case 'ratio':
      return `${Number(v.toPrecision(3))}x`;
    case 'fraction':
      return `${(v * 100).toFixed(v >= 0.999 || v === 0 ? 1 : 1)}%`;
    case 'per request':
      return `${Number(v.toPrecision(3))}/req`;
    case 'per 1M':
      return `${fmtCount(v)} per 1M`;
    default:
      return fmtCount(v);
  }
}

export function fmtBytes(n: number): string {
  const abs = Math.abs(n);
  if (abs >= 2 ** 30) return `${(n / 2 ** 30).toPrecision(3)} GiB`;
  if (abs >= 2 ** 20) return `${(n / 2 ** 20).toPrecision(3)} MiB`;
  if (abs >= 2 ** 10) return `${(n / 2 ** 10).toPrecision(3)} KiB`;
  return `${Math.round(n)} B`;
}

export function fmtRatioValue(r: number | null): string {
  if (r === null || !Number.isFinite(r)) return 'n/a';
  return `${r >= 100 ? Math.round(r) : Number(r.toPrecision(3))}x`;
}

export function headlineHeaders(): string[] {
  return ['metric', 'Shale', 'peer', 'peer value', 'Shale / peer', 'target', 'met'];
}

export function headlineCells(r: HeadlineRow): string[] {
  return [r.metric, fmtValue(r.shale, r.unit), r.peerName, fmtValue(r.peer, r.unit), fmtRatioValue(r.ratio), r.target ?? '', fmtMet(r.met ?? undefined)];
}

export function headlineMarkdown(rows: HeadlineRow[]): string {
  return mdTable(headlineHeaders(), rows.map(headlineCells));
}

export function measuredToNumber(v: Measured): number | null {
  return isNA(v) ? null : v;
}

// ------------------------------------------------------------------ arguments and context

export interface BenchContext<S> {
  name: string;
  title: string;
  sizeName: string;
  size: S;
  command: string;
  startedAt: Date;
  machine: MachineInfo;
  versions: Record<string, string>;
  cpuBusyBeforePercent: number | undefined;
  busyProcessesAtStart: string[];
  /** Parsed extra options. */
  options: Record<string, string | boolean | undefined>;
}

export interface BeginOptions<S> {
  name: string;
  title: string;
  sizes: Record<string, S>;
  packages?: string[];
  extraOptions?: ParseArgsConfig['options'];
}

/**
 * Parses --size tiny|default|large (and --large = --size large), records machine, versions and
 * how busy the machine is, and prints the start line.
 */
export async function beginBench<S>(o: BeginOptions<S>): Promise<BenchContext<S>> {
  const { values } = parseArgs({
    options: {
      size: { type: 'string', default: 'default' },
      large: { type: 'boolean', default: false },
      ...o.extraOptions,
    },
    allowPositionals: false,
  });
  const sizeName = values.large ? 'large' : String(values.size);
  const size = o.sizes[sizeName];
  if (!size) {
    console.error(`unknown --size ${sizeName} (expected ${Object.keys(o.sizes).join(' | ')})`);
    process.exit(2);
  }
  const command = ['node', ...process.argv.slice(1).map((a, i) => (i === 0 ? path.relative(process.cwd(), a) || a : a))].join(' ');
  const tmp = os.tmpdir();
  const machine = machineInfo({ packages: o.packages ?? [], dirs: [tmp] });
  const versions = { 'redis-server': toolVersion('redis-server'), 'redis-benchmark': toolVersion('redis-benchmark') };
  const busyProcessesAtStart = busyProcesses();
  const cpuBusyBeforePercent = await cpuBusyPercent();
  progress(`${o.title} (size ${sizeName}); CPU busy before start ${cpuBusyBeforePercent ?? '?'}%, load ${machine.loadAverage.join(' / ')}`);
  return {
    name: o.name,
    title: o.title,
    sizeName,
    size,
    command,
    startedAt: new Date(),
    machine,
    versions,
    cpuBusyBeforePercent,
    busyProcessesAtStart,
    options: values as Record<string, string | boolean | undefined>,
  };
}

/** The common top of a report: title, command, machine, versions, load. */
export function reportHeader<S>(ctx: BenchContext<S>, seconds: number): string {
  const loadEnd = os.loadavg().map((x) => Math.round(x * 100) / 100);
  const shared = (ctx.cpuBusyBeforePercent ?? 0) > 25 || ctx.machine.loadAverage[0]! > ctx.machine.cores * 0.5 || loadEnd[0]! > ctx.machine.cores;
  const lines = [
    `# ${ctx.title}`,
    '',
    `Generated by \`bench/${ctx.name}/run.ts\` on ${new Date().toISOString()} in ${Math.round(seconds)} s (size \`${ctx.sizeName}\`).`,
    '',
    'Command:',
    '',
    '```',
    ctx.command,
    '```',
    '',
    `(\`npm run bench:${ctx.name}\` runs the default size, \`npm run bench:${ctx.name} -- --large\` the large one; \`npm run bench\` runs the whole suite.)`,
    '',
    '## Machine',
    '',
    machineMarkdown(ctx.machine),
    `- redis-server ${ctx.versions['redis-server']}, redis-benchmark ${ctx.versions['redis-benchmark']}`,
    `- CPU busy just before the run (1 s sample of /proc/stat): ${ctx.cpuBusyBeforePercent ?? 'n/a'}%; load average at the end: ${loadEnd.join(' / ')}`,
  ];
  if (ctx.busyProcessesAtStart.length > 0) lines.push(`- Other busy processes at start (ps, lifetime CPU%): ${ctx.busyProcessesAtStart.slice(0, 6).join(', ')}`);
  if (shared) {
    lines.push(
      '',
      '> **The machine was shared with other work during this run** (see the CPU/load figures above), so absolute',
      '> numbers are noisy; Shale and its peer ran in the same conditions, interleaved where possible, so the ratios are the figures to read.',
    );
  }
  return lines.join('\n');
}

export interface FinishOptions {
  headline: HeadlineRow[];
  /** Markdown after the summary table (details, method). */
  body: string;
  /** Extra JSON fields (raw results, configuration). */
  json: Record<string, unknown>;
  /** Sentence(s) above the summary table. */
  summaryIntro?: string;
}

/** Writes bench/results/<name>.md/.json (other sizes: <name>-<size>) and prints the summary. */
export function finishBench<S>(ctx: BenchContext<S>, f: FinishOptions): void {
  const seconds = elapsedSeconds();
  const met = f.headline.filter((r) => r.met === true).length;
  const targets = f.headline.filter((r) => r.met !== null).length;
  const md = [
    reportHeader(ctx, seconds),
    '',
    '## Summary',
    '',
    ...(f.summaryIntro ? [f.summaryIntro, ''] : []),
    targets > 0 ? `Targets met: ${met} of ${targets}.\n` : '',
    headlineMarkdown(f.headline),
    '',
    f.body,
    '',
    `Raw numbers: \`bench/results/${fileName(ctx)}.json\`.`,
  ].join('\n');
  const json = {
    name: ctx.name,
    title: ctx.title,
    generatedAt: new Date().toISOString(),
    command: ctx.command,
    size: ctx.sizeName,
    config: ctx.size,
    totalSeconds: seconds,
    machine: ctx.machine,
    versions: ctx.versions,
    load: {
      cpuBusyBeforePercent: ctx.cpuBusyBeforePercent,
      busyProcessesAtStart: ctx.busyProcessesAtStart,
      loadAverageAtStart: ctx.machine.loadAverage,
      loadAverageAtEnd: os.loadavg(),
    },
    headline: f.headline,
    ...f.json,
  };
  const out = writeResults(fileName(ctx), md, json);
  process.stderr.write(`\n${ctx.title}: ${targets > 0 ? `targets met ${met} of ${targets}` : 'no targets'}\n`);
  process.stderr.write(`${textTable(headlineHeaders(), f.headline.map(headlineCells))}\n`);
  progress(`wrote ${path.relative(process.cwd(), out.md)} and ${path.relative(process.cwd(), out.json)} (${seconds.toFixed(0)} s)`);
}

/**
 * Results file base name: <name> for the default size, <name>-large, and tiny/<name> for the
 * tiny size (a plumbing check: bench/results/tiny/ is git-ignored).
 */
export function resultName(name: string, sizeName: string): string {
  if (sizeName === 'tiny') {
    const dir = path.join(resultsDir, 'tiny');
    mkdirSync(dir, { recursive: true });
    if (!existsSync(path.join(dir, '.gitignore'))) writeFileSync(path.join(dir, '.gitignore'), '# --size tiny results: checks of the benchmark machinery, not results\n*\n');
    return `tiny/${name}`;
  }
  return sizeName === 'default' ? name : `${name}-${sizeName}`;
}

function fileName<S>(ctx: BenchContext<S>): string {
  return resultName(ctx.name, ctx.sizeName);
}

/** Geometric mean of positive numbers (null if none). */
export function geomean(xs: number[]): number | null {
  const v = xs.filter((x) => x > 0 && Number.isFinite(x));
  if (v.length === 0) return null;
  return Math.exp(v.reduce((a, x) => a + Math.log(x), 0) / v.length);
}
