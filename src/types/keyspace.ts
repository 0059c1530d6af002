/**
 * The keyspace: 16 logical databases of Redis keys stored as records on the engine, with a
 * bytes-bounded hot set of decoded keys in front (see docs/data-model.md).
 *
 * Concurrency model: the dispatcher calls prefetch(db, keys) before a data command; once it
 * resolves every key is either decoded in the hot set or known to be missing, and the handler
 * runs synchronously against memory. Every mutation is written to the engine synchronously
 * (engine.write applies to its memtable at once), so the engine is always complete and the hot
 * set is only a cache — except in cache mode, where eviction deletes keys like Redis does.
 */
import { Background } from './background.ts';
import { ChurnMap } from './churn-map.ts';
import {
  type Catalog,
  CATALOG_KEY,
  decodeCatalog,
  decodeMeta,
  elemKey,
  elemPrefix,
  encodeCatalog,
  encodeTtlValue,
  encodeValue,
  fromBytes,
  META_PREFIX_LEN,
  metaKey,
  nsOfPhysKey,
  nsRange,
  prefixEnd,
  ttlKey,
  typeOfTag,
} from './encoding.ts';
import type { EngineLike, EngineWrite } from './engine-api.ts';
import { DEFAULT_LFU, LFU_INIT_VAL, type LfuConfig, lfuDecayed, lfuNowMinutes, lfuTouch } from './lfu.ts';
import { isIntEncodable } from './numbers.ts';
import { type Entry, entrySize, HashValue, type StringEnc, type TypeName, typeOf, type Value } from './values.ts';
import { fitsInline, ListValue } from './list.ts';
import { splitList } from './list-records.ts';
import { SetValue } from './set-value.ts';
import { ZSetValue } from './zset-value.ts';
import { randomBetween } from '../util/random-between.ts';
import type { Maybe } from '../util/maybe.ts';

export type MaxmemoryPolicy =
  | 'noeviction'
  | 'allkeys-lru'
  | 'allkeys-lfu'
  | 'allkeys-random'
  | 'volatile-lru'
  | 'volatile-lfu'
  | 'volatile-random'
  | 'volatile-ttl';

export const MAXMEMORY_POLICIES: readonly MaxmemoryPolicy[] = [
  'noeviction',
  'allkeys-lru',
  'allkeys-lfu',
  'allkeys-random',
  'volatile-lru',
  'volatile-lfu',
  'volatile-random',
  'volatile-ttl',
];

export interface KeyspaceOptions {
  databases?: number;
  /** Bytes; 0 = no limit (the hot set is then bounded by hotsetBytes). */
  maxmemory?: number;
  maxmemoryPolicy?: MaxmemoryPolicy;
  /** Hot-set bound when maxmemory is 0 (database mode). Default 256 MiB. */
  hotsetBytes?: number;
  hashMaxListpackEntries?: number;
  hashMaxListpackValue?: number;
  /** Background cycle frequency (Redis `hz`). */
  hz?: number;
  /** Re-opens the engine for DEBUG RELOAD; without it reload() only drops in-memory state. */
  reopen?: (old: EngineLike) => Promise<EngineLike>;
  /** Clock, for tests. */
  clock?: () => number;
}

export type ModifyCause = 'write' | 'delete' | 'expire' | 'evict';
export type KeyModifiedListener = (db: number, key: string, cause: ModifyCause) => void;
export type FlushListener = (db: number | undefined) => void;

/** A handler touched a key the dispatcher did not prefetch (a bug in key extraction). */
export class KeyNotLoadedError extends Error {
  constructor(key: string) {
    super(`key not loaded: ${JSON.stringify(key)}`);
    this.name = 'KeyNotLoadedError';
  }
}

/** Per logical database bookkeeping; one Db object per namespace id. */
export class Db {
  readonly ns: number;
  keys = 0;
  expires = 0;
  /** Sum of expireAt over keys with a TTL (for avg_ttl). */
  ttlSum = 0;
  /** Set while counts are being rebuilt after an unclean shutdown. */
  counting: Promise<void> | undefined;
  /**
   * True while every key of this namespace is in the hot set (it was created empty by FLUSHDB
   * or on a new database and nothing has left memory since): absent keys need no engine read.
   */
  fresh: boolean;
  constructor(ns: number, fresh = false) {
    this.ns = ns;
    this.fresh = fresh;
  }
}

/** A metadata record as the engine returns it. */
type StoredEntry = { value: Uint8Array; expireAt: number };

interface Load {
  promise: Promise<void>;
  stale: boolean;
}

export interface ObjectInfo {
  type: TypeName;
  encoding: string;
  refcount: number;
  /** Seconds since last access. */
  idle: number;
  /** LFU counter (after decay). */
  freq: number;
  /** Approximate serialized size. */
  serializedLength: number;
  expireAt: number;
}

const MISSING_CAP = 100_000;
const DEFAULT_HOTSET = 256 * 1024 * 1024;
const VERSION_LEASE = 1 << 20;
const SHARED_INTEGERS = 10000;
const CURSOR_CAP = 100_000;

export class Keyspace {
  readonly databases: number;
  engine: EngineLike;
  maxmemory: number;
  policy: MaxmemoryPolicy;
  hotsetBytes: number;
  hashMaxListpackEntries: number;
  hashMaxListpackValue: number;
  /** list-max-listpack-size: lists beyond one node of this size are split into records. */
  listMaxListpackSize = -2;
  /**
   * Element prefixes being written ahead of their metadata (big-list copies and rewrites
   * stream their records first): the orphan sweep leaves them alone until the metadata that
   * names them is written (set() / listChanged() remove them).
   */
  readonly building = new Set<string>();
  /** set-max-intset-entries, zset-max-listpack-entries/-value (set-value.ts, zset-value.ts). */
  setMaxIntsetEntries = 512;
  zsetMaxListpackEntries = 128;
  zsetMaxListpackValue = 64;
  lfu: LfuConfig = { ...DEFAULT_LFU };
  /** DEBUG SET-ACTIVE-EXPIRE. */
  activeExpire = true;
  readonly hz: number;
  readonly clock: () => number;

  /** Logical db index -> its current namespace. */
  dbs: Db[] = [];
  byNs = new Map<number, Db>();
  /** Hot set: physical metadata key -> decoded entry, least recently used first. */
  hot = new ChurnMap<Entry>();
  /** Keys known to be absent (negative cache), oldest first. */
  missing = new ChurnMap<true>();
  /** Bytes accounted to the hot set. */
  used = 0;
  catalog: Catalog;
  /** Whether the catalog on the engine currently says clean=true. */
  private catalogClean: boolean;
  private nextVersion: number;
  private readonly loading = new Map<string, Load>();
  private readonly pins = new Map<string, number>();
  private readonly keyListeners: KeyModifiedListener[] = [];
  private readonly flushListeners: FlushListener[] = [];
  /** While a background pass runs, the physical keys written meanwhile (to revalidate). */
  dirty: Set<string> | undefined;
  private spillScheduled = false;
  private readonly cursors = new Map<string, string>();
  /** Cursor ids start at a time-derived value so ids from before a restart rarely collide. */
  private nextCursor = (Date.now() % 1_000_000_000) * 1000 + 1;
  readonly background: Background;
  private readonly reopen: KeyspaceOptions['reopen'];
  private closed = false;

  private constructor(engine: EngineLike, catalog: Catalog, opts: KeyspaceOptions, fresh: boolean) {
    this.engine = engine;
    this.databases = opts.databases ?? 16;
    this.maxmemory = opts.maxmemory ?? 0;
    this.policy = opts.maxmemoryPolicy ?? 'noeviction';
    this.hotsetBytes = opts.hotsetBytes ?? DEFAULT_HOTSET;
    this.hashMaxListpackEntries = opts.hashMaxListpackEntries ?? 512; // Redis's built-in default
    this.hashMaxListpackValue = opts.hashMaxListpackValue ?? 64;
    this.hz = opts.hz ?? 10;
    this.clock = opts.clock ?? Date.now;
    this.reopen = opts.reopen;
    this.catalog = catalog;
    this.catalogClean = catalog.clean;
    this.nextVersion = catalog.versionCeil;
    this.background = new Background(this);
    catalog.format = 1;
    this.adoptCatalog(fresh);
  }

  static async open(engine: EngineLike, opts: KeyspaceOptions = {}): Promise<Keyspace> {
    const catalog = await loadCatalog(engine, opts.databases ?? 16);
    const ks = new Keyspace(engine, catalog, opts, catalog.format === undefined);
    ks.background.start();
    return ks;
  }

  /** Builds Db objects from the catalog; starts recounts when the counts are not trusted. */
  private adoptCatalog(fresh = false): void {
    const c = this.catalog;
    let changed = false;
    while (c.dbs.length < this.databases) {
      c.dbs.push(c.nextNs++);
      changed = true;
    }
    this.dbs = c.dbs.slice(0, this.databases).map((ns) => new Db(ns, fresh));
    this.byNs = new Map(this.dbs.map((d) => [d.ns, d]));
    for (const d of this.dbs) {
      const counts = c.counts[String(d.ns)];
      if (c.clean) {
        if (counts) [d.keys, d.expires, d.ttlSum] = [counts[0] ?? 0, counts[1] ?? 0, counts[2] ?? 0];
      } else {
        this.background.recount(d);
      }
    }
    for (const ns of c.dead) this.background.cleanupNamespace(ns);
    if (changed) this.persistCatalog(c.clean);
  }

  // ------------------------------------------------------------------ configuration

  setMaxmemory(bytes: number, policy?: MaxmemoryPolicy): void {
    this.maxmemory = bytes;
    if (policy) this.policy = policy;
    this.scheduleSpill();
  }

  /** True when eviction deletes keys (Redis cache semantics). */
  get cacheMode(): boolean {
    return this.maxmemory > 0 && this.policy !== 'noeviction';
  }

  /**
   * Where keys start leaving memory without being deleted (spilling): maxmemory in database
   * mode (hotsetBytes when maxmemory is 0). In cache mode eviction keeps memory at maxmemory,
   * so spilling is only a safety net (e.g. volatile-* with no volatile keys) at twice that.
   */
  get hotLimit(): number {
    if (this.maxmemory <= 0) return this.hotsetBytes;
    return this.cacheMode ? this.maxmemory * 2 : this.maxmemory;
  }

  private get lfuPolicy(): boolean {
    return this.policy === 'allkeys-lfu' || this.policy === 'volatile-lfu';
  }

  // ------------------------------------------------------------------ listeners

  onKeyModified(cb: KeyModifiedListener): void {
    this.keyListeners.push(cb);
  }

  onFlush(cb: FlushListener): void {
    this.flushListeners.push(cb);
  }

  private notify(d: Db, key: string, cause: ModifyCause): void {
    if (this.keyListeners.length === 0) return;
    const db = this.dbs.indexOf(d);
    if (db < 0) return;
    for (const cb of this.keyListeners) cb(db, key, cause);
  }

  private notifyFlush(db: number | undefined): void {
    for (const cb of this.flushListeners) cb(db);
  }

  // ------------------------------------------------------------------ loading

  db(index: number): Db {
    const d = this.dbs[index];
    if (!d) throw new Error(`no database ${index}`);
    return d;
  }

  /**
   * Makes sure every key is decoded in memory or known missing. Returns undefined when that is
   * already true (the common case, so the dispatcher stays synchronous), else a promise; once
   * it resolves the handler must run without yielding to the event loop.
   */
  prefetch(db: number, keys: readonly string[]): Promise<void> | undefined {
    const d = this.db(db);
    let waits: Promise<void>[] | undefined;
    if (d.fresh) return undefined;
    for (const key of keys) {
      const pk = this.pk(d, key);
      if (this.hot.has(pk) || this.missing.has(pk)) continue;
      const w = this.loadNow(d, key, pk);
      if (w) (waits ??= []).push(w);
    }
    if (!waits) return undefined;
    return this.prefetchLoop(db, keys, waits);
  }

  /**
   * Loads a key at once when the engine answers from memory (its memtables, cached blocks) and
   * its value is one record; otherwise the load to wait for.
   */
  private loadNow(d: Db, key: string, pk: string): Promise<void> | undefined {
    if (this.loading.has(pk)) return this.load(d, key, pk);
    let got: Maybe<StoredEntry | undefined>;
    try {
      got = this.engine.getEntryMaybe(pk);
    } catch (err) {
      got = Promise.reject(err as Error);
    }
    if (got instanceof Promise) return this.load(d, key, pk, got);
    if (!got) {
      this.addMissing(pk);
      return undefined;
    }
    const m = decodeMeta(got.value);
    // A split hash: its elements are read too.
    if (m.kind !== 'value') return this.load(d, key, pk, got);
    this.install(pk, this.newEntry(m.value, got.expireAt ?? 0, 'auto'));
    return undefined;
  }

  private async prefetchLoop(db: number, keys: readonly string[], waits: Promise<void>[]): Promise<void> {
    const d = this.db(db);
    const pks = keys.map((k) => metaKey(d.ns, k));
    for (const pk of pks) this.pins.set(pk, (this.pins.get(pk) ?? 0) + 1);
    try {
      for (let round = 0; ; round++) {
        await Promise.all(waits);
        const again = this.prefetch(db, keys);
        if (!again) return;
        // The db was flushed or swapped meanwhile, or a key left memory: load again.
        if (round > 100) throw new Error('prefetch did not settle');
        waits = [again];
      }
    } finally {
      // Unpin after the handler ran: it runs in this microtask checkpoint, spills in a later task.
      setImmediate(() => {
        for (const pk of pks) {
          const n = (this.pins.get(pk) ?? 1) - 1;
          if (n <= 0) this.pins.delete(pk);
          else this.pins.set(pk, n);
        }
      });
    }
  }

  /** prefetch() as an always-awaitable call, for handlers that reach into another db. */
  async ensureLoaded(db: number, keys: readonly string[]): Promise<void> {
    const p = this.prefetch(db, keys);
    if (p) await p;
  }

  /** Reads a key into memory (or the missing set); `first`: its metadata read, if begun. */
  private load(d: Db, key: string, pk: string, first?: Maybe<StoredEntry | undefined>): Promise<void> {
    const existing = this.loading.get(pk);
    if (existing) return existing.promise;
    const l: Load = { stale: false, promise: Promise.resolve() };
    l.promise = (async () => {
      try {
        for (;;) {
          l.stale = false;
          const got = await this.readKey(d.ns, key, pk, first);
          first = undefined;
          if (l.stale) continue; // a write raced with the read: read again
          if (this.byNs.get(d.ns) !== d) return; // flushed meanwhile
          if (this.hot.has(pk) || this.missing.has(pk)) return;
          if (got) this.install(pk, this.newEntry(got.value, got.expireAt, 'auto'));
          else this.addMissing(pk);
          return;
        }
      } finally {
        this.loading.delete(pk);
      }
    })();
    this.loading.set(pk, l);
    return l.promise;
  }

  /** Reads and decodes one key (metadata plus elements of split collections) from the engine. */
  async readKey(ns: number, key: string, pk: string, entry?: Maybe<StoredEntry | undefined>): Promise<{ value: Value; expireAt: number } | undefined> {
    const e = await (entry ?? this.engine.getEntry(pk));
    if (!e) return undefined;
    const m = decodeMeta(e.value);
    const expireAt = e.expireAt ?? 0;
    if (m.kind === 'value') return { value: m.value, expireAt };
    const prefix = elemPrefix(ns, key, m.header.v);
    const map = new Map<string, string>();
    for await (const el of this.engine.scan({ start: prefix, end: prefixEnd(prefix) })) {
      map.set(el.key.slice(prefix.length), fromBytes(el.value));
    }
    return { value: new HashValue(map, m.header.v), expireAt };
  }

  private newEntry(value: Value, expireAt: number, enc: StringEnc): Entry {
    const now = this.clock();
    return { value, expireAt, enc, atime: now, lfu: LFU_INIT_VAL, lfuTime: lfuNowMinutes(now), size: 0 };
  }

  private install(pk: string, e: Entry): void {
    this.missing.delete(pk);
    const old = this.hot.get(pk);
    if (old) this.used -= old.size;
    e.size = entrySize(pk, e.value);
    this.used += e.size;
    this.hot.set(pk, e);
    if (this.used > this.hotLimit) this.scheduleSpill();
  }

  private addMissing(pk: string): void {
    const old = this.hot.get(pk);
    if (old) {
      this.used -= old.size;
      this.hot.delete(pk);
    }
    this.missing.set(pk, true);
    if (this.missing.size > MISSING_CAP) this.scheduleSpill();
  }

  /** Re-measures a key's entry after it cached more of its value (a split list's ends). */
  remeasure(db: number, key: string, e: Entry): void {
    const pk = this.pk(this.db(db), key);
    if (this.hot.get(pk) === e) this.resize(pk, e);
  }

  /** Re-measures an entry after an in-place change. */
  private resize(pk: string, e: Entry): void {
    const size = entrySize(pk, e.value);
    this.used += size - e.size;
    e.size = size;
    if (this.used > this.hotLimit) this.scheduleSpill();
  }

  private pkKey: string | undefined;
  private pkNs = -1;
  private pkLast = '';

  /**
   * The metadata key of `key` in d. A command asks for its key several times (prefetch,
   * lookup, the write); the one it asked for last is kept, so the string is built and hashed
   * once per command, not once per hot-set lookup.
   */
  private pk(d: Db, key: string): string {
    if (key === this.pkKey && d.ns === this.pkNs) return this.pkLast;
    this.pkKey = key;
    this.pkNs = d.ns;
    return (this.pkLast = metaKey(d.ns, key));
  }

  private current(d: Db, key: string, pk: string): Entry | undefined {
    const e = this.hot.get(pk);
    if (e) return e;
    if (this.missing.has(pk) || d.fresh) return undefined;
    throw new KeyNotLoadedError(key);
  }

  // ------------------------------------------------------------------ reads

  /**
   * The live entry for a key, or undefined. Expired keys are deleted here (lazy expiry), as
   * Redis's lookupKey does. `touch` updates LRU/LFU (false for OBJECT, TYPE, TTL...).
   */
  lookup(db: number, key: string, now: number, touch = true): Entry | undefined {
    const d = this.db(db);
    const pk = this.pk(d, key);
    const e = this.current(d, key, pk);
    if (!e) return undefined;
    if (e.expireAt !== 0 && now > e.expireAt) {
      this.removeEntry(d, key, pk, e, 'expire');
      return undefined;
    }
    if (touch) this.touchEntry(pk, e, now);
    return e;
  }

  /** Whether the key holds a live value, without touching it. */
  exists(db: number, key: string, now: number): boolean {
    return this.lookup(db, key, now, false) !== undefined;
  }

  private touchEntry(pk: string, e: Entry, now: number): void {
    e.atime = now;
    if (this.lfuPolicy) [e.lfu, e.lfuTime] = lfuTouch(e.lfu, e.lfuTime, now, this.lfu);
    this.hot.touch(pk);
  }

  // ------------------------------------------------------------------ writes

  private write(batch: EngineWrite[]): void {
    if (this.closed) throw new Error('keyspace is closed');
    if (this.catalogClean) {
      // The stored counts stop being exact with this write.
      this.catalogClean = false;
      this.catalog.clean = false;
      batch.push({ key: CATALOG_KEY, value: encodeCatalog(this.catalog) });
    }
    this.engine.write(batch);
  }

  private markWritten(pk: string): void {
    const l = this.loading.get(pk);
    if (l) l.stale = true;
    this.dirty?.add(pk);
  }

  allocVersion(): number {
    if (this.nextVersion >= this.catalog.versionCeil) {
      this.catalog.versionCeil = this.nextVersion + VERSION_LEASE;
      this.persistCatalog();
    }
    return this.nextVersion++;
  }

  private needsSplit(h: HashValue): boolean {
    if (h.size > this.hashMaxListpackEntries) return true;
    const max = this.hashMaxListpackValue;
    for (const [f, v] of h.map) if (f.length > max || v.length > max) return true;
    return false;
  }

  /** Appends the records of a value's elements (for split collections) to a batch. */
  private pushElements(batch: EngineWrite[], ns: number, key: string, h: HashValue): void {
    for (const [f, v] of h.map) batch.push({ key: elemKey(ns, key, h.version, f), value: v });
  }

  private metaRecord(pk: string, value: Value, expireAt: number): EngineWrite {
    return expireAt ? { key: pk, value: encodeValue(value), expireAt } : { key: pk, value: encodeValue(value) };
  }

  private countChange(d: Db, oldExpire: number | undefined, newExpire: number | undefined): void {
    // undefined = key absent; 0 = present without TTL.
    if (oldExpire === undefined && newExpire !== undefined) d.keys++;
    if (oldExpire !== undefined && newExpire === undefined) d.keys--;
    if (oldExpire) {
      d.expires--;
      d.ttlSum -= oldExpire;
    }
    if (newExpire) {
      d.expires++;
      d.ttlSum += newExpire;
    }
  }

  /**
   * Creates or replaces a key's value (SET, HSET on a new key, RENAME, RESTORE...). The old
   * value's element records, if any, are left to the background cleanup (O(1) overwrite).
   * `split` forces the element-record encoding for hashes (COPY of a hashtable-encoded hash).
   */
  set(db: number, key: string, value: Value, expireAt = 0, opts: { enc?: StringEnc; split?: boolean } = {}): Entry {
    const d = this.db(db);
    const pk = this.pk(d, key);
    const old = this.current(d, key, pk);
    const batch: EngineWrite[] = [];
    if (old) this.dropOld(batch, d, key, old, expireAt);
    if (value instanceof HashValue) {
      value.version = opts.split || this.needsSplit(value) ? this.allocVersion() : 0;
      if (value.version) this.pushElements(batch, d.ns, key, value);
    }
    // A new list too big for one node (RPUSH of many elements, RESTORE) starts split; a split
    // value arrives with its element records already written (list-records.ts copySplitList).
    if (value instanceof ListValue && value.version === 0 && !fitsInline(this.listMaxListpackSize, value.length, value.bytes)) {
      splitList(value, this.allocVersion(), d.ns, key, batch);
    }
    // Likewise a new set or sorted set too big to stay inline (a STORE, RESTORE); a split one
    // arrives with its element records already written (set-collection.ts copySplit).
    if ((value instanceof SetValue || value instanceof ZSetValue) && value.version === 0 && value.splitWanted) {
      const v = this.allocVersion();
      const prefix = elemPrefix(d.ns, key, v);
      for (const [suffix, bytes] of value.splitOff(v)) batch.push({ key: prefix + suffix, value: bytes });
    }
    batch.push(this.metaRecord(pk, value, expireAt));
    if (expireAt) batch.push({ key: ttlKey(d.ns, expireAt, key), value: encodeTtlValue(versionOf(value)) });
    this.markWritten(pk);
    this.write(batch);
    // Records streamed ahead of this metadata (copies of split collections) are adopted now.
    if (this.building.size > 0 && versionOf(value)) this.building.delete(elemPrefix(d.ns, key, versionOf(value)));
    this.countChange(d, old ? old.expireAt : undefined, expireAt);
    const e = this.newEntry(value, expireAt, opts.enc ?? 'auto');
    this.install(pk, e);
    this.notify(d, key, 'write');
    return e;
  }

  /** A key's collection moved to a new version (SetView.rewrite): the old one's records go. */
  retireVersion(db: number, key: string, version: number): void {
    this.background.cleanupPrefix(elemPrefix(this.db(db).ns, key, version));
  }

  /** Records to retire an old value: its TTL index record and its element records. */
  private dropOld(batch: EngineWrite[], d: Db, key: string, old: Entry, newExpire: number | undefined): void {
    if (old.expireAt && old.expireAt !== newExpire) batch.push({ key: ttlKey(d.ns, old.expireAt, key) });
    const v = versionOf(old.value);
    if (v) this.background.cleanupPrefix(elemPrefix(d.ns, key, v));
  }

  /** DEL: returns whether the key existed (expired keys count as absent). */
  delete(db: number, key: string, now: number): boolean {
    const d = this.db(db);
    const pk = this.pk(d, key);
    const e = this.current(d, key, pk);
    if (!e) return false;
    const expired = e.expireAt !== 0 && now > e.expireAt;
    this.removeEntry(d, key, pk, e, expired ? 'expire' : 'delete');
    return !expired;
  }

  private removeEntry(d: Db, key: string, pk: string, e: Entry, cause: ModifyCause): void {
    const batch: EngineWrite[] = [{ key: pk }];
    this.dropOld(batch, d, key, e, undefined);
    this.markWritten(pk);
    this.write(batch);
    this.countChange(d, e.expireAt, undefined);
    this.addMissing(pk);
    this.notify(d, key, cause);
  }

  /** Changes a live key's expiry (0 = PERSIST). A past time should be a delete instead. */
  setExpire(db: number, key: string, expireAt: number): void {
    const d = this.db(db);
    const pk = this.pk(d, key);
    const e = this.current(d, key, pk);
    if (!e) throw new KeyNotLoadedError(key);
    if (e.expireAt === expireAt) return;
    const batch: EngineWrite[] = [];
    if (e.expireAt) batch.push({ key: ttlKey(d.ns, e.expireAt, key) });
    batch.push(this.metaRecord(pk, e.value, expireAt));
    if (expireAt) batch.push({ key: ttlKey(d.ns, expireAt, key), value: encodeTtlValue(versionOf(e.value)) });
    this.markWritten(pk);
    this.write(batch);
    this.countChange(d, e.expireAt, expireAt);
    e.expireAt = expireAt;
    this.notify(d, key, 'write');
  }

  /** Replaces a string value in place, keeping its TTL (APPEND, SETRANGE, INCR...). */
  setString(db: number, key: string, e: Entry, value: string, enc: StringEnc = 'auto'): void {
    const d = this.db(db);
    const pk = this.pk(d, key);
    this.markWritten(pk);
    this.write([this.metaRecord(pk, value, e.expireAt)]);
    e.value = value;
    e.enc = enc;
    this.resize(pk, e);
    this.notify(d, key, 'write');
  }

  /**
   * Persists in-place changes to a hash already in the hot set: `changed` lists the fields
   * that were set or deleted. Converts to the split encoding when the hash outgrows the
   * listpack limits, and deletes the key when the hash became empty.
   */
  hashChanged(db: number, key: string, e: Entry, changed: Iterable<string>, forceSplit = false): void {
    const d = this.db(db);
    const pk = this.pk(d, key);
    const h = e.value as HashValue;
    if (h.size === 0) {
      this.removeEntry(d, key, pk, e, 'delete');
      return;
    }
    const batch: EngineWrite[] = [];
    if (h.version === 0) {
      let convert = forceSplit || h.size > this.hashMaxListpackEntries;
      if (!convert) {
        const max = this.hashMaxListpackValue;
        for (const f of changed) {
          const v = h.get(f);
          if (f.length > max || (v !== undefined && v.length > max)) convert = true;
        }
      }
      if (convert) {
        h.version = this.allocVersion();
        this.pushElements(batch, d.ns, key, h);
        if (e.expireAt) batch.push({ key: ttlKey(d.ns, e.expireAt, key), value: encodeTtlValue(h.version) });
      }
      batch.push(this.metaRecord(pk, h, e.expireAt));
    } else {
      for (const f of changed) {
        const v = h.get(f);
        batch.push(v === undefined ? { key: elemKey(d.ns, key, h.version, f) } : { key: elemKey(d.ns, key, h.version, f), value: v });
      }
      batch.push(this.metaRecord(pk, h, e.expireAt));
    }
    this.markWritten(pk);
    this.writeInPlace(pk, batch);
    this.resize(pk, e);
    this.notify(d, key, 'write');
  }

  /**
   * Persists in-place changes to a list (src/types/list-ops.ts): `records` are its element
   * writes; the metadata is appended. Deletes the key when the list became empty. `rehomed`:
   * the element version changed (inline -> split), so the TTL record is rewritten too. The
   * entry is (re)installed, since a command that awaited the engine may have seen it spill.
   */
  listChanged(db: number, key: string, e: Entry, records: EngineWrite[], rehomed = false): void {
    const d = this.db(db);
    const pk = this.pk(d, key);
    const l = e.value as ListValue;
    l.forgetEndNodes();
    if (rehomed) this.building.delete(elemPrefix(d.ns, key, l.version));
    if (l.length === 0) {
      // The element records go with the version, which the cleanup deletes whole.
      this.removeEntry(d, key, pk, e, 'delete');
      return;
    }
    const batch = records;
    if (rehomed && e.expireAt) batch.push({ key: ttlKey(d.ns, e.expireAt, key), value: encodeTtlValue(l.version) });
    batch.push(this.metaRecord(pk, l, e.expireAt));
    this.markWritten(pk);
    this.writeInPlace(pk, batch);
    if (this.hot.get(pk) !== e) this.install(pk, e);
    else this.resize(pk, e);
    this.notify(d, key, 'write');
  }

  /**
   * Persists in-place changes to a set or sorted set (set-ops.ts, zset-ops.ts), as listChanged
   * does for lists: `records` are its element writes, the metadata is appended, an empty
   * collection deletes the key, `rehomed` (inline -> split) rewrites the TTL record.
   */
  collectionChanged(db: number, key: string, e: Entry, records: EngineWrite[], rehomed = false): void {
    const d = this.db(db);
    const pk = this.pk(d, key);
    const v = e.value as SetValue | ZSetValue;
    if (v.card === 0) {
      this.removeEntry(d, key, pk, e, 'delete');
      return;
    }
    const batch = records;
    if (rehomed && e.expireAt) batch.push({ key: ttlKey(d.ns, e.expireAt, key), value: encodeTtlValue(v.version) });
    batch.push(this.metaRecord(pk, v, e.expireAt));
    this.markWritten(pk);
    this.writeInPlace(pk, batch);
    if (this.hot.get(pk) !== e) this.install(pk, e);
    else this.resize(pk, e);
    this.notify(d, key, 'write');
  }

  /**
   * Keeps keys in memory until the returned release is called: for commands that await the
   * engine after their prefetch (big lists), so the entry they hold stays the live one.
   */
  hold(db: number, keys: readonly string[]): () => void {
    const d = this.db(db);
    const pks = keys.map((k) => metaKey(d.ns, k));
    for (const pk of pks) this.pins.set(pk, (this.pins.get(pk) ?? 0) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      for (const pk of pks) {
        const n = (this.pins.get(pk) ?? 1) - 1;
        if (n <= 0) this.pins.delete(pk);
        else this.pins.set(pk, n);
      }
    };
  }

  /**
   * Writes a batch for a value the handler already changed in memory. If the engine refuses
   * (fenced, closed), the key leaves memory so the next read sees what the engine has.
   */
  private writeInPlace(pk: string, batch: EngineWrite[]): void {
    try {
      this.write(batch);
    } catch (err) {
      const e = this.hot.get(pk);
      if (e) {
        this.used -= e.size;
        this.hot.delete(pk);
        this.unfresh(pk);
      }
      throw err;
    }
  }

  /** Sets LRU/LFU state (RESTORE IDLETIME/FREQ). */
  setAccess(db: number, key: string, idleSeconds: number | undefined, freq: number | undefined): void {
    const d = this.db(db);
    const e = this.hot.get(this.pk(d, key));
    if (!e) return;
    const now = this.clock();
    if (idleSeconds !== undefined) e.atime = now - idleSeconds * 1000;
    if (freq !== undefined) {
      e.lfu = freq;
      e.lfuTime = lfuNowMinutes(now);
    }
  }

  // ------------------------------------------------------------------ whole-database ops

  /** DBSIZE; a promise only while counts are being rebuilt after an unclean shutdown. */
  dbsize(db: number): number | Promise<number> {
    const d = this.db(db);
    if (d.counting) return d.counting.then(() => Math.max(0, d.keys));
    return Math.max(0, d.keys);
  }

  keyCount(db: number): number {
    return Math.max(0, this.db(db).keys);
  }

  expiresCount(db: number): number {
    return Math.max(0, this.db(db).expires);
  }

  /** Average remaining TTL in ms over keys with a TTL (INFO keyspace avg_ttl). */
  avgTtl(db: number): number {
    const d = this.db(db);
    if (d.expires <= 0) return 0;
    return Math.max(0, Math.round(d.ttlSum / d.expires - this.clock()));
  }

  flushdb(db: number): void {
    this.replaceNamespace(db);
    this.persistCatalog();
    this.notifyFlush(db);
  }

  flushall(): void {
    for (let i = 0; i < this.databases; i++) this.replaceNamespace(i);
    this.persistCatalog();
    this.notifyFlush(undefined);
  }

  /** Points a logical db at a fresh, empty namespace; the old one is deleted in the background. */
  private replaceNamespace(db: number): void {
    const old = this.db(db);
    const d = new Db(this.catalog.nextNs++, true);
    this.catalog.dbs[db] = d.ns;
    this.catalog.dead.push(old.ns);
    delete this.catalog.counts[String(old.ns)];
    this.dbs[db] = d;
    this.byNs.delete(old.ns);
    this.byNs.set(d.ns, d);
    this.dropNamespaceFromMemory(old.ns);
    this.background.cleanupNamespace(old.ns);
  }

  private dropNamespaceFromMemory(ns: number): void {
    for (const [pk, e] of this.hot) {
      if (nsOfPhysKey(pk) === ns) {
        this.used -= e.size;
        this.hot.delete(pk);
      }
    }
    for (const pk of this.missing.keys()) if (nsOfPhysKey(pk) === ns) this.missing.delete(pk);
  }

  swapdb(a: number, b: number): void {
    const da = this.db(a);
    const dbb = this.db(b);
    this.dbs[a] = dbb;
    this.dbs[b] = da;
    this.catalog.dbs[a] = dbb.ns;
    this.catalog.dbs[b] = da.ns;
    this.persistCatalog();
    this.notifyFlush(a);
    if (a !== b) this.notifyFlush(b);
  }

  /** Writes the catalog (with current counts) to the engine. */
  persistCatalog(clean = false): void {
    const c = this.catalog;
    c.clean = clean;
    c.counts = {};
    for (const d of this.dbs) {
      if (!d.counting) c.counts[String(d.ns)] = [d.keys, d.expires, d.ttlSum];
    }
    if (clean && this.dbs.some((d) => d.counting)) c.clean = false;
    this.engine.write([{ key: CATALOG_KEY, value: encodeCatalog(c) }]);
    this.catalogClean = c.clean;
  }

  /** SAVE: make everything durable in L0 and record exact counts. */
  async save(): Promise<void> {
    this.storeRankIndexes(this.hot);
    this.persistCatalog(true);
    await this.engine.flushMemtable();
  }

  /** DEBUG RELOAD: save, drop every in-memory structure and read state back from storage. */
  async reload(): Promise<void> {
    this.background.stop();
    try {
      await this.background.idle();
      await this.save();
      if (this.reopen) this.engine = await this.reopen(this.engine);
      this.hot.clear();
      this.missing.clear();
      this.used = 0;
      this.catalog = await loadCatalog(this.engine, this.databases);
      this.catalog.format = 1;
      this.catalogClean = this.catalog.clean;
      this.nextVersion = this.catalog.versionCeil;
      this.background.reset();
      this.adoptCatalog();
    } finally {
      this.background.start();
    }
  }

  /** Stops background work, records clean counts, closes the engine. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.background.stop();
    await this.background.idle();
    this.storeRankIndexes(this.hot);
    this.persistCatalog(true);
    this.closed = true;
    await this.engine.close();
  }

  /** For the dispatcher: engine backpressure. Await before running write commands. */
  waitForCapacity(): Promise<void> | undefined {
    return this.engine.writeStalled ? this.engine.waitForCapacity() : undefined;
  }

  // ------------------------------------------------------------------ memory

  usedMemory(): number {
    return this.used;
  }

  /**
   * Cache-mode eviction, called by the dispatcher before commands that may grow memory
   * (Redis's performEvictions). Returns false when memory is over maxmemory and nothing can be
   * evicted: the command must then fail with OOM. In database mode it always returns true:
   * keys leave memory but stay in the engine (see scheduleSpill).
   */
  freeMemoryIfNeeded(): boolean {
    if (!this.cacheMode) return true;
    const now = this.clock();
    while (this.used > this.maxmemory) {
      const victim = this.pickVictim(now);
      if (!victim) return false;
      const e = this.hot.get(victim)!;
      const d = this.byNs.get(nsOfPhysKey(victim))!;
      this.removeEntry(d, victim.slice(META_PREFIX_LEN), victim, e, 'evict');
    }
    return true;
  }

  /** Approximates Redis's sampling eviction using the LRU order of the hot set. */
  private pickVictim(now: number): string | undefined {
    const volatile = this.policy.startsWith('volatile-');
    const sample: [string, Entry][] = [];
    let checked = 0;
    const want = this.policy.endsWith('-lru') ? 1 : 16;
    for (const kv of this.hot) {
      if (++checked > 10000) break;
      if (volatile && kv[1].expireAt === 0) continue;
      sample.push(kv);
      if (sample.length >= want) break;
    }
    if (sample.length === 0) return undefined;
    switch (this.policy) {
      case 'allkeys-lru':
      case 'volatile-lru':
        return sample[0]![0];
      case 'allkeys-random':
      case 'volatile-random':
        return sample[Math.floor(Math.random() * sample.length)]![0];
      case 'volatile-ttl':
        return sample.reduce((a, b) => (b[1].expireAt < a[1].expireAt ? b : a))[0];
      default: {
        const f = (e: Entry) => lfuDecayed(e.lfu, e.lfuTime, now, this.lfu);
        return sample.reduce((a, b) => (f(b[1]) < f(a[1]) ? b : a))[0];
      }
    }
  }

  /** Database-mode memory bound: drop least recently used entries from memory (not data). */
  private scheduleSpill(): void {
    if (this.spillScheduled) return;
    this.spillScheduled = true;
    setImmediate(() => {
      this.spillScheduled = false;
      this.spill();
    });
  }

  /**
   * Stores the rank indexes of split sorted sets among these entries (src/types/zset-rank.ts)
   * that are exact and not stored yet: at a save or stop, and when a set leaves memory, so
   * that the next deep rank query reads the index instead of scanning the set.
   */
  private storeRankIndexes(entries: Iterable<[string, Entry]>): void {
    const batch: EngineWrite[] = [];
    for (const [pk, e] of entries) {
      if (!(e.value instanceof ZSetValue)) continue;
      const rec = e.value.rankRecord(elemPrefix(nsOfPhysKey(pk), pk.slice(META_PREFIX_LEN), e.value.version));
      if (rec) batch.push(rec);
    }
    if (batch.length > 0) this.write(batch);
  }

  private spill(): void {
    const limit = this.hotLimit;
    if (this.used > limit) {
      const target = limit * 0.9;
      let pinned = false;
      for (const [pk, e] of this.hot) {
        if (this.used <= target) break;
        if (this.pins.has(pk)) {
          pinned = true;
          continue;
        }
        this.hot.delete(pk);
        this.used -= e.size;
        this.unfresh(pk);
        this.storeRankIndexes([[pk, e]]);
      }
      // Keys pinned by in-flight commands are released shortly: try again then.
      if (pinned && this.used > limit && !this.spillScheduled) {
        this.spillScheduled = true;
        setTimeout(() => {
          this.spillScheduled = false;
          this.spill();
        }, 1).unref();
      }
    }
    if (this.missing.size > MISSING_CAP) {
      for (const pk of this.missing.keys()) {
        if (this.missing.size <= MISSING_CAP * 0.9) break;
        if (!this.pins.has(pk)) this.missing.delete(pk);
      }
    }
  }

  // ------------------------------------------------------------------ introspection

  objectInfo(db: number, key: string, now: number): ObjectInfo | undefined {
    const e = this.lookup(db, key, now, false);
    if (!e) return undefined;
    return {
      type: typeOf(e.value),
      encoding: this.encodingOf(e),
      refcount: this.isShared(e) ? 2147483647 : 1,
      idle: Math.max(0, Math.floor((now - e.atime) / 1000)),
      freq: lfuDecayed(e.lfu, e.lfuTime, now, this.lfu),
      serializedLength: serializedLength(e.value),
      expireAt: e.expireAt,
    };
  }

  encodingOf(e: Entry): string {
    const v = e.value;
    if (typeof v === 'string') {
      if (e.enc === 'raw') return 'raw';
      if ((e.enc === 'auto' || e.enc === 'unshared') && isIntEncodable(v)) return 'int';
      return v.length <= 44 ? 'embstr' : 'raw';
    }
    // Redis 7.0 encodes every list as a quicklist (listpack-encoded lists came with 7.2).
    if (v instanceof ListValue) return 'quicklist';
    if (v instanceof SetValue || v instanceof ZSetValue) return v.encoding;
    return v.version === 0 ? 'listpack' : 'hashtable';
  }

  /** Redis shares integer objects 0..9999 unless an LRU/LFU policy needs per-key metadata. */
  private isShared(e: Entry): boolean {
    const v = e.value;
    if (typeof v !== 'string' || e.enc !== 'auto' || !isIntEncodable(v)) return false;
    if (this.maxmemory > 0 && (this.policy.endsWith('-lru') || this.policy.endsWith('-lfu'))) return false;
    const n = Number(v);
    return n >= 0 && n < SHARED_INTEGERS;
  }

  isLfuPolicy(): boolean {
    return this.lfuPolicy;
  }

  // ------------------------------------------------------------------ iteration

  /**
   * Keys of db in key order, starting strictly after `after` (or at the start), at most
   * `limit` records examined. Returns the keys with their type and whether more may follow.
   */
  async scanKeys(
    db: number,
    after: string | undefined,
    limit: number,
    prefix = '',
  ): Promise<{ keys: { key: string; type: TypeName }[]; last: string | undefined; done: boolean }> {
    const d = this.db(db);
    const range = nsRange('m', d.ns);
    let start = metaKey(d.ns, prefix);
    if (after !== undefined && metaKey(d.ns, after) >= start) start = metaKey(d.ns, after) + '\0';
    const end = prefix ? prefixEnd(metaKey(d.ns, prefix)) || range.end : range.end;
    const keys: { key: string; type: TypeName }[] = [];
    let last: string | undefined;
    let n = 0;
    for await (const e of this.engine.scan({ start, end, limit })) {
      n++;
      last = e.key.slice(META_PREFIX_LEN);
      keys.push({ key: last, type: typeOfTag(e.value[0] ?? 0) ?? 'string' });
    }
    return { keys, last, done: n < limit };
  }

  /** A random existing key (RANDOMKEY), or undefined for an empty db. */
  async randomKey(db: number, now: number): Promise<string | undefined> {
    const d = this.db(db);
    for (let attempt = 0; attempt < 100; attempt++) {
      const key = await this.randomCandidate(db, d);
      if (key === undefined) return undefined;
      if (this.dbs[db] !== d) return undefined;
      // Respect the hot set's view (a key may be logically expired but not yet removed).
      const pk = metaKey(d.ns, key);
      const e = this.hot.get(pk);
      if (e && e.expireAt !== 0 && now > e.expireAt) {
        this.removeEntry(d, key, pk, e, 'expire');
        continue;
      }
      if (this.missing.has(pk)) continue;
      return key;
    }
    return undefined;
  }

  private async randomCandidate(db: number, d: Db): Promise<string | undefined> {
    if (d.keys <= 2000 && !d.counting) {
      // Small databases: exact uniform choice.
      const all = await this.scanKeys(db, undefined, 2001);
      if (all.keys.length === 0) return undefined;
      if (all.done) return all.keys[Math.floor(Math.random() * all.keys.length)]!.key;
    }
    // Large: pick a random point between the first and last key and take the next key.
    const first = await this.scanKeys(db, undefined, 1);
    if (first.keys.length === 0) return undefined;
    const lastKey = await this.lastKey(d);
    const lo = first.keys[0]!.key;
    const hi = lastKey ?? lo;
    const point = randomBetween(lo, hi);
    const got = await this.scanKeys(db, point, 1);
    return got.keys[0]?.key ?? lo;
  }

  private async lastKey(d: Db): Promise<string | undefined> {
    const r = nsRange('m', d.ns);
    for await (const e of this.engine.scan({ start: r.start, end: r.end, reverse: true, limit: 1 })) {
      return e.key.slice(META_PREFIX_LEN);
    }
    return undefined;
  }

  /**
   * Elements of a split collection in element order, strictly after `after`, at most `limit`.
   * Used by HSCAN on big hashes: the engine keeps fields sorted, so a cursor is a position.
   */
  async scanElements(
    db: number,
    key: string,
    version: number,
    after: string | undefined,
    limit: number,
  ): Promise<{ items: [string, string][]; done: boolean }> {
    const d = this.db(db);
    const prefix = elemPrefix(d.ns, key, version);
    const start = after === undefined ? prefix : prefix + after + '\0';
    const items: [string, string][] = [];
    for await (const e of this.engine.scan({ start, end: prefixEnd(prefix), limit })) {
      items.push([e.key.slice(prefix.length), fromBytes(e.value)]);
    }
    return { items, done: items.length < limit };
  }

  /** SCAN-family cursors: an opaque number standing for a position in key order. */
  newCursor(position: string): string {
    const id = String(this.nextCursor++);
    this.cursors.set(id, position);
    if (this.cursors.size > CURSOR_CAP) this.cursors.delete(this.cursors.keys().next().value!);
    return id;
  }

  cursorPosition(id: string): string | undefined {
    return this.cursors.get(id);
  }

  /** Test/diagnostic hook: true when the key is decoded in memory. */
  isInMemory(db: number, key: string): boolean {
    return this.hot.has(metaKey(this.db(db).ns, key));
  }

  /** Drops a clean key from memory (DEBUG helpers, tests). */
  forget(db: number, key: string): void {
    const pk = metaKey(this.db(db).ns, key);
    const e = this.hot.get(pk);
    if (e) {
      this.used -= e.size;
      this.hot.delete(pk);
      this.unfresh(pk);
    }
    this.missing.delete(pk);
  }

  /** A key of this namespace left memory: absent keys must be read from the engine again. */
  private unfresh(pk: string): void {
    const d = this.byNs.get(nsOfPhysKey(pk));
    if (d) d.fresh = false;
  }

  /** @internal Used by the background expiry cycle. */
  expireFromBackground(d: Db, key: string, tExpireAt: number, tVersion: number): void {
    const pk = metaKey(d.ns, key);
    const e = this.hot.get(pk);
    if (e && e.expireAt === tExpireAt) {
      this.removeEntry(d, key, pk, e, 'expire');
      return;
    }
    // A TTL record for an incarnation that already vanished from the engine (expired while out
    // of memory, possibly replaced since): retire the record and the counts it stood for.
    const batch: EngineWrite[] = [{ key: ttlKey(d.ns, tExpireAt, key) }];
    if (!e) batch.push({ key: pk });
    this.write(batch);
    if (tVersion && (!e || versionOf(e.value) !== tVersion)) this.background.cleanupPrefix(elemPrefix(d.ns, key, tVersion));
    d.keys--;
    d.expires--;
    d.ttlSum -= tExpireAt;
    this.markWritten(pk);
    if (!e) {
      this.addMissing(pk);
      this.notify(d, key, 'expire');
    }
  }

  /**
   * @internal The element version a key's metadata names (0 = none: inline, other type or
   * absent), from the hot set when the key is there, else from the engine.
   */
  async elementVersion(ns: number, key: string): Promise<number> {
    const pk = metaKey(ns, key);
    const e = this.hot.get(pk);
    if (e) return versionOf(e.value);
    const got = await this.engine.getEntry(pk);
    if (!got) return 0;
    const m = decodeMeta(got.value);
    return m.kind === 'split' ? m.header.v : versionOf(m.value);
  }

  /** @internal Writes without touching hot-set state (background deletes of dead records). */
  writeRaw(batch: EngineWrite[]): void {
    if (batch.length) this.write(batch);
  }
}

function versionOf(v: Value): number {
  return v instanceof HashValue || v instanceof ListValue || v instanceof SetValue || v instanceof ZSetValue ? v.version : 0;
}

function serializedLength(v: Value): number {
  if (typeof v === 'string') return v.length;
  return v.bytes + v.size * 2;
}

async function loadCatalog(engine: EngineLike, databases: number): Promise<Catalog> {
  const raw = await engine.get(CATALOG_KEY);
  if (raw) return decodeCatalog(raw);
  return {
    // No format yet: tells open() this is a brand-new database (every namespace empty).
    format: undefined as unknown as 1,
    dbs: Array.from({ length: databases }, (_, i) => i),
    nextNs: databases,
    dead: [],
    versionCeil: 1,
    clean: true,
    counts: {},
  };
}
