/** Keyspace unit tests on the real Engine over a MemoryStore. */
import { afterEach, describe, expect, it } from 'vitest';
import { Engine, MemoryStore } from '../src/engine/index.ts';
import { storedKeys } from './support/stored-tables.ts';
import { Keyspace, type KeyspaceOptions } from '../src/types/keyspace.ts';
import { HashValue } from '../src/types/values.ts';
import { metaKey, nsRange } from '../src/types/encoding.ts';

const open: Keyspace[] = [];

async function openKs(store: MemoryStore, opts: KeyspaceOptions = {}, flushIntervalMs = 5): Promise<{ ks: Keyspace; engine: Engine }> {
  const engine = await Engine.open({ store, workers: 'inline', flushIntervalMs, gcIntervalMs: 0 });
  const ks = await Keyspace.open(engine, { hz: 50, hashMaxListpackEntries: 128, ...opts });
  open.push(ks);
  return { ks, engine };
}

afterEach(async () => {
  for (const ks of open.splice(0)) await ks.close().catch(() => {});
});

async function load(ks: Keyspace, db: number, ...keys: string[]): Promise<void> {
  await ks.ensureLoaded(db, keys);
}

async function countRecords(engine: Engine, family: string, ns: number): Promise<number> {
  let n = 0;
  for await (const _ of engine.scan(nsRange(family, ns))) n++;
  return n;
}

/** Counts the engine's metadata reads (getEntry goes through getEntryMaybe). */
function countReads(engine: Engine): { n: number } {
  const reads = { n: 0 };
  const orig = engine.getEntryMaybe.bind(engine);
  engine.getEntryMaybe = ((k: string) => {
    reads.n++;
    return orig(k);
  }) as typeof engine.getEntryMaybe;
  return reads;
}

function hashOf(n: number, valueLen = 3): HashValue {
  const h = new HashValue();
  for (let i = 0; i < n; i++) h.set(`f${i}`, 'v'.repeat(valueLen) + i);
  return h;
}

describe('Keyspace', () => {
  it('writes strings through to the engine and reads them back after reopening', async () => {
    const store = new MemoryStore();
    let { ks } = await openKs(store);
    const now = Date.now();
    await load(ks, 0, 'a', 'b');
    ks.set(0, 'a', 'hello');
    ks.set(0, 'b', 'bye', now + 100_000);
    expect(ks.lookup(0, 'a', now)?.value).toBe('hello');
    expect(ks.dbsize(0)).toBe(2);
    expect(ks.expiresCount(0)).toBe(1);
    await ks.close();
    ({ ks } = await openKs(store));
    expect(ks.dbsize(0)).toBe(2);
    await load(ks, 0, 'a', 'b', 'c');
    expect(ks.lookup(0, 'a', now)?.value).toBe('hello');
    expect(ks.lookup(0, 'b', now)?.expireAt).toBe(now + 100_000);
    expect(ks.lookup(0, 'c', now)).toBeUndefined();
  });

  it('binary keys and values round-trip', async () => {
    const store = new MemoryStore();
    let { ks } = await openKs(store);
    const key = '\x00\xff\x80key\r\n';
    const val = Buffer.from([0, 1, 2, 255, 128, 10]).toString('latin1');
    await load(ks, 3, key);
    ks.set(3, key, val);
    const h = new HashValue();
    h.set('\xff\x00', '\x01\x02');
    await load(ks, 3, 'h');
    ks.set(3, 'h', h);
    await ks.close();
    ({ ks } = await openKs(store));
    await load(ks, 3, key, 'h');
    expect(ks.lookup(3, key, Date.now())?.value).toBe(val);
    expect((ks.lookup(3, 'h', Date.now())?.value as HashValue).get('\xff\x00')).toBe('\x01\x02');
  });

  it('remembers missing keys so the engine is asked once', async () => {
    const store = new MemoryStore();
    const first = await openKs(store);
    // A brand-new database needs no reads at all for missing keys.
    expect(first.ks.prefetch(0, ['nope'])).toBeUndefined();
    first.ks.set(0, 'other', 'v');
    await first.ks.close();
    const { ks, engine } = await openKs(store);
    const reads = countReads(engine);
    // Answered at once or after a load, depending on what the engine has cached.
    await ks.prefetch(0, ['nope']);
    expect(ks.prefetch(0, ['nope'])).toBeUndefined();
    expect(reads.n).toBe(1);
  });

  it('loads a key the engine holds in memory at once, without a promise', async () => {
    const { ks, engine } = await openKs(new MemoryStore());
    await load(ks, 0, 'k');
    ks.set(0, 'k', 'v1');
    ks.set(0, 'h', hashOf(3));
    ks.forget(0, 'k');
    ks.forget(0, 'h');
    const reads = countReads(engine);
    // In the memtable: no promise, no microtask before the handler can run.
    expect(ks.prefetch(0, ['k', 'h', 'absent'])).toBeUndefined();
    expect(ks.lookup(0, 'k', Date.now())?.value).toBe('v1');
    expect((ks.lookup(0, 'h', Date.now())?.value as HashValue).get('f2')).toBe('vvv2');
    expect(ks.prefetch(0, ['absent'])).toBeUndefined();
    expect(reads.n).toBe(3);
  });

  it('keeps small hashes inline and splits big ones into element records', async () => {
    const store = new MemoryStore();
    let { ks, engine } = await openKs(store);
    await load(ks, 0, 'small', 'big', 'long');
    ks.set(0, 'small', hashOf(10));
    ks.set(0, 'big', hashOf(200));
    const e = ks.lookup(0, 'small', Date.now())!;
    expect(ks.encodingOf(e)).toBe('listpack');
    expect(ks.encodingOf(ks.lookup(0, 'big', Date.now())!)).toBe('hashtable');
    expect(await countRecords(engine, 'e', 0)).toBe(200);
    // Growing past 128 fields converts in place.
    const h = e.value as HashValue;
    const changed: string[] = [];
    for (let i = 10; i < 130; i++) {
      h.set(`f${i}`, 'x');
      changed.push(`f${i}`);
    }
    ks.hashChanged(0, 'small', e, changed);
    expect(ks.encodingOf(e)).toBe('hashtable');
    // A long value converts too.
    ks.set(0, 'long', hashOf(1));
    const le = ks.lookup(0, 'long', Date.now())!;
    (le.value as HashValue).set('x', 'y'.repeat(65));
    ks.hashChanged(0, 'long', le, ['x']);
    expect(ks.encodingOf(le)).toBe('hashtable');
    // Field deletes in split hashes write element tombstones.
    (e.value as HashValue).delete('f0');
    ks.hashChanged(0, 'small', e, ['f0']);
    await ks.close();
    ({ ks, engine } = await openKs(store));
    await load(ks, 0, 'small', 'big', 'long');
    const small = ks.lookup(0, 'small', Date.now())!.value as HashValue;
    expect(small.size).toBe(129);
    expect(small.get('f0')).toBeUndefined();
    expect(small.get('f129')).toBe('x');
    expect((ks.lookup(0, 'big', Date.now())!.value as HashValue).get('f199')).toBe('vvv199');
    expect((ks.lookup(0, 'long', Date.now())!.value as HashValue).get('x')).toBe('y'.repeat(65));
  });

  it('deleting a big hash is O(1) and its elements are cleaned up in the background', async () => {
    const store = new MemoryStore();
    const { ks, engine } = await openKs(store);
    await load(ks, 0, 'big');
    ks.set(0, 'big', hashOf(500));
    expect(await countRecords(engine, 'e', 0)).toBe(500);
    expect(ks.delete(0, 'big', Date.now())).toBe(true);
    await engine.flush();
    await ks.background.tick();
    expect(await countRecords(engine, 'e', 0)).toBe(0);
    // Overwriting with a string also orphans the old elements.
    ks.set(0, 'big', hashOf(300));
    ks.set(0, 'big', 'now a string');
    await engine.flush();
    await ks.background.tick();
    expect(await countRecords(engine, 'e', 0)).toBe(0);
    expect(ks.dbsize(0)).toBe(1);
    // Dropped as ranges, not deleted record by record: the memtable holds no tombstones, and
    // the table it flushes to holds none of the 800 element records.
    await engine.flushMemtable();
    const tables = await storedKeys(store);
    expect(tables.filter((k) => k.startsWith('e'))).toEqual([]);
  });

  it('drops a deleted collection only once its deletion is durable', async () => {
    const store = new MemoryStore();
    const { ks, engine } = await openKs(store, {}, 60_000);
    await load(ks, 0, 'big');
    ks.set(0, 'big', hashOf(500));
    await engine.flush();
    expect(ks.delete(0, 'big', Date.now())).toBe(true);
    for (let i = 0; i < 3; i++) await ks.background.tick();
    // A crash now would recover the hash from the WAL: its elements must still be there.
    expect(ks.background.pendingCleanupJobs).toBe(1);
    expect(await countRecords(engine, 'e', 0)).toBe(500);
    await engine.flush();
    await ks.background.tick();
    expect(ks.background.pendingCleanupJobs).toBe(0);
    expect(await countRecords(engine, 'e', 0)).toBe(0);
  });

  it('sweeps element records orphaned by a lost cleanup queue', async () => {
    const store = new MemoryStore();
    let { ks, engine } = await openKs(store);
    await load(ks, 0, 'big', 'live');
    ks.set(0, 'big', hashOf(300));
    ks.set(0, 'live', hashOf(200));
    ks.set(0, 'big', 'replaced'); // queues cleanup of the old elements...
    await ks.close(); // ...which is lost at shutdown
    ({ ks, engine } = await openKs(store));
    expect(await countRecords(engine, 'e', 0)).toBe(500);
    for (let i = 0; i < 5; i++) await ks.background.tick();
    expect(ks.background.orphansFound).toBe(1);
    expect(await countRecords(engine, 'e', 0)).toBe(200);
    await load(ks, 0, 'live');
    expect((ks.lookup(0, 'live', Date.now())!.value as HashValue).size).toBe(200);
  });

  it('FLUSHDB switches namespace at once and deletes old records lazily', async () => {
    const store = new MemoryStore();
    let { ks, engine } = await openKs(store);
    await load(ks, 0, ...Array.from({ length: 50 }, (_, i) => `k${i}`), 'h');
    for (let i = 0; i < 50; i++) ks.set(0, `k${i}`, 'v', i % 2 ? Date.now() + 1e6 : 0);
    ks.set(0, 'h', hashOf(200));
    const oldNs = ks.db(0).ns;
    let flushed: (number | undefined)[] = [];
    ks.onFlush((db) => flushed.push(db));
    ks.flushdb(0);
    expect(flushed).toEqual([0]);
    expect(ks.dbsize(0)).toBe(0);
    await load(ks, 0, 'k1');
    expect(ks.lookup(0, 'k1', Date.now())).toBeUndefined();
    await engine.flush();
    for (let i = 0; i < 5; i++) await ks.background.tick();
    expect(await countRecords(engine, 'm', oldNs)).toBe(0);
    expect(await countRecords(engine, 'e', oldNs)).toBe(0);
    expect(await countRecords(engine, 't', oldNs)).toBe(0);
    expect(ks.catalog.dead).toEqual([]);
    await ks.close();
    ({ ks, engine } = await openKs(store));
    expect(ks.dbsize(0)).toBe(0);
    flushed = [];
  });

  it('SWAPDB swaps contents and survives restart', async () => {
    const store = new MemoryStore();
    let { ks } = await openKs(store);
    await load(ks, 0, 'x');
    await load(ks, 1, 'y');
    ks.set(0, 'x', 'in0');
    ks.set(1, 'y', 'in1');
    ks.swapdb(0, 1);
    await load(ks, 0, 'x', 'y');
    expect(ks.lookup(0, 'y', Date.now())?.value).toBe('in1');
    expect(ks.lookup(0, 'x', Date.now())).toBeUndefined();
    await ks.close();
    ({ ks } = await openKs(store));
    await load(ks, 1, 'x');
    expect(ks.lookup(1, 'x', Date.now())?.value).toBe('in0');
    expect(ks.dbsize(1)).toBe(1);
  });

  it('expires lazily on access and actively from the TTL index', async () => {
    const store = new MemoryStore();
    const { ks, engine } = await openKs(store);
    const keys = Array.from({ length: 30 }, (_, i) => `e${i}`);
    await load(ks, 0, ...keys, 'keep');
    const now = Date.now();
    for (const k of keys) ks.set(0, k, 'v', now + 30);
    ks.set(0, 'keep', 'v', now + 1e6);
    const events: string[] = [];
    ks.onKeyModified((_db, key, cause) => events.push(`${cause}:${key}`));
    expect(ks.lookup(0, 'e0', now + 31)).toBeUndefined();
    expect(events).toEqual(['expire:e0']);
    // Let the keys drop out of memory, then have the active cycle find them in the index.
    for (const k of keys) ks.forget(0, k);
    await new Promise((r) => setTimeout(r, 60));
    await ks.background.tick();
    expect(ks.dbsize(0)).toBe(1);
    expect(ks.expiresCount(0)).toBe(1);
    expect(events.length).toBe(30);
    expect(await countRecords(engine, 't', ks.db(0).ns)).toBe(1);
  });

  it('DEBUG SET-ACTIVE-EXPIRE 0 stops the active cycle', async () => {
    const store = new MemoryStore();
    const { ks } = await openKs(store);
    await load(ks, 0, 'a');
    ks.set(0, 'a', 'v', Date.now() + 10);
    ks.activeExpire = false;
    await new Promise((r) => setTimeout(r, 40));
    await ks.background.tick();
    expect(ks.dbsize(0)).toBe(1);
    ks.activeExpire = true;
    await ks.background.tick();
    expect(ks.dbsize(0)).toBe(0);
  });

  it('recounts keys after an unclean shutdown', async () => {
    const store = new MemoryStore();
    const { ks, engine } = await openKs(store);
    const keys = Array.from({ length: 40 }, (_, i) => `k${i}`);
    await load(ks, 2, ...keys);
    for (const [i, k] of keys.entries()) ks.set(2, k, 'v', i < 10 ? Date.now() + 1e6 : 0);
    await engine.flush(); // WAL durable, but no clean catalog
    ks.background.stop();
    // "Crash": a new writer takes over the same store.
    const e2 = await Engine.open({ store, workers: 'inline', flushIntervalMs: 5, gcIntervalMs: 0 });
    const ks2 = await Keyspace.open(e2, { hz: 50, hashMaxListpackEntries: 128 });
    open.push(ks2);
    expect(await ks2.dbsize(2)).toBe(40);
    expect(ks2.expiresCount(2)).toBe(10);
    open.splice(open.indexOf(ks), 1);
  });

  it('database mode spills to the engine under memory pressure without losing data', async () => {
    const store = new MemoryStore();
    const { ks } = await openKs(store, { hotsetBytes: 20_000 });
    const keys = Array.from({ length: 200 }, (_, i) => `key:${i}`);
    for (const k of keys) {
      await load(ks, 0, k);
      ks.set(0, k, 'x'.repeat(500));
    }
    await new Promise((r) => setTimeout(r, 20));
    expect(ks.usedMemory()).toBeLessThanOrEqual(20_000);
    expect(ks.dbsize(0)).toBe(200);
    for (const k of keys) {
      await load(ks, 0, k);
      expect(ks.lookup(0, k, Date.now())?.value).toBe('x'.repeat(500));
    }
  });

  it('cache mode evicts (deletes) by policy and reports OOM when nothing is evictable', async () => {
    const store = new MemoryStore();
    const { ks } = await openKs(store, { maxmemory: 10_000, maxmemoryPolicy: 'allkeys-lru' });
    const evicted: string[] = [];
    ks.onKeyModified((_db, k, cause) => cause === 'evict' && evicted.push(k));
    for (let i = 0; i < 100; i++) {
      expect(ks.freeMemoryIfNeeded()).toBe(true);
      await load(ks, 0, `k${i}`);
      ks.set(0, `k${i}`, 'y'.repeat(300));
    }
    expect(ks.freeMemoryIfNeeded()).toBe(true);
    expect(ks.usedMemory()).toBeLessThanOrEqual(10_000);
    expect(evicted.length).toBeGreaterThan(50);
    expect(evicted[0]).toBe('k0');
    expect(ks.dbsize(0)).toBe(100 - evicted.length);
    await load(ks, 0, 'k0');
    expect(ks.lookup(0, 'k0', Date.now())).toBeUndefined();
    ks.setMaxmemory(10_000, 'volatile-lru');
    for (let i = 100; i < 200; i++) {
      await load(ks, 0, `k${i}`);
      ks.set(0, `k${i}`, 'y'.repeat(300));
    }
    expect(ks.freeMemoryIfNeeded()).toBe(false);
  });

  it('survives concurrent prefetch and write of the same key', async () => {
    const store = new MemoryStore();
    let { ks } = await openKs(store);
    await load(ks, 0, 'k');
    ks.set(0, 'k', 'v1');
    // Keys before it fill blocks, so that its own block is not the catalog's (read at open).
    for (let i = 0; i < 300; i++) ks.set(0, `a${i}`, 'x'.repeat(100));
    await ks.close();
    // Reopened, the key's block is not cached: its load waits for a read.
    ({ ks } = await openKs(store));
    const p = ks.prefetch(0, ['k'])!;
    expect(p).toBeInstanceOf(Promise);
    // Simulate the active-expiry path writing while the read is in flight.
    ks.forget(0, 'k');
    await p;
    expect(ks.lookup(0, 'k', Date.now())?.value).toBe('v1');
  });

  it('scanKeys walks keys in order across pages', async () => {
    const store = new MemoryStore();
    const { ks } = await openKs(store);
    const keys = Array.from({ length: 25 }, (_, i) => `s${String(i).padStart(2, '0')}`);
    await load(ks, 0, ...keys);
    for (const k of keys) ks.set(0, k, 'v');
    const seen: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await ks.scanKeys(0, after, 7);
      seen.push(...page.keys.map((k) => k.key));
      if (page.done) break;
      after = page.last;
    }
    expect(seen).toEqual(keys);
    expect(metaKey(ks.db(0).ns, 'a').length).toBe(6);
  });
});
