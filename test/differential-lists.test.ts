/**
 * Differential test for lists: the same seeded random list commands go to a real
 * redis-server 7 and to a real Shale process, and every reply must be identical. A small
 * list-max-listpack-size (CONFIG SET on both) makes lists cross Shale's inline/split threshold
 * all the time; a second pass replays operations on lists of thousands of elements, where
 * LINSERT/LREM/LTRIM take Shale's streamed-rewrite paths.
 *
 *   SHALE_DIFF_SEED=1234 npx vitest run test/differential-lists.test.ts   # replay a seed
 *   SHALE_DIFF_STEPS=50000 ...                                             # longer run
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveRedisServer, type Raw, RawClient, RedisReference } from './support/redis-reference.ts';
import { ShaleProcess } from './support/shale-server.ts';
import { Gen } from './support/gen.ts';

const SEED = Number(process.env.SHALE_DIFF_SEED ?? Math.floor(Math.random() * 2 ** 31));
const STEPS = Number(process.env.SHALE_DIFF_STEPS ?? 6000);

type Cmd = string[];

const LISTS = ['l0', 'l1', 'l2', 'l3', '\x00bin\xffl'];
const OTHER = ['str', 'hash'];
const ELEMS = ['a', 'b', 'c', 'a', 'b', '', '1', '-7', '100', 'x'.repeat(40), 'y'.repeat(300), '\x00\xff\r\n'];
const INDEXES = ['0', '1', '2', '-1', '-2', '-3', '5', '-10', '100', '-100', '9223372036854775807', '-9223372036854775808', 'x', '1.5', ''];
const COUNTS = ['0', '1', '2', '3', '5', '50', '-1', '-2', 'x', '9223372036854775807', '-9223372036854775808'];
const DIRS = ['LEFT', 'RIGHT', 'left', 'Right', 'UP'];
const TIMEOUTS = ['0.01', '0.005', '-1', 'x', 'nan', 'inf', '1e400', '1e16', ''];

function listKey(g: Gen): string {
  return g.chance(0.08) ? g.pick(OTHER) : g.pick(LISTS);
}

function elems(g: Gen, max: number): string[] {
  const n = g.chance(0.05) ? g.int(8, 20) : g.int(1, max);
  return Array.from({ length: n }, () => g.pick(ELEMS));
}

function listCmd(g: Gen): Cmd {
  const k = listKey(g);
  switch (g.int(0, 28)) {
    case 0:
    case 1:
      return ['LPUSH', k, ...elems(g, 4)];
    case 2:
    case 3:
      return ['RPUSH', k, ...elems(g, 4)];
    case 4:
      return [g.pick(['LPUSHX', 'RPUSHX']), k, ...elems(g, 3)];
    case 5:
      return g.chance(0.5) ? [g.pick(['LPOP', 'RPOP']), k] : [g.pick(['LPOP', 'RPOP']), k, g.pick(COUNTS), ...(g.chance(0.05) ? ['1'] : [])];
    case 6:
      return ['LLEN', k];
    case 7:
    case 8:
      return ['LRANGE', k, g.pick(INDEXES), g.pick(INDEXES)];
    case 9:
      return ['LINDEX', k, g.pick(INDEXES)];
    case 10:
      return ['LSET', k, g.pick(INDEXES), g.pick(ELEMS)];
    case 11:
      return ['LINSERT', k, g.pick(['BEFORE', 'AFTER', 'before', 'middle']), g.pick(ELEMS), g.pick(ELEMS)];
    case 12:
      return ['LREM', k, g.pick(COUNTS), g.pick(ELEMS)];
    case 13:
      return ['LTRIM', k, g.pick(INDEXES), g.pick(INDEXES)];
    case 14: {
      const c = ['LPOS', k, g.pick(ELEMS)];
      const n = g.int(0, 3);
      for (let i = 0; i < n; i++) {
        const o = g.pick(['RANK', 'COUNT', 'MAXLEN', 'rank', 'BAD']);
        c.push(o);
        if (o !== 'BAD' && g.chance(0.95)) c.push(g.pick(o.toUpperCase() === 'RANK' ? ['1', '2', '-1', '-2', '0', '-9223372036854775808', 'x'] : COUNTS));
      }
      return c;
    }
    case 15:
    case 16:
      return ['LMOVE', k, listKey(g), g.pick(DIRS), g.pick(DIRS)];
    case 17:
      return ['RPOPLPUSH', k, listKey(g)];
    case 18: {
      const n = g.pick(['1', '2', '3', '0', '-1', 'x', '9']);
      const keys = Array.from({ length: g.int(1, 3) }, () => listKey(g));
      const c = ['LMPOP', n, ...keys, g.pick(DIRS)];
      if (g.chance(0.5)) c.push(g.pick(['COUNT', 'count', 'LIMIT']), g.pick(COUNTS));
      if (g.chance(0.05)) c.push('COUNT', '2');
      return c;
    }
    case 19:
      return [g.pick(['BLPOP', 'BRPOP']), k, ...(g.chance(0.5) ? [listKey(g)] : []), g.pick(TIMEOUTS)];
    case 20: {
      const c = ['BLMPOP', g.pick(TIMEOUTS), g.pick(['1', '2', '0', 'x']), k, listKey(g), g.pick(DIRS)];
      if (g.chance(0.5)) c.push('COUNT', g.pick(COUNTS));
      return c;
    }
    case 21:
      return g.chance(0.5)
        ? ['BLMOVE', k, listKey(g), g.pick(DIRS), g.pick(DIRS), g.pick(TIMEOUTS)]
        : ['BRPOPLPUSH', k, listKey(g), g.pick(TIMEOUTS)];
    case 22:
      return g.pick([['SET', 'str', g.pick(ELEMS)], ['HSET', 'hash', 'f', g.pick(ELEMS)], ['DEL', k], ['EXISTS', k]]);
    case 23:
      return ['TYPE', k];
    case 24:
      return ['OBJECT', 'ENCODING', k];
    case 25:
      return g.pick([['EXPIRE', k, '100000'], ['TTL', k], ['PERSIST', k]]);
    case 26:
      return [g.pick(['RENAME', 'RENAMENX', 'COPY']), k, listKey(g)];
    case 27:
      return ['#DUMPRESTORE', k, listKey(g)];
    default:
      return ['LRANGE', k, '0', '-1'];
  }
}

interface Side {
  name: string;
  a: RawClient;
  /** Speaks RESP3. */
  b: RawClient;
}

async function run(c: RawClient, cmd: Cmd): Promise<Raw> {
  if (cmd[0] === '#DUMPRESTORE') {
    const payload = await c.call('DUMP', cmd[1]!);
    if (typeof payload !== 'string' || !payload.startsWith('$')) return ['dump', payload];
    return ['restore', await c.call('RESTORE', cmd[2]!, '0', Buffer.from(payload.slice(1), 'latin1'), 'REPLACE')];
  }
  if (cmd[0] === 'DUMP') return 'dump';
  return c.call(...cmd);
}

describe.skipIf(!haveRedisServer())('differential: lists, Shale vs redis-server 7', () => {
  let redis: RedisReference;
  let shale: ShaleProcess;
  const sides: Side[] = [];
  const g = new Gen(SEED);
  const fill = g.pick(['3', '5', '16', '-1']);

  beforeAll(async () => {
    [redis, shale] = await Promise.all([RedisReference.start(), ShaleProcess.start()]);
    for (const [name, port] of [
      ['redis', redis.port],
      ['shale', shale.port],
    ] as const) {
      const side = { name, a: await RawClient.connect(port), b: await RawClient.connect(port) };
      await side.b.call('HELLO', '3');
      expect(await side.a.call('CONFIG', 'SET', 'list-max-listpack-size', fill)).toBe('+OK');
      sides.push(side);
    }
  }, 60_000);

  afterAll(async () => {
    for (const s of sides) {
      s.a.close();
      s.b.close();
    }
    await Promise.all([redis?.stop(), shale?.cleanup()]);
  });

  let commands = 0;
  const history: string[] = [];

  async function both(cmd: Cmd, resp3 = false): Promise<Raw> {
    commands++;
    const [r1, r2] = await Promise.all(sides.map((s) => run(resp3 ? s.b : s.a, cmd)));
    history.push(`${resp3 ? 'resp3 ' : ''}${JSON.stringify(cmd).slice(0, 160)} -> ${JSON.stringify(r1).slice(0, 160)}`);
    if (history.length > 30) history.shift();
    if (JSON.stringify(r1) !== JSON.stringify(r2)) {
      throw new Error(
        `seed ${SEED} (list-max-listpack-size ${fill}), command #${commands}: replies differ for ${JSON.stringify(cmd)}\n` +
          `  redis: ${JSON.stringify(r1)}\n  shale: ${JSON.stringify(r2)}\nrecent history:\n  ${history.join('\n  ')}`,
      );
    }
    return r1;
  }

  /** Every key's type and content must agree. */
  async function checkState(): Promise<void> {
    for (const k of [...LISTS, ...OTHER]) {
      await both(['TYPE', k]);
      await both(['LRANGE', k, '0', '-1']);
    }
  }

  it(`matches replies over ${STEPS} random list commands (seed ${SEED})`, async () => {
    console.log(`differential-lists seed: ${SEED}, list-max-listpack-size ${fill} (replay with SHALE_DIFF_SEED=${SEED})`);
    while (commands < STEPS) {
      if (g.chance(0.03)) {
        // A transaction: blocking commands inside it return at once.
        await both(['MULTI']);
        const n = g.int(1, 4);
        for (let i = 0; i < n; i++) {
          const c = listCmd(g);
          if (c[0]!.startsWith('#')) continue;
          await both(c);
        }
        await both(['EXEC']);
      } else {
        await both(listCmd(g), g.chance(0.15));
      }
      if (commands % 200 < 1) await checkState();
    }
    await checkState();
    expect(commands).toBeGreaterThanOrEqual(STEPS);
  }, 180_000);

  it('serves blocked clients the same way (which key, which element, wrong types, BLMOVE)', async () => {
    // A third client per side blocks with timeout 0 while the first one runs random commands;
    // after every command both servers must agree on whether it is still blocked and on what
    // it was finally served.
    const blockers = await Promise.all(sides.map((s) => RawClient.connect(s.name === 'redis' ? redis.port : shale.port)));
    const ids = await Promise.all(blockers.map((b) => b.call('CLIENT', 'ID')));
    const blocked = async (i: number): Promise<string> => {
      const info = (await sides[i]!.a.call('INFO', 'clients')) as string;
      return /blocked_clients:(\d+)/.exec(info)![1]!;
    };
    /** Both sides' blocked state, once Shale's (possibly asynchronous) serving has settled. */
    const state = async (): Promise<[string, string]> => {
      let s: [string, string] = ['', ''];
      for (let i = 0; i < 40; i++) {
        s = [await blocked(0), await blocked(1)];
        if (s[0] === s[1]) return s;
        await new Promise((r) => setTimeout(r, 5));
      }
      return s;
    };
    let pending: [Promise<Raw>, Promise<Raw>] | undefined;
    let pendingCmd: Cmd = [];
    let waited = 0;
    let servedLater = 0;
    const settle = async (): Promise<void> => {
      if (!pending) return;
      const [s0, s1] = await state();
      if (s0 !== s1) throw new Error(`seed ${SEED}: blocked_clients ${s0} (redis) vs ${s1} (shale) after ${JSON.stringify(pendingCmd)}\n  ${history.join('\n  ')}`);
      if (s0 === '1') {
        waited++;
        return;
      }
      if (waited > 0) servedLater++;
      waited = 0;
      const [r1, r2] = await Promise.all(pending);
      history.push(`  served ${JSON.stringify(pendingCmd)} -> ${JSON.stringify(r1).slice(0, 120)}`);
      if (JSON.stringify(r1) !== JSON.stringify(r2)) {
        throw new Error(`seed ${SEED}: blocked ${JSON.stringify(pendingCmd)} served differently\n  redis: ${JSON.stringify(r1)}\n  shale: ${JSON.stringify(r2)}\n  ${history.join('\n  ')}`);
      }
      pending = undefined;
    };
    const blockingCmd = (): Cmd => {
      const k = listKey(g);
      switch (g.int(0, 3)) {
        case 0:
          return [g.pick(['BLPOP', 'BRPOP']), k, ...(g.chance(0.5) ? [listKey(g)] : []), '0'];
        case 1:
          return ['BLMOVE', k, listKey(g), g.pick(['LEFT', 'RIGHT']), g.pick(['LEFT', 'RIGHT']), '0'];
        case 2:
          return ['BRPOPLPUSH', k, listKey(g), '0'];
        default:
          return ['BLMPOP', '0', '2', k, listKey(g), g.pick(['LEFT', 'RIGHT']), 'COUNT', g.pick(['1', '2', '5'])];
      }
    };
    // 1500 steps, and more (up to 6000) until enough waits were ended by another client's
    // command: some sequences rarely leave a blocked client waiting.
    for (let step = 0; step < 1500 || (servedLater <= 5 && step < 6000); step++) {
      if (!pending && g.chance(0.5)) {
        pendingCmd = blockingCmd();
        pending = [blockers[0]!.call(...pendingCmd), blockers[1]!.call(...pendingCmd)];
        await settle();
      }
      const cmd = listCmd(g);
      // BLMOVE's source on the blocked side may be renamed away: keep the test about lists.
      await both(cmd[0]!.startsWith('#') ? ['LLEN', cmd[1]!] : cmd);
      await settle();
    }
    if (pending) {
      await Promise.all(sides.map((s, i) => s.a.call('CLIENT', 'UNBLOCK', String(ids[i]).slice(1))));
      await settle();
    }
    for (const b of blockers) b.close();
    console.log(`blocking differential: ${servedLater} waits ended by another client's command`);
    expect(servedLater).toBeGreaterThan(5);
  }, 120_000);

  it('agrees on lists of thousands of elements (streamed LINSERT, LREM, LTRIM, LPOS)', async () => {
    const k = 'big';
    const n = 6000;
    const push: Cmd = ['RPUSH', k];
    for (let i = 0; i < n; i++) push.push(i % 97 === 0 ? 'm' : `e${i % 1000}`);
    await both(['DEL', k]);
    await both(push);
    await both(['OBJECT', 'ENCODING', k]);
    const ops: Cmd[] = [
      ['LINSERT', k, 'BEFORE', 'e500', 'ins1'], // near the middle: rewrite
      ['LINSERT', k, 'AFTER', 'e3', 'ins2'], // near the head: shift
      ['LINSERT', k, 'BEFORE', 'e999', 'ins3'],
      ['LINDEX', k, '3000'],
      ['LINDEX', k, '-2999'],
      ['LPOS', k, 'm', 'RANK', '3'],
      ['LPOS', k, 'm', 'RANK', '-2', 'COUNT', '4'],
      ['LPOS', k, 'm', 'COUNT', '0', 'MAXLEN', '1000'],
      ['LREM', k, '5', 'm'],
      ['LREM', k, '-3', 'm'],
      ['LSET', k, '2500', 'set'],
      ['LRANGE', k, '2990', '3010'],
      ['LREM', k, '0', 'm'],
      ['LTRIM', k, '1', '-2'], // few removed: deleted in place
      ['LPOP', k, '700'],
      ['RPOP', k, '700'],
      ['LTRIM', k, '2000', '-1500'], // many removed: rewrite
      ['LLEN', k],
      ['RPOPLPUSH', k, k],
      ['LMOVE', k, 'big2', 'LEFT', 'RIGHT'],
      ['LRANGE', k, '0', '-1'],
      ['LTRIM', k, '5', '1'],
      ['EXISTS', k],
    ];
    for (const op of ops) await both(op);
  }, 60_000);
});
