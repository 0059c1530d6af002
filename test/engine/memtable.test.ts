/** Memtable cursors stay correct when the tree under them changes mid-walk. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Reader, Writer } from '../../src/engine/codec.ts';
import { MemCursor } from '../../src/engine/cursors.ts';
import { Memtable } from '../../src/engine/memtable.ts';
import { readEntry, writeEntry } from '../../src/engine/records.ts';
import type { DeferredValue } from '../../src/engine/version.ts';

const val = new Uint8Array([1]);
/** Keys from a small alphabet, so that bounds often equal keys. */
const key = fc.string({ unit: fc.constantFrom('a', 'b', 'c', 'd'), maxLength: 5 });

describe('MemCursor', () => {
  it('walks every key present at its start exactly once, in order, though keys are merged in meanwhile', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(key, { minLength: 1, maxLength: 300 }),
        // Few keys merged meanwhile stay in a small sorted array of their own; many merge into a bigger one.
        fc.oneof(fc.array(key, { maxLength: 8 }), fc.array(key, { maxLength: 200 })),
        fc.boolean(),
        fc.nat(300),
        fc.nat(8),
        (initial, later, reverse, at, tail) => {
          const t = new Memtable();
          let seq = 0;
          // The last few keys come in a second batch: the keys start out in two sorted arrays.
          initial.forEach((k, i) => {
            if (i === initial.length - tail) t.sorted();
            t.apply(k, ++seq, val, 0, Infinity);
          });
          const c = new MemCursor(t, reverse, undefined, undefined);
          const seen: string[] = [];
          for (let i = 0; c.key !== undefined; i++) {
            seen.push(c.key);
            if (i === at % initial.length) {
              // Another scan merges new keys in while this one is paused.
              for (const k of later) t.apply(k, ++seq, val, 0, Infinity);
              t.sorted();
            } else if (i > at % initial.length && i % 3 === 0) {
              // And again, one key at a time, whichever array the current key is in.
              t.apply(`${later[i % Math.max(later.length, 1)] ?? ''}${i}`, ++seq, val, 0, Infinity);
              t.sorted();
            }
            c.next();
          }
          const sorted = [...seen].sort();
          expect(seen).toEqual(reverse ? sorted.reverse() : sorted);
          expect(new Set(seen).size).toBe(seen.length);
          for (const k of initial) expect(seen).toContain(k);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('walks exactly the keys in [start, end) of every sorted array, both ways', () => {
    fc.assert(
      fc.property(
        // A big first batch, then small ones that stay in sorted arrays of their own.
        fc.tuple(fc.uniqueArray(key, { minLength: 40, maxLength: 200 }), fc.array(fc.uniqueArray(key, { maxLength: 5 }), { maxLength: 4 })).map(([a, b]) => [a, ...b]),
        fc.option(key),
        fc.option(key),
        fc.boolean(),
        (batches, start, end, reverse) => {
          const t = new Memtable();
          const all = new Set<string>();
          let seq = 0;
          for (const batch of batches) {
            for (const k of batch) {
              t.apply(k, ++seq, val, 0, Infinity);
              all.add(k);
            }
            t.sorted();
          }
          const s = start ?? undefined;
          const e = end ?? undefined;
          const c = new MemCursor(t, reverse, s, e);
          const seen: string[] = [];
          for (; c.key !== undefined && (reverse ? s === undefined || c.key >= s : e === undefined || c.key < e); c.next()) seen.push(c.key);
          const want = [...all].filter((k) => (s === undefined || k >= s) && (e === undefined || k < e)).sort();
          expect(seen).toEqual(reverse ? want.reverse() : want);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('Memtable versions under snapshots', () => {
  it('keep a key on one first node, so a positioned cursor sees the versions written after it', () => {
    const t = new Memtable();
    const first = t.apply('k', 1, Buffer.from('v1'), 0, Infinity);
    t.apply('other', 2, Buffer.from('o'), 0, Infinity);
    const c = new MemCursor(t, false, undefined, undefined);
    expect(c.key).toBe('k');
    // A snapshot at seq 2 is open: the old version must stay readable.
    const node = t.apply('k', 3, Buffer.from('v3'), 0, 2);
    expect(node).toBe(first);
    expect([t.replacedSeq, t.replacedLen]).toEqual([1, 2]);
    expect(Buffer.from(c.best(Infinity)!.value!).toString()).toBe('v3');
    expect(Buffer.from(c.best(2)!.value!).toString()).toBe('v1');
    // Once no snapshot needs it, the next write drops the old version.
    t.apply('k', 4, Buffer.from('v4'), 0, Infinity);
    expect(c.best(2)).toBeUndefined();
    expect(Buffer.from(t.get('k', Infinity)!.value!).toString()).toBe('v4');
  });
});

describe('Memtable values', () => {
  it('never keep the buffer they were handed, and count rewritten small values until the table goes', () => {
    const t = new Memtable();
    // Writers hand in pooled Buffers and views of bigger buffers (a request, a WAL object).
    const big = Buffer.alloc(1 << 20, 7);
    const small = big.subarray(100, 200);
    const large = big.subarray(0, 10_000);
    t.apply('small', 1, small, 0, Infinity);
    t.apply('large', 2, large, 0, Infinity);
    t.apply('pooled', 3, Buffer.from('abc'), 0, Infinity);
    for (const k of ['small', 'large', 'pooled']) {
      const v = t.get(k, Infinity)!.value!;
      expect(v.buffer).not.toBe(big.buffer);
      // A small value lives in one of the table's 64 KiB chunks, a large one in memory of its own.
      expect(v.buffer.byteLength).toBe(k === 'large' ? 10_000 : 64 * 1024);
    }
    expect(Buffer.from(t.get('small', Infinity)!.value!)).toEqual(small);
    expect(Buffer.from(t.get('large', Infinity)!.value!)).toEqual(large);
    // A key rewritten in place: its old values' chunk bytes are not reused, and stay counted.
    const before = t.bytes;
    for (let i = 0; i < 1000; i++) t.apply('hot', 10 + i, Buffer.alloc(100, i), 0, Infinity);
    expect(t.bytes - before).toBeGreaterThanOrEqual(1000 * 100);
    expect(t.get('hot', Infinity)!.value![0]).toBe(999 % 256);
  });

  it('keep binary strings as they are, read back as their bytes, and free them with their version', () => {
    const t = new Memtable();
    const small = String.fromCharCode(0, 1, 200, 255) + 'x'.repeat(60);
    const large = '\xff'.repeat(5000);
    t.apply('s', 1, small, 0, Infinity);
    t.apply('l', 2, large, 0, Infinity);
    expect(Buffer.from(t.get('s', Infinity)!.value!)).toEqual(Buffer.from(small, 'latin1'));
    expect(Buffer.from(t.get('l', Infinity)!.value!)).toEqual(Buffer.from(large, 'latin1'));
    // Unlike arena bytes, a string rewritten in place stops being counted.
    const before = t.bytes;
    for (let i = 0; i < 1000; i++) t.apply('s', 10 + i, String.fromCharCode(i & 0xff).repeat(64), 0, Infinity);
    expect(t.bytes - before).toBe(0);
    expect(t.get('s', Infinity)!.value![0]).toBe(999 & 0xff);
    // Bytes of the same size: the arena takes them, and the same count moves to the arena.
    t.apply('s', 2000, Buffer.alloc(64, 1), 0, Infinity);
    expect(t.bytes - before).toBe(0);
    expect(t.get('s', Infinity)!.value!.buffer.byteLength).toBe(64 * 1024);
  });

  it('keep a deferred value unencoded until it is read or logged, and log its encoding', () => {
    const t = new Memtable();
    let encodes = 0;
    const deferred = (text: string): DeferredValue => ({ length: 46, encode: () => (encodes++, text) });
    for (let i = 0; i < 100; i++) t.apply('h', 1 + i, deferred(`header ${i}\xff`), 0, Infinity);
    expect(encodes).toBe(0);
    expect(Buffer.from(t.get('h', Infinity)!.value!)).toEqual(Buffer.from('header 99\xff', 'latin1'));
    expect(encodes).toBe(1);
    // The WAL and flushes write the encoding itself (its length, not the estimate).
    const w = new Writer(64);
    writeEntry(w, 'h', new Map(t.entries()).get('h')!);
    const back = readEntry(new Reader(w.finish(), 'test'));
    expect([back.key, back.seq, Buffer.from(back.value!).toString('latin1')]).toEqual(['h', 100, 'header 99\xff']);
  });
});
