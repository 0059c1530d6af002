/** The table format: round trips, prefix compression, restart points, blocks, bloom filter. */
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { bloomMayContain, buildBloom, hashKey } from '../../src/engine/bloom.ts';
import { findBlock, findInBlock, FOOTER_SIZE, parseBlock, parseTail, readAll, SstBuilder } from '../../src/engine/sst.ts';
import type { Entry } from '../../src/engine/version.ts';

function build(entries: Entry[], blockSize = 256) {
  const b = new SstBuilder(blockSize);
  for (const e of entries) b.add(e.key, e);
  return b.finish();
}

const sorted = (es: Entry[]) => [...es].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : b.seq - a.seq));

it('round-trips arbitrary binary keys, tombstones and expiries', () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(
        fc.record({
          key: fc.string({ unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)), maxLength: 30 }),
          seq: fc.integer({ min: 1, max: 2 ** 40 }),
          expireAt: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 2 ** 45 })),
          value: fc.option(fc.uint8Array({ maxLength: 300 }), { nil: undefined }),
        }),
        { minLength: 1, maxLength: 200, selector: (e) => `${e.key}\u0000${e.seq}` },
      ),
      (raw) => {
        const entries = sorted(raw);
        const built = build(entries);
        expect([...readAll('t', built.bytes, built.meta)].map((e) => ({ ...e, value: e.value && [...e.value] }))).toEqual(
          entries.map((e) => ({ ...e, value: e.value && [...e.value] })),
        );
        expect(built.meta.count).toBe(entries.length);
        expect(built.meta.first).toBe(entries[0]!.key);
        expect(built.meta.last).toBe(entries[entries.length - 1]!.key);
      },
    ),
    { numRuns: 200 },
  );
});

it('compresses shared prefixes, keeps restart points and never splits a key across blocks', () => {
  const entries: Entry[] = [];
  for (let i = 0; i < 500; i++) {
    const key = `user:profile:${String(i).padStart(6, '0')}`;
    for (let v = 3; v >= 1; v--) entries.push({ key, seq: i * 10 + v, expireAt: 0, value: Buffer.from(`v${v}`) });
  }
  const built = build(entries, 512);
  const rawKeyBytes = entries.reduce((n, e) => n + e.key.length, 0);
  // Keys cost far less than written out in full.
  expect(built.bytes.length).toBeLessThan(rawKeyBytes);
  const tail = parseTail('t', built.bytes.subarray(built.meta.tailOffset), built.meta.tailOffset);
  expect(tail.lastKeys.length).toBeGreaterThan(5);
  for (let b = 0; b < tail.offsets.length; b++) {
    const bytes = Buffer.from(built.bytes.subarray(tail.offsets[b]!, tail.offsets[b]! + tail.sizes[b]!));
    const block = parseBlock('t', bytes);
    // Restart points: every 16th entry, listed at the block end.
    const n = bytes.readUInt32LE(bytes.length - 8);
    expect(n).toBe(Math.ceil(block.entries.length / 16));
    if (b > 0) expect(block.entries[0]!.key).not.toBe(tail.lastKeys[b - 1]);
    expect(block.entries.at(-1)!.key).toBe(tail.lastKeys[b]);
  }
  // Point reads by snapshot find the right version in the right block.
  const key = 'user:profile:000321';
  const block = findBlock(tail, key);
  const off = tail.offsets[block]!;
  const parsed = parseBlock('t', built.bytes.subarray(off, off + tail.sizes[block]!));
  expect(Buffer.from(findInBlock(parsed, key, Infinity)!.value!).toString()).toBe('v3');
  expect(Buffer.from(findInBlock(parsed, key, 3212)!.value!).toString()).toBe('v2');
  expect(findInBlock(parsed, key, 3200)).toBeUndefined();
  expect(built.bytes.length - built.meta.tailOffset).toBeGreaterThan(FOOTER_SIZE);
});

it('the bloom filter has no false negatives and about 1% false positives', () => {
  const keys = Array.from({ length: 20000 }, (_, i) => `present-${i}`);
  const filter = buildBloom(keys.map(hashKey));
  for (const k of keys) expect(bloomMayContain(filter, hashKey(k))).toBe(true);
  let fp = 0;
  const trials = 50000;
  for (let i = 0; i < trials; i++) if (bloomMayContain(filter, hashKey(`absent-${i}`))) fp++;
  expect(fp / trials).toBeLessThan(0.02);
  // About 10 bits per key.
  expect(filter.length * 8).toBeLessThanOrEqual(keys.length * 10 + 64);
});

it('rejects keys out of order', () => {
  const b = new SstBuilder();
  b.add('b', { seq: 1, expireAt: 0, value: Buffer.from('x') });
  expect(() => b.add('a', { seq: 1, expireAt: 0, value: Buffer.from('x') })).toThrow(/out of order/);
});
