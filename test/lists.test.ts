/**
 * Lists end to end on a real Shale process with ioredis: big (split) lists, their life across
 * restarts and crashes, and the generic key commands on them (RENAME, COPY, MOVE, DUMP/RESTORE,
 * EXPIRE, DEL). Command-by-command reply fidelity is the differential test's job
 * (differential-lists.test.ts); this file checks what a random walk over small lists misses.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveRedisServer, RedisReference } from './support/redis-reference.ts';
import { ShaleProcess } from './support/shale-server.ts';

let shale: ShaleProcess;
let c: Redis;

function range(n: number, prefix = 'e'): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}${i}`);
}

async function connect(): Promise<void> {
  c?.disconnect();
  c = new Redis({ port: shale.port });
  // Small nodes, so a few dozen elements already make a split list.
  await c.config('SET', 'list-max-listpack-size', '8');
}

beforeAll(async () => {
  shale = await ShaleProcess.start();
  await connect();
});

afterAll(async () => {
  c?.disconnect();
  await shale?.cleanup();
});

describe('lists', () => {
  it('grows from inline to split and keeps every element in order', async () => {
    await c.rpush('grow', 'a', 'b');
    await c.lpush('grow', 'z');
    expect(await c.lrange('grow', 0, -1)).toEqual(['z', 'a', 'b']);
    const model = ['z', 'a', 'b'];
    for (let i = 0; i < 300; i++) {
      if (i % 3 === 0) {
        await c.lpush('grow', `h${i}`);
        model.unshift(`h${i}`);
      } else {
        await c.rpush('grow', `t${i}`);
        model.push(`t${i}`);
      }
    }
    expect(await c.llen('grow')).toBe(model.length);
    expect(await c.lrange('grow', 0, -1)).toEqual(model);
    expect(await c.lrange('grow', 100, 110)).toEqual(model.slice(100, 111));
    expect(await c.lindex('grow', 150)).toBe(model[150]);
    expect(await c.lindex('grow', -1)).toBe(model[model.length - 1]);
    expect(await c.object('ENCODING', 'grow')).toBe('quicklist');
    expect(await c.type('grow')).toBe('list');
  });

  it('runs the O(n) commands on a split list (LSET, LINSERT, LREM, LTRIM, LPOS)', async () => {
    const model = range(5000).map((s, i) => (i % 10 === 0 ? 'm' : s));
    await c.del('big');
    for (let i = 0; i < model.length; i += 1000) await c.rpush('big', ...model.slice(i, i + 1000));
    await c.lset('big', 2500, 'set');
    model[2500] = 'set';
    // Middle of the list: rewritten under a new version. Near an end: shifted in place.
    expect(await c.linsert('big', 'BEFORE', 'e2501', 'mid')).toBe(5001);
    model.splice(2501, 0, 'mid');
    expect(await c.linsert('big', 'AFTER', 'e4997', 'end')).toBe(5002);
    model.splice(model.indexOf('e4997') + 1, 0, 'end');
    expect(await c.linsert('big', 'BEFORE', 'missing', 'x')).toBe(-1);
    expect(await c.lpos('big', 'm', 'RANK', -2, 'COUNT', 3)).toEqual(
      model.map((s, i) => (s === 'm' ? i : -1)).filter((i) => i >= 0).reverse().slice(1, 4),
    );
    expect(await c.lrem('big', 7, 'm')).toBe(7);
    for (let k = 0; k < 7; k++) model.splice(model.indexOf('m'), 1);
    expect(await c.lrem('big', -2, 'm')).toBe(2);
    for (let k = 0; k < 2; k++) model.splice(model.lastIndexOf('m'), 1);
    expect(await c.lrange('big', 0, -1)).toEqual(model);
    await c.ltrim('big', 3, -4);
    model.splice(0, 3);
    model.splice(model.length - 3, 3);
    await c.ltrim('big', 2000, 2100);
    const kept = model.slice(2000, 2101);
    expect(await c.lrange('big', 0, -1)).toEqual(kept);
    expect(await c.lpop('big', 3)).toEqual(kept.slice(0, 3));
    expect(await c.rpop('big', 2)).toEqual(kept.slice(-2).reverse());
    expect(await c.llen('big')).toBe(kept.length - 5);
  });

  it('survives a restart and a crash, TTL included', async () => {
    await c.del('keep', 'small');
    await c.rpush('keep', ...range(200));
    await c.rpush('small', 'x', 'y');
    await c.expire('keep', 100_000);
    await c.lpop('keep');
    c.disconnect();
    await shale.restart();
    await connect();
    expect(await c.llen('keep')).toBe(199);
    expect(await c.lrange('keep', 0, 2)).toEqual(['e1', 'e2', 'e3']);
    expect(await c.ttl('keep')).toBeGreaterThan(99_000);
    expect(await c.lrange('small', 0, -1)).toEqual(['x', 'y']);
    // Writes WAITAOF confirmed survive SIGKILL.
    await c.rpush('keep', 'after');
    await c.linsert('keep', 'BEFORE', 'e100', 'ins');
    expect(await c.call('WAITAOF', '1', '0', '0')).toEqual([1, 0]);
    c.disconnect();
    await shale.stop('SIGKILL');
    await shale.restart();
    await connect();
    const all = await c.lrange('keep', 0, -1);
    expect(all.length).toBe(201);
    expect(all[all.length - 1]).toBe('after');
    expect(all[99]).toBe('ins');
  });

  it('deletes and overwrites a split list without its old elements showing through', async () => {
    await c.rpush('ow', ...range(100, 'old'));
    await c.del('ow');
    expect(await c.exists('ow')).toBe(0);
    await c.rpush('ow', ...range(50, 'new'));
    expect(await c.lrange('ow', 0, -1)).toEqual(range(50, 'new'));
    await c.set('ow', 'now a string');
    expect(await c.get('ow')).toBe('now a string');
    await c.rpush('ow2', ...range(60));
    await c.pexpire('ow2', 30);
    await new Promise((r) => setTimeout(r, 60));
    expect(await c.exists('ow2')).toBe(0);
    await c.rpush('ow2', 'fresh');
    expect(await c.lrange('ow2', 0, -1)).toEqual(['fresh']);
  });

  it('RENAME, COPY and MOVE carry split lists with them', async () => {
    await c.del('src', 'dst', 'cp');
    await c.rpush('src', ...range(120));
    await c.expire('src', 5000);
    await c.rename('src', 'dst');
    expect(await c.exists('src')).toBe(0);
    expect(await c.lrange('dst', 0, -1)).toEqual(range(120));
    expect(await c.ttl('dst')).toBeGreaterThan(4000);
    expect(await c.copy('dst', 'cp')).toBe(1);
    await c.rpush('cp', 'only-in-copy');
    await c.lpop('dst');
    expect(await c.llen('cp')).toBe(121);
    expect(await c.lindex('cp', 0)).toBe('e0');
    expect(await c.llen('dst')).toBe(119);
    expect(await c.move('cp', 3)).toBe(1);
    expect(await c.exists('cp')).toBe(0);
    await c.select(3);
    expect(await c.lrange('cp', -2, -1)).toEqual(['e119', 'only-in-copy']);
    await c.del('cp');
    await c.select(0);
  });

  it('DUMP/RESTORE round-trips big and small lists', async () => {
    await c.del('d1', 'd2');
    await c.rpush('d1', ...range(300), '', '12345', '\x00\xff');
    const payload = await c.dumpBuffer('d1');
    await c.restore('d2', 0, payload);
    expect(await c.lrange('d2', 0, -1)).toEqual(await c.lrange('d1', 0, -1));
    await c.rpush('d3', 'a', 'b');
    await c.restore('d3', 0, await c.dumpBuffer('d2'), 'REPLACE');
    expect(await c.llen('d3')).toBe(303);
  });

  it.skipIf(!haveRedisServer())('exchanges DUMP payloads with redis-server in both directions', async () => {
    const redis = await RedisReference.start(['--list-compress-depth', '1', '--list-max-listpack-size', '16']);
    const r = new Redis({ port: redis.port });
    try {
      // Redis's own quicklist payload: many nodes, inner ones LZF-compressed.
      const elems = range(500, 'compressible-element-');
      await r.rpush('q', ...elems, '-17', '123456789012');
      await c.restore('from-redis', 0, await r.dumpBuffer('q'), 'REPLACE');
      expect(await c.lrange('from-redis', 0, -1)).toEqual([...elems, '-17', '123456789012']);
      await r.restore('from-shale', 0, await c.dumpBuffer('from-redis'));
      expect(await r.lrange('from-shale', 0, -1)).toEqual([...elems, '-17', '123456789012']);
    } finally {
      r.disconnect();
      await redis.stop();
    }
  });
});
