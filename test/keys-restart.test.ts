/**
 * Restart tests against a real Shale process: data and TTLs survive a graceful stop, a crash
 * after SAVE, and a crash after the WAL flush interval; key counts are rebuilt after a crash.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { RawClient } from './support/redis-reference.ts';
import { ShaleProcess } from './support/shale-server.ts';

let server: ShaleProcess | undefined;
let clients: RawClient[] = [];

afterEach(async () => {
  for (const c of clients) c.close();
  clients = [];
  await server?.cleanup();
  server = undefined;
});

async function connect(): Promise<RawClient> {
  const c = await RawClient.connect(server!.port);
  clients.push(c);
  return c;
}

/** Writes a mixed data set in dbs 0 and 3; returns the absolute expiry of 'ttl:s'. */
async function populate(c: RawClient): Promise<number> {
  expect(await c.call('SET', 'plain', 'hello')).toBe('+OK');
  expect(await c.call('SET', 'bin\x00\xff', '\x00\x01\xfe\xff')).toBe('+OK');
  expect(await c.call('SET', 'ttl:s', 'v', 'EX', '100000')).toBe('+OK');
  expect(await c.call('INCRBY', 'counter', '41')).toBe(':41');
  expect(await c.call('HSET', 'small', 'a', '1', 'b', '2')).toBe(':2');
  const fields: string[] = [];
  // More fields than hash-max-listpack-entries (512): stored one record per field.
  for (let i = 0; i < 600; i++) fields.push(`field:${i}`, `value:${i}`);
  expect(await c.call('HSET', 'big', ...fields)).toBe(':600');
  expect(await c.call('HDEL', 'big', 'field:0')).toBe(':1');
  expect(await c.call('PEXPIRE', 'big', '200000000')).toBe(':1');
  expect(await c.call('SELECT', '3')).toBe('+OK');
  expect(await c.call('SET', 'in3', 'three')).toBe('+OK');
  expect(await c.call('SELECT', '0')).toBe('+OK');
  expect(await c.call('SET', 'gone', 'x')).toBe('+OK');
  expect(await c.call('DEL', 'gone')).toBe(':1');
  return Number(((await c.call('PEXPIRETIME', 'ttl:s')) as string).slice(1));
}

async function verify(c: RawClient, ttlAt: number): Promise<void> {
  expect(await c.call('GET', 'plain')).toBe('$hello');
  expect(await c.call('GET', 'bin\x00\xff')).toBe('$\x00\x01\xfe\xff');
  expect(await c.call('PEXPIRETIME', 'ttl:s')).toBe(`:${ttlAt}`);
  expect(await c.call('TTL', 'counter')).toBe(':-1');
  expect(await c.call('INCR', 'counter')).toBe(':42');
  expect(await c.call('HGETALL', 'small')).toEqual(['$a', '$1', '$b', '$2']);
  expect(await c.call('HLEN', 'big')).toBe(':599');
  expect(await c.call('HGET', 'big', 'field:599')).toBe('$value:599');
  expect(await c.call('HEXISTS', 'big', 'field:0')).toBe(':0');
  expect(await c.call('OBJECT', 'ENCODING', 'big')).toBe('$hashtable');
  const pttl = Number(((await c.call('PTTL', 'big')) as string).slice(1));
  expect(pttl).toBeGreaterThan(190_000_000);
  expect(await c.call('EXISTS', 'gone')).toBe(':0');
  expect(await c.call('DBSIZE')).toBe(':6');
  expect(await c.call('SELECT', '3')).toBe('+OK');
  expect(await c.call('GET', 'in3')).toBe('$three');
  expect(await c.call('DBSIZE')).toBe(':1');
  expect(await c.call('SELECT', '0')).toBe('+OK');
  expect(((await c.call('KEYS', '*')) as string[]).sort()).toEqual(
    ['$big', '$bin\x00\xff', '$counter', '$plain', '$small', '$ttl:s'].sort(),
  );
}

describe('restart', () => {
  it('keeps data and TTLs across a graceful stop (SIGTERM)', async () => {
    server = await ShaleProcess.start();
    const ttlAt = await populate(await connect());
    clients.forEach((c) => c.close());
    clients = [];
    expect(await server.stop('SIGTERM')).toBe(0);
    await server.restart();
    await verify(await connect(), ttlAt);
  });

  it('keeps data after SAVE and a crash (SIGKILL)', async () => {
    server = await ShaleProcess.start({ args: ['--durability', 'off'] });
    const c = await connect();
    const ttlAt = await populate(c);
    expect(await c.call('SAVE')).toBe('+OK');
    await server.stop('SIGKILL');
    clients = [];
    await server.restart();
    await verify(await connect(), ttlAt);
  });

  it('keeps acknowledged writes after a crash once the WAL interval passed, and recounts keys', async () => {
    server = await ShaleProcess.start({ args: ['--flush-interval', '20'] });
    const c = await connect();
    const ttlAt = await populate(c);
    await new Promise((r) => setTimeout(r, 300));
    await server.stop('SIGKILL');
    clients = [];
    await server.restart();
    await verify(await connect(), ttlAt);
  });

  it('FLUSHALL and SWAPDB persist', async () => {
    server = await ShaleProcess.start();
    let c = await connect();
    await populate(c);
    expect(await c.call('SWAPDB', '0', '3')).toBe('+OK');
    expect(await c.call('SELECT', '5')).toBe('+OK');
    expect(await c.call('SET', 'five', '5')).toBe('+OK');
    expect(await c.call('FLUSHDB')).toBe('+OK');
    expect(await c.call('SET', 'five2', '5')).toBe('+OK');
    c.close();
    clients = [];
    await server.restart();
    c = await connect();
    expect(await c.call('GET', 'in3')).toBe('$three');
    expect(await c.call('DBSIZE')).toBe(':1');
    expect(await c.call('SELECT', '3')).toBe('+OK');
    expect(await c.call('DBSIZE')).toBe(':6');
    expect(await c.call('SELECT', '5')).toBe('+OK');
    expect(await c.call('KEYS', '*')).toEqual(['$five2']);
    expect(await c.call('FLUSHALL')).toBe('+OK');
    c.close();
    clients = [];
    await server.restart();
    c = await connect();
    for (const db of ['0', '3', '5']) {
      expect(await c.call('SELECT', db)).toBe('+OK');
      expect(await c.call('DBSIZE')).toBe(':0');
    }
  });

  it('DEBUG RELOAD keeps everything', async () => {
    server = await ShaleProcess.start();
    const c = await connect();
    const ttlAt = await populate(c);
    expect(await c.call('DEBUG', 'RELOAD')).toBe('+OK');
    await verify(c, ttlAt);
  });
});
