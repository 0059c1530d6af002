/**
 * bin/shale on S3, as a real process against the S3 test server: a store it cannot use stops
 * start-up with exit status 1 and one clear line on stderr; credentials never reach stdout or
 * stderr, neither at start-up nor in the logs of store errors later; and requests reuse
 * keep-alive connections (counted by a TCP proxy in front of the test server).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Store } from '../src/engine/objectstore/s3.ts';
import { type S3TestServer, startS3Server } from './support/s3-server.ts';
import { ShaleProcess } from './support/shale-server.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BUCKET = 'proc';
const KEY_ID = 'AKIDPROCTEST';
// Distinctive values, so a leak anywhere in the output is found by substring.
const SECRET = 'sEcReT-never-in-logs-4b1d';
const TOKEN = 'sEsSiOn-token-never-in-logs-9f3e';
const CREDS = { AWS_ACCESS_KEY_ID: KEY_ID, AWS_SECRET_ACCESS_KEY: SECRET, AWS_SESSION_TOKEN: TOKEN };

let s3: S3TestServer;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'shale-s3proc-'));
beforeAll(async () => {
  s3 = await startS3Server({ buckets: [BUCKET], accessKeys: [KEY_ID] });
});
afterAll(async () => {
  await s3.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** The environment without any AWS setting of the machine running the tests. */
function cleanEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('AWS_')) env[k] = v;
  return {
    ...env,
    SHALE_FROM_SOURCE: '1',
    // No shared config files or instance metadata: the credential chain ends quickly.
    HOME: tmp,
    AWS_CONFIG_FILE: path.join(tmp, 'none'),
    AWS_SHARED_CREDENTIALS_FILE: path.join(tmp, 'none'),
    AWS_EC2_METADATA_DISABLED: 'true',
    ...extra,
  };
}

/** Runs bin/shale until it exits (it must, here) and collects its output. */
function runShale(store: string, env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/shale'), '--port', '0', '--loglevel', 'debug', '--store', store], {
      cwd: ROOT,
      env: cleanEnv(env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`shale did not exit within 30 s\n${stdout}\n${stderr}`));
    }, 30_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const url = (bucket: string, endpoint: string) => `s3://${bucket}/db?endpoint=${encodeURIComponent(endpoint)}&region=us-east-1`;

describe('start-up with a store it cannot use: exit 1 and one line on stderr', () => {
  const cases: [string, () => [string, Record<string, string>], RegExp][] = [
    [
      'a bucket that does not exist',
      () => [url('no-such-bucket', s3.endpoint), CREDS],
      /^shale: cannot start with store "s3:\/\/no-such-bucket\/db": S3 bucket "no-such-bucket" does not exist at http:\/\/127\.0\.0\.1:\d+$/,
    ],
    [
      'an access key the store does not know',
      () => [url(BUCKET, s3.endpoint), { ...CREDS, AWS_ACCESS_KEY_ID: 'AKIDWRONG' }],
      /^shale: cannot start with store "s3:\/\/proc\/db": S3 access denied for bucket "proc" at http:\/\/127\.0\.0\.1:\d+ \(InvalidAccessKeyId\): check credentials$/,
    ],
    [
      'no credentials at all',
      () => [url(BUCKET, s3.endpoint), {}],
      /^shale: cannot start with store "s3:\/\/proc\/db": S3 credentials not found for bucket "proc": set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or configure an AWS profile$/,
    ],
    [
      'a wrong endpoint (nothing listening)',
      () => [url(BUCKET, 'http://127.0.0.1:1'), CREDS],
      /^shale: cannot start with store "s3:\/\/proc\/db": S3 endpoint http:\/\/127\.0\.0\.1:1 is unreachable: ECONNREFUSED: .*$/,
    ],
    [
      'an endpoint host that does not resolve',
      () => [url(BUCKET, 'http://shale-test.invalid:9000'), CREDS],
      /^shale: cannot start with store "s3:\/\/proc\/db": S3 endpoint http:\/\/shale-test\.invalid:9000 is unreachable: ENOTFOUND: .*$/,
    ],
  ];
  for (const [name, setup, expected] of cases) {
    it(name, async () => {
      const [store, env] = setup();
      const r = await runShale(store, env);
      expect(r.code).toBe(1);
      expect(r.stderr.endsWith('\n')).toBe(true);
      expect(r.stderr.trimEnd().split('\n'), r.stderr).toHaveLength(1);
      expect(r.stderr.trimEnd()).toMatch(expected);
      expect(r.stdout).toBe('');
      for (const secret of [SECRET, TOKEN]) expect(r.stdout + r.stderr).not.toContain(secret);
    });
  }
});

describe('credentials stay out of the output', () => {
  it('store errors logged by a running server (debug level) carry no secret or session token', async () => {
    const shale = await ShaleProcess.start({ args: ['--store', url(BUCKET, s3.endpoint), '--loglevel', 'debug'], env: cleanEnv(CREDS) });
    try {
      let c = new Redis({ port: shale.port, retryStrategy: () => null });
      // Enough data for many blocks, in a table (SAVE), so a read after restart is a store GET.
      const big = 'v'.repeat(1000);
      for (let i = 0; i < 300; i++) await c.set(`k${String(i).padStart(3, '0')}`, big);
      await c.save();
      c.disconnect();
      await shale.restart();
      c = new Redis({ port: shale.port, retryStrategy: () => null });
      s3.setFaults({ ops: ['GET'], errorRate: 1 });
      try {
        await expect(c.get('k250')).rejects.toThrow(/^ERR S3 GET proc\/db\/sst\/\S+ failed: InternalError \(HTTP 500\)/);
      } finally {
        s3.clearFaults();
      }
      expect(await c.get('k250')).toBe(big);
      c.disconnect();
      // The failure was logged (so the check below means something), without credentials.
      expect(shale.output).toMatch(/command failed/);
      expect(shale.output).toContain('InternalError');
      for (const secret of [SECRET, TOKEN]) expect(shale.output).not.toContain(secret);
    } finally {
      await shale.cleanup();
    }
  });
});

/** A TCP proxy in front of the S3 test server that counts the connections made to it. */
async function countingProxy(port: number): Promise<{ endpoint: string; connections: () => number; close: () => Promise<void> }> {
  let connections = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    connections++;
    const upstream = net.connect(port, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port: proxyPort } = server.address() as net.AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${proxyPort}`,
    connections: () => connections,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe('keep-alive', () => {
  it('200 sequential store requests use one TCP connection; 16 parallel ones at most 16', async () => {
    const proxy = await countingProxy(s3.port);
    const store = new S3Store({
      bucket: BUCKET,
      prefix: 'keepalive',
      endpoint: proxy.endpoint,
      forcePathStyle: true,
      region: 'us-east-1',
      accessKeyId: KEY_ID,
      secretAccessKey: SECRET,
    });
    try {
      s3.resetCounts();
      for (let i = 0; i < 100; i++) {
        await store.put(`o${i}`, new Uint8Array([i]));
        expect((await store.get(`o${i}`))?.[0]).toBe(i);
      }
      expect(s3.counts.PUT + s3.counts.GET).toBe(200);
      expect(proxy.connections()).toBe(1);
      await Promise.all(Array.from({ length: 16 }, (_, i) => store.head(`o${i}`)));
      expect(proxy.connections()).toBeLessThanOrEqual(16);
      const afterBurst = proxy.connections();
      // Pooled sockets are reused afterwards, not reopened.
      for (let i = 0; i < 50; i++) await store.head(`o${i}`);
      expect(proxy.connections()).toBe(afterBurst);
    } finally {
      await store.close();
      await proxy.close();
    }
  });

  it('a Shale server making a PUT per strict write reuses its connections', async () => {
    const proxy = await countingProxy(s3.port);
    const shale = await ShaleProcess.start({
      args: ['--store', url(BUCKET, proxy.endpoint).replace('/db?', '/keepalive-server?'), '--durability', 'strict'],
      env: cleanEnv(CREDS),
    });
    try {
      const c = new Redis({ port: shale.port, retryStrategy: () => null });
      const before = proxy.connections();
      s3.resetCounts();
      for (let i = 0; i < 60; i++) await c.set(`k${i}`, 'v');
      c.disconnect();
      // Each acknowledged strict write waited for its own WAL PUT.
      expect(s3.counts.PUT).toBeGreaterThanOrEqual(60);
      expect(proxy.connections() - before).toBeLessThanOrEqual(2);
    } finally {
      await shale.cleanup();
      await proxy.close();
    }
  });
});
