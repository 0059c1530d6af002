/**
 * Split sets and sorted sets on the real Engine (MemoryStore), in process, through the command
 * handlers: a big collection costs a few bytes of hot-set memory, SADD/ZADD/SREM/ZREM write a
 * handful of small records, and reads stream only what they return (counted on the engine).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { commands as keys } from '../src/commands/keys.ts';
import { commands as sets } from '../src/commands/sets.ts';
import { commands as zsets } from '../src/commands/sortedsets.ts';
import type { ExecContext } from '../src/commands/types.ts';
import { Engine, MemoryStore } from '../src/engine/index.ts';
import { DoubleReply, type Reply, SetReply } from '../src/resp/reply.ts';
import type { ClientState, ServerState } from '../src/server/state.ts';
import type { EngineWrite } from '../src/types/engine-api.ts';
import { Keyspace } from '../src/types/keyspace.ts';
import { SetValue } from '../src/types/set-value.ts';
import { ZSetValue } from '../src/types/zset-value.ts';
import { BUCKET } from '../src/types/zset-rank.ts';
import { readVarint } from '../src/types/varint.ts';
import { map } from '../src/util/maybe.ts';

const N = 20_000;
const open: Keyspace[] = [];

afterEach(async () => {
  for (const ks of open.splice(0)) await ks.close().catch(() => {});
});

interface Probe {
  ks: Keyspace;
  /** Write batches made since the last reset. */
  batches: EngineWrite[][];
  /** Entries the engine's scans yielded since the last reset. */
  scanned: { n: number };
}

async function openKs(store: MemoryStore): Promise<Probe> {
  const engine = await Engine.open({ store, workers: 'inline', flushIntervalMs: 5, gcIntervalMs: 0 });
  const batches: EngineWrite[][] = [];
  const scanned = { n: 0 };
  const write = engine.write.bind(engine);
  engine.write = (batch) => {
    batches.push([...batch]);
    return write(batch);
  };
  const scan = engine.scan.bind(engine);
  engine.scan = (opts) => {
    const it = scan(opts);
    return (async function* () {
      for await (const e of it) {
        scanned.n++;
        yield e;
      }
    })();
  };
  // scanAll goes through scanAllMaybe.
  const scanAllMaybe = engine.scanAllMaybe.bind(engine);
  engine.scanAllMaybe = (opts) =>
    map(scanAllMaybe(opts), (got) => {
      scanned.n += got.length;
      return got;
    });
  const ks = await Keyspace.open(engine, { hz: 50 });
  open.push(ks);
  return { ks, batches, scanned };
}

/** Runs a command handler the way the dispatcher does (keys prefetched first). */
async function call(p: Probe, args: string[], resp: 2 | 3 = 2): Promise<Reply> {
  const name = args[0]!.toLowerCase();
  const handler = sets[name] ?? zsets[name] ?? keys[name];
  if (!handler) throw new Error(`no handler ${name}`);
  await p.ks.ensureLoaded(0, name === 'rename' ? [args[1]!, args[2]!] : [args[1]!]);
  const ctx: ExecContext = {
    client: { resp } as ClientState,
    server: {} as ServerState,
    keyspace: p.ks,
    db: 0,
    now: Date.now(),
  };
  return handler(ctx, args);
}

/** Records written, ignoring the catalog record that the first write after an open adds. */
function records(batches: EngineWrite[][]): number {
  return batches.flat().filter((w) => w.key !== 'c').length;
}

function reset(p: Probe): void {
  p.batches.length = 0;
  p.scanned.n = 0;
}

describe('split sets at scale', () => {
  it(`keeps a ${N}-member set out of memory; SADD/SREM write one record per member`, async () => {
    const store = new MemoryStore();
    let p = await openKs(store);
    for (let i = 0; i < N; i += 1000) {
      await call(p, ['SADD', 'big', ...Array.from({ length: 1000 }, (_, j) => `m${i + j}`)]);
    }
    const v = p.ks.lookup(0, 'big', Date.now())!.value as SetValue;
    expect(v.split).toBe(true);
    expect(v.card).toBe(N);
    expect(p.ks.usedMemory()).toBeLessThan(500);

    // After a restart the metadata alone describes the set.
    await p.ks.close();
    p = await openKs(store);
    reset(p);
    expect(await call(p, ['SADD', 'big', 'new', 'm5'])).toBe(1);
    expect(records(p.batches)).toBe(2); // the member and the metadata
    expect(p.scanned.n).toBe(0); // membership tests are point reads
    expect(p.ks.usedMemory()).toBeLessThan(500);
    reset(p);
    expect(await call(p, ['SREM', 'big', 'm7', 'nope'])).toBe(1);
    expect(records(p.batches)).toBe(2);
    expect(await call(p, ['SCARD', 'big'])).toBe(N);
    expect(await call(p, ['SMISMEMBER', 'big', 'm7', 'm8', 'new'])).toEqual([0, 1, 1]);
    expect(await call(p, ['SISMEMBER', 'big', 'm19999'])).toBe(1);

    // A random member costs a couple of short seeks, not a read of the set.
    reset(p);
    const r = (await call(p, ['SRANDMEMBER', 'big', '5'])) as string[];
    expect(new Set(r).size).toBe(5);
    for (const m of r) expect(await call(p, ['SISMEMBER', 'big', m])).toBe(1);
    expect(p.scanned.n).toBeLessThan(100);

    // SSCAN pages through every member exactly once.
    const seen = new Set<string>();
    let cursor = '0';
    let pages = 0;
    do {
      const [next, items] = (await call(p, ['SSCAN', 'big', cursor, 'COUNT', '3000'])) as [string, string[]];
      for (const m of items) {
        expect(seen.has(m)).toBe(false);
        seen.add(m);
      }
      cursor = next;
      pages++;
    } while (cursor !== '0');
    expect(seen.size).toBe(N);
    expect(pages).toBeGreaterThan(5);

    // SPOP of a few members deletes just those.
    reset(p);
    const popped = (await call(p, ['SPOP', 'big', '3'])) as SetReply;
    expect(popped.items).toHaveLength(3);
    expect(records(p.batches)).toBe(4);
    expect(await call(p, ['SCARD', 'big'])).toBe(N - 3);

    // DEL is one metadata tombstone whatever the size.
    reset(p);
    p.ks.delete(0, 'big', Date.now());
    expect(records(p.batches)).toBe(1);
  });

  it('empties a big set one SPOP at a time: every member once, one short seek each', async () => {
    const p = await openKs(new MemoryStore());
    const n = 3000;
    const all = Array.from({ length: n }, (_, i) => `m${i}`);
    await call(p, ['SADD', 's', ...all]);
    expect((p.ks.lookup(0, 's', Date.now())!.value as SetValue).split).toBe(true);
    reset(p);
    const popped = new Set<string>();
    for (let i = 0; i < n; i++) {
      const m = (await call(p, ['SPOP', 's'])) as string;
      expect(popped.has(m), `popped twice: ${m}`).toBe(false);
      popped.add(m);
    }
    expect(popped).toEqual(new Set(all));
    expect(await call(p, ['EXISTS', 's'])).toBe(0);
    expect(await call(p, ['SPOP', 's'])).toBe(null);
    // About one entry read per pop (the ends are found again every 64 pops, two more each), and
    // one read of the members left when the drained set is rewritten (set-ops.ts rewriteDue:
    // removals outnumber them four to one then, so they are at most a fifth of n).
    expect(p.scanned.n).toBeLessThan(n * 1.2 + n / 5);
  });
});

describe('random picks on split sets', () => {
  it('spreads SPOP evenly over numeric members (no pile-up at the start of each group)', async () => {
    const p = await openKs(new MemoryStore());
    const n = 5000;
    const member = (i: number) => `element:${String(i).padStart(12, '0')}`;
    for (let i = 0; i < n; i += 1000) await call(p, ['SADD', 's', ...Array.from({ length: 1000 }, (_, j) => member(i + j))]);
    expect((p.ks.lookup(0, 's', Date.now())!.value as SetValue).split).toBe(true);
    const lastDigit = new Array<number>(10).fill(0);
    const thousands = new Array<number>(5).fill(0);
    for (let k = 0; k < 500; k++) {
      const i = Number(((await call(p, ['SPOP', 's'])) as string).slice('element:'.length));
      lastDigit[i % 10]!++;
      thousands[Math.floor(i / 1000)]!++;
    }
    // Uniform picks give 50 per last digit and 100 per thousand (a few standard deviations of
    // slack here); picks landing on group boundaries would be nearly all multiples of 10.
    for (const c of lastDigit) expect(c).toBeGreaterThan(20), expect(c).toBeLessThan(80);
    for (const c of thousands) expect(c).toBeGreaterThan(60), expect(c).toBeLessThan(140);
  });
});

describe('split sorted sets at scale', () => {
  it(`keeps a ${N}-member sorted set out of memory and streams only what a command returns`, async () => {
    const store = new MemoryStore();
    let p = await openKs(store);
    for (let i = 0; i < N; i += 1000) {
      const args = ['ZADD', 'z'];
      for (let j = i; j < i + 1000; j++) args.push(String(j), `m${String(j).padStart(6, '0')}`);
      await call(p, args);
    }
    const v = p.ks.lookup(0, 'z', Date.now())!.value as ZSetValue;
    expect(v.split).toBe(true);
    expect(v.card).toBe(N);
    expect(p.ks.usedMemory()).toBeLessThan(500);

    await p.ks.close();
    p = await openKs(store);
    reset(p);
    // A new member: its two index records and the metadata, and (first change since the stop
    // stored it) the deletion of the stored rank index.
    expect(await call(p, ['ZADD', 'z', '10000.5', 'new'])).toBe(1);
    expect(records(p.batches)).toBe(4);
    expect(p.batches.flat().filter((w) => w.key.endsWith('x') && w.value === undefined).length).toBe(1);
    expect(p.scanned.n).toBe(0);
    // A changed score: the old score record goes, two records and the metadata come.
    reset(p);
    expect(await call(p, ['ZADD', 'z', 'CH', '-1', 'm000005'])).toBe(1);
    expect(records(p.batches)).toBe(4);
    expect(p.batches.flat().every((w) => w.key.length < 80 && (w.value?.length ?? 0) < 80)).toBe(true);

    // Ranges read what they return, from the nearer end.
    reset(p);
    expect(await call(p, ['ZRANGE', 'z', '0', '2', 'WITHSCORES'])).toEqual([
      'm000005',
      new DoubleReply(-1),
      'm000000',
      new DoubleReply(0),
      'm000001',
      new DoubleReply(1),
    ]);
    expect(await call(p, ['ZREVRANGE', 'z', '0', '1'])).toEqual(['m019999', 'm019998']);
    expect(p.scanned.n).toBeLessThanOrEqual(6);
    reset(p);
    expect(await call(p, ['ZRANGEBYSCORE', 'z', '(15000', '+inf', 'LIMIT', '0', '2'])).toEqual(['m015001', 'm015002']);
    expect(p.scanned.n).toBe(2);
    reset(p);
    expect(await call(p, ['ZRANK', 'z', 'm019990'])).toBe(19991); // -1 and 10000.5 sort below
    expect(p.scanned.n).toBeLessThan(40);
    expect(await call(p, ['ZREVRANK', 'z', 'm000010'])).toBe(N + 1 - 1 - 10);
    expect(await call(p, ['ZSCORE', 'z', 'new'])).toEqual(new DoubleReply(10000.5));
    expect(await call(p, ['ZCARD', 'z'])).toBe(N + 1);
    expect(await call(p, ['ZCOUNT', 'z', '100', '(110'])).toBe(10);

    // Pops and removals write only the touched members.
    reset(p);
    expect(await call(p, ['ZPOPMAX', 'z', '2'], 3)).toEqual([
      ['m019999', new DoubleReply(19999)],
      ['m019998', new DoubleReply(19998)],
    ]);
    expect(records(p.batches)).toBe(5); // two records per member and the metadata
    reset(p);
    expect(await call(p, ['ZREMRANGEBYSCORE', 'z', '500', '502'])).toBe(3);
    expect(records(p.batches)).toBe(7);
    expect(p.ks.usedMemory()).toBeLessThan(500);
  });

  it('keeps rank reads short after a batched load: every oversized rank bucket is re-cut', async () => {
    const p = await openKs(new MemoryStore());
    // Scores are a permutation of 0..N-1 and every batch spreads over the whole range, so all
    // buckets outgrow their bound together (one re-cut per commit would leave most of them big).
    const score = (j: number) => (j * 7919) % N;
    const memberOf = new Map<number, string>();
    for (let i = 0; i < N; i += 1000) {
      const args = ['ZADD', 'z'];
      for (let j = i; j < i + 1000; j++) {
        args.push(String(score(j)), `m${j}`);
        memberOf.set(score(j), `m${j}`);
      }
      await call(p, args);
    }
    const v = p.ks.lookup(0, 'z', Date.now())!.value as ZSetValue;
    await v.rank!.settled();
    const at = Math.floor(N * 0.9);
    const want = Array.from({ length: 10 }, (_, i) => memberOf.get(at + i));
    expect(await call(p, ['ZRANGE', 'z', String(at), String(at + 9)])).toEqual(want);
    await v.rank!.settled();
    // Every bucket is within its bound (the stored form: varint length, bound, varint count).
    const b = Buffer.from(v.rank!.encode());
    const counts: number[] = [];
    for (let pos = 0; pos < b.length; ) {
      const [len, next] = readVarint(b, pos);
      const [count, after] = readVarint(b, next + len);
      counts.push(count);
      pos = after;
    }
    expect(counts.reduce((a, c) => a + c, 0)).toBe(N);
    expect(Math.max(...counts)).toBeLessThanOrEqual(4 * BUCKET);
    reset(p);
    expect(await call(p, ['ZRANGE', 'z', String(at), String(at + 9)])).toEqual(want);
    expect(p.scanned.n).toBeLessThanOrEqual(4 * BUCKET + 10);
  });

  it('serves lexicographic ranges of a big equal-score set from the member records', async () => {
    const store = new MemoryStore();
    const p = await openKs(store);
    for (let i = 0; i < 5000; i += 1000) {
      const args = ['ZADD', 'lex'];
      for (let j = i; j < i + 1000; j++) args.push('0', `k${String(j).padStart(5, '0')}`);
      await call(p, args);
    }
    // Let the rank index's background re-cut of its one big bucket finish: it scans too.
    await (p.ks.lookup(0, 'lex', Date.now())!.value as ZSetValue).rank?.settled();
    reset(p);
    expect(await call(p, ['ZRANGEBYLEX', 'lex', '(k02000', '[k02003'])).toEqual(['k02001', 'k02002', 'k02003']);
    expect(await call(p, ['ZREVRANGEBYLEX', 'lex', '+', '[k04998'])).toEqual(['k04999', 'k04998']);
    expect(await call(p, ['ZLEXCOUNT', 'lex', '[k01000', '(k01100'])).toBe(100);
    expect(p.scanned.n).toBeLessThan(120);
    expect(await call(p, ['ZREMRANGEBYLEX', 'lex', '-', '(k00010'])).toBe(10);
    expect(await call(p, ['ZRANGE', 'lex', '0', '0'])).toEqual(['k00010']);
  });

  it('answers deep ranks through the rank index, exactly, while it is split in the background and rebuilt', async () => {
    const p = await openKs(new MemoryStore());
    // Reference: member -> score, ranks by sorting (score, member) as Redis orders them.
    const ref = new Map<string, number>();
    const ordered = () => [...ref].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map((e) => e[0]);
    let seed = 7;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
    const add = async (pairs: [number, string][]) => {
      await call(p, ['ZADD', 'r', ...pairs.flatMap(([sc, m]) => [String(sc), m])]);
      for (const [sc, m] of pairs) ref.set(m, sc);
    };
    // Random scores, then a run of ever-growing ones: the top bucket outgrows its bound and is
    // re-cut by background recounts while the commands below go on.
    for (let i = 0; i < 24_000; i += 1000) await add(Array.from({ length: 1000 }, (_, j) => [rnd(100_000), `m${i + j}`]));
    const value = () => p.ks.lookup(0, 'r', Date.now())!.value as ZSetValue;
    let index: unknown;
    const check = async (round: number) => {
      const order = ordered();
      for (let k = 0; k < 12; k++) {
        const r = rnd(order.length);
        expect(await call(p, ['ZRANK', 'r', order[r]!]), `round ${round}: ZRANK at ${r}`).toBe(r);
        expect(await call(p, ['ZREVRANK', 'r', order[r]!])).toBe(order.length - 1 - r);
        expect(await call(p, ['ZRANGE', 'r', String(r), String(r + 2)])).toEqual(order.slice(r, r + 3));
      }
      // The same index served every round: its counts never disagreed with the set (a
      // disagreement drops it, and the answers above would then come from a rebuilt one).
      if (index !== undefined) expect(value().rank, `round ${round}: the index was rebuilt`).toBe(index);
      index = value().rank;
    };
    await check(0);
    for (let round = 1; round <= 6; round++) {
      await add(Array.from({ length: 3000 }, (_, j) => [200_000 + round * 10_000 + j, `g${round}:${j}`]));
      // Score changes and removals anywhere.
      const order = ordered();
      const moved = Array.from({ length: 200 }, () => order[rnd(order.length)]!);
      await add(moved.map((m) => [rnd(300_000), m]));
      const gone = [...new Set(Array.from({ length: 200 }, () => order[rnd(order.length)]!))];
      expect(await call(p, ['ZREM', 'r', ...gone])).toBe(gone.filter((m) => ref.delete(m)).length);
      await check(round);
      if (round === 3) {
        // Dropped from memory with no stored copy (the ZADDs since deleted it): the next deep
        // query rebuilds it with a scan.
        expect(value().rankStored).toBe(false);
        value().rank = undefined;
        await call(p, ['ZRANK', 'r', ordered()[5000]!]);
        index = value().rank;
      }
    }
    const v = p.ks.lookup(0, 'r', Date.now())!.value as ZSetValue;
    expect(v.rank?.ready).toBe(true);
    expect(v.rank!.total).toBe(ref.size);
    // A deep ZRANGE reads about one bucket, not the set up to that rank.
    reset(p);
    const order = ordered();
    const mid = Math.floor(order.length / 2);
    expect(await call(p, ['ZRANGE', 'r', String(mid), String(mid + 9)])).toEqual(order.slice(mid, mid + 10));
    expect(p.scanned.n).toBeLessThan(4200);
  }, 120_000);

  it('stores the rank index at a stop, reads it back after a restart, and deletes it with the next change', async () => {
    const store = new MemoryStore();
    let p = await openKs(store);
    const n = 12_000;
    for (let i = 0; i < n; i += 1000) {
      await call(p, ['ZADD', 'k', ...Array.from({ length: 1000 }, (_, j) => [String((i + j) * 7 % n), `m${i + j}`]).flat()]);
    }
    // Score s belongs to member m(s * 7^-1 mod n); ranks are scores (all distinct, 0..n-1).
    const memberAt = new Map<number, string>();
    for (let i = 0; i < n; i++) memberAt.set((i * 7) % n, `m${i}`);
    const deep = async (q: Probe, key: string) => {
      for (const r of [3000, 6001, 9876]) expect(await call(q, ['ZRANK', key, memberAt.get(r)!])).toBe(r);
    };
    const value = (q: Probe, key: string) => q.ks.lookup(0, key, Date.now())!.value as ZSetValue;
    await deep(p, 'k');
    // A RENAME copies the members, not a stored index; the copy's index is stored at the stop.
    await p.ks.save();
    expect(value(p, 'k').rankStored).toBe(true);
    expect(await call(p, ['RENAME', 'k', 'r'])).toEqual(expect.objectContaining({ value: 'OK' }));
    await deep(p, 'r');
    await p.ks.close();

    p = await openKs(store);
    reset(p);
    await deep(p, 'r');
    // Read from its record: no scan of the whole set (each ZRANK scans inside one bucket).
    expect(value(p, 'r').rankStored).toBe(true);
    expect(p.scanned.n).toBeLessThan(n);
    // The next change deletes the record in its own batch.
    reset(p);
    await call(p, ['ZADD', 'r', '-1', 'first']);
    expect(p.batches.length).toBe(1);
    expect(p.batches[0]!.filter((w) => w.key.endsWith('x') && w.value === undefined).length).toBe(1);
    expect(value(p, 'r').rankStored).toBe(false);
    // As after a crash now: nothing stored, so the index is rebuilt by one scan, and stored.
    value(p, 'r').rank = undefined;
    reset(p);
    for (const r of [3000, 6001, 9876]) expect(await call(p, ['ZRANK', 'r', memberAt.get(r)!])).toBe(r + 1);
    expect(p.scanned.n).toBeGreaterThanOrEqual(n);
    expect(value(p, 'r').rankStored).toBe(true);
  }, 120_000);
});
