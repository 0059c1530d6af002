/**
 * MULTI / EXEC / DISCARD / WATCH across several connections, scripted step by step and
 * compared byte for byte with redis-server 7.0 where one is installed (otherwise with the
 * expected replies written here).
 */
import net from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cmd, haveRedis, startRedis, startShale, type Proc } from './support/core-harness.ts';

let shale: Proc;
let ref: Proc | undefined;

beforeAll(async () => {
  [shale, ref] = await Promise.all([startShale(), haveRedis ? startRedis() : Promise.resolve(undefined)]);
});
afterAll(async () => {
  await Promise.all([shale?.stop(), ref?.stop()]);
});

type Step = [conn: number, req: string] | ['sleep', number];

/** Number of complete top-level RESP values in s (requests and replies alike). */
function countValues(s: string): number {
  let pos = 0;
  const value = (): boolean => {
    const nl = s.indexOf('\r\n', pos);
    if (nl < 0) return false;
    const t = s[pos]!;
    const n = Number(s.slice(pos + 1, nl));
    pos = nl + 2;
    if (t === '$') {
      if (n < 0) return true;
      if (s.length < pos + n + 2) return false;
      pos += n + 2;
      return true;
    }
    if (t === '*' || t === '>' || t === '~' || t === '%') {
      for (let i = 0; i < (t === '%' ? 2 * n : n); i++) if (!value()) return false;
      return true;
    }
    return true;
  };
  let count = 0;
  while (pos < s.length && value()) count++;
  return count;
}

/**
 * Runs the steps in order on `n` connections, each step waiting for all its replies before the
 * next one starts; returns what each connection received.
 */
async function script(port: number, steps: Step[], n = 2): Promise<string[]> {
  const socks: net.Socket[] = [];
  const out: string[] = [];
  const want: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = net.connect(port, '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    out.push('');
    want.push(0);
    s.on('data', (d) => (out[i] += d.toString('latin1')));
    socks.push(s);
  }
  for (const [a, b] of steps) {
    if (a === 'sleep') {
      await new Promise((r) => setTimeout(r, b as number));
      continue;
    }
    socks[a]!.write(b as string);
    want[a] += countValues(b as string);
    const deadline = Date.now() + 10_000;
    while (countValues(out[a]!) < want[a]! && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  }
  for (const s of socks) s.destroy();
  return out;
}

const flush = cmd('FLUSHALL');

/** name, steps, expected replies per connection (checked against Redis too when available). */
const CASES: [string, Step[], string[]][] = [
  ['exec runs queued commands, errors stay in place', [
    [0, flush + cmd('MULTI') + cmd('SET', 'k', 'v') + cmd('INCR', 'k') + cmd('GET', 'k') + cmd('EXEC')],
  ], ['+OK\r\n+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*3\r\n+OK\r\n-ERR value is not an integer or out of range\r\n$1\r\nv\r\n', '']],
  ['watch aborted by another client', [
    [0, flush + cmd('SET', 'w', '1') + cmd('WATCH', 'w') + cmd('MULTI') + cmd('INCR', 'w')],
    [1, cmd('SET', 'w', '5')],
    [0, cmd('EXEC') + cmd('GET', 'w')],
  ], ['+OK\r\n+OK\r\n+OK\r\n+OK\r\n+QUEUED\r\n*-1\r\n$1\r\n5\r\n', '+OK\r\n']],
  ['watch aborted by own write', [
    [0, flush + cmd('WATCH', 'o') + cmd('SET', 'o', 'x') + cmd('MULTI') + cmd('GET', 'o') + cmd('EXEC')],
  ], ['+OK\r\n+OK\r\n+OK\r\n+OK\r\n+QUEUED\r\n*-1\r\n', '']],
  ['untouched watch executes; unwatch and discard', [
    [0, flush + cmd('WATCH', 'a', 'b') + cmd('MULTI') + cmd('PING') + cmd('EXEC')],
    [0, cmd('WATCH', 'a') + cmd('UNWATCH')],
    [1, cmd('SET', 'a', '1')],
    [0, cmd('MULTI') + cmd('GET', 'a') + cmd('EXEC')],
    [0, cmd('WATCH', 'a') + cmd('MULTI') + cmd('DISCARD')],
    [1, cmd('SET', 'a', '2')],
    [0, cmd('MULTI') + cmd('GET', 'a') + cmd('EXEC')],
  ], [
    '+OK\r\n+OK\r\n+OK\r\n+QUEUED\r\n*1\r\n+PONG\r\n+OK\r\n+OK\r\n+OK\r\n+QUEUED\r\n*1\r\n$1\r\n1\r\n+OK\r\n+OK\r\n+OK\r\n+OK\r\n+QUEUED\r\n*1\r\n$1\r\n2\r\n',
    '+OK\r\n+OK\r\n',
  ]],
  ['flushdb touches only watched keys that existed', [
    [0, flush + cmd('SET', 'x', '1') + cmd('WATCH', 'nokey') + cmd('MULTI') + cmd('PING')],
    [1, cmd('FLUSHDB')],
    [0, cmd('EXEC') + cmd('SET', 'x', '1') + cmd('WATCH', 'x') + cmd('MULTI') + cmd('PING')],
    [1, cmd('FLUSHALL')],
    [0, cmd('EXEC')],
  ], ['+OK\r\n+OK\r\n+OK\r\n+OK\r\n+QUEUED\r\n*1\r\n+PONG\r\n+OK\r\n+OK\r\n+OK\r\n+QUEUED\r\n*-1\r\n', '+OK\r\n+OK\r\n']],
  ['swapdb touches watched keys that exist in either db', [
    [0, flush + cmd('SELECT', '1') + cmd('SET', 's', 'in1') + cmd('SELECT', '0') + cmd('WATCH', 's') + cmd('MULTI') + cmd('PING')],
    [1, cmd('SWAPDB', '0', '1')],
    [0, cmd('EXEC') + cmd('GET', 's')],
  ], ['+OK\r\n+OK\r\n+OK\r\n+OK\r\n+OK\r\n+OK\r\n+QUEUED\r\n*-1\r\n$3\r\nin1\r\n', '+OK\r\n']],
  ['swapdb of a db with itself touches no watched key', [
    [0, flush + cmd('SET', 's', 'v') + cmd('WATCH', 's') + cmd('MULTI') + cmd('PING')],
    [1, cmd('SWAPDB', '0', '0')],
    [0, cmd('EXEC')],
  ], ['+OK\r\n+OK\r\n+OK\r\n+OK\r\n+QUEUED\r\n*1\r\n+PONG\r\n', '+OK\r\n']],
  ['a key expiring after WATCH fails EXEC; a stale key does not', [
    [0, flush + cmd('SET', 'e', 'v', 'PX', '100') + cmd('WATCH', 'e') + cmd('MULTI') + cmd('PING')],
    ['sleep', 200],
    [0, cmd('EXEC') + cmd('SET', 'st', 'v', 'PX', '50')],
    ['sleep', 150],
    [0, cmd('WATCH', 'st') + cmd('MULTI') + cmd('PING') + cmd('EXEC')],
  ], ['+OK\r\n+OK\r\n+OK\r\n+OK\r\n+QUEUED\r\n*-1\r\n+OK\r\n+OK\r\n+OK\r\n+QUEUED\r\n*1\r\n+PONG\r\n', '']],
  ['SELECT inside MULTI', [
    [0, flush + cmd('MULTI') + cmd('SET', 'k', '0') + cmd('SELECT', '1') + cmd('SET', 'k', '1') + cmd('SELECT', '0') + cmd('GET', 'k') + cmd('EXEC') + cmd('SELECT', '1') + cmd('GET', 'k')],
  ], ['+OK\r\n+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*5\r\n+OK\r\n+OK\r\n+OK\r\n+OK\r\n$1\r\n0\r\n+OK\r\n$1\r\n1\r\n', '']],
  ['queue-time errors abort with EXECABORT; runtime errors do not', [
    [0, flush + cmd('MULTI') + cmd('SET', 'q', '1') + cmd('SET') + cmd('EXEC') + cmd('GET', 'q')],
  ], ["+OK\r\n+OK\r\n+QUEUED\r\n-ERR wrong number of arguments for 'set' command\r\n-EXECABORT Transaction discarded because of previous errors.\r\n$-1\r\n", '']],
];

describe('transactions', () => {
  it.each(CASES)('%s', async (_name, steps, expected) => {
    const got = await script(shale.port, steps);
    expect(got).toEqual(expected);
  });

  it.skipIf(!haveRedis).each(CASES)('%s (same as redis-server)', async (_name, steps) => {
    expect(await script(ref!.port, steps)).toEqual(await script(shale.port, steps));
  });

  it('EXEC is atomic with respect to other clients', async () => {
    const a = new Redis({ port: shale.port });
    const b = new Redis({ port: shale.port });
    await a.set('counter', '0');
    const runs = Array.from({ length: 50 }, async () => {
      const r = await a.multi().incr('counter').get('counter').exec();
      return r!.map(([, v]) => Number(v));
    });
    const writes = Array.from({ length: 50 }, () => b.incr('counter'));
    const results = await Promise.all(runs);
    await Promise.all(writes);
    for (const [inc, get] of results) expect(get).toBe(inc);
    expect(await a.get('counter')).toBe('100');
    a.disconnect();
    b.disconnect();
  });
});
