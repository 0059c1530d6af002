/**
 * Processes a benchmark starts and stops: Shale (bin/shale, from the TypeScript sources so a
 * stale dist/ is never measured), redis-server, the S3 test server (in a child process, so its
 * work does not share the driver's event loop) and redis-benchmark. Every child is killed when
 * the benchmark exits, however it exits.
 */
import { type ChildProcess, execFileSync, fork, spawn, type StdioOptions } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from './machine.ts';
import { NODE_ENV, NODE_FLAGS } from '../../src/server/node-options.ts';
import { infoNumber, parseInfo, RespClient } from './resp.ts';
import { sleep } from './measure.ts';

// ------------------------------------------------------------------ child bookkeeping

const children = new Set<ChildProcess>();
const tempDirs = new Set<string>();
let hooked = false;

function track(child: ChildProcess): void {
  children.add(child);
  child.once('exit', () => children.delete(child));
  if (hooked) return;
  hooked = true;
  process.once('exit', () => {
    for (const c of children) c.kill('SIGKILL');
    for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      process.stderr.write(`\n${sig}: stopping benchmark processes\n`);
      process.exit(130);
    });
  }
}

/** A fresh temp directory, removed when the process exits. */
export function tempDir(prefix: string): string {
  const d = mkdtempSync(path.join(os.tmpdir(), `shale-bench-${prefix}-`));
  tempDirs.add(d);
  return d;
}

export function removeDir(d: string): void {
  rmSync(d, { recursive: true, force: true });
  tempDirs.delete(d);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

async function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  if (!(await waitExit(child, graceMs))) {
    child.kill('SIGKILL');
    await waitExit(child, 5_000);
  }
}

// ------------------------------------------------------------------ servers

export interface RedisLike {
  /** 'shale' or 'redis'. */
  kind: 'shale' | 'redis';
  /** Human label, e.g. "Shale (relaxed)". */
  label: string;
  port: number;
  pid: number;
  /** The command line it was started with (for the report). */
  commandLine: string;
  /** Data directory (Shale --dir or redis-server dir). */
  dir: string;
  /** A client for control commands (INFO, CONFIG, SAVE...). */
  control: RespClient;
  info(section?: string): Promise<Record<string, string>>;
  /** Resident set size of the server process in bytes (from /proc), NaN if unknown. */
  rss(): number;
  /** Shale started with inspect: runs a full V8 garbage collection in the server (inspector). */
  collectGarbage?: () => Promise<void>;
  stop(): Promise<void>;
}

/** Sends one inspector protocol command over the server's debugger WebSocket. */
async function inspectorCall(wsUrl: string, method: string): Promise<void> {
  const ws = new WebSocket(wsUrl);
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener('open', () => resolve());
    ws.addEventListener('error', () => reject(new Error(`cannot connect to the inspector at ${wsUrl}`)));
  });
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`inspector ${method} timed out`)), 120_000);
    ws.addEventListener('message', (ev) => {
      const m = JSON.parse(String(ev.data)) as { id?: number; error?: { message: string } };
      if (m.id !== 1) return;
      clearTimeout(t);
      if (m.error) reject(new Error(`${method}: ${m.error.message}`));
      else resolve();
    });
    ws.send(JSON.stringify({ id: 1, method }));
  });
  ws.close();
}

function procRss(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

async function connectWhenUp(port: number, child: ChildProcess, what: string, timeoutMs = 60_000): Promise<RespClient> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${what} exited during start-up (code ${child.exitCode}, signal ${child.signalCode})`);
    try {
      const c = await RespClient.connect(port);
      const pong = await c.call('PING');
      if (pong === 'PONG') return c;
      c.close();
    } catch {
      // not listening yet
    }
    if (performance.now() > deadline) throw new Error(`${what} did not answer PING on port ${port} within ${timeoutMs} ms`);
    await sleep(50);
  }
}

export interface ShaleOptions {
  label?: string;
  dir?: string;
  durability?: 'strict' | 'relaxed' | 'off';
  flushInterval?: number;
  maxmemory?: string;
  maxmemoryPolicy?: string;
  /** Object store URL (e.g. from S3Process.storeUrl); default: the --dir directory. */
  store?: string;
  extraArgs?: string[];
  env?: Record<string, string>;
  /** Start with the V8 inspector on a free loopback port, for collectGarbage(). */
  inspect?: boolean;
}

/**
 * bin/shale from the TypeScript sources, started the way its launchers start it (the Node.js
 * flags and environment of src/server/node-options.ts).
 */
export function spawnShale(args: string[], o: { nodeArgs?: string[]; env?: Record<string, string>; stdio: StdioOptions }): ChildProcess {
  return spawn(process.execPath, [...NODE_FLAGS, ...(o.nodeArgs ?? []), path.join(repoRoot, 'bin', 'shale'), ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...NODE_ENV, SHALE_FROM_SOURCE: '1', ...o.env },
    stdio: o.stdio,
  });
}

export async function startShale(o: ShaleOptions = {}): Promise<RedisLike> {
  const dir = o.dir ?? tempDir('shale');
  const args = ['--port', '0', '--dir', dir, '--loglevel', 'notice'];
  if (o.durability) args.push('--durability', o.durability);
  if (o.flushInterval !== undefined) args.push('--flush-interval', String(o.flushInterval));
  if (o.maxmemory) args.push('--maxmemory', o.maxmemory);
  if (o.maxmemoryPolicy) args.push('--maxmemory-policy', o.maxmemoryPolicy);
  if (o.store) args.push('--store', o.store);
  args.push(...(o.extraArgs ?? []));
  const child = spawnShale(args, { nodeArgs: o.inspect ? ['--inspect=127.0.0.1:0'] : [], env: o.env, stdio: ['ignore', 'pipe', 'pipe'] });
  track(child);
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
    if (err.length > 20_000) err = err.slice(-10_000);
  });
  const port = await new Promise<number>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`Shale did not report ready within 60 s; stderr: ${err.slice(-2000)}`)), 60_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /Ready to accept connections tcp port=(\d+)/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(Number(m[1]));
      }
      if (out.length > 100_000) out = out.slice(-10_000);
    });
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`Shale exited during start-up (code ${code}): ${err.slice(-2000)}`));
    });
  });
  // Keep draining its logs so a full pipe never blocks it.
  child.stdout!.on('data', () => {});
  const control = await connectWhenUp(port, child, 'Shale');
  const label = o.label ?? `Shale (${o.durability ?? 'relaxed'})`;
  const wsUrl = /(ws:\/\/127\.0\.0\.1:\d+\/[\w-]+)/.exec(err)?.[1];
  if (o.inspect && !wsUrl) throw new Error(`Shale was started with --inspect but printed no debugger URL: ${err.slice(-500)}`);
  return {
    kind: 'shale',
    label,
    port,
    pid: child.pid!,
    dir,
    commandLine: `node bin/shale ${args.map((a) => (a === dir ? '<tmp>' : a.includes('://') ? `'${a}'` : a)).join(' ')}`,
    control,
    info: async (section?: string) => parseInfo(await control.callString('INFO', section ?? 'everything')),
    rss: () => procRss(child.pid!),
    collectGarbage: wsUrl ? () => inspectorCall(wsUrl, 'HeapProfiler.collectGarbage') : undefined,
    stop: async () => {
      control.close();
      await stopChild(child);
    },
  };
}

export interface RedisOptions {
  label?: string;
  appendfsync?: 'always' | 'everysec' | 'no';
  /** false = appendonly no. */
  appendonly?: boolean;
  maxmemory?: string;
  maxmemoryPolicy?: string;
  extraArgs?: string[];
}

export async function startRedis(o: RedisOptions = {}): Promise<RedisLike> {
  const dir = tempDir('redis');
  const port = await freePort();
  const appendonly = o.appendonly ?? true;
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', appendonly ? 'yes' : 'no'];
  if (appendonly) args.push('--appendfsync', o.appendfsync ?? 'everysec');
  if (o.maxmemory) args.push('--maxmemory', o.maxmemory);
  if (o.maxmemoryPolicy) args.push('--maxmemory-policy', o.maxmemoryPolicy);
  args.push(...(o.extraArgs ?? []));
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  track(child);
  child.stdout!.on('data', () => {});
  child.stderr!.on('data', () => {});
  const control = await connectWhenUp(port, child, 'redis-server');
  const label = o.label ?? `Redis (${appendonly ? `appendfsync ${o.appendfsync ?? 'everysec'}` : 'appendonly no'})`;
  return {
    kind: 'redis',
    label,
    port,
    pid: child.pid!,
    dir,
    commandLine: `redis-server ${args.map((a) => (a === '' ? "''" : a === dir ? '<tmp>' : a)).join(' ')}`,
    control,
    info: async (section?: string) => parseInfo(await control.callString('INFO', section ?? 'everything')),
    rss: () => procRss(child.pid!),
    stop: async () => {
      control.close();
      await stopChild(child);
      removeDir(dir);
    },
  };
}

/** Waits until Shale has written everything acknowledged (shale_durable_lag 0) or timeout. */
export async function waitDurable(s: RedisLike, timeoutMs = 30_000): Promise<void> {
  if (s.kind !== 'shale') return;
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const info = await s.info('persistence');
    if (infoNumber(info, 'shale_durable_lag') === 0 && infoNumber(info, 'shale_write_stalled') === 0) return;
    await sleep(50);
  }
}

// ------------------------------------------------------------------ S3 test server process

export interface S3Request {
  op: string;
  /** First path segment of the object key below the store prefix: 'wal', 'sst', 'manifest'... */
  kind: string;
  /** Milliseconds since the S3 process started its clock (performance.now() there). */
  t: number;
}

export interface S3Counts {
  GET: number;
  PUT: number;
  HEAD: number;
  LIST: number;
  DELETE: number;
  BUCKET: number;
  bytesIn: number;
  bytesOut: number;
  /** op:kind -> count, e.g. "PUT:wal". */
  byKind: Record<string, number>;
}

export interface S3Process {
  endpoint: string;
  bucket: string;
  storeUrl(prefix: string): string;
  /** Environment for a Shale child (dummy credentials for the local test server). */
  env: Record<string, string>;
  counts(): Promise<S3Counts>;
  /** Starts recording every request (op, key kind, time); requests() returns and clears them. */
  record(on: boolean): Promise<void>;
  requests(): Promise<S3Request[]>;
  /** The S3 process's performance.now(), to relate request times to a window. */
  now(): Promise<number>;
  objectBytes(): Promise<{ objects: number; bytes: number }>;
  /**
   * How many ranged 4 KiB GETs a second the S3 test server answers to plain HTTP requests
   * (keep-alive, `concurrency` in flight, no SDK) over durationMs: the ceiling any store-bound
   * figure measured against it runs into on this machine. undefined if the bucket is empty.
   */
  probeGets(concurrency?: number, durationMs?: number): Promise<number | undefined>;
  rss(): number;
  stop(): Promise<void>;
}

export async function startS3Process(bucket = 'bench'): Promise<S3Process> {
  const child = fork(path.join(repoRoot, 'bench', 'lib', 's3-process.ts'), [bucket], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  track(child);
  let seq = 0;
  const waiting = new Map<number, (v: unknown) => void>();
  let ready: (endpoint: string) => void;
  const readyP = new Promise<string>((r) => (ready = r));
  child.on('message', (m: { id?: number; ready?: string; result?: unknown }) => {
    if (m.ready) return ready(m.ready);
    const w = waiting.get(m.id!);
    if (w) {
      waiting.delete(m.id!);
      w(m.result);
    }
  });
  const ask = <T>(op: string, arg?: unknown): Promise<T> =>
    new Promise((resolve) => {
      const id = ++seq;
      waiting.set(id, resolve as (v: unknown) => void);
      child.send({ id, op, arg });
    });
  const endpoint = await Promise.race([
    readyP,
    new Promise<never>((_, reject) => child.once('exit', (c) => reject(new Error(`S3 test server process exited (${c})`)))),
  ]);
  return {
    endpoint,
    bucket,
    storeUrl: (prefix) => `s3://${bucket}/${prefix}?endpoint=${endpoint}&forcePathStyle=true&region=us-east-1`,
    env: { AWS_ACCESS_KEY_ID: 'bench', AWS_SECRET_ACCESS_KEY: 'bench', AWS_REGION: 'us-east-1' },
    counts: () => ask<S3Counts>('counts'),
    record: (on) => ask<void>('record', on),
    requests: () => ask<S3Request[]>('requests'),
    now: () => ask<number>('now'),
    objectBytes: () => ask<{ objects: number; bytes: number }>('objectBytes'),
    probeGets: async (concurrency = 16, durationMs = 2000) => {
      const obj = await ask<{ key: string; size: number } | undefined>('largestKey');
      if (!obj) return undefined;
      const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
      const url = `${endpoint}/${bucket}/${obj.key.split('/').map(encodeURIComponent).join('/')}`;
      const blocks = Math.max(1, Math.floor(obj.size / 4096));
      const get = (i: number) =>
        new Promise<void>((resolve, reject) => {
          const start = (i % blocks) * 4096;
          const req = http.request(url, { agent, headers: { authorization: 'AWS4-HMAC-SHA256 Credential=bench/20250101/us-east-1/s3/aws4_request', range: `bytes=${start}-${start + 4095}` } }, (res) => {
            res.on('data', () => {});
            res.on('end', () => resolve());
          });
          req.on('error', reject);
          req.end();
        });
      const t0 = performance.now();
      let n = 0;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (performance.now() - t0 < durationMs) await get(n++);
        }),
      );
      agent.destroy();
      return (n / (performance.now() - t0)) * 1000;
    },
    rss: () => procRss(child.pid!),
    stop: async () => {
      child.send({ id: 0, op: 'exit' });
      if (!(await waitExit(child, 5_000))) child.kill('SIGKILL');
    },
  };
}

export function diffCounts(a: S3Counts, b: S3Counts): S3Counts {
  const byKind: Record<string, number> = {};
  for (const k of new Set([...Object.keys(a.byKind), ...Object.keys(b.byKind)])) byKind[k] = (b.byKind[k] ?? 0) - (a.byKind[k] ?? 0);
  return {
    GET: b.GET - a.GET,
    PUT: b.PUT - a.PUT,
    HEAD: b.HEAD - a.HEAD,
    LIST: b.LIST - a.LIST,
    DELETE: b.DELETE - a.DELETE,
    BUCKET: b.BUCKET - a.BUCKET,
    bytesIn: b.bytesIn - a.bytesIn,
    bytesOut: b.bytesOut - a.bytesOut,
    byKind,
  };
}

// ------------------------------------------------------------------ redis-benchmark and versions

export function toolVersion(cmd: string): string {
  try {
    const out = execFileSync(cmd, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const m = /v=(\S+)/.exec(out) ?? /(\d+\.\d+\.\d+)/.exec(out);
    return m ? m[1]! : out;
  } catch {
    return 'missing';
  }
}

export function haveTool(cmd: string): boolean {
  return toolVersion(cmd) !== 'missing';
}

export interface BenchmarkRow {
  test: string;
  rps: number;
  avgMs: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** Runs redis-benchmark with --csv and returns its rows (and the wall time). */
export async function redisBenchmark(port: number, args: string[], timeoutMs = 600_000): Promise<{ rows: BenchmarkRow[]; ms: number; stderr: string }> {
  const full = ['-h', '127.0.0.1', '-p', String(port), '--csv', ...args];
  const t0 = performance.now();
  const child = spawn('redis-benchmark', full, { stdio: ['ignore', 'pipe', 'pipe'] });
  track(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(timer);
  const ms = performance.now() - t0;
  if (code !== 0) throw new Error(`redis-benchmark ${full.join(' ')} exited ${code}: ${err.slice(-500)}${out.slice(-500)}`);
  const rows: BenchmarkRow[] = [];
  for (const line of out.split('\n')) {
    const cells = [...line.matchAll(/"([^"]*)"/g)].map((m) => m[1]!);
    if (cells.length < 8 || cells[0] === 'test') continue;
    rows.push({ test: cells[0]!, rps: Number(cells[1]), avgMs: Number(cells[2]), p50Ms: Number(cells[4]), p99Ms: Number(cells[6]), maxMs: Number(cells[7]) });
  }
  return { rows, ms, stderr: err };
}

export interface TimedBenchmark {
  /** Requests per second over the run (redis-benchmark's running "overall" figure). */
  rps: number;
  /** Mean latency over the run, ms (its "overall" avg_msec); p50 when the run finished by itself. */
  avgMs: number;
  p50Ms?: number;
  /** True if it completed -n requests before the time cap. */
  finished: boolean;
  ms: number;
}

/**
 * Runs redis-benchmark -q for at most capMs and reads its progress line ("rps=... (overall: R)
 * avg_msec=... (overall: A)") at the moment it is stopped, or its final line if it finished first.
 * Give a large -n: the run is bounded by time, so a server at 40 requests/s and one at 400k/s
 * both take capMs.
 */
export async function redisBenchmarkTimed(port: number, args: string[], capMs: number): Promise<TimedBenchmark> {
  const full = ['-h', '127.0.0.1', '-p', String(port), '-q', ...args];
  const t0 = performance.now();
  const child = spawn('redis-benchmark', full, { stdio: ['ignore', 'pipe', 'pipe'] });
  track(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    if (out.length > 200_000) out = out.slice(-20_000);
  });
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  let capped = false;
  const timer = setTimeout(() => {
    capped = true;
    child.kill('SIGKILL');
  }, capMs);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(timer);
  const ms = performance.now() - t0;
  const lines = out.split(/[\r\n]+/).map((l) => l.trim()).filter(Boolean);
  if (!capped) {
    if (code !== 0) throw new Error(`redis-benchmark ${full.join(' ')} exited ${code}: ${err.slice(-300)}${out.slice(-300)}`);
    const last = [...lines].reverse().find((l) => /requests per second/.test(l));
    const m = last && /:\s*([\d.]+) requests per second(?:, p50=([\d.]+) msec)?/.exec(last);
    if (!m) throw new Error(`redis-benchmark gave no result: ${out.slice(-300)}`);
    return { rps: Number(m[1]), avgMs: m[2] ? Number(m[2]) : NaN, p50Ms: m[2] ? Number(m[2]) : undefined, finished: true, ms };
  }
  const prog = [...lines].reverse().find((l) => /overall:/.test(l) && !/nan/.test(l));
  const m = prog && /rps=[\d.]+ \(overall: ([\d.]+)\) avg_msec=[\d.]+ \(overall: ([\d.]+)\)/.exec(prog);
  if (!m) return { rps: 0, avgMs: NaN, finished: false, ms };
  return { rps: Number(m[1]), avgMs: Number(m[2]), finished: false, ms };
}
