/**
 * String and hash commands: hand-picked edge cases run as scripts against both a real
 * redis-server 7 and Shale; every reply must be byte-identical (the random differential test
 * covers breadth, these pin known corner cases).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveRedisServer, type Raw, RawClient } from './support/redis-reference.ts';
import { SideBySide, words } from './support/side-by-side.ts';

let sb: SideBySide;
let r: RawClient;
let s: RawClient;

const script = (cmds: string[][], db = 4) => sb.script(db, cmds);

const w = words;

describe.skipIf(!haveRedisServer())('strings and hashes match Redis', () => {
  beforeAll(async () => {
    const conf = ['--hash-max-listpack-entries', '128'];
    sb = await SideBySide.start(conf);
    ({ r, s } = sb);
  }, 60_000);

  afterAll(async () => {
    await sb?.stop();
  });

  it('SET options and errors', async () => {
    const bad = await script([
      w('SET k v'),
      w('SET k v NX'),
      w('SET k v2 XX GET'),
      w('SET k v3 NX GET'),
      w('SET k v EX 10 PX 100'),
      w('SET k v EX 10 EX 20'),
      w('SET k v KEEPTTL EX 10'),
      w('SET k v EX 10 KEEPTTL'),
      w('SET k v NX XX'),
      w('SET k v XX NX'),
      w('SET k v EX 0'),
      w('SET k v EX -1'),
      w('SET k v EX abc'),
      w('SET k v PX 9223372036854775807'),
      w('SET k v EX 9223372036854775'),
      w('SET k v EX'),
      w('SET k v PERSIST'),
      w('SET k v EX 1000'),
      w('TTL k'),
      w('SET k v2 KEEPTTL'),
      w('TTL k'),
      w('SET k v3'),
      w('TTL k'),
      w('HSET h f v'),
      w('SET h v GET'),
      w('SET h v'),
      w('GET h'),
      w('SETNX h x'),
      w('SETEX k 0 v'),
      w('PSETEX k -5 v'),
      w('GETSET k new'),
      w('GETSET nokey new'),
      w('GETDEL k'),
      w('GETDEL k'),
      w('GETEX nokey EX 0'),
      w('GETEX nokey BAD'),
      w('SET k v EX 100'),
      w('GETEX k PERSIST'),
      w('TTL k'),
      w('GETEX k EX 10 PERSIST'),
      w('GETEX k PXAT 1'),
      w('EXISTS k'),
      w('MSET a 1 b'),
      w('MSETNX a 1 b'),
      w('MSET a 1 b 2'),
      w('MSETNX a 1 c 3'),
      w('MSETNX c 3 d 4'),
      w('MGET a b c d e'),
    ]);
    expect(bad).toEqual([]);
  });

  it('numbers: INCR family, INCRBYFLOAT formatting', async () => {
    const bad = await script([
      w('INCR n'),
      w('INCRBY n 9223372036854775806'),
      w('INCR n'),
      w('DECRBY n -1'),
      w('SET n -9223372036854775808'),
      w('DECR n'),
      w('DECRBY n -9223372036854775808'),
      w('INCRBY n 1.5'),
      w('SET n 007'),
      w('INCR n'),
      ['SET', 'n', ' 1'],
      w('INCR n'),
      w('SET n 10'),
      w('OBJECT ENCODING n'),
      w('INCRBYFLOAT n 0.1'),
      w('INCRBYFLOAT n 0.2'),
      w('INCRBYFLOAT n -10.3'),
      w('OBJECT ENCODING n'),
      w('INCRBYFLOAT n 5.0e3'),
      w('INCRBYFLOAT n 1e300'),
      w('INCRBYFLOAT n -1e300'),
      w('INCRBYFLOAT n inf'),
      w('INCRBYFLOAT n nan'),
      w('INCRBYFLOAT n 1e5000'),
      w('INCRBYFLOAT n 0x10'),
      w('INCRBYFLOAT n 3.0000000000000000001'),
      w('INCRBYFLOAT n -0.000000000000000000001'),
      w('SET f 1.1'),
      w('INCRBYFLOAT f 2.2'),
      w('INCRBYFLOAT f 1e-17'),
      w('SET f 17179869184'),
      w('INCRBYFLOAT f 0.3333333333333333333333'),
      w('SET f abc'),
      w('INCRBYFLOAT f 1'),
      w('HSET h n 5'),
      w('HINCRBYFLOAT h n 0.1'),
      w('HINCRBYFLOAT h n inf'),
      w('HINCRBYFLOAT h x abc'),
      w('HSET h s abc'),
      w('HINCRBYFLOAT h s 1'),
      w('HINCRBY h s 1'),
      w('HINCRBY h n 1'),
      w('HSET h i 9223372036854775807'),
      w('HINCRBY h i 1'),
      w('HINCRBY h i -1'),
      w('HINCRBY h j abc'),
      w('HINCRBY nokey f 5'),
      w('HINCRBYFLOAT nokey2 f 5'),
      w('OBJECT ENCODING nokey'),
    ]);
    expect(bad).toEqual([]);
  });

  it('ranges, APPEND, SETRANGE, LCS and encodings', async () => {
    const bad = await script([
      ['SET', 's', 'Hello World'],
      w('GETRANGE s 0 3'),
      w('GETRANGE s -3 -1'),
      w('GETRANGE s 0 -1'),
      w('GETRANGE s 10 100'),
      w('GETRANGE s -1 -5'),
      w('GETRANGE s 5 3'),
      w('GETRANGE s x 3'),
      w('SUBSTR s 1 2'),
      w('GETRANGE nokey 0 -1'),
      w('SETRANGE s 6 Redis'),
      w('GET s'),
      w('SETRANGE pad 5 x'),
      w('GET pad'),
      ['SETRANGE', 'pad', '2', ''],
      ['SETRANGE', 'nokey', '3', ''],
      w('SETRANGE s -1 x'),
      w('SETRANGE s 536870912 x'),
      w('OBJECT ENCODING pad'),
      w('SET e 12'),
      w('OBJECT ENCODING e'),
      w('APPEND e 3'),
      w('OBJECT ENCODING e'),
      w('APPEND new 5'),
      w('OBJECT ENCODING new'),
      w('OBJECT REFCOUNT new'),
      w('SET long ' + 'x'.repeat(44)),
      w('OBJECT ENCODING long'),
      w('SET long ' + 'x'.repeat(45)),
      w('OBJECT ENCODING long'),
      w('SET big 12345678901234567890'),
      w('OBJECT ENCODING big'),
      w('SET small 5'),
      w('OBJECT REFCOUNT small'),
      w('COPY small small2'),
      w('OBJECT REFCOUNT small2'),
      w('OBJECT ENCODING small2'),
      w('STRLEN s'),
      w('STRLEN nokey'),
      w('SET key1 ohmytext'),
      w('SET key2 mynewtext'),
      w('LCS key1 key2'),
      w('LCS key1 key2 LEN'),
      w('LCS key1 key2 IDX'),
      w('LCS key1 key2 IDX MINMATCHLEN 4'),
      w('LCS key1 key2 IDX MINMATCHLEN 4 WITHMATCHLEN'),
      w('LCS key1 key2 IDX LEN'),
      w('LCS key1 nokey'),
      w('LCS key1 key2 MINMATCHLEN'),
      w('HSET hh a b'),
      w('LCS key1 hh'),
    ]);
    expect(bad).toEqual([]);
  });

  it('hash commands and conversions', async () => {
    const many: string[] = [];
    for (let i = 0; i < 129; i++) many.push(`f${i}`, `${i}`);
    const bad = await script([
      w('HSET h a 1 b 2 c 3'),
      w('HSET h a 1 b'),
      w('HMSET h a'),
      w('HGETALL h'),
      w('HKEYS h'),
      w('HVALS h'),
      w('HLEN h'),
      w('HSTRLEN h a'),
      w('HSTRLEN h zz'),
      w('HEXISTS h a'),
      w('HMGET h a zz c'),
      w('HMGET nokey a'),
      w('HSETNX h a 9'),
      w('HSETNX h d 4'),
      w('HDEL h a zz'),
      w('HGETALL h'),
      w('OBJECT ENCODING h'),
      w('HSET h long ' + 'v'.repeat(65)),
      w('OBJECT ENCODING h'),
      ['HSET', 'big', ...many],
      w('OBJECT ENCODING big'),
      w('HLEN big'),
      w('HDEL h b c d long'),
      w('EXISTS h'),
      w('HRANDFIELD nokey'),
      w('HRANDFIELD nokey 5'),
      w('HRANDFIELD big 0'),
      w('HRANDFIELD big -9223372036854775808'),
      w('HRANDFIELD big -4611686018427387904 WITHVALUES'),
      w('HRANDFIELD big 1 WITHVALUES x'),
      w('HRANDFIELD big 1 FOO'),
      w('HRANDFIELD big x'),
      w('SET str v'),
      w('HGET str f'),
      w('HRANDFIELD str'),
      w('HSCAN str 0'),
      w('HSCAN nokey 0 BAD'),
      w('HSCAN big abc'),
      w('HSET small x 1'),
      w('HSCAN small 0 COUNT 0'),
      w('HSCAN small 0 MATCH x*'),
    ]);
    expect(bad).toEqual([]);
    // Random replies: shape and membership.
    const one = (await s.call('HRANDFIELD', 'big', '-5', 'WITHVALUES')) as Raw[];
    expect(one.length).toBe(10);
    const distinct = (await s.call('HRANDFIELD', 'big', '200')) as Raw[];
    expect(new Set(distinct).size).toBe(129);
  });

  it('key commands and expiry options', async () => {
    const bad = await script([
      w('SET a 1'),
      w('EXPIRE a 100 NX XX'),
      w('EXPIRE a 100 GT LT'),
      w('EXPIRE a 100 FOO'),
      w('EXPIRE a 100 XX'),
      w('EXPIRE a 100 NX'),
      w('EXPIRE a 50 GT'),
      w('EXPIRE a 200 GT'),
      w('EXPIRE a 300 LT'),
      w('EXPIRE a 10 LT'),
      w('TTL a'),
      w('EXPIRE a 9223372036854775'),
      w('EXPIRE a -9223372036854776'),
      w('PEXPIRE a 9223372036854770000'),
      w('PEXPIREAT a 9007199254740000'),
      w('PEXPIRETIME a'),
      w('PERSIST a'),
      w('PERSIST a'),
      w('TTL a'),
      w('TTL nokey'),
      w('EXPIRETIME a'),
      w('EXPIRE a 0'),
      w('EXISTS a'),
      w('EXPIRE nokey 100'),
      w('SET b 2'),
      w('RENAME nokey x'),
      w('RENAME b b'),
      w('RENAMENX b b'),
      w('RENAME b c'),
      w('RENAMENX c c2'),
      w('SET d 4'),
      w('RENAMENX c2 d'),
      w('COPY d d'),
      w('COPY d e DB 99'),
      w('COPY d e DB x'),
      w('COPY d e FOO'),
      w('COPY d e'),
      w('COPY d e'),
      w('COPY d e REPLACE'),
      w('COPY nokey e'),
      w('MOVE d 4'),
      w('MOVE d 99'),
      w('MOVE d x'),
      w('MOVE d 5'),
      w('MOVE nokey 5'),
      w('TYPE e'),
      w('TYPE nokey'),
      w('DEL e e nokey'),
      w('EXISTS c2 c2 nokey'),
      w('TOUCH c2 nokey'),
      w('OBJECT ENCODING nokey'),
      w('OBJECT FREQ c2'),
      w('OBJECT HELP'),
      w('DUMP nokey'),
      w('KEYS *'),
      w('KEYS c?'),
      w('KEYS [a-c]*'),
      w('SELECT 5'),
      w('KEYS *'),
      w('FLUSHDB'),
      w('SELECT 4'),
    ]);
    expect(bad).toEqual([]);
  });
});
