/**
 * Bitmap commands: hand-picked corner cases run as scripts against a real redis-server 7 and
 * Shale (replies must be byte-identical), plus what only Shale has to show: bitmaps survive a
 * restart, and the size limit follows proto-max-bulk-len. The random differential test
 * (differential-bits.test.ts) covers breadth.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveRedisServer, RawClient } from './support/redis-reference.ts';
import { ShaleProcess } from './support/shale-server.ts';
import { SideBySide, words } from './support/side-by-side.ts';

let sb: SideBySide;
let r: RawClient;
let s: RawClient;

const script = (cmds: string[][], db = 5) => sb.script(db, cmds);

const w = words;

describe.skipIf(!haveRedisServer())('bitmaps match Redis', () => {
  beforeAll(async () => {
    sb = await SideBySide.start();
    ({ r, s } = sb);
  }, 60_000);

  afterAll(async () => {
    await sb?.stop();
  });

  it('SETBIT / GETBIT: growth, old values, errors, encodings', async () => {
    const bad = await script([
      w('SETBIT b 7 1'),
      w('GET b'),
      w('SETBIT b 7 1'),
      w('SETBIT b 7 0'),
      w('SETBIT b 100 1'),
      w('STRLEN b'),
      w('GETBIT b 100'),
      w('GETBIT b 101'),
      w('GETBIT b 100000'),
      w('GETBIT nokey 0'),
      w('SETBIT b -1 1'),
      w('SETBIT b 4294967296 1'),
      w('SETBIT b 1 2'),
      w('SETBIT b 1 -1'),
      w('SETBIT b 1 01'),
      w('SETBIT b x 1'),
      w('SETBIT b 1 x'),
      w('GETBIT b -1'),
      w('GETBIT b 4294967296'),
      w('SET n 12345'),
      w('OBJECT ENCODING n'),
      w('GETBIT n 2'),
      w('OBJECT ENCODING n'),
      // An unchanged bit still turns the value into a raw string.
      w('SETBIT n 2 1'),
      w('OBJECT ENCODING n'),
      w('GET n'),
      w('SET e short'),
      w('SETBIT e 0 0'),
      w('OBJECT ENCODING e'),
      w('HSET h f v'),
      w('SETBIT h 0 1'),
      w('GETBIT h 0'),
      w('SET t v EX 1000'),
      w('SETBIT t 3 1'),
      w('TTL t'),
    ]);
    expect(bad).toEqual([]);
  });

  it('BITCOUNT and BITPOS with BYTE and BIT ranges', async () => {
    const bad = await script([
      ['SET', 'k', '\xff\xf0\x00\x0f\x55'],
      w('BITCOUNT k'),
      w('BITCOUNT k 0 0'),
      w('BITCOUNT k 1 -1'),
      w('BITCOUNT k -2 -1'),
      w('BITCOUNT k -1 -2'),
      w('BITCOUNT k 5 100'),
      w('BITCOUNT k 0 -1 BIT'),
      w('BITCOUNT k 3 13 BIT'),
      w('BITCOUNT k 5 5 BIT'),
      w('BITCOUNT k -7 -3 bit'),
      w('BITCOUNT k 0 0 byte'),
      w('BITCOUNT k 0 0 BAD'),
      w('BITCOUNT k 0'),
      w('BITCOUNT k 0 1 BIT x'),
      w('BITCOUNT k x 1'),
      w('BITCOUNT nokey 0 x'),
      w('BITPOS k 0'),
      w('BITPOS k 1'),
      w('BITPOS k 1 2'),
      w('BITPOS k 0 0 0'),
      w('BITPOS k 0 1 1'),
      w('BITPOS k 1 2 2'),
      w('BITPOS k 1 12 20 BIT'),
      w('BITPOS k 0 0 3 BIT'),
      w('BITPOS k 0 0 -1 BIT'),
      w('BITPOS k 1 33 BIT'),
      w('BITPOS k 0 4 4 BIT'),
      w('BITPOS k 1 -3 -1 BIT'),
      w('BITPOS k 0 100'),
      w('BITPOS k 2'),
      w('BITPOS k x'),
      w('BITPOS k 1 0 1 BAD'),
      w('BITPOS nokey 0'),
      w('BITPOS nokey 1'),
      w('BITPOS nokey 2'),
      ['SET', 'ones', '\xff\xff\xff'],
      w('BITPOS ones 0'),
      w('BITPOS ones 0 0 -1'),
      w('BITPOS ones 0 1'),
      w('BITPOS ones 0 0 23 BIT'),
      ['SET', 'empty', ''],
      w('BITPOS empty 0'),
      w('BITPOS empty 1'),
      w('BITCOUNT empty'),
      w('BITCOUNT empty 0 -1 BIT'),
    ]);
    expect(bad).toEqual([]);
  });

  it('BITOP: lengths, NOT, missing keys, deletion of the target', async () => {
    const bad = await script([
      w('SET a abcdefghijklmnopqrstuvwxyz0123456789ABCDEF'),
      w('SET b xyz'),
      w('BITOP AND d a b'),
      w('GET d'),
      w('BITOP OR d a b nokey'),
      w('GET d'),
      w('BITOP XOR d a b a'),
      w('GET d'),
      w('BITOP NOT d b'),
      w('GET d'),
      w('BITOP NOT d a b'),
      w('BITOP NAND d a'),
      w('OBJECT ENCODING d'),
      w('SET d x EX 100'),
      w('BITOP OR d b'),
      w('TTL d'),
      w('BITOP AND d nokey nokey2'),
      w('EXISTS d'),
      w('HSET h f v'),
      w('BITOP OR d a h'),
      w('BITOP and h a'),
      w('TYPE h'),
    ]);
    expect(bad).toEqual([]);
  });

  it('BITFIELD: types, #offsets, overflow modes, BITFIELD_RO', async () => {
    const bad = await script([
      w('BITFIELD bf SET i8 0 -100 GET u8 0 GET i4 0 GET u4 4'),
      w('BITFIELD bf INCRBY u2 100 1 OVERFLOW SAT INCRBY u2 102 1'),
      w('BITFIELD bf OVERFLOW WRAP INCRBY i8 #1 200 OVERFLOW SAT INCRBY i8 #2 200 OVERFLOW FAIL INCRBY i8 #3 200'),
      w('BITFIELD bf GET i64 0 GET u63 1 SET i64 64 -9223372036854775808 INCRBY i64 64 -1'),
      w('BITFIELD bf OVERFLOW SAT INCRBY i64 128 9223372036854775807 INCRBY i64 128 1 INCRBY i64 128 -9223372036854775808'),
      w('BITFIELD bf OVERFLOW FAIL SET u8 0 256 SET u8 0 -1 SET i8 0 128 SET i8 0 -129'),
      w('BITFIELD bf OVERFLOW SAT SET u8 0 256 SET u8 0 -1 SET i8 0 128 SET i8 0 -129'),
      w('BITFIELD bf OVERFLOW WRAP SET u8 0 256 SET u8 0 -1 SET i8 0 128 SET i8 0 -129'),
      w('BITFIELD bf GET u64 0'),
      w('BITFIELD bf GET i65 0'),
      w('BITFIELD bf GET u0 0'),
      w('BITFIELD bf GET I8 0'),
      w('BITFIELD bf GET u8 #-1'),
      w('BITFIELD bf GET u8 #9223372036854775807'),
      w('BITFIELD bf OVERFLOW BAD'),
      w('BITFIELD bf SET u8 0'),
      w('BITFIELD bf FOO'),
      w('BITFIELD bf SET u8 0 x'),
      w('BITFIELD bf GET u16 1000'),
      w('BITFIELD bf'),
      w('BITFIELD_RO bf GET u8 0 GET i16 #3'),
      w('BITFIELD_RO bf SET u8 0 1'),
      w('BITFIELD_RO bf INCRBY u8 0 1'),
      w('BITFIELD_RO nokey GET u8 0'),
      w('BITFIELD fail OVERFLOW FAIL INCRBY u8 0 1000'),
      w('GET fail'),
      w('GET bf'),
      w('OBJECT ENCODING bf'),
      w('HSET h f v'),
      w('BITFIELD h GET u8 0'),
      w('BITFIELD h SET u8 0 1'),
    ]);
    expect(bad).toEqual([]);
  });

  it('offset limit follows proto-max-bulk-len', async () => {
    // 1 MiB is the smallest allowed limit: offsets at or past 8 Mi bits are refused.
    for (const c of [r, s]) expect(await c.call('CONFIG', 'SET', 'proto-max-bulk-len', '1048576')).toBe('+OK');
    try {
      const bad = await script([
        w('SETBIT big 8388607 1'),
        w('STRLEN big'),
        w('SETBIT big 8388608 1'),
        w('GETBIT big 8388608'),
        w('BITFIELD big GET u8 8388600'),
        w('BITFIELD big SET u8 8388608 1'),
        w('BITFIELD big SET u8 #1048576 1'),
        w('BITCOUNT big'),
        w('BITPOS big 1'),
      ]);
      expect(bad).toEqual([]);
    } finally {
      for (const c of [r, s]) await c.call('CONFIG', 'SET', 'proto-max-bulk-len', '536870912');
    }
  });
});

describe('bitmaps persist in Shale', () => {
  it('a bitmap built with SETBIT/BITFIELD reads back the same after a restart', async () => {
    const p = await ShaleProcess.start();
    try {
      let c = await RawClient.connect(p.port);
      const offsets = [0, 1, 9, 4095, 100_001, 777_777];
      for (const o of offsets) expect(await c.call('SETBIT', 'bm', String(o), '1')).toBe(':0');
      expect(await c.call('BITFIELD', 'bm', 'SET', 'u16', '#10', '65535')).toEqual([':0']);
      const before = await c.call('GET', 'bm');
      c.close();
      await p.restart();
      c = await RawClient.connect(p.port);
      expect(await c.call('GET', 'bm')).toEqual(before);
      expect(await c.call('BITCOUNT', 'bm')).toBe(`:${offsets.length + 16}`);
      for (const o of offsets) expect(await c.call('GETBIT', 'bm', String(o))).toBe(':1');
      expect(await c.call('BITPOS', 'bm', '1', '1000')).toBe(':100001');
      c.close();
    } finally {
      await p.cleanup();
    }
  }, 60_000);
});
