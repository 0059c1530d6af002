/** Memtable cursors stay correct when the tree under them changes mid-walk. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemCursor } from '../../src/engine/cursors.ts';
import { Memtable } from '../../src/engine/memtable.ts';

const val = new Uint8Array([1]);

describe('MemCursor', () => {
  it('walks every key present at its start exactly once, in order, though keys are merged in meanwhile', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ maxLength: 4 }), { minLength: 1, maxLength: 300 }),
        fc.array(fc.string({ maxLength: 4 }), { maxLength: 200 }),
        fc.boolean(),
        fc.nat(300),
        (initial, later, reverse, at) => {
          const t = new Memtable();
          let seq = 0;
          for (const k of initial) t.apply(k, { seq: ++seq, value: val, expireAt: 0 }, Infinity);
          const c = new MemCursor(t, reverse, undefined, undefined);
          const seen: string[] = [];
          for (let i = 0; c.key !== undefined; i++) {
            seen.push(c.key);
            if (i === at % initial.length) {
              // Another scan merges new keys into the tree while this one is paused.
              for (const k of later) t.apply(k, { seq: ++seq, value: val, expireAt: 0 }, Infinity);
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
});
