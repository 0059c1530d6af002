/**
 * Store faults against a real Shale server process on the S3 test server (real HTTP, the real
 * SDK): with a tenth of store requests failing or slowed, a server under load from several
 * clients keeps serving and loses no acknowledged write; with the store down entirely, writes
 * fail with `-ERR store unavailable` after store-timeout instead of hanging, reads of in-memory
 * data keep working, and everything recovers when the store comes back.
 */
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type S3TestServer, startS3Server } from './support/s3-server.ts';
import { ShaleProcess } from './support/shale-server.ts';

const BUCKET = 'faults';
const KEY_ID = 'faults-key';
const ENV = { AWS_ACCESS_KEY_ID: KEY_ID, AWS_SECRET_ACCESS_KEY: 'faults-secret', AWS_REGION: 'us-east-1' };

let s3: S3TestServer;
const running: ShaleProcess[] = [];
const clients: Redis[] = [];
let prefixSeq = 0;

beforeAll(async () => {
  s3 = await startS3Server({ buckets: [BUCKET], accessKeys: [KEY_ID] });
});
afterEach(async () => {
  s3.clearFaults();
  disconnectAll();
  for (const p of running.splice(0)) await p.cleanup();
});
afterAll(async () => {
  await s3.close();
});

async function startServer(args: string[]): Promise<ShaleProcess> {
  const url = `s3://${BUCKET}/run${++prefixSeq}?endpoint=${encodeURIComponent(s3.endpoint)}`;
  const p = await ShaleProcess.start({ args: ['--store', url, '--flush-interval', '20', ...args], env: ENV });
  running.push(p);
  return p;
}

function client(p: ShaleProcess): Redis {
  // No client-side retries or reconnects: every error must surface to the test.
  const c = new Redis({ port: p.port, maxRetriesPerRequest: 0, retryStrategy: () => null });
  clients.push(c);
  return c;
}

/** Connected and ready before the store goes down (a strict server would make the client's
 *  own connect-time INFO wait for the store too). */
async function readyClients(p: ShaleProcess, n: number): Promise<Redis[]> {
  const cs = Array.from({ length: n }, () => client(p));
  await Promise.all(cs.map((c) => c.ping()));
  return cs;
}

function disconnectAll(): void {
  for (const c of clients.splice(0)) c.disconnect();
}

const value = (key: string) => `${key}|${'v'.repeat(key.length % 13)}`;

/** Reads keys back in MGET batches and returns the ones whose value is wrong or missing. */
async function missing(c: Redis, expected: Map<string, string>): Promise<string[]> {
  const keys = [...expected.keys()];
  const bad: string[] = [];
  for (let i = 0; i < keys.length; i += 500) {
    const batch = keys.slice(i, i + 500);
    const got = await c.mget(...batch);
    batch.forEach((k, j) => {
      if (got[j] !== expected.get(k)) bad.push(k);
    });
  }
  return bad;
}

async function timed<T>(p: Promise<T>): Promise<{ ms: number; result?: T; error?: Error }> {
  const t0 = performance.now();
  try {
    const result = await p;
    return { ms: performance.now() - t0, result };
  } catch (error) {
    return { ms: performance.now() - t0, error: error as Error };
  }
}

describe('10% of store requests failing or slowed', () => {
  it('keeps serving several clients, loses no acknowledged write (strict), and recovers', async () => {
    const shale = await startServer(['--durability', 'strict']);
    // Failures summing to 10% (two kinds of 5xx, dropped connections, applied-then-dropped
    // ambiguous puts) and another tenth of requests slowed by up to 200 ms.
    s3.setFaults({
      errorRate: 0.03,
      errorStatus: 503,
      throttleRate: 0.02,
      dropRate: 0.03,
      applyThenDropRate: 0.02,
      latencyMs: () => (Math.random() < 0.1 ? 20 + Math.floor(Math.random() * 180) : 0),
    });
    const acked = new Map<string, string>();
    const errors: string[] = [];
    // Load for at least 3 s, and on until every kind of fault has struck a few times.
    const KINDS = ['error', 'throttle', 'drop', 'applyThenDrop', 'latency'] as const;
    const start = performance.now();
    const loading = () => {
      const t = performance.now() - start;
      return t < 3000 || (t < 30_000 && KINDS.some((k) => s3.counts.injected[k] < 2));
    };
    const CLIENTS = 6;
    const counts = await Promise.all(
      Array.from({ length: CLIENTS }, async (_, n) => {
        const c = client(shale);
        let i = 0;
        while (loading()) {
          const key = `c${n}:${i++}`;
          try {
            await c.set(key, value(key));
            acked.set(key, value(key));
            // Reads keep working under faults too: the previous key, and a counter.
            if (i > 1) expect(await c.get(`c${n}:${i - 2}`)).toBe(value(`c${n}:${i - 2}`));
            await c.incr(`counter:${n}`);
          } catch (e) {
            errors.push((e as Error).message);
          }
        }
        return i;
      }),
    );
    const injected = { ...s3.counts.injected };
    s3.clearFaults();
    expect(errors).toEqual([]);
    for (const n of counts) expect(n).toBeGreaterThan(5);
    // The faults really happened, of every kind.
    for (const kind of KINDS) expect(injected[kind], `${kind} faults injected`).toBeGreaterThanOrEqual(2);

    // Recovered: fast, error-free writes again.
    const c = client(shale);
    for (let i = 0; i < 20; i++) {
      await c.set(`after:${i}`, value(`after:${i}`));
      acked.set(`after:${i}`, value(`after:${i}`));
    }

    // A crash right now loses nothing acknowledged: strict replies waited for the store.
    disconnectAll();
    await shale.stop('SIGKILL');
    await shale.restart();
    const c2 = client(shale);
    expect(await missing(c2, acked)).toEqual([]);
    // Every loop round ended with an acknowledged INCR (no command failed).
    for (let n = 0; n < CLIENTS; n++) expect(Number(await c2.get(`counter:${n}`))).toBe(counts[n]);
    console.log(`faults: ${acked.size} acknowledged writes under ${JSON.stringify(injected)}, all present after a crash`);
  });
});

describe('store down entirely', () => {
  it('strict: writes fail with store unavailable after store-timeout; reads keep working; recovery', async () => {
    const shale = await startServer(['--durability', 'strict', '--store-timeout', '1500']);
    const c = client(shale);
    for (let i = 0; i < 50; i++) await c.set(`before:${i}`, value(`before:${i}`));

    const writers = await readyClients(shale, 3);
    s3.setFaults({ errorRate: 1 });
    // Several writers at once: each gets the error after the bound, none hangs.
    const writes = await Promise.all(writers.map((w, n) => timed(w.set(`down:${n}`, 'x'))));
    for (const w of writes) {
      expect(w.error?.message).toMatch(/^ERR store unavailable: waited 1500 ms for the object store; last error: S3 PUT .*InternalError \(HTTP 500\)/);
      expect(w.ms).toBeGreaterThanOrEqual(1400);
      expect(w.ms).toBeLessThan(20_000);
    }
    // Reads of in-memory data answer at once (the in-doubt writes are not waited for again).
    for (let i = 0; i < 50; i += 7) expect(await c.get(`before:${i}`)).toBe(value(`before:${i}`));
    expect(await c.ping()).toBe('PONG');
    expect(await c.dbsize()).toBeGreaterThanOrEqual(50);
    const info = await c.info('persistence');
    expect(info).toMatch(/shale_/);

    // The store comes back: new writes succeed, and the retried in-doubt writes land too
    // (durability is in sequence order, so the later acknowledged write implies them).
    s3.clearFaults();
    await c.config('SET', 'store-timeout', '30000');
    await c.set('after', 'ok');
    disconnectAll();
    await shale.stop('SIGKILL');
    await shale.restart();
    const c2 = client(shale);
    expect(await c2.get('after')).toBe('ok');
    for (let n = 0; n < 3; n++) expect(await c2.get(`down:${n}`)).toBe('x');
    expect(await missing(c2, new Map(Array.from({ length: 50 }, (_, i) => [`before:${i}`, value(`before:${i}`)])))).toEqual([]);
  });

  it('relaxed: writes are accepted until the unflushed-WAL limit, then fail after store-timeout', async () => {
    const shale = await startServer(['--store-timeout', '1500']);
    const c = client(shale);
    await c.set('before', 'v');
    s3.setFaults({ dropRate: 1 });
    const big = 'x'.repeat(1 << 20);
    const accepted = new Map<string, string>();
    let failure: { ms: number; error?: Error } | undefined;
    // The engine stalls writers at 64 MiB of WAL not yet in the store (about 64 of these).
    for (let i = 0; i < 200 && !failure; i++) {
      const key = `big:${i}`;
      const r = await timed(c.set(key, `${key}${big}`));
      if (r.error) failure = r;
      else accepted.set(key, `${key}${big}`);
    }
    expect(failure, 'a write failed once the limit was reached').toBeDefined();
    expect(failure!.error!.message).toMatch(/^ERR store unavailable: waited 1500 ms for the object store/);
    expect(failure!.ms).toBeGreaterThanOrEqual(1400);
    expect(failure!.ms).toBeLessThan(20_000);
    expect(accepted.size).toBeGreaterThanOrEqual(16);
    expect(accepted.size).toBeLessThan(100);
    // Reads of in-memory data keep working, big values included.
    expect(await c.get('before')).toBe('v');
    expect(await c.get('big:3')).toBe(accepted.get('big:3'));

    // Back up: the backlog drains and writes are accepted again.
    s3.clearFaults();
    await c.config('SET', 'store-timeout', '60000');
    await c.set('after', 'ok');
    // A graceful restart flushes; everything accepted is there afterwards.
    disconnectAll();
    await shale.restart();
    const c2 = client(shale);
    expect(await c2.get('after')).toBe('ok');
    expect(await c2.get('before')).toBe('v');
    // Every accepted key is there (values checked on a sample: reading 64 MiB back is slow).
    const keys = [...accepted.keys()];
    expect(await c2.exists(...keys)).toBe(keys.length);
    const sample = new Map(keys.filter((_, i) => i % 10 === 0 || i === keys.length - 1).map((k) => [k, accepted.get(k)!]));
    expect(await missing(c2, sample)).toEqual([]);
  });
});
