/**
 * The cached ends of split lists (src/types/list.ts EndCache) on the real Engine, in process:
 * under any sequence of list operations the replies match an array model, the engine holds
 * exactly the model's elements, and each cached end holds exact copies of the list's ends.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { Engine, MemoryStore } from '../src/engine/index.ts';
import { elemPrefix, fromBytes, prefixEnd } from '../src/types/encoding.ts';
import { Keyspace } from '../src/types/keyspace.ts';
import { END_CACHE_BYTES, END_CACHE_MAX } from '../src/types/list.ts';
import * as ops from '../src/types/list-ops.ts';
import { decodeNodes, nodeKey, nodeOf } from '../src/types/list-nodes.ts';

type Op =
  | { op: 'push'; where: ops.Where; n: number; big: boolean }
  | { op: 'pop'; where: ops.Where; n: number }
  | { op: 'range'; a: number; b: number; fromTail: boolean }
  | { op: 'index'; i: number }
  | { op: 'set'; i: number }
  | { op: 'trim'; a: number; b: number }
  | { op: 'insert'; i: number; after: boolean }
  | { op: 'remove'; count: number }
  | { op: 'evict' };

const where = fc.constantFrom<ops.Where>('head', 'tail');
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('push' as const), where, n: fc.oneof(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 100, max: 300 })), big: fc.boolean() }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('pop' as const), where, n: fc.oneof(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 100, max: 300 })) }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('range' as const), a: fc.nat(400), b: fc.nat(150), fromTail: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('index' as const), i: fc.integer({ min: -400, max: 400 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('set' as const), i: fc.integer({ min: -400, max: 400 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('trim' as const), a: fc.nat(20), b: fc.integer({ min: -20, max: -1 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('insert' as const), i: fc.nat(400), after: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('remove' as const), count: fc.integer({ min: -2, max: 2 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('evict' as const) }) },
);

const open: Keyspace[] = [];
afterAll(async () => {
  for (const ks of open.splice(0)) await ks.close().catch(() => {});
});

describe('cached ends of split lists', () => {
  it('stay exact copies of the list ends under any sequence of operations', async () => {
    const engine = await Engine.open({ store: new MemoryStore(), workers: 'inline', flushIntervalMs: 5, gcIntervalMs: 0 });
    const ks = await Keyspace.open(engine, { hz: 50 });
    open.push(ks);
    // Lists split past 8 elements, so most of the run is on split lists.
    ks.listMaxListpackSize = 8;
    let serial = 0;
    let keptNodes = 0;
    // Mostly short elements (many fit a cache), some of 1-3 KiB (the 8 KiB byte limit applies).
    const elem = (big: boolean) => (big && serial % 3 === 0 ? `b${serial++}`.padEnd(1000 + (serial % 2000), 'x') : `e${serial++}`);

    const ref = async (key: string) => {
      await ks.ensureLoaded(0, [key]);
      const e = ks.lookup(0, key, Date.now());
      return e ? ops.ref(ks, 0, key, e) : undefined;
    };
    const strings = (v: (string | Uint8Array)[]) => v.map((x) => (typeof x === 'string' ? x : fromBytes(x)));

    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 20, maxLength: 120 }), async (seq) => {
        const key = `l${serial++}`;
        let model: string[] = [];
        for (const o of seq) {
          const r = await ref(key);
          const len = model.length;
          const norm = (i: number) => (i < 0 ? i + len : i);
          switch (o.op) {
            case 'push': {
              const elems = Array.from({ length: o.n }, () => elem(o.big));
              if (r) expect(await ops.push(r, elems, o.where)).toBe(len + o.n);
              else ops.create(ks, 0, key, o.where === 'head' ? [...elems].reverse() : elems);
              model = o.where === 'head' ? [...elems].reverse().concat(model) : model.concat(elems);
              break;
            }
            case 'pop': {
              if (!r) break;
              const n = Math.min(o.n, len);
              const want = o.where === 'head' ? model.slice(0, n) : model.slice(len - n).reverse();
              expect(await ops.pop(r, o.where, o.n)).toEqual(want);
              model = o.where === 'head' ? model.slice(n) : model.slice(0, len - n);
              break;
            }
            case 'range': {
              if (!r) break;
              // Ranges near either end, where the caches serve or load.
              let start = o.fromTail ? len - 1 - o.a - o.b : o.a;
              let stop = start + o.b;
              start = Math.max(0, start);
              stop = Math.min(len - 1, stop);
              if (start > stop) break;
              expect(strings(await ops.range(r, start, stop))).toEqual(model.slice(start, stop + 1));
              break;
            }
            case 'index': {
              const i = norm(o.i);
              if (!r || i < 0 || i >= len) break;
              expect(await ops.index(r, i)).toBe(model[i]);
              break;
            }
            case 'set': {
              const i = norm(o.i);
              if (!r || i < 0 || i >= len) break;
              const v = elem(true);
              await ops.setAt(r, i, v);
              model[i] = v;
              break;
            }
            case 'trim': {
              if (!r) break;
              const a = o.a;
              const b = norm(o.b);
              await ops.trim(r, a, b);
              model = a > b ? [] : model.slice(a, b + 1);
              break;
            }
            case 'insert': {
              if (!r || len === 0) break;
              const pivot = model[o.i % len]!;
              const v = elem(true);
              await ops.insert(r, pivot, v, o.after);
              const at = model.indexOf(pivot);
              model.splice(o.after ? at + 1 : at, 0, v);
              break;
            }
            case 'remove': {
              if (!r || len === 0) break;
              // Remove the element at a random-ish spot (elements are unique, so count is 0 or 1).
              const victim = model[(serial * 7) % len]!;
              expect(await ops.remove(r, o.count, victim)).toBe(1);
              model.splice(model.indexOf(victim), 1);
              break;
            }
            case 'evict': {
              // Drops the hot entry: the list comes back from its metadata with empty caches.
              ks.forget(0, key);
              break;
            }
          }
          const after = await ref(key);
          if (model.length === 0) {
            expect(after).toBeUndefined();
            continue;
          }
          const l = after!.l;
          expect(l.length).toBe(model.length);
          if (!l.split) {
            expect(l.items).toEqual(model);
            continue;
          }
          // Each cached end is a copy of the list's end, within the cache's limits.
          expect(l.front.length).toBeLessThanOrEqual(END_CACHE_MAX);
          expect(l.back.length).toBeLessThanOrEqual(END_CACHE_MAX);
          expect(l.front.bytes).toBeLessThanOrEqual(END_CACHE_BYTES);
          expect(l.back.bytes).toBeLessThanOrEqual(END_CACHE_BYTES);
          for (let k = 0; k < l.front.length; k++) expect(l.front.at(k)).toBe(model[k]);
          for (let k = 0; k < l.back.length; k++) expect(l.back.at(k)).toBe(model[model.length - 1 - k]);
          // A kept end-node record (the next push extends it) is the one the engine holds.
          const space = { ns: ks.db(0).ns, key, version: l.version, k: l.slots };
          if (l.front.node) {
            keptNodes++;
            expect(fromBytes((await engine.get(nodeKey(space, nodeOf(l.head, l.slots))))!)).toBe(l.front.node);
          }
          if (l.back.node) expect(fromBytes((await engine.get(nodeKey(space, nodeOf(l.head + l.count - 1, l.slots))))!)).toBe(l.back.node);
        }
        // The engine holds exactly the model, whatever the caches say.
        const r = await ref(key);
        if (!r?.l.split) return;
        const prefix = elemPrefix(ks.db(0).ns, key, r.l.version);
        const records: { key: string; value: Uint8Array }[] = [];
        for await (const e of engine.scan({ start: prefix, end: prefixEnd(prefix) })) records.push({ key: e.key, value: e.value });
        // Every record of the version, decoded: a stale node or big element would show.
        const stored: string[] = [];
        const space = { ns: ks.db(0).ns, key, version: r.l.version, k: r.l.slots };
        decodeNodes(records, space, r.l.head, -Infinity, Infinity, (v) => stored.push(fromBytes(v)));
        expect(stored).toEqual(model);
      }),
      { numRuns: 60 },
    );
    expect(keptNodes).toBeGreaterThan(0);
  }, 120_000);
});
