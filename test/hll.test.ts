/**
 * HyperLogLog: Shale's HLLs are byte-identical to Redis's. Scripts run against a real
 * redis-server 7 and Shale must agree reply for reply (GET of the HLL value included); HLL
 * values move between the two servers with GET/SET and DUMP/RESTORE and count the same there;
 * a large dense HLL estimates the same on both.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveRedisServer, type Raw, RawClient } from './support/redis-reference.ts';
import { SideBySide, words } from './support/side-by-side.ts';

let sb: SideBySide;
let r: RawClient;
let s: RawClient;

const script = (cmds: string[][], db = 6) => sb.script(db, cmds);

const w = words;
const elems = (prefix: string, n: number, from = 0) => Array.from({ length: n }, (_, i) => `${prefix}${from + i}`);

/** A bulk reply's bytes. */
function bulk(x: Raw): Buffer {
  if (typeof x !== 'string' || !x.startsWith('$')) throw new Error(`not a bulk reply: ${JSON.stringify(x)}`);
  return Buffer.from(x.slice(1), 'latin1');
}

describe.skipIf(!haveRedisServer())('HyperLogLog matches Redis byte for byte', () => {
  beforeAll(async () => {
    sb = await SideBySide.start();
    ({ r, s } = sb);
  }, 60_000);

  afterAll(async () => {
    await sb?.stop();
  });

  it('PFADD / PFCOUNT / PFMERGE, the cached cardinality and the sparse-to-dense switch', async () => {
    const bad = await script([
      w('PFADD h'),
      w('GET h'),
      w('PFADD h'),
      w('PFADD h a b c d e f g'),
      w('PFADD h a b'),
      w('GET h'),
      w('PFCOUNT h'),
      // The count is now cached in the header (GET shows it) and PFADD of a known element keeps it.
      w('GET h'),
      w('PFADD h a'),
      w('GET h'),
      w('PFADD h zz'),
      w('GET h'),
      w('PFDEBUG ENCODING h'),
      w('PFDEBUG DECODE h'),
      w('OBJECT ENCODING h'),
      ['PFADD', 'big', ...elems('x', 3000)],
      w('PFDEBUG ENCODING big'),
      w('PFCOUNT big'),
      w('GET big'),
      w('PFCOUNT h big nokey'),
      w('PFMERGE dst h big'),
      w('GET dst'),
      w('PFCOUNT dst'),
      w('PFMERGE dst2 h'),
      w('PFDEBUG ENCODING dst2'),
      w('GET dst2'),
      w('PFMERGE empty'),
      w('GET empty'),
      w('PFMERGE empty nokey'),
      w('PFCOUNT empty'),
      w('PFDEBUG TODENSE h'),
      w('PFDEBUG TODENSE h'),
      w('GET h'),
      w('PFDEBUG DECODE h'),
      w('PFDEBUG GETREG nokey'),
      w('PFDEBUG NOPE h'),
      w('SET t v EX 1000'),
      w('PFADD t a'),
      w('DEL t'),
      w('PFADD t a'),
      w('EXPIRE t 1000'),
      w('PFADD t b'),
      w('TTL t'),
    ]);
    expect(bad).toEqual([]);
  });

  it('sparse HLLs grow opcode by opcode exactly as Redis (small adds, then promotion)', async () => {
    const cmds: string[][] = [];
    for (let i = 0; i < 120; i++) {
      cmds.push(['PFADD', 'g', ...elems(`s${i}-`, 1 + (i % 17))]);
      if (i % 10 === 0) cmds.push(w('GET g'), w('PFCOUNT g'));
    }
    cmds.push(w('PFDEBUG ENCODING g'), w('GET g'));
    expect(await script(cmds)).toEqual([]);
  });

  it('wrong types and corrupt values', async () => {
    const bad = await script([
      w('SET s hello'),
      w('PFADD s a'),
      w('PFCOUNT s'),
      w('PFMERGE s'),
      w('SET n 1234567890123456'),
      w('PFCOUNT n'),
      w('HSET hh f v'),
      w('PFADD hh a'),
      w('PFCOUNT hh'),
      w('PFCOUNT nokey hh'),
      w('PFMERGE d hh'),
      w('PFDEBUG ENCODING hh'),
      w('PFADD h a b c'),
      // Encoding byte 2: not an HLL any more.
      ['SETRANGE', 'h', '4', '\x02'],
      w('PFCOUNT h'),
      w('DEL h'),
      w('PFADD h a b c'),
      // Register runs that add up to more than 16384.
      ['APPEND', 'h', '\x7f\xff'],
      w('PFCOUNT h'),
      w('PFCOUNT h nokey'),
      w('PFMERGE d h'),
      w('PFADD h q'),
      w('PFDEBUG GETREG h'),
      w('PFDEBUG TODENSE h'),
      w('DEL h'),
      // A dense header with the wrong length.
      ['SET', 'h', 'HYLL\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00abc'],
      w('PFCOUNT h'),
      w('PFADD h x'),
    ]);
    expect(bad).toEqual([]);
  });

  it('HLL values move between Redis and Shale with GET/SET and DUMP/RESTORE', async () => {
    for (const cl of [r, s]) {
      await cl.call('SELECT', '7');
      await cl.call('FLUSHDB');
    }
    // Sparse in Redis, dense in Shale.
    await r.call('PFADD', 'sparse', ...elems('a', 300));
    await s.call('PFADD', 'dense', ...elems('b', 5000));
    // Redis -> Shale by value.
    const sparseBytes = bulk(await r.call('GET', 'sparse'));
    expect(await s.call('SET', 'sparse', sparseBytes)).toBe('+OK');
    expect(await s.call('PFCOUNT', 'sparse')).toEqual(await r.call('PFCOUNT', 'sparse'));
    // Shale -> Redis by DUMP/RESTORE.
    const dump = bulk(await s.call('DUMP', 'dense'));
    expect(await r.call('RESTORE', 'dense', '0', dump)).toBe('+OK');
    expect(await r.call('PFDEBUG', 'ENCODING', 'dense')).toBe('+dense');
    expect(await r.call('PFCOUNT', 'dense')).toEqual(await s.call('PFCOUNT', 'dense'));
    // Redis -> Shale by DUMP/RESTORE (Redis compresses the payload with LZF).
    const rdump = bulk(await r.call('DUMP', 'sparse'));
    expect(await s.call('RESTORE', 'sparse2', '0', rdump)).toBe('+OK');
    // Both now hold both HLLs: merges, counts and the resulting bytes agree.
    for (const cl of [r, s]) {
      expect(await cl.call('PFMERGE', 'u', 'sparse', 'dense')).toBe('+OK');
    }
    expect(await s.call('PFCOUNT', 'u')).toEqual(await r.call('PFCOUNT', 'u'));
    expect(bulk(await s.call('GET', 'u')).equals(bulk(await r.call('GET', 'u')))).toBe(true);
    // RESTORE kept the bytes, including the cardinality PFCOUNT cached in Redis meanwhile.
    expect(bulk(await s.call('GET', 'sparse2')).equals(bulk(await r.call('GET', 'sparse')))).toBe(true);
    expect(bulk(await s.call('GET', 'sparse2')).subarray(16).equals(sparseBytes.subarray(16))).toBe(true);
  });

  it('a large dense HLL estimates the same as Redis, within the expected error', async () => {
    for (const cl of [r, s]) {
      await cl.call('SELECT', '8');
      await cl.call('FLUSHDB');
    }
    const n = 200_000;
    for (let i = 0; i < n; i += 5000) {
      const batch = elems('u', 5000, i);
      await Promise.all([r.call('PFADD', 'big', ...batch), s.call('PFADD', 'big', ...batch)]);
    }
    const [cr, cs] = await Promise.all([r.call('PFCOUNT', 'big'), s.call('PFCOUNT', 'big')]);
    expect(cs).toEqual(cr);
    const est = Number((cs as string).slice(1));
    // Standard error 0.81%; allow five of them.
    expect(Math.abs(est - n) / n).toBeLessThan(0.041);
    expect(bulk(await s.call('GET', 'big')).equals(bulk(await r.call('GET', 'big')))).toBe(true);
    expect(await s.call('PFCOUNT', 'big', 'nokey')).toEqual(await r.call('PFCOUNT', 'big', 'nokey'));
  }, 60_000);

  it('PFSELFTEST passes', async () => {
    expect(await s.call('PFSELFTEST')).toBe('+OK');
  });
});
