/**
 * SORT / SORT_RO: corner cases scripted against a real redis-server 7 and Shale (identical
 * replies), a big list whose elements live in the engine, and BY/GET keys that have to be read
 * back from storage after a restart. The random differential test covers breadth.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveRedisServer, RawClient, RedisReference } from './support/redis-reference.ts';
import { ShaleProcess } from './support/shale-server.ts';
import { SideBySide, words } from './support/side-by-side.ts';

let sb: SideBySide;
let r: RawClient;
let s: RawClient;

const script = (cmds: string[][], db = 9) => sb.script(db, cmds);
const both = (cmd: (string | Buffer)[]) => sb.both(cmd);

const w = words;

describe.skipIf(!haveRedisServer())('SORT matches Redis', () => {
  beforeAll(async () => {
    sb = await SideBySide.start();
    ({ r, s } = sb);
  }, 60_000);

  afterAll(async () => {
    await sb?.stop();
  });

  it('lists: numeric, ALPHA, LIMIT, DESC, BY nosort, errors', async () => {
    const bad = await script([
      w('RPUSH l 3 1 2 10 -5 1.5 0x10 inf -inf 1e2'),
      ['RPUSH', 'l', '', '7\x00junk', '\t8'],
      w('SORT l'),
      w('SORT l DESC'),
      w('SORT l ALPHA'),
      w('SORT l ALPHA DESC'),
      w('SORT l LIMIT 1 2'),
      w('SORT l LIMIT -5 3'),
      w('SORT l LIMIT 2 -1'),
      w('SORT l LIMIT 100 1'),
      w('SORT l LIMIT 0 0'),
      w('SORT l LIMIT 9223372036854775807 9223372036854775807'),
      w('SORT l BY nosort'),
      w('SORT l BY nosort DESC'),
      w('SORT l BY nosort LIMIT 2 3'),
      w('SORT l BY nosort DESC LIMIT 2 3'),
      w('SORT l BY nosort BY w_*'),
      w('SORT l LIMIT x 1'),
      w('SORT l LIMIT 1'),
      w('SORT l BY'),
      w('SORT l GET'),
      w('SORT l FOO'),
      w('SORT_RO l STORE d'),
      w('SORT_RO l DESC LIMIT 0 3'),
      w('RPUSH bad 1 two 3'),
      w('SORT bad'),
      w('SORT bad ALPHA'),
      w('SORT bad BY nosort'),
      w('SET str x'),
      w('SORT str'),
      w('HSET h f v'),
      w('SORT h'),
      w('SORT nokey'),
      w('SORT nokey STORE d'),
      w('EXISTS d'),
    ]);
    expect(bad).toEqual([]);
  });

  it('BY and GET patterns: keys, hash fields, #, missing and wrong-typed weights', async () => {
    const bad = await script([
      w('RPUSH l a b c d e'),
      w('MSET w_a 3 w_b 1 w_c 2 w_d 1'),
      w('HSET h_a f 30 g z'),
      w('HSET h_b f 10 g y'),
      w('HSET h_e f 20'),
      w('SORT l BY w_*'),
      w('SORT l BY w_* DESC'),
      w('SORT l BY w_* ALPHA'),
      w('SORT l BY h_*->f'),
      w('SORT l BY h_*->g ALPHA'),
      w('SORT l BY h_*->g ALPHA DESC'),
      w('SORT l BY w_* LIMIT 1 2'),
      w('SORT l BY h_*->g ALPHA LIMIT 0 3'),
      w('SORT l BY w_* GET # GET w_* GET h_*->f GET h_*->g'),
      w('SORT l BY w_* GET nostar'),
      w('SORT l GET h_*->'),
      w('SORT l GET w_*->f'),
      w('SORT l GET * ALPHA'),
      w('SORT l BY * ALPHA'),
      w('SET w_e notanumber'),
      w('SORT l BY w_*'),
      w('SORT l BY w_* ALPHA'),
      w('SORT l BY w_* STORE out'),
      w('SORT l BY w_* ALPHA STORE out GET # GET w_*'),
      w('LRANGE out 0 -1'),
      w('SET out old EX 100'),
      w('SORT l ALPHA STORE out'),
      w('TTL out'),
      w('TYPE out'),
      w('LRANGE out 0 -1'),
      w('SORT l ALPHA LIMIT 5 5 STORE out'),
      w('EXISTS out'),
    ]);
    expect(bad).toEqual([]);
  });

  it('sets and sorted sets: sorted, unsorted (BY nosort), stored', async () => {
    const bad = await script([
      w('SADD ints 30 10 20 -5 7'),
      w('SORT ints'),
      w('SORT ints DESC LIMIT 1 2'),
      // An intset iterates in numeric order, so BY nosort is deterministic here.
      w('SORT ints BY nosort'),
      w('SORT ints BY nosort STORE out'),
      w('LRANGE out 0 -1'),
      w('SADD words pear apple fig banana'),
      w('SORT words ALPHA'),
      w('SORT words ALPHA DESC LIMIT 0 2'),
      w('SORT words'),
      // Storing an unsorted set sorts it (ALPHA) so the stored list is deterministic.
      w('SORT words BY nosort STORE out'),
      w('LRANGE out 0 -1'),
      w('MSET w_pear 4 w_apple 3 w_fig 2 w_banana 1'),
      w('SORT words BY w_* GET # GET w_*'),
      w('ZADD z 3 c 1 a 2 b 1 aa 10 x'),
      w('SORT z ALPHA'),
      w('SORT z'),
      w('SORT z BY nosort'),
      w('SORT z BY nosort DESC'),
      w('SORT z BY nosort LIMIT 1 3'),
      w('SORT z BY nosort DESC LIMIT 1 3'),
      w('SORT z BY nosort GET # GET w_* LIMIT 0 2'),
      w('SORT z BY nosort STORE out'),
      w('LRANGE out 0 -1'),
      w('ZADD zn 1 5 2 3 3 10 4 -1'),
      w('SORT zn'),
      w('SORT zn DESC LIMIT 0 2 STORE out'),
      w('LRANGE out 0 -1'),
    ]);
    expect(bad).toEqual([]);
  });

  it('a big list (elements in the engine), sorted and stored', async () => {
    for (const cl of [r, s]) {
      await cl.call('SELECT', '10');
      await cl.call('FLUSHDB');
    }
    const n = 10_000;
    const elems = Array.from({ length: n }, (_, i) => String((i * 7919) % 100_003));
    for (let i = 0; i < n; i += 1000) await both(['RPUSH', 'big', ...elems.slice(i, i + 1000)]);
    for (const cmd of [
      w('SORT big LIMIT 100 20'),
      w('SORT big DESC LIMIT 0 5'),
      w('SORT big BY nosort LIMIT 9990 20'),
      w('SORT big BY nosort DESC LIMIT 3 4'),
      w('SORT big ALPHA LIMIT 500 3'),
      w('SORT big STORE sorted'),
      w('LLEN sorted'),
      w('LRANGE sorted 4990 5010'),
      w('LINDEX sorted -1'),
    ]) {
      const [a, b] = await both(cmd);
      expect(b, JSON.stringify(cmd)).toEqual(a);
    }
  }, 60_000);
});

describe.skipIf(!haveRedisServer())('SORT reads BY/GET keys back from storage', () => {
  it('after a restart, weights and GET targets are loaded for the sort', async () => {
    const ref = await RedisReference.start();
    const p = await ShaleProcess.start();
    try {
      const a = await RawClient.connect(ref.port);
      let b = await RawClient.connect(p.port);
      const setup: string[][] = [w('RPUSH l x1 x2 x3 x4 x5 x6'), w('MSET w_x1 6 w_x2 5 w_x3 4 w_x4 3 w_x5 2 w_x6 1'), w('HSET h_x3 name three')];
      for (const c of setup) await Promise.all([a.call(...c), b.call(...c)]);
      b.close();
      await p.restart();
      b = await RawClient.connect(p.port);
      for (const cmd of [w('SORT l BY w_* GET # GET w_* GET h_*->name'), w('SORT l BY w_* DESC LIMIT 1 2 STORE d'), w('LRANGE d 0 -1')]) {
        const [x, y] = await Promise.all([a.call(...cmd), b.call(...cmd)]);
        expect(y, JSON.stringify(cmd)).toEqual(x);
      }
      a.close();
      b.close();
    } finally {
      await Promise.all([ref.stop(), p.cleanup()]);
    }
  }, 60_000);
});
