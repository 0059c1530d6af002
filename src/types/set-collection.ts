/**
 * What set and sorted-set commands share: running a command that awaits the engine safely,
 * and element-range helpers for split collections (copy, read whole, random seek).
 *
 * A command on a big (split) collection reads its elements from the engine, so its handler
 * awaits. The dispatcher's key locks keep other commands off its keys meanwhile, but a few
 * things need no key lock: the active expiry cycle, cache-mode eviction, FLUSHDB/SWAPDB. So a
 * handler runs as: look keys up through a Guard, await what it must read, then guard.check()
 * and write synchronously. If anything it looked at changed meanwhile, check() throws and the
 * whole command runs again from the start (reads have no side effects), with the keys held in
 * memory (Keyspace.hold) so spilling cannot make that loop.
 */
import type { ExecContext } from '../commands/types.ts';
import type { Reply } from '../resp/reply.ts';
import { readKey, writeKey } from './access.ts';
import { elemPrefix, metaKey, prefixEnd } from './encoding.ts';
import type { EngineEntry, EngineScanOptions, EngineWrite } from './engine-api.ts';
import { type Db, KeyNotLoadedError, type Keyspace } from './keyspace.ts';
import { SetValue } from './set-value.ts';
import type { Entry } from './values.ts';
import { FAM_RANK, ZSetValue } from './zset-value.ts';
import { map, type Maybe } from '../util/maybe.ts';
import { randomBetween } from '../util/random-between.ts';

/** Records per engine write when streaming many element records. */
export const CHUNK = 1024;
/** Re-runs of a command whose keys changed while it awaited; beyond this it fails. */
const MAX_ATTEMPTS = 20;

/**
 * f over every item, in order: at once while f answers at once (hot records in memory), else
 * with at most CHUNK of its promises awaited together.
 */
export function lookupAll<T, U>(items: readonly T[], f: (x: T) => Maybe<U>, from = 0, out: U[] = []): Maybe<U[]> {
  let pending: Promise<void>[] | undefined;
  for (let i = from; i < items.length; i++) {
    const r = f(items[i]!);
    if (!(r instanceof Promise)) {
      out[i] = r;
      continue;
    }
    const at = i;
    (pending ??= []).push(r.then((x) => void (out[at] = x)));
    if (pending.length >= CHUNK) return Promise.all(pending).then(() => lookupAll(items, f, at + 1, out));
  }
  return pending ? Promise.all(pending).then(() => out) : out;
}

/** A key the command looked at changed while it awaited the engine: run it again. */
export class Stale extends Error {}

export class Guard {
  readonly ctx: ExecContext;
  readonly ks: Keyspace;
  readonly db: number;
  private readonly d: Db;
  // The keys looked up, with what they held: the first in fields (most commands have one key).
  private key0: string | undefined;
  private entry0: Entry | undefined;
  private more: Map<string, Entry | undefined> | undefined;
  /** True while the handler runs synchronously: nothing else can have changed its keys. */
  sync = true;

  constructor(ctx: ExecContext, db = ctx.db) {
    this.ctx = ctx;
    this.ks = ctx.keyspace;
    this.db = db;
    this.d = this.ks.db(db);
  }

  /** lookupKeyRead (counts a keyspace hit or miss). */
  read(key: string): Entry | undefined {
    return this.saw(key, readKey(this.ctx, key));
  }

  /** lookupKeyWrite. */
  write(key: string): Entry | undefined {
    return this.saw(key, writeKey(this.ctx, key));
  }

  private saw(key: string, e: Entry | undefined): Entry | undefined {
    if (this.key0 === undefined || this.key0 === key) {
      this.key0 = key;
      this.entry0 = e;
    } else {
      (this.more ??= new Map()).set(key, e);
    }
    return e;
  }

  /** Element prefix of a split value of `key`. */
  prefix(key: string, version: number): string {
    return elemPrefix(this.d.ns, key, version);
  }

  /** Throws Stale unless every key looked at is still exactly as it was. Call right before writing. */
  check(): void {
    if (this.sync || this.key0 === undefined) return;
    const ks = this.ks;
    if (ks.dbs[this.db] !== this.d) throw new Stale();
    this.checkKey(this.key0, this.entry0);
    if (this.more) for (const [key, e] of this.more) this.checkKey(key, e);
  }

  private checkKey(key: string, e: Entry | undefined): void {
    const ks = this.ks;
    const pk = metaKey(this.d.ns, key);
    if (ks.hot.get(pk) !== e) throw new Stale();
    if (!e && !ks.missing.has(pk) && !this.d.fresh) throw new Stale();
  }

  keys(): string[] {
    if (this.key0 === undefined) return [];
    return this.more ? [this.key0, ...this.more.keys()] : [this.key0];
  }
}

/**
 * Runs a handler with a Guard, again from the start when its keys changed under it (see the
 * header). A handler that never awaits (inline values) runs once and returns its reply
 * synchronously; one that awaits has `keys` held in memory until it is done (taken when it
 * first awaits, before anything else can run).
 */
export function guarded(ctx: ExecContext, keys: readonly string[], run: (g: Guard) => Maybe<Reply>): Maybe<Reply> {
  const g = new Guard(ctx);
  let first: Promise<Reply>;
  try {
    const r = runSync(g, run);
    if (!(r instanceof Promise)) return r;
    first = r;
  } catch (e) {
    if (!retryable(e)) throw e;
    first = Promise.reject(e as Error);
  }
  return retrying(ctx, keys, run, g, first);
}

/** Runs the handler's synchronous part with check() a no-op, then arms check() for the rest. */
function runSync(g: Guard, run: (g: Guard) => Maybe<Reply>): Maybe<Reply> {
  try {
    return run(g);
  } finally {
    g.sync = false;
  }
}

function retryable(e: unknown): boolean {
  return e instanceof Stale || e instanceof KeyNotLoadedError;
}

async function retrying(ctx: ExecContext, keys: readonly string[], run: (g: Guard) => Maybe<Reply>, g: Guard, first: Promise<Reply>): Promise<Reply> {
  const release = ctx.keyspace.hold(ctx.db, keys);
  try {
    let attempt: Maybe<Reply> = first;
    for (let n = 1; ; n++) {
      try {
        return await attempt;
      } catch (e) {
        if (!retryable(e) || n >= MAX_ATTEMPTS) throw e;
        await ctx.keyspace.ensureLoaded(ctx.db, [...new Set([...keys, ...g.keys()])]);
      }
      g = new Guard(ctx);
      try {
        attempt = runSync(g, run);
      } catch (e) {
        attempt = Promise.reject(e as Error);
      }
    }
  } finally {
    release();
  }
}

/**
 * Writes records in bounded batches, honouring engine backpressure between them. Records from a
 * plain iterable are written without a pause until a batch fills (a small write stays atomic).
 */
export async function writeChunked(ks: Keyspace, records: Iterable<EngineWrite> | AsyncIterable<EngineWrite>): Promise<void> {
  let batch: EngineWrite[] = [];
  const add = (r: EngineWrite) => {
    batch.push(r);
    if (batch.length < CHUNK) return undefined;
    ks.writeRaw(batch);
    batch = [];
    return ks.waitForCapacity();
  };
  if (Symbol.asyncIterator in records) {
    for await (const r of records) await add(r);
  } else {
    for (const r of records) {
      const w = add(r);
      if (w) await w;
    }
  }
  ks.writeRaw(batch);
}

/**
 * Streams the records in [start, end) under new keys (COPY/RENAME/MOVE of split collections) in
 * bounded batches, and checks that there were `want` of them. `building` is the destination's
 * element prefix: the orphan sweep leaves it alone until Keyspace.set() adopts it; on failure
 * what was written is an orphan, for the sweep to take.
 */
export async function copyRecords(
  ks: Keyspace,
  range: { start: string; end: string },
  rekey: (key: string) => string,
  building: string,
  want: number | undefined,
  what: string,
): Promise<void> {
  ks.building.add(building);
  try {
    let n = 0;
    const copies = async function* () {
      for await (const e of ks.engine.scan(range)) {
        n++;
        yield { key: rekey(e.key), value: e.value };
      }
    };
    await writeChunked(ks, copies());
    if (want !== undefined && n !== want) throw new Error(`${what} has ${n} element records, expected ${want}`);
  } catch (err) {
    ks.building.delete(building);
    throw err;
  }
}

/**
 * COPY / RENAME / MOVE of a split set or sorted set: its element records are copied, streamed,
 * under a fresh version of the destination key; the returned header is what to store there.
 */
export async function copySplit(ks: Keyspace, srcDb: number, srcKey: string, v: SetValue | ZSetValue, dstDb: number, dstKey: string): Promise<SetValue | ZSetValue> {
  const from = elemPrefix(ks.db(srcDb).ns, srcKey, v.version);
  const version = ks.allocVersion();
  const to = elemPrefix(ks.db(dstDb).ns, dstKey, version);
  const want = v instanceof SetValue ? v.count : v.count * 2;
  // A sorted set's stored rank index is not copied: it sorts after the members.
  const end = v instanceof SetValue ? prefixEnd(from) : from + FAM_RANK;
  await copyRecords(ks, { start: from, end }, (k) => to + k.slice(from.length), to, want, JSON.stringify(srcKey));
  return v.copy(version);
}

/**
 * An inline copy of a split set or sorted set, every element read from the engine (DUMP: the
 * payload holds them all anyway).
 */
export async function inlineCopy(ks: Keyspace, db: number, key: string, v: SetValue | ZSetValue): Promise<SetValue | ZSetValue> {
  const ns = ks.db(db).ns;
  if (v instanceof SetValue) {
    const members: string[] = [];
    for await (const s of scanSuffixes(ks, elemPrefix(ns, key, v.version))) members.push(s[0]);
    const out = new SetValue(members, v.intset);
    out.intset = v.intset;
    return out;
  }
  const pairs: [string, number][] = [];
  const prefix = elemPrefix(ns, key, v.version) + 'm';
  for await (const [m, raw] of scanSuffixes(ks, prefix)) pairs.push([m, Buffer.from(raw).readDoubleLE(0)]);
  const negZero = new Set(pairs.filter((p) => Object.is(p[1], -0)).map((p) => p[0]));
  const z = ZSetValue.build(pairs);
  // Keep -0 as the skiplist had it (build() stores scores as a listpack would).
  if (negZero.size) for (let i = 0; i < z.members.length; i++) if (negZero.has(z.members[i]!)) z.scores[i] = -0;
  return z;
}

/** Element records under a prefix, in key order: [suffix, value]. */
export async function* scanSuffixes(
  ks: Keyspace,
  prefix: string,
  opts: { after?: string; reverse?: boolean; limit?: number; bounds?: Bounds } = {},
): AsyncGenerator<[string, Uint8Array]> {
  const scan = suffixRange(prefix, opts.bounds, opts.after);
  if (!scan) return;
  scan.reverse = opts.reverse;
  const entries = opts.limit === undefined ? ks.engine.scan(scan) : await ks.engine.scanAll({ ...scan, limit: opts.limit });
  for await (const e of entries) yield [e.key.slice(prefix.length), e.value];
}

/** The engine range of the element records under a prefix, within bounds and after a suffix; undefined if empty. */
export function suffixRange(prefix: string, b?: Bounds, after?: string): EngineScanOptions | undefined {
  let start = after === undefined ? prefix : prefix + after + '\0';
  let end = prefixEnd(prefix);
  if (b?.lo !== undefined && prefix + b.lo > start) start = prefix + b.lo;
  if (b?.hiEx !== undefined) end = prefix + b.hiEx;
  return start < end ? { start, end } : undefined;
}

/**
 * In-memory bounds of a split collection's live element suffixes (lo <= every live suffix <
 * hiEx), kept on its value so that scans can start past the tombstones that pops and removals
 * leave at the ends of the range until compaction drops them. Removals keep bounds valid;
 * additions outside them widen them; they are lost (and rebuilt) when the key leaves memory.
 */
export interface Bounds {
  lo?: string;
  hiEx?: string;
  /** Random seeks made on these bounds (RandomSeeker re-tightens them every RETIGHTEN). */
  seeks?: number;
}

/** Widens bounds to include a suffix that was just written. */
export function widen(b: Bounds, suffix: string): void {
  if (b.lo !== undefined && suffix < b.lo) b.lo = suffix;
  if (b.hiEx !== undefined && suffix >= b.hiEx) b.hiEx = suffix + '\0';
}

const RETIGHTEN = 64;

/**
 * Random elements of a split collection by seeking to random points between its first and
 * last element: each costs one short engine scan, so a collection of any size needs no full
 * read. Not exactly uniform (elements after wide gaps in byte order are likelier), as Redis's
 * own hash-table sampling is not either, but every element can be returned.
 */
export class RandomSeeker {
  private readonly ks: Keyspace;
  private readonly prefix: string;
  private readonly bounds: Bounds;
  private lo: string | undefined;
  private hi: string | undefined;

  constructor(ks: Keyspace, prefix: string, bounds: Bounds) {
    this.ks = ks;
    this.prefix = prefix;
    this.bounds = bounds;
  }

  /** A random element: [suffix, value]; answered now when the records it reads are in memory. */
  next(): Maybe<[string, Uint8Array] | undefined> {
    const b = this.bounds;
    if ((this.lo === undefined || this.hi === undefined) && b.lo !== undefined && b.hiEx !== undefined && (b.seeks = (b.seeks ?? 0) + 1) % RETIGHTEN !== 0) {
      // Bounds that earlier seeks found stay valid as elements go (they only get looser), so a
      // seek needs no scans for the ends; they are found again now and then, so that removals
      // at the ends do not skew the choice for long.
      this.lo = b.lo;
      // hi is inclusive: the last key itself when the bound is "last key + \0" (as set below).
      this.hi = b.hiEx.endsWith('\0') ? b.hiEx.slice(0, -1) : b.hiEx;
    }
    if (this.lo === undefined || this.hi === undefined) return this.findEnds().then((found) => (found ? this.seek() : undefined));
    return this.seek();
  }

  /** Finds the first and last live elements (and tightens the bounds to them); false if none. */
  private async findEnds(): Promise<boolean> {
    const p = this.prefix;
    const start = p + (this.bounds.lo ?? '');
    const end = this.bounds.hiEx === undefined ? prefixEnd(p) : p + this.bounds.hiEx;
    for await (const e of this.ks.engine.scan({ start, end, limit: 1 })) this.lo = e.key.slice(p.length);
    for await (const e of this.ks.engine.scan({ start, end, limit: 1, reverse: true })) this.hi = e.key.slice(p.length);
    if (this.lo === undefined || this.hi === undefined) return false;
    this.bounds.lo = this.lo;
    this.bounds.hiEx = this.hi + '\0';
    return true;
  }

  private seek(): Maybe<[string, Uint8Array] | undefined> {
    const p = this.prefix;
    const engine = this.ks.engine;
    const lo = this.lo!;
    const hi = this.hi!;
    const found = (e: EngineEntry | undefined): [string, Uint8Array] | undefined => e && [e.key.slice(p.length), e.value];
    return map(engine.scanAllMaybe({ start: p + randomBetween(lo, hi), end: p + hi + '\0', limit: 1 }), ([e]) =>
      // Past the last live element (it was removed meanwhile): wrap to the first.
      e ? found(e) : map(engine.scanAllMaybe({ start: p + lo, end: prefixEnd(p), limit: 1 }), ([w]) => found(w)),
    );
  }
}
