/** ChurnMap (the hot set's and the negative cache's map): same content as a Map, LRU order kept. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ChurnMap } from '../src/types/churn-map.ts';

type Op = { op: 'set' | 'delete' | 'touch' | 'get' | 'iterate-delete'; k: number; v: number };

describe('ChurnMap', () => {
  it('holds what a Map holds under any sequence of sets, deletes, touches and iterations', () => {
    const op = fc.record({
      op: fc.constantFrom('set', 'set', 'delete', 'touch', 'get', 'iterate-delete'),
      k: fc.nat(40),
      v: fc.integer(),
    }) as fc.Arbitrary<Op>;
    fc.assert(
      fc.property(fc.array(op, { maxLength: 3000 }), (ops) => {
        const m = new ChurnMap<number>();
        const ref = new Map<string, number>();
        for (const { op, k, v } of ops) {
          const key = `k${k}`;
          if (op === 'set') {
            m.set(key, v);
            ref.set(key, v);
          } else if (op === 'delete') {
            expect(m.delete(key)).toBe(ref.delete(key));
          } else if (op === 'touch') {
            m.touch(key);
          } else if (op === 'get') {
            expect(m.get(key)).toBe(ref.get(key));
            expect(m.has(key)).toBe(ref.has(key));
          } else {
            // Deleting while iterating, as the spill loop does.
            for (const [ik] of m) if (Number(ik.slice(1)) % 3 === v % 3) m.delete(ik) && ref.delete(ik);
          }
          expect(m.size).toBe(ref.size);
        }
        expect(new Map(m)).toEqual(ref);
        expect([...m.keys()].sort()).toEqual([...ref.keys()].sort());
      }),
      { numRuns: 200 },
    );
  });

  it('survives mass deletion (tombstones are rebuilt away) and keeps content', () => {
    const m = new ChurnMap<number>();
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 5000; i++) m.set(`r${round}:${i}`, i);
      for (let i = 0; i < 5000; i++) if (i % 10) m.delete(`r${round}:${i}`);
    }
    expect(m.size).toBe(2500);
    expect([...m].every(([k, v]) => k.endsWith(`:${v}`) && v % 10 === 0)).toBe(true);
  });

  it('keeps least recently used keys first, to within a quarter of its size', () => {
    const m = new ChurnMap<number>();
    for (let i = 0; i < 1000; i++) m.set(`k${i}`, i);
    // Use the first half (in order); the untouched second half is now least recently used.
    for (let i = 0; i < 500; i++) m.touch(`k${i}`);
    const first = [...m.keys()].slice(0, 250).map((k) => Number(k.slice(1)));
    expect(first.filter((i) => i >= 500).length).toBeGreaterThanOrEqual(200);
    // A key used over and over by itself stays out of the least recently used end.
    for (let i = 0; i < 100_000; i++) m.touch('k999');
    const order = [...m.keys()];
    expect(order.indexOf('k999')).toBeGreaterThan(order.length * 0.7);
    // A key deleted and re-added over and over is still there, once.
    for (let i = 0; i < 100_000; i++) {
      m.delete('q');
      m.set('q', i);
    }
    expect(m.get('q')).toBe(99_999);
    expect([...m.keys()].filter((k) => k === 'q')).toEqual(['q']);
  });
});
