/** GC deletes what nothing references (after a minimum age) and never a fence or live table. */
import { expect, it } from 'vitest';
import { Engine, MemoryStore, ResilientStore } from '../../src/engine/index.ts';
import { listAll } from '../../src/engine/objectstore/types.ts';
import { FaultyStore } from '../support/faulty-store.ts';

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

it('removes the outputs of a failed compaction once it has released them; data stays intact', async () => {
  const faulty = new FaultyStore(new MemoryStore());
  // One attempt per request, so the injected failure reaches the compaction at once.
  const store = new ResilientStore(faulty, { attempts: 1 });
  const options = { store, workers: 'inline' as const, gcIntervalMs: 0, autoCompact: false, flushIntervalMs: 1 };
  const e = await Engine.open(options);
  for (let t = 0; t < 4; t++) {
    for (let i = 0; i < 100; i++) e.put(`k${t}-${i}`, Buffer.alloc(40, i));
    await e.flushMemtable();
  }
  const tablesBefore = await keys(faulty.inner as MemoryStore, 'sst/');
  expect(tablesBefore).toHaveLength(4);
  // The merged table is written, then the manifest naming it cannot be.
  faulty.failPuts = (key) => key.startsWith('manifest/');
  await expect(e.compact({ full: true })).rejects.toThrow(/injected failure/);
  faulty.failPuts = undefined;
  const orphans = (await keys(faulty.inner as MemoryStore, 'sst/')).filter((k) => !tablesBefore.includes(k));
  expect(orphans.length).toBeGreaterThan(0);

  await e.gc(0);
  const after = await keys(faulty.inner as MemoryStore, 'sst/');
  expect(after.filter((k) => orphans.includes(k))).toEqual([]);
  expect(after.sort()).toEqual([...tablesBefore].sort());
  const check = async (x: Engine) => {
    for (let t = 0; t < 4; t++) for (let i = 0; i < 100; i += 9) expect((await x.get(`k${t}-${i}`))?.[0]).toBe(i);
  };
  await check(e);
  // The compaction succeeds on retry, and a reopened engine sees everything.
  await e.compact({ full: true });
  await check(e);
  await e.close();
  const again = await Engine.open({ ...options, store: faulty.inner });
  await check(again);
  await again.close();
});
