/** Dropped key ranges: hidden at once, left out of tables, kept across restarts, then forgotten. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addRange, AscendingDropFilter, droppedAt, type DroppedRange } from '../../src/engine/dropped.ts';
import { Engine, type EngineOptions, MemoryStore } from '../../src/engine/index.ts';
import { latestManifest, storedKeys } from '../support/stored-tables.ts';

const k = (i: number) => `k${String(i).padStart(5, '0')}`;
const val = Buffer.from('value');

function options(store: MemoryStore, o: Partial<EngineOptions> = {}): EngineOptions {
  return { store, workers: 'inline', gcIntervalMs: 0, flushIntervalMs: 1, ...o };
}

async function scanKeys(e: Engine, start?: string, end?: string, reverse = false): Promise<string[]> {
  const out: string[] = [];
  for await (const x of e.scan({ start, end, reverse })) out.push(x.key);
  return out;
}

function putRange(e: Engine, from: number, to: number, value = val): void {
  for (let i = from; i < to; i++) e.put(k(i), value);
}

const inRange = (key: string) => key >= k(100) && key < k(200);

describe('Engine.dropRange', () => {
  it('hides the range from gets and scans at once, and only the range', async () => {
    const store = new MemoryStore();
    const e = await Engine.open(options(store));
    putRange(e, 0, 300);
    await e.flushMemtable(); // half in a table, half in the memtable
    for (let i = 0; i < 300; i += 2) e.put(k(i), Buffer.from('newer'));
    expect(await e.dropRange(k(100), k(200))).toBe(true);
    expect(e.isDropped(k(100))).toBe(true);
    expect(e.isDropped(k(199))).toBe(true);
    expect(e.isDropped(k(200))).toBe(false);
    expect(await e.get(k(150))).toBeUndefined();
    expect(await e.getEntry(k(151))).toBeUndefined();
    expect(await e.get(k(99))).toEqual(Buffer.from('value'));
    expect(await e.get(k(200))).toEqual(Buffer.from('newer'));
    const want = Array.from({ length: 300 }, (_, i) => k(i)).filter((x) => !inRange(x));
    expect(await scanKeys(e)).toEqual(want);
    expect(await scanKeys(e, undefined, undefined, true)).toEqual([...want].reverse());
    expect(await scanKeys(e, k(150), k(250))).toEqual(want.filter((x) => x >= k(150) && x < k(250)));
    expect(await e.scanAll({ start: k(120), end: k(180), limit: 10 })).toEqual([]);
    await e.close();
  });

  it('leaves the range out of flushed and compacted tables, then forgets it', async () => {
    const store = new MemoryStore();
    const e = await Engine.open(options(store, { autoCompact: false }));
    putRange(e, 0, 300);
    await e.flushMemtable();
    putRange(e, 300, 400);
    putRange(e, 150, 180, Buffer.from('in the memtable'));
    expect(await e.dropRange(k(100), k(200))).toBe(true);
    await e.flushMemtable();
    // The new table left the memtable's records out; the older one still holds them.
    expect((await storedKeys(store)).filter(inRange)).toHaveLength(100);
    expect(e.shape.dropped).toBe(1);
    await e.compact();
    expect(e.stats.dropRewrites).toBe(1);
    const stored = await storedKeys(store);
    expect(stored.filter(inRange)).toEqual([]);
    expect(stored).toHaveLength(300);
    expect(e.shape.dropped).toBe(0);
    expect((await latestManifest(store)).dropped).toEqual([]);
    // Forgotten: the keys are ordinary keys again.
    e.put(k(150), val);
    expect(await e.get(k(150))).toEqual(val);
    await e.close();
  });

  it('keeps the drop across a crash: replayed records stay hidden and are left out', async () => {
    const store = new MemoryStore();
    const e = await Engine.open(options(store));
    putRange(e, 0, 300);
    await e.flush(); // in the WAL only
    expect(await e.dropRange(k(100), k(200))).toBe(true);
    await e.abandon();
    const again = await Engine.open(options(store));
    expect(await again.get(k(150))).toBeUndefined();
    expect(await again.get(k(250))).toEqual(val);
    expect(await scanKeys(again)).toHaveLength(200);
    await again.flushMemtable();
    expect((await storedKeys(store)).filter(inRange)).toEqual([]);
    // Nothing can hold the range any more: the flush's manifest forgot it.
    expect(again.shape.dropped).toBe(0);
    await again.close();
  });

  it('removes tables wholly inside a range without reading them', async () => {
    const store = new MemoryStore();
    const e = await Engine.open(options(store, { autoCompact: false }));
    putRange(e, 0, 100);
    await e.flushMemtable();
    putRange(e, 100, 200);
    await e.flushMemtable();
    putRange(e, 200, 300);
    await e.flushMemtable();
    expect(await e.dropRange(k(50), k(200))).toBe(true);
    const gets = e.store.counters.gets;
    await e.compact();
    // Only the first table, half inside, was read and rewritten.
    expect(e.store.counters.gets - gets).toBe(1);
    expect(e.stats.dropRewrites).toBe(2);
    const m = await latestManifest(store);
    expect(m.l0).toHaveLength(2);
    expect(m.dropped).toEqual([]);
    expect((await storedKeys(store)).sort()).toEqual(Array.from({ length: 300 }, (_, i) => k(i)).filter((x) => x < k(50) || x >= k(200)));
    await e.close();
  });

  it('stamps a table that spans a range without keys in it instead of rewriting it', async () => {
    const store = new MemoryStore();
    const e = await Engine.open(options(store, { autoCompact: false }));
    e.put('a', val);
    e.put('z', val);
    await e.flushMemtable();
    const before = (await latestManifest(store)).l0.map((t) => t.id);
    expect(await e.dropRange('m', 'n')).toBe(true);
    await e.compact();
    const after = await latestManifest(store);
    expect(after.l0.map((t) => t.id)).toEqual(before);
    expect(after.dropped).toEqual([]);
    expect(e.stats.dropRewrites).toBe(1);
    await e.close();
  });

  it('declines once too many drops are pending', async () => {
    const store = new MemoryStore();
    const e = await Engine.open(options(store, { autoCompact: false }));
    putRange(e, 0, 600);
    await e.flushMemtable(); // a table that meets every range keeps them all pending
    let accepted = 0;
    for (let i = 0; i < 300; i++) if (await e.dropRange(k(2 * i), k(2 * i) + '\0')) accepted++;
    expect(accepted).toBe(256);
    expect(await e.get(k(0))).toBeUndefined();
    expect(await e.get(k(1))).toEqual(val);
    expect(await e.get(k(598))).toEqual(val); // declined: still there
    // Within a pending range: nothing to add.
    expect(await e.dropRange(k(0), k(0) + '\0')).toBe(true);
    await e.compact();
    expect(e.shape.dropped).toBe(0);
    expect(await e.dropRange(k(598), k(599))).toBe(true);
    await e.close();
  });
});

describe('dropped range helpers', () => {
  const arbRanges = fc.array(
    fc.tuple(fc.integer({ min: 0, max: 60 }), fc.integer({ min: 1, max: 8 })).map(([a, n]) => [a, a + n] as const),
    { maxLength: 12 },
  );
  const key = (n: number) => String.fromCharCode(65 + n);

  it('merge ranges, find the range of a key and filter ascending keys like a plain model', () => {
    fc.assert(
      fc.property(arbRanges, (spans) => {
        let ranges: DroppedRange[] = [];
        spans.forEach(([a, b], i) => (ranges = addRange(ranges, key(a), key(b), i, i + 1)));
        for (let i = 1; i < ranges.length; i++) expect(ranges[i - 1]!.end < ranges[i]!.start).toBe(true);
        const filter = new AscendingDropFilter(ranges);
        for (let n = 0; n < 72; n++) {
          const inModel = spans.some(([a, b]) => n >= a && n < b);
          expect(droppedAt(ranges, key(n)) !== undefined).toBe(inModel);
          expect(filter.drops(key(n))).toBe(inModel);
        }
      }),
    );
  });
});
