/**
 * Sets and sorted sets end to end on a real Shale process: what the differential test cannot
 * show (restarts, several databases, expiry of big collections, DUMP payloads exchanged with a
 * real redis-server in both directions).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveRedisServer, type Raw, RawClient, RedisReference } from './support/redis-reference.ts';
import { ShaleProcess } from './support/shale-server.ts';
import { latestManifest, storedKeys } from './support/stored-tables.ts';
import { LocalStore } from '../src/engine/index.ts';
import { parseElemKey, prefixEnd } from '../src/types/encoding.ts';

/** Low thresholds so that small collections are already split (element records). */
const CONF = ['--set-max-intset-entries', '4', '--zset-max-listpack-entries', '4', '--zset-max-listpack-value', '16'];

let shale: ShaleProcess;
let c: RawClient;

beforeAll(async () => {
  shale = await ShaleProcess.start({ args: CONF });
  c = await RawClient.connect(shale.port);
}, 60_000);

afterAll(async () => {
  c?.close();
  await shale?.cleanup();
});

const sorted = (r: Raw) => [...(r as string[])].sort();

describe('sets and sorted sets across restarts', () => {
  it('keeps members, scores and encodings of inline and split collections', async () => {
    await c.call('FLUSHALL');
    await c.call('SADD', 'ints', '3', '1', '2');
    await c.call('SADD', 'small', 'a', 'b');
    await c.call('SADD', 'big', ...Array.from({ length: 50 }, (_, i) => `m${i}`));
    await c.call('ZADD', 'zs', '1', 'a', '2.5', 'b');
    await c.call('ZADD', 'zb', ...Array.from({ length: 30 }, (_, i) => [String(i / 4), `m${i}`]).flat());
    await c.call('ZADD', 'zb', '-0', 'negzero', 'inf', 'top');
    await c.call('EXPIRE', 'big', '1000');
    const before = await snapshot();
    await shale.restart();
    c = await RawClient.connect(shale.port);
    expect(await snapshot()).toEqual(before);
    expect(before.enc).toEqual(['$intset', '$hashtable', '$hashtable', '$listpack', '$skiplist']);
    expect(await c.call('ZSCORE', 'zb', 'negzero')).toBe('$-0');
    expect(await c.call('TTL', 'big')).not.toBe(':-1');
    // And they keep working where they left off.
    expect(await c.call('SADD', 'big', 'm0', 'extra')).toBe(':1');
    expect(await c.call('ZRANK', 'zb', 'top')).toBe(':31');
    expect(await c.call('ZINCRBY', 'zb', '1', 'm0')).toBe('$1');
  });

  async function snapshot() {
    const keys = ['ints', 'small', 'big', 'zs', 'zb'];
    return {
      enc: await Promise.all(keys.map((k) => c.call('OBJECT', 'ENCODING', k))),
      sets: await Promise.all(['ints', 'small', 'big'].map(async (k) => sorted(await c.call('SMEMBERS', k)))),
      zsets: await Promise.all(['zs', 'zb'].map((k) => c.call('ZRANGE', k, '0', '-1', 'WITHSCORES'))),
      types: await Promise.all(keys.map((k) => c.call('TYPE', k))),
    };
  }
});

describe('big collections and key commands', () => {
  it('RENAME, COPY and MOVE copy the element records of split sets and sorted sets', async () => {
    await c.call('SELECT', '0');
    await c.call('FLUSHALL');
    const members = Array.from({ length: 40 }, (_, i) => `x${i}`);
    await c.call('SADD', 's', ...members);
    await c.call('ZADD', 'z', ...members.flatMap((m, i) => [String(i), m]));
    expect(await c.call('COPY', 's', 's2')).toBe(':1');
    expect(await c.call('RENAME', 'z', 'z2')).toBe('+OK');
    expect(await c.call('EXISTS', 'z')).toBe(':0');
    // The copy is independent of the original.
    await c.call('SREM', 's', 'x1', 'x2');
    expect(await c.call('SCARD', 's2')).toBe(':40');
    expect(await c.call('SISMEMBER', 's2', 'x1')).toBe(':1');
    expect(await c.call('ZRANGE', 'z2', '38', '-1', 'WITHSCORES')).toEqual(['$x38', '$38', '$x39', '$39']);
    expect(await c.call('MOVE', 'z2', '3')).toBe(':1');
    await c.call('SELECT', '3');
    expect(await c.call('ZCARD', 'z2')).toBe(':40');
    expect(await c.call('OBJECT', 'ENCODING', 'z2')).toBe('$skiplist');
    expect(await c.call('ZSCORE', 'z2', 'x17')).toBe('$17');
    await c.call('SELECT', '0');
    expect(await c.call('COPY', 's2', 's3', 'DB', '3')).toBe(':1');
    await c.call('SELECT', '3');
    expect(sorted(await c.call('SMEMBERS', 's3'))).toEqual(members.map((m) => `$${m}`).sort());
    await c.call('SELECT', '0');
  });

  it('an expired split collection disappears and its name starts afresh', async () => {
    await c.call('FLUSHALL');
    await c.call('ZADD', 'gone', ...Array.from({ length: 20 }, (_, i) => [String(i), `e${i}`]).flat());
    await c.call('SADD', 'gone2', ...Array.from({ length: 20 }, (_, i) => `e${i}`));
    await c.call('PEXPIRE', 'gone', '50');
    await c.call('PEXPIRE', 'gone2', '50');
    await new Promise((r) => setTimeout(r, 300));
    // The active expiry cycle removed them without anyone touching the keys.
    expect(await c.call('DBSIZE')).toBe(':0');
    expect(await c.call('ZCARD', 'gone')).toBe(':0');
    // A new collection under the same name starts empty.
    expect(await c.call('SADD', 'gone2', 'fresh')).toBe(':1');
    expect(await c.call('SMEMBERS', 'gone2')).toEqual(['$fresh']);
  });

  it('a blocked BZPOPMIN is served by a ZADD from another client', async () => {
    await c.call('FLUSHALL');
    const other = await RawClient.connect(shale.port);
    try {
      const waiting = c.call('BZPOPMIN', 'q1', 'q2', '0');
      await new Promise((r) => setTimeout(r, 50));
      expect(await other.call('ZADD', 'q2', '5', 'job', '7', 'later')).toBe(':2');
      expect(await waiting).toEqual(['$q2', '$job', '$5']);
      expect(await c.call('ZRANGE', 'q2', '0', '-1')).toEqual(['$later']);
    } finally {
      other.close();
    }
  });
});

describe('a big set drained by SPOP', () => {
  it('moves to a fresh version once most members are gone, dropping the old records whole, and loses nothing', async () => {
    const p = await ShaleProcess.start();
    const store = new LocalStore(p.dir);
    /** The set's element records in the store, tombstones included, by version. */
    const stored = async () => {
      const by = new Map<number, { prefix: string; members: string[] }>();
      for (const k of await storedKeys(store)) {
        const e = parseElemKey(k);
        if (e?.key !== 'q') continue;
        const v = by.get(e.version) ?? by.set(e.version, { prefix: e.prefix, members: [] }).get(e.version)!;
        v.members.push(k.slice(e.prefix.length));
      }
      return by;
    };
    try {
      let cl = await RawClient.connect(p.port);
      const members = Array.from({ length: 3000 }, (_, i) => `m${i}`);
      for (let i = 0; i < members.length; i += 500) await cl.call('SADD', 'q', ...members.slice(i, i + 500));
      cl.close();
      await p.stop();
      const before = await stored();
      expect([...before.values()].map((v) => v.members.length)).toEqual([3000]);
      const [v0, { prefix: p0 }] = [...before.entries()][0]!;

      await p.restart();
      cl = await RawClient.connect(p.port);
      // Popping 2,401 of 3,000 makes the removals outnumber the members four to one.
      const popped: string[] = [];
      for (let i = 0; i < 2600; i++) popped.push((await cl.call('SPOP', 'q')) as string);
      popped.push(...((await cl.call('SPOP', 'q', '100')) as string[]));
      const rest = (await cl.call('SMEMBERS', 'q')) as string[];
      expect(new Set(popped).size).toBe(2700);
      expect([...popped, ...rest].sort()).toEqual(members.map((m) => `$${m}`).sort());
      expect(await cl.call('SCARD', 'q')).toBe(':300');
      expect(await cl.call('OBJECT', 'ENCODING', 'q')).toBe('$hashtable');
      // The old version's range is dropped once the rewrite is durable (a flush interval, a cleanup tick).
      await new Promise((r) => setTimeout(r, 1000));
      cl.close();
      await p.stop();

      const m = await latestManifest(store);
      const after = await stored();
      // The first version's records are gone: dropped whole (or already compacted away).
      expect(!after.has(v0) || m.dropped.some((r) => r.start <= p0 && r.end >= prefixEnd(p0))).toBe(true);
      after.delete(v0);
      // One new version, written at the rewrite with the members then left (at most 599), and
      // holding every member still there.
      expect(after.size).toBe(1);
      const kept = [...after.values()][0]!.members;
      expect(kept.length).toBeLessThanOrEqual(599);
      for (const r of rest) expect(kept).toContain(r.slice(1));

      await p.restart();
      cl = await RawClient.connect(p.port);
      expect(sorted(await cl.call('SMEMBERS', 'q'))).toEqual([...rest].sort());
      expect(await cl.call('SCARD', 'q')).toBe(':300');
      cl.close();
    } finally {
      await p.cleanup();
    }
  }, 60_000);
});

describe.skipIf(!haveRedisServer())('DUMP payloads exchanged with redis-server', () => {
  let redis: RedisReference;
  let r: RawClient;

  beforeAll(async () => {
    redis = await RedisReference.start(CONF);
    r = await RawClient.connect(redis.port);
  }, 30_000);

  afterAll(async () => {
    r?.close();
    await redis?.stop();
  });

  /** Every collection shape Redis 7.0 dumps: intset, hashtable, listpack, skiplist. */
  const SHAPES: [string, string[]][] = [
    ['intset', ['SADD', 'k', '1', '-7', '5000000000']],
    ['hashtable', ['SADD', 'k', 'a', 'b', 'c', '1']],
    ['big hashtable', ['SADD', 'k', ...Array.from({ length: 30 }, (_, i) => `v${i}`)]],
    ['listpack', ['ZADD', 'k', '1', 'a', '-2.5', 'b', '1e300', 'c']],
    ['skiplist', ['ZADD', 'k', ...Array.from({ length: 30 }, (_, i) => [String(i * 1.5), `v${i}`]).flat(), '-0', 'z']],
  ];

  for (const [name, cmd] of SHAPES) {
    it(`moves a ${name} from Redis to Shale and back`, async () => {
      for (const x of [r, c]) await x.call('FLUSHALL');
      await r.call(...cmd);
      const read = async (x: RawClient) => {
        const type = await x.call('TYPE', 'k');
        const body = type === '+set' ? sorted(await x.call('SMEMBERS', 'k')) : await x.call('ZRANGE', 'k', '0', '-1', 'WITHSCORES');
        return [type, await x.call('OBJECT', 'ENCODING', 'k'), body];
      };
      const original = await read(r);
      const fromRedis = (await r.call('DUMP', 'k')) as string;
      expect(await c.call('RESTORE', 'k', '0', Buffer.from(fromRedis.slice(1), 'latin1'))).toBe('+OK');
      expect(await read(c)).toEqual(original);
      const fromShale = (await c.call('DUMP', 'k')) as string;
      expect(await r.call('RESTORE', 'k2', '0', Buffer.from(fromShale.slice(1), 'latin1'))).toBe('+OK');
      await r.call('RENAME', 'k2', 'k');
      expect(await read(r)).toEqual(original);
    });
  }
});
