/** GC deletes what nothing references (after a minimum age) and never a fence or live table. */
import { expect, it } from 'vitest';
import { Engine, MemoryStore } from '../../src/engine/index.ts';
import { listAll } from '../../src/engine/objectstore/types.ts';

async function keys(store: MemoryStore, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of listAll(store, prefix)) out.push(o.key);
  return out;
}

it('removes compacted tables, flushed WAL objects and old manifests, keeping fences', async () => {
  const store = new MemoryStore();
  const options = { store, workers: 'inline' as const, gcIntervalMs: 0, memtableBytes: 8 * 1024, l0CompactionTrigger: 2, flushIntervalMs: 1 };
  // Several opens leave several fences behind.
  for (let round = 0; round < 3; round++) {
    const e = await Engine.open(options);
    let seq = 0;
    for (let i = 0; i < 500; i++) seq = e.put(`k${round}-${i}`, Buffer.alloc(50, i));
    await e.awaitDurable(seq);
    await e.close();
  }
  const e = await Engine.open(options);
  await e.flushMemtable();
  await e.compact();
  const before = { sst: await keys(store, 'sst/'), wal: await keys(store, 'wal/'), manifest: await keys(store, 'manifest/') };
  // Too young: nothing goes.
  expect(await e.gc(60_000)).toBe(0);
  const deleted = await e.gc(0);
  expect(deleted).toBeGreaterThan(0);
  const after = { sst: await keys(store, 'sst/'), wal: await keys(store, 'wal/'), manifest: await keys(store, 'manifest/') };
  expect(after.sst.length).toBeLessThan(before.sst.length);
  expect(after.manifest.length).toBe(10);
  // Every remaining WAL object below the replay point is a fence (kind byte 1 at offset 5).
  for (const k of after.wal) {
    const b = (await store.get(k))!;
    const id = Number(k.slice(4));
    if (id < Number((await keys(store, 'wal/')).at(-1)!.slice(4))) expect(b[5], `${k} kept`).toBe(1);
  }
  expect(after.wal.length).toBeGreaterThanOrEqual(4); // four opens, four fences
  // And the data is all there, through the remaining objects only.
  await e.close();
  const again = await Engine.open(options);
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 500; i += 49) expect((await again.get(`k${round}-${i}`))?.[0]).toBe(i & 0xff);
  }
  await again.close();
});
