/**
 * Blocking list commands end to end: several real ioredis clients against a real Shale
 * process. Whether a client is blocked is read from INFO blocked_clients; serving happens right
 * after the command that made a key ready, so a producer's next reply already sees the result.
 */
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ShaleProcess } from './support/shale-server.ts';

let shale: ShaleProcess;
let producer: Redis;
const clients: Redis[] = [];

function client(): Redis {
  const c = new Redis({ port: shale.port, maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: false });
  clients.push(c);
  return c;
}

async function blockedClients(r: Redis = producer): Promise<number> {
  const info = await r.info('clients');
  return Number(/blocked_clients:(\d+)/.exec(info)![1]);
}

/** Waits (bounded) until INFO reports n blocked clients. */
async function waitBlocked(n: number, r: Redis = producer): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if ((await blockedClients(r)) === n) return;
    await new Promise((res) => setTimeout(res, 5));
  }
  throw new Error(`blocked_clients never reached ${n} (is ${await blockedClients(r)})`);
}

beforeAll(async () => {
  shale = await ShaleProcess.start();
  producer = new Redis({ port: shale.port });
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.disconnect();
  await waitBlocked(0);
});

afterAll(async () => {
  producer?.disconnect();
  await shale?.cleanup();
});

describe('blocking list commands', () => {
  it('serves waiters in the order they blocked, one element each', async () => {
    const [c1, c2, c3] = [client(), client(), client()];
    const r1 = c1.blpop('fifo', 0);
    await waitBlocked(1);
    const r2 = c2.blpop('fifo', 0);
    await waitBlocked(2);
    const r3 = c3.brpop('fifo', 0);
    await waitBlocked(3);
    expect(await producer.rpush('fifo', 'a', 'b', 'c')).toBe(3);
    expect(await Promise.all([r1, r2, r3])).toEqual([
      ['fifo', 'a'],
      ['fifo', 'b'],
      ['fifo', 'c'],
    ]);
    expect(await producer.exists('fifo')).toBe(0);
  });

  it('gives a pushed element to exactly one waiter', async () => {
    const waiters = [client(), client(), client(), client()];
    const got: (string[] | null)[] = [];
    const pending = waiters.map(async (c, i) => {
      await waitBlocked(i);
      const p = c.blpop('one', 0);
      got.push(await p);
    });
    await waitBlocked(4);
    await producer.lpush('one', 'v1');
    // Serving runs right after LPUSH, so this reply already reflects it.
    expect(await blockedClients()).toBe(3);
    expect(await producer.llen('one')).toBe(0);
    await producer.rpush('one', 'v2', 'v3', 'v4');
    await Promise.all(pending);
    expect(got.map((r) => r![1]).sort()).toEqual(['v1', 'v2', 'v3', 'v4']);
    expect(await producer.exists('one')).toBe(0);
  });

  it('times out after a fractional timeout with a null reply', async () => {
    const c = client();
    let t = Date.now();
    expect(await c.blpop('nothing', 0.15)).toBeNull();
    expect(Date.now() - t).toBeGreaterThanOrEqual(145);
    t = Date.now();
    expect(await c.brpoplpush('nothing', 'dst', 0.05)).toBeNull();
    expect(Date.now() - t).toBeGreaterThanOrEqual(45);
    expect(await c.call('BLMPOP', '0.02', '2', 'nothing', 'nothing2', 'LEFT')).toBeNull();
    expect(await c.call('BLMOVE', 'nothing', 'dst', 'LEFT', 'RIGHT', '0.02')).toBeNull();
    expect(await blockedClients()).toBe(0);
    expect(await producer.exists('dst')).toBe(0);
  });

  it('rejects bad timeouts with Redis errors', async () => {
    await expect(producer.blpop('k', -1)).rejects.toThrow('ERR timeout is negative');
    await expect(producer.call('BLPOP', 'k', 'abc')).rejects.toThrow('ERR timeout is not a float or out of range');
    await expect(producer.call('BRPOPLPUSH', 'k', 'd', 'inf')).rejects.toThrow('ERR timeout is negative');
    await expect(producer.call('BLMOVE', 'k', 'd', 'LEFT', 'LEFT', 'nan')).rejects.toThrow('ERR timeout is not a float or out of range');
    await expect(producer.call('BLMPOP', '-0.5', '1', 'k', 'LEFT')).rejects.toThrow('ERR timeout is negative');
  });

  it('drops a waiter that disconnects, leaving later pushes in the list', async () => {
    const c = client();
    c.blpop('gone', 0).catch(() => {});
    await waitBlocked(1);
    c.disconnect();
    await waitBlocked(0);
    await producer.rpush('gone', 'kept');
    expect(await producer.lrange('gone', 0, -1)).toEqual(['kept']);
    await producer.del('gone');
  });

  it('passes an element along a BLMOVE chain to the last waiter', async () => {
    const [c1, c2, c3] = [client(), client(), client()];
    const r1 = c1.blmove('chain-a', 'chain-b', 'LEFT', 'RIGHT', 0);
    await waitBlocked(1);
    const r2 = c2.brpoplpush('chain-b', 'chain-c', 0);
    await waitBlocked(2);
    const r3 = c3.blpop('chain-c', 0);
    await waitBlocked(3);
    await producer.rpush('chain-a', 'x');
    expect(await Promise.all([r1, r2, r3])).toEqual(['x', 'x', ['chain-c', 'x']]);
    expect(await producer.exists('chain-a', 'chain-b', 'chain-c')).toBe(0);
  });

  it('does not block inside MULTI: each command answers nil at once', async () => {
    const res = await producer
      .multi()
      .blpop('m-empty', 0)
      .brpop('m-empty', 0)
      .blmove('m-empty', 'm-dst', 'LEFT', 'LEFT', 0)
      .brpoplpush('m-empty', 'm-dst', 0)
      .call('BLMPOP', '0', '1', 'm-empty', 'LEFT')
      .exec();
    expect(res).toEqual([
      [null, null],
      [null, null],
      [null, null],
      [null, null],
      [null, null],
    ]);
  });

  it('serves blocked clients only after a transaction ends', async () => {
    const c = client();
    const waiting = c.blpop('tx', 0);
    await waitBlocked(1);
    // Inside the transaction the element is pushed and popped again: nothing for the waiter.
    expect(await producer.multi().lpush('tx', 'v').lpop('tx').exec()).toEqual([
      [null, 1],
      [null, 'v'],
    ]);
    expect(await blockedClients()).toBe(1);
    await producer.multi().lpush('tx', 'w').llen('tx').exec();
    expect(await waiting).toEqual(['tx', 'w']);
  });

  it('serves a waiter before the next pipelined command of the pusher', async () => {
    const c = client();
    const waiting = c.blpop('pipe', 0);
    await waitBlocked(1);
    const res = await producer.pipeline().lpush('pipe', 'v').lpop('pipe').exec();
    expect(res).toEqual([
      [null, 1],
      [null, null],
    ]);
    expect(await waiting).toEqual(['pipe', 'v']);
  });

  it('CLIENT UNBLOCK ends a wait as a timeout or as an error', async () => {
    const c = client();
    const id = (await c.client('ID')) as number;
    expect(await producer.call('CLIENT', 'UNBLOCK', String(id))).toBe(0);
    let waiting: Promise<unknown> = c.blpop('ub', 0);
    await waitBlocked(1);
    const line = ((await producer.client('LIST')) as string).split('\n').find((l) => l.startsWith(`id=${id} `))!;
    expect(line).toContain(' flags=b ');
    expect(line).toContain(' cmd=blpop ');
    expect(await producer.call('CLIENT', 'UNBLOCK', String(id), 'TIMEOUT')).toBe(1);
    expect(await waiting).toBeNull();
    waiting = c.blpop('ub', 0);
    await waitBlocked(1);
    expect(await producer.call('CLIENT', 'UNBLOCK', String(id), 'error')).toBe(1);
    await expect(waiting).rejects.toThrow('UNBLOCKED client unblocked via CLIENT UNBLOCK');
    await expect(producer.call('CLIENT', 'UNBLOCK', String(id), 'later')).rejects.toThrow(
      'ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR',
    );
  });

  it('keeps waiting when the key gets another type, and serves from the next list key', async () => {
    const c = client();
    const waiting = c.blpop('wt1', 'wt2', 0);
    await waitBlocked(1);
    await producer.set('wt1', 'a string');
    expect(await blockedClients()).toBe(1);
    await producer.rpush('wt2', 'v');
    expect(await waiting).toEqual(['wt2', 'v']);
    await producer.del('wt1');
  });

  it('answers a served BLMOVE with WRONGTYPE when the destination is not a list', async () => {
    const c = client();
    const waiting = c.blmove('bm-src', 'bm-dst', 'LEFT', 'LEFT', 0);
    await waitBlocked(1);
    await producer.set('bm-dst', 'x');
    await producer.rpush('bm-src', 'v');
    await expect(waiting).rejects.toThrow('WRONGTYPE');
    expect(await producer.lrange('bm-src', 0, -1)).toEqual(['v']);
    await producer.del('bm-src', 'bm-dst');
  });

  it('serves from the key that became ready first, not the first key named', async () => {
    const c = client();
    const waiting = c.blpop('ord1', 'ord2', 0);
    await waitBlocked(1);
    await producer.multi().rpush('ord2', 'x').rpush('ord1', 'y').exec();
    expect(await waiting).toEqual(['ord2', 'x']);
    expect(await producer.lrange('ord1', 0, -1)).toEqual(['y']);
    await producer.del('ord1');
  });

  it('BLMPOP waits on several keys and pops up to COUNT from the first one served', async () => {
    const c = client();
    const waiting = c.call('BLMPOP', '0', '2', 'mp1', 'mp2', 'RIGHT', 'COUNT', '2');
    await waitBlocked(1);
    await producer.rpush('mp2', 'a', 'b', 'c');
    expect(await waiting).toEqual(['mp2', ['c', 'b']]);
    expect(await producer.lrange('mp2', 0, -1)).toEqual(['a']);
    await producer.del('mp2');
  });

  it('wakes waiters when a list arrives by RENAME or SWAPDB', async () => {
    const c = client();
    let waiting = c.blpop('rn', 0);
    await waitBlocked(1);
    await producer.rpush('rn-tmp', 'v');
    await producer.rename('rn-tmp', 'rn');
    expect(await waiting).toEqual(['rn', 'v']);
    waiting = c.blpop('sw', 0);
    await waitBlocked(1);
    await producer.select(1);
    await producer.rpush('sw', 'from-db1');
    await producer.swapdb(0, 1);
    await producer.select(0);
    expect(await waiting).toEqual(['sw', 'from-db1']);
  });

  it('serves from a big (split) list read from the engine', async () => {
    await producer.config('SET', 'list-max-listpack-size', '4');
    try {
      const c = client();
      const waiting = c.brpop('bigq', 0);
      await waitBlocked(1);
      const elems = Array.from({ length: 50 }, (_, i) => `e${i}`);
      await producer.rpush('bigq', ...elems);
      expect(await waiting).toEqual(['bigq', 'e49']);
      expect(await producer.llen('bigq')).toBe(49);
      await producer.del('bigq');
    } finally {
      await producer.config('SET', 'list-max-listpack-size', '-2');
    }
  });
});

describe('blocking with durability strict', () => {
  let strict: ShaleProcess;
  beforeAll(async () => {
    strict = await ShaleProcess.start({ args: ['--durability', 'strict'] });
  });
  afterAll(async () => {
    await strict?.cleanup();
  });

  it('serves a waiter once the push is durable', async () => {
    const a = new Redis({ port: strict.port });
    const b = new Redis({ port: strict.port });
    try {
      const waiting = a.blpop('dq', 5);
      await waitBlocked(1, b);
      await b.rpush('dq', 'v');
      expect(await waiting).toEqual(['dq', 'v']);
      expect(await b.exists('dq')).toBe(0);
    } finally {
      a.disconnect();
      b.disconnect();
    }
  });
});
