/**
 * SAVE and shutdown while the object store is down entirely, against a real Shale server
 * process on the S3 test server: SAVE replies an error after store-timeout instead of hanging;
 * SHUTDOWN refuses (as Redis does when its save fails) and keeps serving; SHUTDOWN NOSAVE and
 * SIGTERM exit with status 1 and one log line saying how many writes were lost.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { freePort, waitForPing } from './support/redis-reference.ts';
import { type S3TestServer, startS3Server } from './support/s3-server.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BUCKET = 'down';
const KEY_ID = 'down-key';
const SECRET = 'down-secret-do-not-log';
const ENV = { AWS_ACCESS_KEY_ID: KEY_ID, AWS_SECRET_ACCESS_KEY: SECRET, AWS_REGION: 'us-east-1' };
const TIMEOUT_MS = 1500;

interface Server {
  proc: ChildProcess;
  port: number;
  output: () => string;
  exited: Promise<{ code: number | null; ms: number }>;
  /** performance.now() of the last stop request, for exit timing. */
  stopAt: number;
}

let s3: S3TestServer;
const procs: ChildProcess[] = [];
const clients: Redis[] = [];
const dirs: string[] = [];
let prefixSeq = 0;

beforeAll(async () => {
  s3 = await startS3Server({ buckets: [BUCKET], accessKeys: [KEY_ID] });
});
afterEach(() => {
  s3.clearFaults();
  for (const c of clients.splice(0)) c.disconnect();
  for (const p of procs.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});
afterAll(async () => {
  await s3.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A server process of our own (ShaleProcess cannot await an exit it did not cause). */
async function startServer(): Promise<Server> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'shale-down-'));
  dirs.push(dir);
  const port = await freePort();
  const url = `s3://${BUCKET}/run${++prefixSeq}?endpoint=${encodeURIComponent(s3.endpoint)}`;
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--store', url, '--flush-interval', '20', '--store-timeout', String(TIMEOUT_MS)];
  const proc = spawn(process.execPath, [path.join(ROOT, 'bin/shale'), ...args], {
    cwd: ROOT,
    env: { ...process.env, SHALE_FROM_SOURCE: '1', ...ENV },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  procs.push(proc);
  let output = '';
  proc.stdout!.on('data', (b: Buffer) => (output += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (output += b.toString()));
  const server: Server = { proc, port, output: () => output, exited: undefined!, stopAt: 0 };
  server.exited = new Promise((resolve) => proc.once('exit', (code) => resolve({ code, ms: performance.now() - server.stopAt })));
  await waitForPing(port, 30_000, proc);
  return server;
}

function client(s: Server): Redis {
  const c = new Redis({ port: s.port, maxRetriesPerRequest: 0, retryStrategy: () => null });
  clients.push(c);
  return c;
}

async function timed<T>(p: Promise<T>): Promise<{ ms: number; result?: T; error?: Error }> {
  const t0 = performance.now();
  try {
    return { ms: performance.now() - t0, result: await p };
  } catch (error) {
    return { ms: performance.now() - t0, error: error as Error };
  }
}

/** Some writes in the store, then the store goes down and more writes stay in memory only. */
async function writesThenOutage(c: Redis): Promise<void> {
  for (let i = 0; i < 20; i++) await c.set(`before:${i}`, 'v');
  s3.setFaults({ errorRate: 1 });
  for (let i = 0; i < 20; i++) await c.set(`during:${i}`, 'v');
}

function lostLines(output: string): string[] {
  return output.split('\n').filter((l) => /writes not yet in the store were lost/.test(l));
}

it('SAVE and SHUTDOWN fail after store-timeout and the server keeps serving; SHUTDOWN NOSAVE exits at once', async () => {
  const server = await startServer();
  const c = client(server);
  await writesThenOutage(c);

  const save = await timed(c.save());
  expect(save.error?.message).toMatch(/^ERR store unavailable: waited 1500 ms for the object store; last error: S3 PUT .*InternalError \(HTTP 500\)/);
  expect(save.ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 100);
  expect(save.ms).toBeLessThan(TIMEOUT_MS + 5000);
  expect(await c.get('during:3')).toBe('v');

  // As Redis when its save fails: an error reply, and the server stays up.
  const shutdown = await timed(c.shutdown());
  expect(shutdown.error?.message).toBe('ERR Errors trying to SHUTDOWN. Check logs.');
  expect(shutdown.ms).toBeLessThan(TIMEOUT_MS + 5000);
  expect(await c.ping()).toBe('PONG');
  expect(await c.get('during:7')).toBe('v');
  expect(server.output()).toMatch(/SHUTDOWN: the object store did not take the data within store-timeout \(1500 ms\); not shutting down/);

  // NOSAVE does not wait for the failing store; the lost writes are logged and the status says so.
  server.stopAt = performance.now();
  await timed(c.shutdown('NOSAVE'));
  const exit = await server.exited;
  expect(exit.code).toBe(1);
  expect(exit.ms).toBeLessThan(TIMEOUT_MS);
  const lines = lostLines(server.output());
  expect(lines).toHaveLength(1);
  expect(Number(/(\d+) writes not yet in the store were lost/.exec(lines[0]!)![1])).toBeGreaterThan(0);
  expect(server.output()).not.toContain(SECRET);
}, 60_000);

it('SIGTERM gives up flushing after store-timeout, logs the loss in one line and exits 1', async () => {
  const server = await startServer();
  const c = client(server);
  await writesThenOutage(c);
  c.disconnect();

  server.stopAt = performance.now();
  server.proc.kill('SIGTERM');
  const exit = await server.exited;
  expect(exit.code).toBe(1);
  expect(exit.ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 100);
  expect(exit.ms).toBeLessThan(TIMEOUT_MS + 5000);
  const lines = lostLines(server.output());
  expect(lines, server.output()).toHaveLength(1);
  expect(lines[0]).toMatch(/Gave up flushing to the object store after store-timeout \(1500 ms\): \d+ writes not yet in the store were lost; last store error: S3 PUT/);
  expect(Number(/(\d+) writes not yet in the store were lost/.exec(lines[0]!)![1])).toBeGreaterThan(0);
  expect(server.output()).not.toContain(SECRET);
  expect(server.output()).not.toMatch(/error during shutdown/);
}, 60_000);

it('with the store up, SIGTERM still flushes everything and exits 0', async () => {
  const server = await startServer();
  const c = client(server);
  for (let i = 0; i < 20; i++) await c.set(`k:${i}`, 'v');
  c.disconnect();
  server.proc.kill('SIGTERM');
  expect((await server.exited).code).toBe(0);
  expect(lostLines(server.output())).toEqual([]);
}, 60_000);
