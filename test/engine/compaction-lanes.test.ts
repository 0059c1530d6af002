/** L0 compaction beside a long merge of sorted runs, so writers do not stall behind it. */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, expect, it } from 'vitest';
import { Engine, MemoryStore } from '../../src/engine/index.ts';
import { listAll } from '../../src/engine/objectstore/types.ts';
import { FaultyStore } from '../support/faulty-store.ts';

let engine: Engine | undefined;
afterEach(async () => {
  await engine?.close();
  engine = undefined;
});

async function writeTable(e: Engine, batch: string, n = 200): Promise<void> {
  for (let i = 0; i < n; i++) e.put(`${batch}:${String(i).padStart(4, '0')}`, Buffer.from(`${batch}-${i}`));
  await e.flushMemtable();
}

it('compacts L0 while a slow merge of runs is running, and loses nothing', async () => {
  const store = new FaultyStore(new MemoryStore());
  engine = await Engine.open({ store, workers: 'inline', gcIntervalMs: 0, l0CompactionTrigger: 2, minMergeWidth: 2, maxRuns: 8, l0StallCount: 4 });
  const e = engine;
  // Run 1 from two L0 tables.
  await writeTable(e, 'a');
  await writeTable(e, 'b');
  await e.compact();
  expect(e.shape.runs.length).toBe(1);
  // From now on the tables that exist are slow to read: the merge of run 1 with run 2 that
  // follows reads one of them, so it takes at least this long.
  const slow = new Set<string>();
  for await (const o of listAll(store.inner, 'sst/')) slow.add(o.key);
  const MERGE_DELAY_MS = 3000;
  store.getDelayMs = (key) => (slow.has(key) ? MERGE_DELAY_MS : 0);
  await writeTable(e, 'c');
  await writeTable(e, 'd');
  // Run 2 appears, then the merge of the two runs starts (it waits on the slow table).
  const t0 = performance.now();
  while (e.shape.runs.length < 2 && performance.now() - t0 < 5000) await sleep(10);
  expect(e.shape.runs.length).toBe(2);
  // Two more L0 tables during the merge: they are compacted into a new run at once.
  await writeTable(e, 'f');
  await writeTable(e, 'g');
  while (e.shape.l0 > 0 && performance.now() - t0 < MERGE_DELAY_MS) await sleep(10);
  const waited = performance.now() - t0;
  expect(e.shape.l0).toBe(0);
  expect(waited).toBeLessThan(MERGE_DELAY_MS);
  expect(e.shape.runs.length).toBe(3); // the new run beside the two being merged
  expect(e.writeStalled).toBe(false);
  // Once the merge is done, everything is readable from two runs.
  await e.compact();
  expect(e.shape.runs.length).toBeLessThanOrEqual(2);
  for (const batch of ['a', 'b', 'c', 'd', 'f', 'g']) {
    for (const i of [0, 77, 199]) {
      const v = await e.get(`${batch}:${String(i).padStart(4, '0')}`);
      expect(v && Buffer.from(v).toString()).toBe(`${batch}-${i}`);
    }
  }
  const all: string[] = [];
  for await (const x of e.scan()) all.push(x.key);
  expect(all.length).toBe(6 * 200);
});

it('a stop does not wait out a long compaction; the data is all there after a restart', async () => {
  const store = new FaultyStore(new MemoryStore());
  const open = () => Engine.open({ store, workers: 'inline', gcIntervalMs: 0, l0CompactionTrigger: 6, compactionChunkBytes: 1 });
  engine = await open();
  const e = engine;
  // Every table read takes a while, and a merge of these six tables has one part per table.
  const batches = ['a', 'b', 'c', 'd', 'f', 'g'];
  store.getDelayMs = (key) => (key.startsWith('sst/') ? 500 : 0);
  for (const batch of batches) await writeTable(e, batch);
  await sleep(50); // the compaction of the six L0 tables has started
  const t0 = performance.now();
  await e.close();
  engine = undefined;
  // Without stopping between parts, the close would wait for six 500 ms reads.
  expect(performance.now() - t0).toBeLessThan(1500);
  store.getDelayMs = undefined;
  engine = await open();
  const all: string[] = [];
  for await (const x of engine.scan()) all.push(x.key);
  expect(all.length).toBe(batches.length * 200);
});
