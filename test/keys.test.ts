/**
 * Key-space behaviour over the wire that the random differential test cannot pin down: SCAN's
 * guarantee under concurrent writes, DUMP/RESTORE between Redis and Shale, eviction policies,
 * active expiry, LRU/LFU introspection.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveRedisServer, type Raw, RawClient, RedisReference } from './support/redis-reference.ts';
import { ShaleProcess } from './support/shale-server.ts';

let shale: ShaleProcess;
let c: RawClient;

beforeAll(async () => {
  shale = await ShaleProcess.start();
  c = await RawClient.connect(shale.port);
}, 60_000);

afterAll(async () => {
  c?.close();
  await shale?.cleanup();
});

async function scanAll(cl: RawClient, cmd: string[], each?: () => Promise<void>): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const r = (await cl.call(cmd[0]!, ...(cmd[0] === 'SCAN' ? [cursor] : [cmd[1]!, cursor]), ...cmd.slice(cmd[0] === 'SCAN' ? 1 : 2))) as Raw[];
    cursor = (r[0] as string).slice(1);
    out.push(...(r[1] as string[]).map((s) => s.slice(1)));
    if (each) await each();
  } while (cursor !== '0');
  return out;
}

describe('SCAN', () => {
  it('returns every key present for the whole iteration while others come and go', async () => {
    await c.call('SELECT', '7');
    for (let i = 0; i < 1000; i++) await c.call('SET', `stable:${i}`, 'v');
    let n = 0;
    const seen = await scanAll(c, ['SCAN', 'COUNT', '37'], async () => {
      // Churn: add and delete other keys between pages.
      for (let j = 0; j < 5; j++) {
        await c.call('SET', `churn:${n}`, 'x');
        await c.call('DEL', `churn:${n - 3}`);
        n++;
      }
    });
    const stable = new Set(seen.filter((k) => k.startsWith('stable:')));
    expect(stable.size).toBe(1000);
    expect(seen.filter((k) => k.startsWith('stable:')).length).toBe(1000); // no duplicates here
    await c.call('FLUSHDB');
    await c.call('SELECT', '0');
  });

  it('filters by MATCH and TYPE and rejects bad cursors and counts', async () => {
    await c.call('SELECT', '8');
    await c.call('SET', 'user:1', 'a');
    await c.call('HSET', 'user:2', 'f', 'v');
    await c.call('SET', 'other', 'b');
    expect((await scanAll(c, ['SCAN', 'MATCH', 'user:*'])).sort()).toEqual(['user:1', 'user:2']);
    expect(await scanAll(c, ['SCAN', 'TYPE', 'hash'])).toEqual(['user:2']);
    expect(await scanAll(c, ['SCAN', 'TYPE', 'HASH'])).toEqual(['user:2']);
    expect(await c.call('SCAN', 'abc')).toBe('-ERR invalid cursor');
    expect(await c.call('SCAN', '0', 'COUNT', '0')).toBe('-ERR syntax error');
    expect(await c.call('SCAN', '0', 'FOO')).toBe('-ERR syntax error');
    await c.call('FLUSHDB');
    await c.call('SELECT', '0');
  });

  it('HSCAN pages through a big hash', async () => {
    const args: string[] = [];
    for (let i = 0; i < 1000; i++) args.push(`f${i}`, `v${i}`);
    await c.call('HSET', 'bighash', ...args);
    const items = await scanAll(c, ['HSCAN', 'bighash', 'COUNT', '100']);
    expect(items.length).toBe(2000);
    expect(new Set(items.filter((_, i) => i % 2 === 0)).size).toBe(1000);
    const matched = await scanAll(c, ['HSCAN', 'bighash', 'MATCH', 'f99*']);
    expect(matched.filter((_, i) => i % 2 === 0).sort()).toEqual(['f99', 'f990', 'f991', 'f992', 'f993', 'f994', 'f995', 'f996', 'f997', 'f998', 'f999']);
    await c.call('DEL', 'bighash');
  });
});

describe('expiry', () => {
  it('the active cycle removes keys nobody reads, unless disabled', async () => {
    await c.call('SELECT', '9');
    for (let i = 0; i < 50; i++) await c.call('SET', `e${i}`, 'v', 'PX', '50');
    await c.call('SET', 'keep', 'v');
    await new Promise((r) => setTimeout(r, 400));
    expect(await c.call('DBSIZE')).toBe(':1');
    expect(await c.call('DEBUG', 'SET-ACTIVE-EXPIRE', '0')).toBe('+OK');
    await c.call('SET', 'lazy', 'v', 'PX', '20');
    await new Promise((r) => setTimeout(r, 300));
    expect(await c.call('DBSIZE')).toBe(':2');
    expect(await c.call('GET', 'lazy')).toBe(null);
    expect(await c.call('DBSIZE')).toBe(':1');
    expect(await c.call('DEBUG', 'SET-ACTIVE-EXPIRE', '1')).toBe('+OK');
    await c.call('FLUSHDB');
    await c.call('SELECT', '0');
  });
});

describe('memory policies', () => {
  it('allkeys-lru deletes old keys to stay under maxmemory', async () => {
    await c.call('SELECT', '10');
    expect(await c.call('CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lru')).toBe('+OK');
    expect(await c.call('CONFIG', 'SET', 'maxmemory', '200000')).toBe('+OK');
    try {
      for (let i = 0; i < 500; i++) expect(await c.call('SET', `big:${i}`, 'x'.repeat(1000))).toBe('+OK');
      const size = Number(((await c.call('DBSIZE')) as string).slice(1));
      expect(size).toBeLessThan(300);
      expect(size).toBeGreaterThan(50);
      expect(await c.call('GET', 'big:499')).toBe('$' + 'x'.repeat(1000));
      expect(await c.call('EXISTS', 'big:0')).toBe(':0');
      // volatile-lru with no volatile keys cannot make room.
      expect(await c.call('CONFIG', 'SET', 'maxmemory-policy', 'volatile-lru')).toBe('+OK');
      let oom: Raw = null;
      for (let i = 0; i < 500 && oom === null; i++) {
        const r = await c.call('SET', `more:${i}`, 'y'.repeat(1000));
        if (r !== '+OK') oom = r;
      }
      expect(oom).toBe("-OOM command not allowed when used memory > 'maxmemory'.");
      expect(await c.call('GET', 'big:499')).toBe('$' + 'x'.repeat(1000));
    } finally {
      await c.call('CONFIG', 'SET', 'maxmemory', '0');
      await c.call('CONFIG', 'SET', 'maxmemory-policy', 'noeviction');
      await c.call('FLUSHDB');
      await c.call('SELECT', '0');
    }
  });

  it('noeviction with maxmemory spills to the store and loses nothing', async () => {
    await c.call('SELECT', '11');
    expect(await c.call('CONFIG', 'SET', 'maxmemory', '100000')).toBe('+OK');
    try {
      for (let i = 0; i < 400; i++) expect(await c.call('SET', `s:${i}`, String(i).repeat(500))).toBe('+OK');
      expect(await c.call('DBSIZE')).toBe(':400');
      for (let i = 0; i < 400; i += 7) expect(await c.call('GET', `s:${i}`)).toBe('$' + String(i).repeat(500));
    } finally {
      await c.call('CONFIG', 'SET', 'maxmemory', '0');
      await c.call('FLUSHDB');
      await c.call('SELECT', '0');
    }
  });

  it('OBJECT FREQ follows the LFU policy, IDLETIME the LRU clock', async () => {
    await c.call('SET', 'lfu', 'v');
    expect(await c.call('OBJECT', 'FREQ', 'lfu')).toMatch(/^-ERR An LFU maxmemory policy is not selected/);
    expect(await c.call('OBJECT', 'IDLETIME', 'lfu')).toBe(':0');
    await c.call('CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lfu');
    try {
      for (let i = 0; i < 100; i++) await c.call('GET', 'lfu');
      const f = Number(((await c.call('OBJECT', 'FREQ', 'lfu')) as string).slice(1));
      expect(f).toBeGreaterThan(5);
      expect(await c.call('OBJECT', 'IDLETIME', 'lfu')).toMatch(/^-ERR An LFU maxmemory policy is selected/);
      expect(await c.call('RESTORE', 'lfu2', '0', Buffer.from((await c.call('DUMP', 'lfu')) as string, 'latin1').subarray(1), 'FREQ', '100')).toBe('+OK');
      expect(await c.call('OBJECT', 'FREQ', 'lfu2')).toBe(':100');
    } finally {
      await c.call('CONFIG', 'SET', 'maxmemory-policy', 'noeviction');
      await c.call('DEL', 'lfu', 'lfu2');
    }
  });
});

describe.skipIf(!haveRedisServer())('DUMP/RESTORE between Redis and Shale', () => {
  let redis: RedisReference;
  let r: RawClient;

  beforeAll(async () => {
    redis = await RedisReference.start();
    r = await RawClient.connect(redis.port);
  });

  afterAll(async () => {
    r?.close();
    await redis?.stop();
  });

  const payload = (raw: Raw) => Buffer.from((raw as string).slice(1), 'latin1');

  it('moves values both ways', async () => {
    const fields: string[] = [];
    for (let i = 0; i < 600; i++) fields.push(`field${i}`, `v${i}`);
    const setups: string[][] = [
      ['SET', 'x', 'hello'],
      ['SET', 'x', '12345'],
      ['SET', 'x', '-7'],
      ['SET', 'x', '4294967296'],
      ['SET', 'x', 'a'.repeat(200)],
      ['SET', 'x', 'abcabcabcabcabcabcabcabcabcabc\x00\xff'],
      ['HSET', 'x', 'a', '1', 'b', 'hello', 'c', '-300', 'd', '70000', 'e', '9223372036854775807'],
      ['HSET', 'x', ...fields],
    ];
    for (const setup of setups) {
      for (const [from, to] of [
        [r, c],
        [c, r],
      ] as const) {
        await from.call('DEL', 'x');
        await from.call(...setup);
        const p = payload(await from.call('DUMP', 'x'));
        await to.call('DEL', 'y');
        expect(await to.call('RESTORE', 'y', '0', p), JSON.stringify(setup).slice(0, 80)).toBe('+OK');
        const type = await to.call('TYPE', 'y');
        if (type === '+string') expect(await to.call('GET', 'y')).toBe(await from.call('GET', 'x'));
        else {
          expect(type).toBe('+hash');
          const a = (await to.call('HGETALL', 'y')) as string[];
          const b = (await from.call('HGETALL', 'x')) as string[];
          const pairs = (xs: string[]) => xs.reduce<string[]>((acc, v, i) => (i % 2 ? acc : [...acc, `${v}=${xs[i + 1]}`]), []).sort();
          expect(pairs(a)).toEqual(pairs(b));
        }
      }
    }
  });

  it('rejects bad payloads and honours RESTORE options like Redis', async () => {
    await c.call('SET', 'src', 'v');
    const p = payload(await c.call('DUMP', 'src'));
    const bad = Buffer.from(p);
    bad[1] ^= 0xff;
    for (const cl of [r, c]) {
      await cl.call('DEL', 'dst');
      expect(await cl.call('RESTORE', 'dst', '0', bad)).toBe('-ERR DUMP payload version or checksum are wrong');
      expect(await cl.call('RESTORE', 'dst', '0', 'short')).toBe('-ERR DUMP payload version or checksum are wrong');
      expect(await cl.call('RESTORE', 'dst', '-1', p)).toBe('-ERR Invalid TTL value, must be >= 0');
      expect(await cl.call('RESTORE', 'dst', '0', p, 'IDLETIME', '-1')).toBe('-ERR Invalid IDLETIME value, must be >= 0');
      expect(await cl.call('RESTORE', 'dst', '0', p, 'FREQ', '256')).toBe('-ERR Invalid FREQ value, must be >= 0 and <= 255');
      expect(await cl.call('RESTORE', 'dst', '0', p, 'IDLETIME', '5', 'FREQ', '5')).toBe('-ERR syntax error');
      expect(await cl.call('RESTORE', 'dst', '100000', p)).toBe('+OK');
      expect(await cl.call('RESTORE', 'dst', '0', p)).toBe('-BUSYKEY Target key name already exists.');
      expect(await cl.call('RESTORE', 'dst', '0', p, 'REPLACE', 'IDLETIME', '1000')).toBe('+OK');
      expect(await cl.call('TTL', 'dst')).toBe(':-1');
      expect(await cl.call('OBJECT', 'IDLETIME', 'dst')).toBe(':1000');
      expect(await cl.call('RESTORE', 'dst', '1', p, 'REPLACE', 'ABSTTL')).toBe('+OK');
      expect(await cl.call('EXISTS', 'dst')).toBe(':0');
    }
  });
});
