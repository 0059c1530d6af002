/** Record encodings of the data model (src/types/encoding.ts). */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { pack, unpack, unpackMultiple } from 'msgpackr';
import { decodeMeta, encodeSplit, encodeValue, TAG_HASH_SPLIT, type SplitHeader } from '../src/types/encoding.ts';
import { ListValue, POS_BIAS } from '../src/types/list.ts';
import type { DeferredValue } from '../src/engine/version.ts';

const EDGES = [0, 1, 127, 128, -1, -32, -33, 255, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, -(2 ** 31) - 1, 2 ** 53 - 1, -(2 ** 53) + 1, POS_BIAS, -POS_BIAS];

describe('split collection headers', () => {
  it('decode to what msgpackr encodes, for edge and random integers', () => {
    const check = (h: SplitHeader) => {
      const b = Buffer.from(encodeSplit(TAG_HASH_SPLIT, h), 'latin1');
      expect(b[0]).toBe(TAG_HASH_SPLIT);
      expect(unpack(b.subarray(1))).toEqual(unpack(pack(h)));
      // Nothing after the map.
      expect(unpackMultiple(b.subarray(1))).toHaveLength(1);
    };
    for (const v of EDGES) for (const n of EDGES) check({ v: Math.abs(v), n: Math.abs(n), h: v });
    check({ v: 3, n: 7 });
    fc.assert(
      fc.property(fc.nat({ max: Number.MAX_SAFE_INTEGER }), fc.nat({ max: 2 ** 40 }), fc.integer({ min: -POS_BIAS, max: POS_BIAS }), (v, n, h) => {
        check({ v, n, h });
      }),
    );
  });

  it('round-trip a split list through its metadata record', () => {
    for (const head of EDGES.filter((h) => Math.abs(h) <= POS_BIAS)) {
      // 1: a list split before node records (its metadata has no `k`).
      for (const slots of [1, 32]) {
        const l = ListValue.split(2 ** 40 + 5, head, 123456, slots);
        const back = decodeMeta(Buffer.from((encodeValue(l) as DeferredValue).encode(), 'latin1'));
        expect(back.kind).toBe('value');
        const got = (back as { value: ListValue }).value;
        expect([got.version, got.head, got.count, got.slots]).toEqual([l.version, l.head, l.count, slots]);
      }
    }
  });
});
