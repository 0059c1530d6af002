/** compactionParts: a compaction split by key range covers every input, in order, within budget. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compactionParts } from '../../src/engine/engine.ts';
import type { SstMeta } from '../../src/engine/sst.ts';

const key = fc.string({ minLength: 1, maxLength: 3, unit: fc.constantFrom('a', 'b', 'c', 'd', 'e') });
let made = 0;
const table = fc.tuple(key, key, fc.integer({ min: 1, max: 100 })).map(([a, b, size]): SstMeta => {
  const [first, last] = a <= b ? [a, b] : [b, a];
  return { id: `t${made++}`, size, tailOffset: 0, first, last, count: 1, minSeq: 0, maxSeq: 0 };
});

describe('compactionParts', () => {
  it('partitions the key space so that every table is read where its keys are, within the budget', () => {
    fc.assert(
      fc.property(fc.array(table, { minLength: 1, maxLength: 30 }), fc.integer({ min: 1, max: 400 }), (tables, budget) => {
        const parts = compactionParts(tables, budget);
        expect(parts.length).toBeGreaterThan(0);
        for (let i = 0; i < parts.length; i++) {
          const p = parts[i]!;
          // Ranges follow each other without gaps or overlaps.
          if (i === 0) expect(p.lo).toBeUndefined();
          else expect(p.lo).toBe(parts[i - 1]!.hi);
          if (i === parts.length - 1) expect(p.hi).toBeUndefined();
          else expect(p.hi! > (p.lo ?? '')).toBe(true);
          // A part reads exactly the tables that have keys in its range...
          const want = tables.filter((t) => (p.lo === undefined || t.last >= p.lo) && (p.hi === undefined || t.first < p.hi));
          expect(p.tables.map((t) => t.id).sort()).toEqual(want.map((t) => t.id).sort());
          // ...and stays within the budget unless its range cannot be cut finer.
          const bytes = p.tables.reduce((n, t) => n + t.size, 0);
          if (bytes > budget && parts.length > 1) {
            // (A cut at the smallest first key of all would leave nothing below it.)
            const from = p.lo ?? tables.reduce((m, t) => (t.first < m ? t.first : m), tables[0]!.first);
            const cutsInside = tables.filter((t) => t.first > from && (p.hi === undefined || t.first < p.hi));
            expect(cutsInside.length, `part ${i} over budget though it could be cut`).toBe(0);
          }
        }
        // Every table is read by some part.
        const read = new Set(parts.flatMap((p) => p.tables.map((t) => t.id)));
        for (const t of tables) expect(read.has(t.id)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});
