/**
 * The split-list layout on the real Engine (MemoryStore), in process: a big list costs a few
 * bytes of hot-set memory, end operations rewrite one small node record and the metadata, DEL
 * is one record, and the whole list is never read to serve LPUSH/RPOP/LINDEX/LSET.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Engine, MemoryStore } from '../src/engine/index.ts';
import { elemPrefix, listPosKey, nsRange, prefixEnd } from '../src/types/encoding.ts';
import type { EngineWrite } from '../src/types/engine-api.ts';
import { Keyspace, type KeyspaceOptions } from '../src/types/keyspace.ts';
import * as ops from '../src/types/list-ops.ts';
import { ListValue } from '../src/types/list.ts';
import { decodeNodes, NODE_SLOTS } from '../src/types/list-nodes.ts';

const N = 40_000;
const open: Keyspace[] = [];

afterEach(async () => {
  for (const ks of open.splice(0)) await ks.close().catch(() => {});
});

/** Engine plus a record of every write batch made through it and a count of element reads. */
async function openKs(store: MemoryStore, opts: KeyspaceOptions = {}): Promise<{ ks: Keyspace; engine: Engine; batches: EngineWrite[][]; reads: { n: number } }> {
  const engine = await Engine.open({ store, workers: 'inline', flushIntervalMs: 5, gcIntervalMs: 0 });
  const batches: EngineWrite[][] = [];
  const reads = { n: 0 };
  const write = engine.write.bind(engine);
  engine.write = (batch) => {
    batches.push([...batch]);
    return write(batch);
  };
  const get = engine.get.bind(engine);
  engine.get = (key, o) => {
    if (key.startsWith('e')) reads.n++;
    return get(key, o);
  };
  const scanAll = engine.scanAll.bind(engine);
  engine.scanAll = (o) => {
    if (o.start?.startsWith('e')) reads.n++;
    return scanAll(o);
  };
  const ks = await Keyspace.open(engine, { hz: 50, ...opts });
  open.push(ks);
  return { ks, engine, batches, reads };
}

async function list(ks: Keyspace, key: string): Promise<ops.ListRef> {
  await ks.ensureLoaded(0, [key]);
  return ops.ref(ks, 0, key, ks.lookup(0, key, Date.now())!);
}

async function countElements(engine: Engine, ns: number): Promise<number> {
  let n = 0;
  for await (const _ of engine.scan(nsRange('e', ns))) n++;
  return n;
}

/** Every element record of namespace ns decoded as list r's nodes: stale records would show. */
async function storedElements(engine: Engine, ns: number, r: ops.ListRef): Promise<string[]> {
  const recs: { key: string; value: Uint8Array }[] = [];
  for await (const e of engine.scan(nsRange('e', ns))) recs.push({ key: e.key, value: e.value });
  const out: string[] = [];
  decodeNodes(recs, { ns, key: r.key, version: r.l.version, k: r.l.slots }, r.l.head, -Infinity, Infinity, (v) => out.push(Buffer.from(v).toString('latin1')));
  return out;
}

/** Records written, ignoring the catalog record that the first write after a clean open adds. */
function records(batches: EngineWrite[][]): number {
  return batches.flat().filter((w) => w.key !== 'c').length;
}

describe('split lists at scale', () => {
  it(`keeps a ${N}-element list out of memory and touches only the ends`, async () => {
    const store = new MemoryStore();
    let { ks, engine, batches } = await openKs(store);
    await ks.ensureLoaded(0, ['big']);
    ops.create(ks, 0, 'big', Array.from({ length: 1000 }, (_, i) => `e${i}`));
    let r = await list(ks, 'big');
    for (let i = 1000; i < N; i += 1000) await ops.push(r, Array.from({ length: 1000 }, (_, j) => `e${i + j}`), 'tail');
    expect(r.l.split).toBe(true);
    expect(r.l.length).toBe(N);
    // Hot-set memory is the key, three numbers and the cached ends (at most 2 x 160 elements),
    // not the elements: it stays that small as the list grows.
    expect(ks.usedMemory()).toBeLessThan(20_000);
    await ops.push(r, Array.from({ length: 1000 }, (_, j) => `e${N + j}`), 'tail');
    expect(ks.usedMemory()).toBeLessThan(20_000);
    await ops.pop(r, 'tail', 1000);

    batches.length = 0;
    expect(ops.push(r, ['head'], 'head')).toBe(N + 1);
    expect(records(batches)).toBe(2); // the head node and the metadata
    batches.length = 0;
    expect(await ops.pop(r, 'tail', 1)).toEqual([`e${N - 1}`]);
    expect(records(batches)).toBe(2); // the tail node and the metadata
    batches.length = 0;
    await ops.setAt(r, 20_000, 'changed');
    expect(records(batches)).toBe(2); // its node and the metadata
    expect(await ops.index(r, 20_000)).toBe('changed');
    expect(await ops.index(r, 0)).toBe('head');
    expect(await ops.rangeStrings(r, 30_000, 30_002)).toEqual(['e29999', 'e30000', 'e30001']);
    // A node of these elements: at most NODE_SLOTS of 7 bytes and a length byte each.
    expect(batches.flat().every((w) => (w.value?.length ?? 0) <= NODE_SLOTS * 8)).toBe(true);

    // After a restart the metadata alone describes the list.
    let reads: { n: number };
    await ks.close();
    ({ ks, engine, batches, reads } = await openKs(store));
    r = await list(ks, 'big');
    expect(r.l.length).toBe(N);
    expect(ks.usedMemory()).toBeLessThan(500);
    expect(await ops.pop(r, 'head', 2)).toEqual(['head', 'e0']);
    // That pop loaded the head's cache with one read: reads and pops near the head need none.
    expect(reads.n).toBe(1);
    expect(await ops.rangeStrings(r, 0, 99)).toEqual(Array.from({ length: 100 }, (_, i) => `e${i + 1}`));
    expect(ops.index(r, 5)).toBe('e6');
    expect(ops.pop(r, 'head', 3)).toEqual(['e1', 'e2', 'e3']);
    expect(reads.n).toBe(1);
    // The tail's likewise, on the first read there.
    expect(await ops.rangeStrings(r, N - 12, N - 11)).toEqual([`e${N - 8}`, `e${N - 7}`]);
    expect(ops.pop(r, 'tail', 1)).toEqual([`e${N - 2}`]);
    expect(reads.n).toBe(2);

    // DEL writes one record; the elements go in the background cleanup.
    const ns = ks.db(0).ns;
    batches.length = 0;
    expect(ks.delete(0, 'big', Date.now())).toBe(true);
    expect(records(batches)).toBe(1);
    await engine.flush(); // the elements are dropped once the DEL is durable
    for (let i = 0; i < 500 && ks.background.pendingCleanupJobs > 0; i++) await ks.background.tick();
    expect(await countElements(engine, ns)).toBe(0);
  }, 60_000);

  it('streams LREM and a big LTRIM through a new version, leaving no stale records', async () => {
    const store = new MemoryStore();
    const { ks, engine } = await openKs(store);
    await ks.ensureLoaded(0, ['l']);
    const model = Array.from({ length: 12_000 }, (_, i) => (i % 7 === 0 ? 'x' : `v${i}`));
    ops.create(ks, 0, 'l', [...model]);
    const r = await list(ks, 'l');
    expect(await ops.remove(r, 0, 'x')).toBe(model.filter((s) => s === 'x').length);
    const kept = model.filter((s) => s !== 'x');
    expect(await ops.rangeStrings(r, 0, r.l.length - 1)).toEqual(kept);
    await ops.trim(r, 100, 5099);
    expect(await ops.rangeStrings(r, 0, r.l.length - 1)).toEqual(kept.slice(100, 5100));
    const ns = ks.db(0).ns;
    await engine.flush();
    for (let i = 0; i < 500 && ks.background.pendingCleanupJobs > 0; i++) await ks.background.tick();
    // Only the live version's records remain once cleanup has run: a node per 32 positions.
    expect(await storedElements(engine, ns, r)).toEqual(kept.slice(100, 5100));
    expect(await countElements(engine, ns)).toBe(Math.ceil(5000 / NODE_SLOTS));
  }, 60_000);

  it('the orphan sweep leaves records streamed ahead of their metadata alone', async () => {
    let now = Date.now();
    const { ks, engine } = await openKs(new MemoryStore(), { clock: () => now });
    await ks.ensureLoaded(0, ['l']);
    ops.create(ks, 0, 'l', Array.from({ length: 3000 }, (_, i) => `e${i}`));
    // A rewrite in progress: records of the next version exist, the metadata names the old one.
    const ns = ks.db(0).ns;
    const next = ks.allocVersion();
    const prefix = elemPrefix(ns, 'l', next);
    const count = async () => {
      let n = 0;
      for await (const _ of engine.scan({ start: prefix, end: prefixEnd(prefix) })) n++;
      return n;
    };
    ks.building.add(prefix);
    ks.writeRaw(Array.from({ length: 10 }, (_, i) => ({ key: listPosKey(ns, 'l', next, i), value: Buffer.from('x') })));
    for (let i = 0; i < 30; i++) await ks.background.tick();
    expect(await count()).toBe(10);
    expect(ks.background.orphansFound).toBe(0);
    // Abandoned (a crash would forget `building`): the next sweep pass takes them.
    ks.building.delete(prefix);
    now += 61_000;
    await engine.flush();
    for (let i = 0; i < 30 && (await count()) > 0; i++) await ks.background.tick();
    expect(await count()).toBe(0);
    expect(ks.background.orphansFound).toBe(1);
    // The live list is untouched.
    const r = await list(ks, 'l');
    expect(await ops.rangeStrings(r, 2998, 2999)).toEqual(['e2998', 'e2999']);
  });

  it('reads and changes a list split before nodes (one raw element per record, no k in its metadata)', async () => {
    const store = new MemoryStore();
    let { ks, engine } = await openKs(store);
    await ks.ensureLoaded(0, ['old']);
    const ns = ks.db(0).ns;
    const version = ks.allocVersion();
    const model = Array.from({ length: 300 }, (_, i) => `e${i}`.padEnd(i % 50 === 0 ? 200 : 3, 'x'));
    ks.writeRaw(model.map((s, i) => ({ key: listPosKey(ns, 'old', version, i), value: Buffer.from(s, 'latin1') })));
    ks.set(0, 'old', ListValue.split(version, 0, model.length, 1));
    await ks.close();
    ({ ks, engine } = await openKs(store));
    const r = await list(ks, 'old');
    expect(r.l.slots).toBe(1);
    expect(await ops.rangeStrings(r, 0, 299)).toEqual(model);
    expect(await ops.push(r, ['h1', 'h2'], 'head')).toBe(302);
    expect(await ops.pop(r, 'tail', 3)).toEqual(model.slice(-3).reverse());
    await ops.setAt(r, 150, 'mid');
    const want = ['h2', 'h1', ...model.slice(0, 297)];
    want[150] = 'mid';
    expect(await ops.rangeStrings(r, 0, want.length - 1)).toEqual(want);
    // LINSERT shifts the shorter side in the old layout.
    expect(await ops.insert(r, want[104]!, 'ins', false)).toBe(want.length + 1);
    want.splice(104, 0, 'ins');
    expect(await storedElements(engine, ns, r)).toEqual(want);
    // LREM rewrites the list, into nodes.
    expect(await ops.remove(r, 0, 'mid')).toBe(1);
    want.splice(want.indexOf('mid'), 1);
    expect(r.l.slots).toBe(NODE_SLOTS);
    expect(await ops.rangeStrings(r, 0, want.length - 1)).toEqual(want);
    await engine.flush();
    for (let i = 0; i < 500 && ks.background.pendingCleanupJobs > 0; i++) await ks.background.tick();
    expect(await storedElements(engine, ns, r)).toEqual(want);
  });
});
