/** Scans read ahead: a long scan over cold tables costs a few ranged GETs, not one per block. */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { Engine, type EngineOptions, LocalStore, type ObjectStore } from '../../src/engine/index.ts';

const k = (i: number) => `k${String(i).padStart(6, '0')}`;
const value = (i: number) => Buffer.from(`${i}`.padEnd(100, '.'));
const N = 5000;

const tmp = mkdtempSync(path.join(os.tmpdir(), 'shale-readahead-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function options(store: ObjectStore): EngineOptions {
  return { store, workers: 'inline', gcIntervalMs: 0, flushIntervalMs: 1, autoCompact: false };
}

/** A directory store holding one table of N keys (about 150 blocks of 4 KiB), and a cold engine on it. */
async function coldEngine(): Promise<Engine> {
  const store = new LocalStore(mkdtempSync(path.join(tmp, 'store-')), { fsync: false });
  const w = await Engine.open(options(store));
  for (let i = 0; i < N; i++) w.put(k(i), value(i));
  await w.flushMemtable();
  await w.close();
  return Engine.open(options(store));
}

it.each([false, true])('a whole scan (reverse %s) reads every block in a few GETs, each entry right', async (reverse) => {
  const e = await coldEngine();
  const gets0 = e.store.counters.gets;
  const seen: string[] = [];
  for await (const x of e.scan({ reverse })) {
    const i = Number(x.key.slice(1));
    expect(Buffer.from(x.value).equals(value(i))).toBe(true);
    // Each cached block owns its bytes: a value never pins a whole multi-block read.
    expect(x.value.buffer.byteLength).toBeLessThanOrEqual(8192);
    seen.push(x.key);
  }
  const want = Array.from({ length: N }, (_, i) => k(i));
  expect(seen).toEqual(reverse ? want.reverse() : want);
  const gets = e.store.counters.gets - gets0;
  // 1 + 2 + 4 + 8 + 16 + 16... blocks per read: about 150 / 16 + 5, plus the table's tail.
  expect(e.stats.blockCacheMisses).toBeGreaterThan(0);
  expect(gets).toBeLessThanOrEqual(Math.ceil(150 / 16) + 6);
  expect(gets).toBeGreaterThanOrEqual(5);
  await e.close();
});

it('a short scan reads one block, and what it read ahead is not read again', async () => {
  const e = await coldEngine();
  const gets0 = e.store.counters.gets;
  expect((await e.scanAll({ start: k(2000), limit: 3 })).map((x) => x.key)).toEqual([k(2000), k(2001), k(2002)]);
  // The table's tail and one block.
  expect(e.store.counters.gets - gets0).toBe(2);
  // A longer scan from there reads the next blocks ahead; scanning the same range again reads nothing.
  const range = { start: k(2000), end: k(2600) };
  const first = (await e.scanAll({ ...range, limit: 1000 })).length;
  const gets1 = e.store.counters.gets;
  expect((await e.scanAll({ ...range, limit: 1000 })).length).toBe(first);
  expect(first).toBe(600);
  expect(e.store.counters.gets).toBe(gets1);
  await e.close();
});
