/**
 * Blocking sorted-set pops (BZPOPMIN, BZPOPMAX, BZMPOP): the same two-client scenarios run on
 * a real redis-server and on Shale, and every reply must be the same.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveRedisServer, type Raw, RawClient, RedisReference } from './support/redis-reference.ts';
import { ShaleProcess } from './support/shale-server.ts';

const CONF = ['--zset-max-listpack-entries', '4'];

type Step = ['a' | 'b', ...string[]] | ['wait', string] | ['collect'];

/**
 * Runs steps with two clients: 'a' commands are sent without waiting (a may block), 'b'
 * commands are awaited, 'wait' sleeps, 'collect' awaits a's pending replies. Returns every
 * reply in order of the steps.
 */
async function scenario(port: number, steps: Step[], resp3 = false): Promise<Raw[]> {
  const a = await RawClient.connect(port);
  const b = await RawClient.connect(port);
  try {
    if (resp3) await a.call('HELLO', '3');
    await b.call('FLUSHALL');
    const out: Raw[] = [];
    let pending: Promise<Raw>[] = [];
    for (const s of steps) {
      if (s[0] === 'a') pending.push(a.call(...(s.slice(1) as string[])));
      else if (s[0] === 'b') out.push(await b.call(...(s.slice(1) as string[])));
      else if (s[0] === 'wait') await new Promise((r) => setTimeout(r, Number(s[1])));
      else {
        out.push(...(await Promise.all(pending)));
        pending = [];
      }
    }
    out.push(...(await Promise.all(pending)));
    return out;
  } finally {
    a.close();
    b.close();
  }
}

const SCENARIOS: [string, Step[], boolean?][] = [
  ['served by a later ZADD', [['a', 'BZPOPMIN', 'k1', 'k2', '0'], ['wait', '50'], ['b', 'ZADD', 'k2', '2', 'x', '1', 'y'], ['collect'], ['b', 'ZRANGE', 'k2', '0', '-1', 'WITHSCORES']]],
  ['served at once', [['b', 'ZADD', 'k', '1', 'a', '3', 'c'], ['a', 'BZPOPMAX', 'nokey', 'k', '0'], ['collect']]],
  ['times out with a null array', [['a', 'BZPOPMAX', 'k', '0.05'], ['collect'], ['a', 'BZMPOP', '0.05', '1', 'k', 'MIN'], ['collect']]],
  ['RESP3 replies', [['a', 'BZPOPMIN', 'k', '0'], ['wait', '30'], ['b', 'ZADD', 'k', '1.5', 'a'], ['collect'], ['a', 'BZPOPMIN', 'k', '0.05'], ['collect'], ['b', 'ZADD', 'k', '1', 'a', '2', 'b'], ['a', 'BZMPOP', '0', '1', 'k', 'MAX', 'COUNT', '5'], ['collect']], true],
  [
    'BZMPOP with COUNT waits for the first key written',
    [['a', 'BZMPOP', '0', '2', 'k1', 'k2', 'MIN', 'COUNT', '2'], ['wait', '30'], ['b', 'ZADD', 'k2', '3', 'c', '1', 'a', '2', 'b'], ['collect'], ['b', 'ZCARD', 'k2']],
  ],
  [
    'a key of another type keeps the client blocked',
    [['a', 'BZPOPMIN', 'k', '0'], ['wait', '30'], ['b', 'SET', 'k', 'str'], ['wait', '30'], ['b', 'DEL', 'k'], ['b', 'ZADD', 'k', '9', 'z'], ['collect']],
  ],
  ['inside MULTI it does not block', [['a', 'MULTI'], ['a', 'BZPOPMIN', 'k', '0'], ['a', 'BZMPOP', '0', '1', 'k', 'MIN'], ['a', 'EXEC'], ['collect']]],
  [
    'errors',
    [
      ['b', 'SET', 'str', 'x'],
      ['a', 'BZPOPMIN', 'str', '0'],
      ['a', 'BZPOPMIN', 'k', '-1'],
      ['a', 'BZPOPMIN', 'k', 'x'],
      ['a', 'BZMPOP', '0', '0', 'k', 'MIN'],
      ['a', 'BZMPOP', 'x', '1', 'k', 'MIN'],
      ['a', 'BZMPOP', '0', '1', 'k', 'MIN', 'COUNT', '0'],
      ['a', 'BZMPOP', '0', '1', 'k', 'LEFT'],
      ['collect'],
    ],
  ],
];

describe.skipIf(!haveRedisServer())('blocking sorted-set pops match redis-server', () => {
  let redis: RedisReference;
  let shale: ShaleProcess;

  beforeAll(async () => {
    [redis, shale] = await Promise.all([RedisReference.start(CONF), ShaleProcess.start({ args: CONF })]);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([redis?.stop(), shale?.cleanup()]);
  });

  for (const [name, steps, resp3] of SCENARIOS) {
    it(name, async () => {
      const want = await scenario(redis.port, steps, resp3);
      const got = await scenario(shale.port, steps, resp3);
      expect(got).toEqual(want);
    });
  }

  it('a waiter on a big (split) sorted set pops from it when it is written', async () => {
    const steps: Step[] = [
      ['b', 'ZADD', 'big', ...Array.from({ length: 20 }, (_, i) => [String(i), `m${i}`]).flat()],
      ['b', 'DEL', 'big'],
      ['a', 'BZPOPMAX', 'big', '0'],
      ['wait', '30'],
      ['b', 'ZADD', 'big', ...Array.from({ length: 20 }, (_, i) => [String(-i), `n${i}`]).flat()],
      ['collect'],
      ['b', 'OBJECT', 'ENCODING', 'big'],
      ['b', 'ZCARD', 'big'],
    ];
    expect(await scenario(shale.port, steps)).toEqual(await scenario(redis.port, steps));
  });
});
