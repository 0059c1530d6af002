/**
 * The durability options and what they control, against real Shale processes: strict replies
 * wait for the store; `durability`, `flush-interval` and Redis's `appendonly`/`appendfsync`
 * change at run time; WAITAOF (Redis 7.2 semantics) and WAIT; INFO persistence and the
 * Prometheus /metrics endpoint with the store cost estimate. The SIGKILL evidence is in
 * durability-crash.test.ts.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { Config, loadConfig } from '../src/server/config.ts';
import { startShale, type Proc } from './support/core-harness.ts';
import { freePort, haveRedisServer, RawClient, RedisReference } from './support/redis-reference.ts';
import { ShaleProcess } from './support/shale-server.ts';

const AOF_DISABLED = 'ERR WAITAOF cannot be used when numlocal is set but appendonly is disabled.';

function persistence(text: string): Record<string, string> {
  return Object.fromEntries(text.split('\r\n').filter((l) => l.includes(':')).map((l) => l.split(':', 2) as [string, string]));
}

const info = async (c: Redis) => persistence(await c.info('persistence'));

/** Settles within ms? (A pending reply is part of the behaviour under test.) */
async function settlesWithin<T>(p: Promise<T>, ms: number): Promise<boolean> {
  let done = false;
  void p.then(() => (done = true), () => (done = true));
  await new Promise((r) => setTimeout(r, ms));
  return done;
}

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const f of cleanups.reverse()) await f();
});

async function shale(args: string[]): Promise<Proc> {
  const s = await startShale(args);
  cleanups.push(() => s.stop());
  return s;
}

function connect(port: number): Redis {
  // No ready check: its INFO is a reply like any other, held back while a strict write is pending.
  const c = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 0, enableReadyCheck: false });
  cleanups.push(async () => c.disconnect());
  return c;
}

describe('durability options (configuration)', () => {
  it('appendonly and appendfsync are aliases of durability in flags, environment and file', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'shale-dur-conf-'));
    const file = path.join(dir, 'shale.conf');
    writeFileSync(file, 'appendfsync always\n');
    const fromFile = loadConfig({ argv: [file], env: {} }) as Config;
    expect(fromFile.str('durability')).toBe('strict');
    const off = loadConfig({ argv: [], env: { SHALE_APPENDONLY: 'no' } }) as Config;
    expect([off.str('durability'), off.str('appendonly'), off.str('appendfsync')]).toEqual(['off', 'no', 'no']);
    // appendonly yes brings back the fsync policy in force before it was switched off.
    const back = loadConfig({ argv: [file, '--appendonly', 'no', '--appendonly', 'yes'], env: {} }) as Config;
    expect(back.str('durability')).toBe('strict');
    const flags = loadConfig({ argv: ['--durability', 'off', '--appendfsync', 'everysec', '--flush-interval', '7'], env: {} }) as Config;
    expect([flags.str('durability'), flags.num('flush-interval')]).toEqual(['relaxed', 7]);
  });

  it('CONFIG SET of an alias changes durability, notifies once, and CONFIG REWRITE keeps one line', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'shale-dur-conf-'));
    const file = path.join(dir, 'shale.conf');
    writeFileSync(file, '# mine\nappendonly yes\nport 7000\n');
    const c = loadConfig({ argv: [file], env: {} }) as Config;
    const seen: string[] = [];
    c.onChange('durability', (v) => seen.push(v));
    expect(c.set([['appendfsync', 'always']])).toBeUndefined();
    expect(c.set([['appendonly', 'no']])).toBeUndefined();
    expect(c.set([['appendonly', 'no']])).toBeUndefined(); // no change, no notification
    expect(c.set([['appendonly', 'yes']])).toBeUndefined();
    expect(seen).toEqual(['strict', 'off', 'strict']);
    expect(c.get(['append*'])).toEqual([['appendfsync', 'always'], ['appendonly', 'yes']]);
    // Redis's texts, with Redis's order of the appendfsync values.
    expect(c.set([['appendfsync', 'sometimes']])).toBe(
      "CONFIG SET failed (possibly related to argument 'appendfsync') - argument(s) must be one of the following: everysec, always, no",
    );
    expect(c.set([['appendonly', 'maybe']])).toBe("CONFIG SET failed (possibly related to argument 'appendonly') - argument must be 'yes' or 'no'");
    expect(c.set([['flush-interval', '0']])).toBe(
      "CONFIG SET failed (possibly related to argument 'flush-interval') - argument must be between 1 and 60000 inclusive",
    );
    expect(c.set([['store-price-put', '-1']])).toBe(
      "CONFIG SET failed (possibly related to argument 'store-price-put') - argument must be a non-negative decimal number",
    );
    expect(c.set([['store-price-put', '0.0125']])).toBeUndefined();
    c.rewrite();
    expect(readFileSync(file, 'latin1')).toBe('# mine\ndurability strict\nport 7000\n# Generated by CONFIG REWRITE\nstore-price-put 0.0125\n');
  });
});

describe('durability at run time', () => {
  it('flush-interval changes take effect on pending writes; strict gating switches on and off', async () => {
    const s = await shale(['--flush-interval', '60000']);
    const [a, b, c] = [connect(s.port), connect(s.port), connect(s.port)];
    // Handshakes first: later, in strict mode, even a new client's hello waits for the store.
    await Promise.all([a.ping(), b.ping(), c.ping()]);
    // The first write after a quiet interval is flushed at once...
    await a.set('k0', 'v');
    expect(await a.call('WAITAOF', '1', '0', '0')).toEqual([1, 0]);
    // ...the next waits for the interval: relaxed replies at once, the store lags behind.
    await a.set('k1', 'v');
    const lagging = await info(a);
    expect(Number(lagging.shale_durable_lag)).toBe(1);
    expect(Number(lagging.shale_durable_lag_bytes)).toBeGreaterThan(0);
    const t0 = Date.now();
    expect(await a.call('WAITAOF', '1', '0', '150')).toEqual([0, 0]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    // A shorter interval re-arms the pending flush.
    const flushed = a.call('WAITAOF', '1', '0', '0');
    expect(await settlesWithin(flushed, 200)).toBe(false);
    expect(await b.config('SET', 'flush-interval', '20')).toBe('OK');
    expect(await flushed).toEqual([1, 0]);

    // strict from now on: a write's reply waits for its WAL object...
    await b.config('SET', 'appendfsync', 'always');
    expect(await b.config('GET', 'durability')).toEqual(['durability', 'strict']);
    expect(persistence(await b.info('persistence')).aof_enabled).toBe('1');
    await a.set('warm', 'v');
    await b.config('SET', 'flush-interval', '60000');
    const write = a.set('k2', 'v');
    expect(await settlesWithin(write, 300)).toBe(false);
    // ...and so does any reply that could show it, here another client's INFO keyspace.
    const seen = b.info('keyspace');
    expect(await settlesWithin(seen, 100)).toBe(false);
    expect(await c.config('SET', 'flush-interval', '10')).toBe('OK');
    expect(await write).toBe('OK');
    expect(await seen).toMatch(/^db0:keys=4,/m);
    expect(Number((await info(a)).shale_durable_lag)).toBe(0);

    // relaxed again: replies at once even with a long interval.
    await b.config('SET', 'durability', 'relaxed', 'flush-interval', '60000');
    await a.set('k3', 'v');
    const w = a.set('k4', 'v');
    // Not a timing test: strict would hold this reply for the whole 60 s interval.
    expect(await settlesWithin(w, 3000)).toBe(true);
    expect(Number((await info(a)).shale_durable_lag)).toBeGreaterThan(0);
  });

  it('appendonly no releases a blocked WAITAOF with the error; writes made while off are logged when turned back on', async () => {
    const s = await ShaleProcess.start({ args: ['--flush-interval', '60000'] });
    cleanups.push(() => s.cleanup());
    const a = connect(s.port);
    const b = connect(s.port);
    await a.set('first', 'v'); // flushed at once
    await a.set('pending', 'v');
    const blocked = a.call('WAITAOF', '1', '0', '0');
    expect(await settlesWithin(blocked, 200)).toBe(false);
    expect(await b.config('SET', 'appendonly', 'no')).toBe('OK');
    await expect(blocked).rejects.toThrow(AOF_DISABLED);
    expect(await b.config('GET', 'append*')).toEqual(['appendfsync', 'no', 'appendonly', 'no']);
    expect(persistence(await b.info('persistence')).aof_enabled).toBe('0');
    await expect(a.call('WAITAOF', '1', '0', '0')).rejects.toThrow(AOF_DISABLED);
    expect(await a.call('WAITAOF', '0', '0', '0')).toEqual([0, 0]);
    await a.set('while-off', 'v');
    // Turning the log back on writes what memory holds into it: after that, nothing is lost.
    await b.config('SET', 'appendonly', 'yes', 'flush-interval', '10');
    expect(await b.config('GET', 'durability')).toEqual(['durability', 'relaxed']);
    expect(await a.call('WAITAOF', '1', '0', '5000')).toEqual([1, 0]);
    a.disconnect();
    b.disconnect();
    await s.stop('SIGKILL');
    await s.restart();
    const c = connect(s.port);
    expect(await c.mget('first', 'pending', 'while-off')).toEqual(['v', 'v', 'v']);
  });
});

describe('WAITAOF and WAIT', () => {
  it('WAITAOF follows Redis 7.2: argument errors, per-client offsets, MULTI, replicas time out', async () => {
    const s = await shale(['--flush-interval', '60000']);
    const c = await RawClient.connect(s.port);
    cleanups.push(async () => c.close());
    expect(await c.call('WAITAOF', 'x', '0', '0')).toBe('-ERR value is not an integer or out of range');
    expect(await c.call('WAITAOF', '2', '0', '0')).toBe('-ERR value is out of range, value must between 0 and 1');
    expect(await c.call('WAITAOF', '-1', '0', '0')).toBe('-ERR value is out of range, value must between 0 and 1');
    expect(await c.call('WAITAOF', '0', '-1', '0')).toBe('-ERR value is out of range, must be positive');
    expect(await c.call('WAITAOF', '0', '0', '1.5')).toBe('-ERR timeout is not an integer or out of range');
    expect(await c.call('WAITAOF', '0', '0', '-1')).toBe('-ERR timeout is negative');
    expect(await c.call('WAITAOF', '0', '0', '9223372036854775807')).toBe('-ERR timeout is out of range');
    expect(await c.call('WAITAOF', '0', '0')).toBe("-ERR wrong number of arguments for 'waitaof' command");
    // A client that wrote nothing has nothing to wait for, even while others' writes lag.
    const other = connect(s.port);
    await other.set('a', '1');
    await other.set('b', '1');
    expect(await c.call('WAITAOF', '1', '0', '0')).toEqual([':1', ':0']);
    // Inside MULTI a client may not block: the counts as they are.
    expect(await c.call('SET', 'mine', 'v')).toBe('+OK'); // waits for the 60 s interval
    expect(await c.call('MULTI')).toBe('+OK');
    expect(await c.call('SET', 'mine', 'w')).toBe('+QUEUED');
    expect(await c.call('WAITAOF', '1', '0', '0')).toBe('+QUEUED');
    expect(await c.call('EXEC')).toEqual(['+OK', [':0', ':0']]);
    // No replicas ever acknowledge: numreplicas > 0 waits out the timeout.
    await c.call('CONFIG', 'SET', 'flush-interval', '10');
    const t0 = Date.now();
    expect(await c.call('WAITAOF', '1', '1', '120')).toEqual([':1', ':0']);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(110);
  });

  it.skipIf(!haveRedisServer())('WAIT answers 0 at once, with the same argument errors as redis-server', async () => {
    const s = await shale([]);
    const redis = await RedisReference.start();
    cleanups.push(() => redis.stop());
    const ours = await RawClient.connect(s.port);
    const theirs = await RawClient.connect(redis.port);
    cleanups.push(async () => (ours.close(), theirs.close()));
    for (const args of [['x', '0'], ['0', 'x'], ['0', '-1'], ['0', '9223372036854775808'], ['0', '9223372036854775807'], ['0', '0'], ['-1', '0']]) {
      expect(await ours.call('WAIT', ...args), `WAIT ${args.join(' ')}`).toEqual(await theirs.call('WAIT', ...args));
    }
    // Redis without replicas blocks WAIT 1 <timeout> for the timeout; Shale's store is its
    // replication, so there is nothing to wait for.
    const t0 = Date.now();
    expect(await ours.call('WAIT', '1', '0')).toBe(':0');
    expect(Date.now() - t0).toBeLessThan(5000);
  });
});

describe('INFO persistence and /metrics', () => {
  it('report the flush interval, lag, store requests and the cost at configurable prices', async () => {
    const port = await freePort();
    const s = await shale(['--metrics-port', String(port), '--flush-interval', '30']);
    const c = connect(s.port);
    for (let i = 0; i < 20; i++) await c.set(`k${i}`, 'v');
    expect(await c.call('WAITAOF', '1', '0', '0')).toEqual([1, 0]);
    const i1 = await info(c);
    expect(i1.aof_enabled).toBe('1');
    expect(i1.shale_durability).toBe('relaxed');
    expect(i1.shale_flush_interval_ms).toBe('30');
    expect([i1.shale_durable_lag, i1.shale_durable_lag_ms, i1.shale_durable_lag_bytes]).toEqual(['0', '0', '0']);
    expect(Number(i1.shale_store_puts)).toBeGreaterThanOrEqual(Number(i1.shale_wal_flushes));
    expect(Number(i1.shale_wal_flushes)).toBeGreaterThanOrEqual(1);
    const cost = (k: string, text: Record<string, string>) => Number(text[`shale_est_monthly_${k}cost_usd`]);
    expect(cost('', i1)).toBeCloseTo(cost('put_', i1) + cost('get_', i1) + cost('list_', i1) + cost('delete_', i1), 1);

    const scrape = async () => {
      const res = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      const text = await res.text();
      const value = (series: string) => {
        const line = text.split('\n').find((l) => l.startsWith(`${series} `));
        expect(line, `${series} in /metrics`).toBeDefined();
        return Number(line!.slice(series.length + 1));
      };
      return { text, value };
    };
    const m1 = await scrape();
    expect(m1.text).toContain('# TYPE shale_store_requests_total counter');
    expect(m1.value('shale_flush_interval_seconds')).toBe(0.03);
    expect(m1.value('shale_durability{mode="relaxed"}')).toBe(1);
    expect(m1.value('shale_store_requests_total{op="put"}')).toBeGreaterThanOrEqual(Number(i1.shale_store_puts));
    expect(m1.value('shale_wal_flushes_total')).toBeGreaterThanOrEqual(1);
    expect(m1.value('shale_store_bytes_total{direction="written"}')).toBeGreaterThan(0);
    expect(m1.value('shale_durable_lag_bytes')).toBe(0);
    expect(m1.text).toMatch(/^process_cpu_user_seconds_total /m);
    // The cost follows the configured prices. Within one scrape PUT and LIST costs share the
    // uptime, so their ratio is requests times prices: S3's 0.005 for both by default.
    const ratio = (m: typeof m1) =>
      m.value('shale_store_cost_usd_per_month{op="put"}') / m.value('shale_store_cost_usd_per_month{op="list"}');
    const requests = (m: typeof m1) => m.value('shale_store_requests_total{op="put"}') / m.value('shale_store_requests_total{op="list"}');
    expect(ratio(m1)).toBeCloseTo(requests(m1), 6);
    await c.config('SET', 'store-price-put', '0.05', 'flush-interval', '250');
    const m2 = await scrape();
    expect(ratio(m2)).toBeCloseTo(10 * requests(m2), 6);
    expect(m2.value('shale_flush_interval_seconds')).toBe(0.25);
    await c.config('SET', 'store-price-list', '0');
    expect((await scrape()).value('shale_store_cost_usd_per_month{op="list"}')).toBe(0);
    expect((await fetch(`http://127.0.0.1:${port}/other`)).status).toBe(404);
  });
});
