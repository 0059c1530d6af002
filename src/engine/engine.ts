/**
 * The LSM engine: WAL with group commit, memtables, L0 tables, sorted runs, manifest with
 * writer fencing, compaction and GC, all on one ObjectStore. See docs/format.md for the bytes
 * and ../README for the contract; api.md beside this file for how the layers above use it.
 */
import { randomInt } from 'node:crypto';
import { setImmediate as yieldLoop, setTimeout as sleep } from 'node:timers/promises';
import { LRUCache } from 'lru-cache';
import { pad20, Writer } from './codec.ts';
import { type Cursor, MemCursor, TableCursor, type TableSource } from './cursors.ts';
import { addRange, coveredBy, type DroppedRanges, droppedAt, rangesStillNeeded, tableMeets } from './dropped.ts';
import { CorruptionError, EngineClosedError, FencedError, WorkerFailedError, assert } from './errors.ts';
import { decodeManifest, emptyManifest, encodeManifest, type ManifestData, manifestKey, type SortedRun } from './manifest.ts';
import { type Chain, Memtable } from './memtable.ts';
import { ResilientStore } from './objectstore/resilient.ts';
import { listAll, type ObjectStore, PreconditionFailedError, TransientStoreError } from './objectstore/types.ts';
import { writeEntry } from './records.ts';
import { type Block, findBlock, findInBlock, mayContain, parseBlock, parseTail, type SstMeta, type SstTail } from './sst.ts';
import { hashKey } from './bloom.ts';
import type { CompactInput } from './tasks.ts';
import { decodeWal, fenceObject, KIND_DATA, KIND_FENCE, newWalBuffer, sealWal } from './wal.ts';
import { WorkerPool } from './worker-pool.ts';
import { type Entry, liveValue, type Version, type WriteOp } from './version.ts';
import { copyBytes, ownBytes } from '../util/bytes.ts';
import { map, type Maybe } from '../util/maybe.ts';

export interface EngineOptions {
  store: ObjectStore;
  /** Group-commit interval: the longest a write waits and the shortest gap between WAL PUTs. */
  flushIntervalMs?: number;
  /** A WAL buffer this large is flushed without waiting for the interval. */
  walFlushBytes?: number;
  /** false: no WAL (durability off); data is durable once its memtable reaches L0. */
  wal?: boolean;
  memtableBytes?: number;
  blockSize?: number;
  targetSstBytes?: number;
  /** A compaction reads at most about this many input bytes at a time (it runs by key range). */
  compactionChunkBytes?: number;
  blockCacheBytes?: number;
  metaCacheBytes?: number;
  /** Backpressure limits: writers wait while any is exceeded. */
  maxFrozenMemtables?: number;
  l0StallCount?: number;
  maxUnflushedWalBytes?: number;
  /** Compaction: merge L0 into a run at this many tables; keep at most maxRuns runs. */
  l0CompactionTrigger?: number;
  minMergeWidth?: number;
  maxRuns?: number;
  autoCompact?: boolean;
  /** GC deletes unreferenced objects only after this age; gcIntervalMs 0 disables the timer. */
  gcMinAgeMs?: number;
  gcIntervalMs?: number;
  walReplayConcurrency?: number;
  /** 'inline' runs table building and compaction on the event loop (tests, debugging). */
  workers?: 'threads' | 'inline';
  now?: () => number;
}

export interface Snapshot {
  readonly seq: number;
  release(): void;
}

export interface ScanOptions {
  /** Inclusive lower bound. */
  start?: string;
  /** Exclusive upper bound. */
  end?: string;
  reverse?: boolean;
  snapshot?: Snapshot;
  limit?: number;
}

export interface ScanEntry {
  key: string;
  value: Uint8Array;
  expireAt: number;
}

export class EngineStats {
  walFlushes = 0;
  walBytes = 0;
  walPutRetries = 0;
  l0Flushes = 0;
  compactions = 0;
  compactionBytesIn = 0;
  compactionBytesOut = 0;
  stalls = 0;
  stallMs = 0;
  gcDeleted = 0;
  /** Tables rewritten (or found clean) to leave out dropped ranges. */
  dropRewrites = 0;
  blockCacheHits = 0;
  blockCacheMisses = 0;
}

/** Most batches are a record or two (an element and its metadata): compared pairwise, no Map. */
function hasDuplicateKeys(ops: WriteOp[]): boolean {
  if (ops.length > 8) return new Set(ops.map((op) => op.key)).size !== ops.length;
  for (let i = 1; i < ops.length; i++) {
    for (let j = 0; j < i; j++) if (ops[i]!.key === ops[j]!.key) return true;
  }
  return false;
}

const walKey = (id: number) => `wal/${pad20(id)}`;
const sstKey = (epoch: number, n: number) => `sst/${pad20(n)}-${String(epoch).padStart(10, '0')}`;
const KEEP_MANIFESTS = 10;
/** A memtable is frozen once the WAL objects logged while it took writes reach this many times its size limit. */
const WAL_PER_MEMTABLE = 4;
/** Bytes a WAL entry adds besides key and value (flags, lengths, seq, expiry), for estimates. */
const WAL_ENTRY_OVERHEAD = 16;
/** Beyond this many pending dropped ranges, dropRange declines (the caller deletes by record). */
const MAX_DROPPED_RANGES = 256;

export class Engine implements TableSource {
  readonly store: ResilientStore;
  readonly stats = new EngineStats();
  private readonly o: Required<Omit<EngineOptions, 'store' | 'now'>>;
  private readonly now: () => number;
  private readonly pool: WorkerPool;

  private manifest: ManifestData = emptyManifest();
  private manifestId = 0;
  private manifestLock: Promise<unknown> = Promise.resolve();
  private sstCounter = 1;
  private readonly pendingSsts = new Set<string>();

  private memtable = new Memtable();
  /** Oldest first. */
  private frozen: Memtable[] = [];
  private l0Flushing: Promise<void> | undefined;
  private compacting: Promise<void> | undefined;
  /** The main compaction lane is merging sorted runs (L0 may then compact beside it). */
  private mergingRuns = false;
  /** An L0 compaction running beside a merge of runs (maybeCompactL0). */
  private l0Compacting: Promise<void> | undefined;
  private openCompactTimer: NodeJS.Timeout | undefined;

  private _lastSeq = 0;
  private _durableSeq = 0;
  private readonly waiters: { seq: number; resolve: () => void; reject: (e: Error) => void }[] = [];
  private readonly capacityWaiters: (() => void)[] = [];
  private stallStart = 0;

  /**
   * Versions the next WAL object carries, encoded only when it is sealed: a key rewritten in
   * place meanwhile is logged once, in its newest state (a hot counter, a collection's metadata,
   * a list's end node). A WAL object is put whole or not at all, so recovery still sees every
   * batch up to its last seq.
   */
  private walKeys: string[] = [];
  private walVersions: Chain[] = [];
  /** Estimated encoded size of walKeys/walVersions. */
  private walPendingBytes = 0;
  /** lastSeq when the last WAL object was sealed: versions with a higher seq are queued. */
  private walSealedSeq = 0;
  private _seals = 0;
  /** Seq of the last write queued for the WAL: what the next object makes durable. */
  private walQueuedSeq = 0;
  private nextWalId = 1;
  private walInFlight: { id: number; bytes: number; done: Promise<void> } | undefined;
  private walTimer: NodeJS.Timeout | undefined;
  private walImmediate = false;
  private lastWalFlushAt = -Infinity;
  /** WAL objects in the store whose entries are not all in tables yet. */
  private walObjects: { id: number; lastSeq: number }[] = [];

  private readonly snapshots = new Map<number, number>();
  private oldestSnapshot = Infinity;

  private readonly blockCache: LRUCache<string, Block>;
  private readonly tailCache: LRUCache<string, SstTail>;
  private readonly loading = new Map<string, Promise<SstTail | Block>>();

  private gcTimer: NodeJS.Timeout | undefined;
  private failure: Error | undefined;
  /** The latest failed background write to the store (WAL, L0 flush), until one succeeds. */
  private storeFailure: Error | undefined;
  private closing = false;
  private closed = false;

  private constructor(store: ResilientStore, options: EngineOptions) {
    this.store = store;
    this.now = options.now ?? Date.now;
    this.o = {
      flushIntervalMs: options.flushIntervalMs ?? 100,
      walFlushBytes: options.walFlushBytes ?? 8 << 20,
      wal: options.wal ?? true,
      memtableBytes: options.memtableBytes ?? 64 << 20,
      blockSize: options.blockSize ?? 4096,
      targetSstBytes: options.targetSstBytes ?? 16 << 20,
      compactionChunkBytes: options.compactionChunkBytes ?? 64 << 20,
      blockCacheBytes: options.blockCacheBytes ?? 64 << 20,
      metaCacheBytes: options.metaCacheBytes ?? 16 << 20,
      maxFrozenMemtables: options.maxFrozenMemtables ?? 2,
      l0StallCount: options.l0StallCount ?? 16,
      maxUnflushedWalBytes: options.maxUnflushedWalBytes ?? 64 << 20,
      l0CompactionTrigger: options.l0CompactionTrigger ?? 4,
      minMergeWidth: options.minMergeWidth ?? 4,
      maxRuns: options.maxRuns ?? 8,
      autoCompact: options.autoCompact ?? true,
      gcMinAgeMs: options.gcMinAgeMs ?? 10 * 60_000,
      gcIntervalMs: options.gcIntervalMs ?? 60_000,
      walReplayConcurrency: options.walReplayConcurrency ?? 16,
      workers: options.workers ?? 'threads',
    };
    assert(this.o.flushIntervalMs >= 0, 'flushIntervalMs >= 0');
    this.pool = new WorkerPool({ inline: this.o.workers === 'inline' });
    this.blockCache = new LRUCache({ maxSize: Math.max(1, this.o.blockCacheBytes), sizeCalculation: (b) => Math.max(1, b.cost) });
    this.tailCache = new LRUCache({ maxSize: Math.max(1, this.o.metaCacheBytes), sizeCalculation: (t) => Math.max(1, t.cost) });
  }

  /** Opens the store as its writer: bumps the epoch, fences the WAL, replays the tail. */
  static async open(options: EngineOptions): Promise<Engine> {
    const store = options.store instanceof ResilientStore ? options.store : new ResilientStore(options.store);
    const engine = new Engine(store, options);
    try {
      await engine.recover();
    } catch (e) {
      await engine.pool.close();
      throw e;
    }
    if (engine.o.gcIntervalMs > 0) {
      engine.gcTimer = setInterval(() => void engine.gc().catch(() => {}), engine.o.gcIntervalMs);
      engine.gcTimer.unref();
    }
    // Compaction found due at open waits a moment: a cold start's first requests then read only
    // the manifest, the WAL tail and what they ask for. A flush triggers it sooner.
    engine.openCompactTimer = setTimeout(() => engine.maybeCompact(), OPEN_COMPACTION_DELAY_MS);
    engine.openCompactTimer.unref();
    return engine;
  }

  get lastSeq(): number {
    return this._lastSeq;
  }

  /**
   * Bumped each time the writes made so far are cut off to become durable together (a WAL
   * object sealed, a memtable frozen): writes between two bumps become durable at once.
   */
  get seals(): number {
    return this._seals;
  }

  get durableSeq(): number {
    return this._durableSeq;
  }

  /** Why writes are not reaching the store right now (undefined while they are). */
  get storeError(): Error | undefined {
    return this.storeFailure ?? this.store.lastError;
  }

  /** The shape of the tree, for stats and tests. */
  get shape(): { memtableBytes: number; frozen: number; l0: number; runs: number[]; manifestId: number; epoch: number; dropped: number } {
    return {
      dropped: this.manifest.dropped.length,
      memtableBytes: this.memtable.bytes,
      frozen: this.frozen.length,
      l0: this.manifest.l0.length,
      runs: this.manifest.runs.map((r) => r.ssts.length),
      manifestId: this.manifestId,
      epoch: this.manifest.epoch,
    };
  }

  /** Bytes the engine holds in memory, by part (accounted sizes, for INFO memory). */
  get memory(): { memtables: number; blockCache: number; tableMeta: number; walBuffer: number } {
    let memtables = this.memtable.bytes;
    for (const m of this.frozen) memtables += m.bytes;
    return {
      memtables,
      blockCache: this.blockCache.calculatedSize,
      tableMeta: this.tailCache.calculatedSize,
      walBuffer: this.walPendingBytes,
    };
  }

  // ---------------------------------------------------------------- recovery

  private async recover(): Promise<void> {
    // 1. Claim the store: a new manifest with a higher epoch, created only if none raced us.
    for (;;) {
      const [id, data] = await this.readLatestManifest();
      const next: ManifestData = { ...data, epoch: data.epoch + 1, writerId: randomInt(2 ** 47) };
      try {
        await this.store.put(manifestKey(id + 1), encodeManifest(next), { ifNoneMatch: '*' });
        this.manifestId = id + 1;
        this.manifest = next;
        break;
      } catch (e) {
        if (!(e instanceof PreconditionFailedError)) throw e;
      }
    }
    this.sstCounter = this.manifest.nextSstId;
    const { epoch, writerId, walReplayFrom } = this.manifest;

    // 2. Fence the WAL: an empty object at the next id stops the previous writer there.
    let walIds: number[];
    let fenceId: number;
    for (;;) {
      walIds = [];
      for await (const o of listAll(this.store, 'wal/', walKey(walReplayFrom - 1))) {
        walIds.push(Number(o.key.slice(4)));
      }
      fenceId = (walIds.length > 0 ? walIds[walIds.length - 1]! : walReplayFrom - 1) + 1;
      try {
        await this.store.put(walKey(fenceId), fenceObject(epoch, writerId), { ifNoneMatch: '*' });
        break;
      } catch (e) {
        if (!(e instanceof PreconditionFailedError)) throw e;
      }
    }
    this.nextWalId = fenceId + 1;
    const fences = new Set(this.manifest.fences);
    fences.add(fenceId);

    // 3. Replay the tail: fetch in parallel, apply in id order.
    const flushed = this.manifest.flushedSeq;
    let maxSeq = flushed;
    const fetched = new Map<number, Promise<Uint8Array | undefined>>();
    let nextFetch = 0;
    const fetchAhead = () => {
      while (nextFetch < walIds.length && fetched.size < this.o.walReplayConcurrency) {
        const id = walIds[nextFetch++]!;
        fetched.set(id, this.store.get(walKey(id)));
      }
    };
    fetchAhead();
    for (const id of walIds) {
      const p = fetched.get(id)!;
      const bytes = await p;
      fetched.delete(id);
      fetchAhead();
      if (!bytes) throw new CorruptionError(walKey(id), 'listed WAL object disappeared during replay');
      const obj = decodeWal(walKey(id), bytes);
      if (obj.kind === KIND_FENCE) {
        if (obj.epoch > epoch) throw new FencedError(`a fence of epoch ${obj.epoch} follows our epoch ${epoch}`);
        fences.add(id);
        continue;
      }
      if (obj.kind !== KIND_DATA) throw new CorruptionError(walKey(id), `unknown WAL kind ${obj.kind}`);
      let objMax = 0;
      for (const e of obj.entries) {
        if (e.seq > objMax) objMax = e.seq;
        if (e.seq <= flushed) continue;
        this.memtable.apply(e.key, e.seq, e.value, e.expireAt, Infinity);
        if (e.seq > maxSeq) maxSeq = e.seq;
      }
      this.memtable.logged += bytes.length;
      this.walObjects.push({ id, lastSeq: objMax });
      this.maybeFreeze();
    }
    this.manifest = { ...this.manifest, fences: [...fences].sort((a, b) => a - b) };
    this._lastSeq = maxSeq;
    this._durableSeq = maxSeq;
    // Replayed versions are in the store already: a rewrite of one must be logged anew.
    this.walSealedSeq = maxSeq;
  }

  private async readLatestManifest(): Promise<[number, ManifestData]> {
    let last: string | undefined;
    for await (const o of listAll(this.store, 'manifest/')) last = o.key;
    if (last === undefined) return [0, emptyManifest()];
    const bytes = await this.store.get(last);
    if (!bytes) throw new CorruptionError(last, 'listed manifest disappeared');
    return [Number(last.slice('manifest/'.length)), decodeManifest(last, bytes)];
  }

  // ---------------------------------------------------------------- writes

  private checkWritable(): void {
    if (this.failure) throw this.failure;
    if (this.closing) throw new EngineClosedError();
  }

  /**
   * Applies a batch atomically under one sequence number and returns it. Visible to reads at
   * once; durable after awaitDurable(seq). Synchronous: callers honour writeStalled.
   */
  write(ops: WriteOp[]): number {
    this.checkWritable();
    if (ops.length === 0) return this._lastSeq;
    const seq = ++this._lastSeq;
    // One version per key per seq: the last op on a key within the batch wins.
    let batch = ops;
    if (ops.length > 1 && hasDuplicateKeys(ops)) {
      const byKey = new Map<string, WriteOp>();
      for (const op of ops) byKey.set(op.key, op);
      batch = [...byKey.values()];
    }
    const wal = this.o.wal;
    const m = this.memtable;
    for (const op of batch) {
      const v = m.apply(op.key, seq, op.value, op.expireAt ?? 0, this.oldestSnapshot);
      if (!wal) continue;
      // Overwritten in place after the last seal: that version is queued already.
      if (m.replacedSeq > this.walSealedSeq) this.walPendingBytes += (v.raw?.length ?? 0) - m.replacedLen;
      else this.queueWal(op.key, v);
    }
    if (wal) {
      this.walQueuedSeq = seq;
      this.scheduleWalFlush();
    }
    this.maybeFreeze();
    return seq;
  }

  private queueWal(key: string, v: Chain): void {
    this.walKeys.push(key);
    this.walVersions.push(v);
    this.walPendingBytes += key.length + (v.raw?.length ?? 0) + WAL_ENTRY_OVERHEAD;
  }

  put(key: string, value: Uint8Array, expireAt = 0): number {
    return this.write([{ key, value, expireAt }]);
  }

  delete(key: string): number {
    return this.write([{ key }]);
  }

  /**
   * Gives up the keys in [start, end): the caller never reads or writes them again (the
   * elements of a deleted collection, a flushed database). Reads stop seeing them at once, and
   * flushes and compactions leave them out, so this costs one manifest update however many
   * records the range holds. Resolves once the drop is in the manifest, false (nothing done)
   * when too many drops are still pending: the caller then deletes record by record.
   * Call it only once the writes that orphaned the range are durable: a crash before would
   * recover them with their records gone.
   */
  async dropRange(start: string, end: string): Promise<boolean> {
    this.checkWritable();
    if (!(start < end) || coveredBy(this.manifest.dropped, start, end)) return true;
    if (this.manifest.dropped.length >= MAX_DROPPED_RANGES) return false;
    const seq = this._lastSeq;
    await this.updateManifest((d) => {
      d.dropped = addRange(d.dropped, start, end, seq, d.nextDropGen++);
    });
    this.maybeCompact();
    return true;
  }

  /** Whether key lies in a dropped range (dropRange). */
  isDropped(key: string): boolean {
    const d = this.manifest.dropped;
    return d.length > 0 && droppedAt(d, key) !== undefined;
  }

  /** What table builds started now leave out, and the generation they are stamped with. */
  private dropFilter(): { drop: DroppedRanges; dropGen: number } {
    // Manifest arrays are never changed in place: the task may hold this one.
    const m = this.manifest;
    return { drop: m.dropped, dropGen: m.nextDropGen - 1 };
  }

  /** True while a backpressure limit is exceeded; callers wait on waitForCapacity(). */
  get writeStalled(): boolean {
    const unflushed = this.walPendingBytes + (this.walInFlight?.bytes ?? 0);
    return (
      this.frozen.length >= this.o.maxFrozenMemtables ||
      this.manifest.l0.length >= this.o.l0StallCount ||
      unflushed >= this.o.maxUnflushedWalBytes
    );
  }

  waitForCapacity(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (!this.writeStalled) return Promise.resolve();
    if (this.capacityWaiters.length === 0) {
      this.stats.stalls++;
      this.stallStart = performance.now();
    }
    return new Promise((resolve) => this.capacityWaiters.push(resolve));
  }

  private checkCapacity(): void {
    if (this.capacityWaiters.length === 0 || (this.writeStalled && !this.failure)) return;
    this.stats.stallMs += performance.now() - this.stallStart;
    for (const w of this.capacityWaiters.splice(0)) w();
  }

  awaitDurable(seq: number): Promise<void> {
    if (seq <= this._durableSeq) return Promise.resolve();
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const w = { seq, resolve, reject };
      const ws = this.waiters;
      if (ws.length === 0 || ws[ws.length - 1]!.seq <= seq) ws.push(w);
      else ws.splice(ws.findIndex((x) => x.seq > seq), 0, w);
    });
  }

  private advanceDurable(seq: number): void {
    if (seq <= this._durableSeq) return;
    this._durableSeq = seq;
    let n = 0;
    while (n < this.waiters.length && this.waiters[n]!.seq <= seq) n++;
    for (const w of this.waiters.splice(0, n)) w.resolve();
  }

  private fail(e: Error): void {
    if (!this.failure) this.failure = e;
    for (const w of this.waiters.splice(0)) w.reject(e);
    for (const w of this.capacityWaiters.splice(0)) w();
  }

  // ---------------------------------------------------------------- WAL group commit

  private scheduleWalFlush(): void {
    if (this.walInFlight || this.walImmediate || this.walKeys.length === 0) return;
    // An armed timer flushes on time (no clock reading per write); only a full buffer cannot wait.
    if (this.walTimer && this.walPendingBytes < this.o.walFlushBytes) return;
    const wait = this.lastWalFlushAt + this.o.flushIntervalMs - performance.now();
    if (wait <= 0 || this.walPendingBytes >= this.o.walFlushBytes) {
      if (this.walTimer) clearTimeout(this.walTimer);
      this.walTimer = undefined;
      // Flush after the current burst of synchronous writes, so they share one PUT.
      this.walImmediate = true;
      setImmediate(() => {
        this.walImmediate = false;
        void this.flushWal();
      });
    } else if (!this.walTimer) {
      // Timers may fire a little early: re-check so PUTs stay at least an interval apart.
      this.walTimer = setTimeout(() => {
        this.walTimer = undefined;
        this.scheduleWalFlush();
      }, Math.ceil(wait));
    }
  }

  /** CONFIG SET flush-interval: applies to the next flush (a pending timer is re-armed). */
  setFlushInterval(ms: number): void {
    assert(ms >= 0, 'flushIntervalMs >= 0');
    this.o.flushIntervalMs = ms;
    if (this.walTimer) {
      clearTimeout(this.walTimer);
      this.walTimer = undefined;
      this.scheduleWalFlush();
    }
  }

  /**
   * CONFIG SET durability to or from off. Turning the WAL on logs what the memtables hold
   * (newest version per key), so once that object is in the store every seq up to lastSeq is
   * durable, as advanceDurable assumes; turning it off flushes what is buffered.
   */
  setWal(on: boolean): void {
    if (on === this.o.wal) return;
    this.o.wal = on;
    if (!on) {
      void this.flushWal();
      return;
    }
    for (const m of [...this.frozen, this.memtable]) {
      for (const [key, chain] of m.entries()) this.queueWal(key, chain);
    }
    if (this.walKeys.length === 0) this.advanceDurable(this._lastSeq);
    else this.walQueuedSeq = this._lastSeq;
    this.scheduleWalFlush();
  }

  /** Writes the buffered WAL entries as one object now (waits for an in-flight one first). */
  async flush(): Promise<void> {
    await this.walIdle();
    await this.flushWal();
    await this.walIdle();
    if (this.failure) throw this.failure;
  }

  private async walIdle(): Promise<void> {
    while (this.walInFlight) await this.walInFlight.done;
  }

  private flushWal(): Promise<void> {
    if (this.walInFlight) return this.walInFlight.done;
    if (this.failure || this.walKeys.length === 0) return Promise.resolve();
    if (this.walTimer) {
      clearTimeout(this.walTimer);
      this.walTimer = undefined;
    }
    const w = newWalBuffer();
    const keys = this.walKeys;
    const versions = this.walVersions;
    for (let i = 0; i < keys.length; i++) writeEntry(w, keys[i]!, versions[i]!);
    this.walKeys = [];
    this.walVersions = [];
    this.walPendingBytes = 0;
    const { epoch, writerId } = this.manifest;
    const bytes = sealWal(w, KIND_DATA, epoch, writerId);
    const lastSeq = this.walQueuedSeq;
    this.walSealedSeq = this._lastSeq;
    this._seals++;
    this.memtable.logged += bytes.length;
    const id = this.nextWalId++;
    this.lastWalFlushAt = performance.now();
    const done = this.putWal(id, bytes, lastSeq).finally(() => {
      this.walInFlight = undefined;
      this.checkCapacity();
      if (!this.failure) this.scheduleWalFlush();
    });
    this.walInFlight = { id, bytes: bytes.length, done };
    return done;
  }

  private async putWal(id: number, bytes: Uint8Array, lastSeq: number): Promise<void> {
    // A store outage must not drop acknowledged-pending writes: keep retrying the same object.
    for (let attempt = 0; ; attempt++) {
      try {
        await this.store.put(walKey(id), bytes, { ifNoneMatch: '*' });
        break;
      } catch (e) {
        if (e instanceof PreconditionFailedError) {
          // An earlier attempt that failed here may have been applied all the same (its
          // response lost): identical bytes are ours, since every WAL object carries our epoch.
          const own = attempt === 0 ? false : await this.isOwnObject(walKey(id), bytes);
          if (own === true) break;
          if (own === false) {
            this.fail(new FencedError(`WAL id ${id} is taken by a newer writer`));
            return;
          }
        } else {
          this.storeFailure = e as Error;
        }
        if (this.closed) return;
        this.stats.walPutRetries++;
        await sleep(Math.min(1000, 50 * 2 ** Math.min(attempt, 5)));
      }
    }
    this.storeFailure = undefined;
    this.stats.walFlushes++;
    this.stats.walBytes += bytes.length;
    this.walObjects.push({ id, lastSeq });
    this.advanceDurable(lastSeq);
  }

  /** Whether key holds exactly these bytes; undefined when the store cannot say right now. */
  private isOwnObject(key: string, bytes: Uint8Array): Promise<boolean | undefined> {
    return this.store.get(key).then(
      (b) => b !== undefined && Buffer.compare(b, bytes) === 0,
      () => undefined,
    );
  }

  // ---------------------------------------------------------------- memtable -> L0

  private maybeFreeze(): void {
    // Also when the table stays small because writes keep replacing the same keys (a 1 MiB
    // bitmap written over and over): the WAL objects behind it are deleted only once it is in
    // L0, so without this they would pile up without bound (and be replayed at every start).
    const m = this.memtable;
    if (m.bytes >= this.o.memtableBytes || m.logged >= WAL_PER_MEMTABLE * this.o.memtableBytes) this.freeze();
  }

  private freeze(): void {
    if (this.memtable.size === 0) return;
    this._seals++;
    this.frozen.push(this.memtable);
    this.memtable = new Memtable();
    this.kickL0Flush();
  }

  /** Starts the L0 flusher unless it runs; it restarts itself if tables froze meanwhile. */
  private kickL0Flush(): void {
    if (this.l0Flushing || this.frozen.length === 0 || this.failure) return;
    this.l0Flushing = this.flushFrozen().then(
      () => {
        this.l0Flushing = undefined;
        this.kickL0Flush();
      },
      (e: Error) => {
        this.l0Flushing = undefined;
        this.fail(e);
      },
    );
  }

  /** Freezes the memtable and waits until every frozen table is in L0. */
  async flushMemtable(): Promise<void> {
    if (this.failure) throw this.failure;
    this.freeze();
    while (this.l0Flushing) await this.l0Flushing;
    if (this.failure) throw this.failure;
  }

  private async flushFrozen(): Promise<void> {
    for (let failures = 0; this.frozen.length > 0 && !this.closed; ) {
      try {
        await this.flushOldestFrozen();
        failures = 0;
        this.storeFailure = undefined;
      } catch (e) {
        // A store outage keeps the table frozen (the WAL still holds its entries) and retries
        // with backoff; writers stall at maxFrozenMemtables meanwhile. Fencing, corruption and
        // workers that cannot run do not heal: they stop the engine.
        if (this.failure || this.closed || e instanceof FencedError || e instanceof CorruptionError || e instanceof EngineClosedError || e instanceof WorkerFailedError) throw e;
        this.storeFailure = e as Error;
        await sleep(Math.min(2000, 100 * 2 ** Math.min(failures++, 5)));
      }
    }
  }

  private async flushOldestFrozen(): Promise<void> {
    const m = this.frozen[0]!;
    const entries = await serializeMemtable(m);
    const { drop, dropGen } = this.dropFilter();
    const [built] = await this.pool.run({ kind: 'build', entries, blockSize: this.o.blockSize, drop }, [
      entries.buffer as ArrayBuffer,
    ]);
    // Every record dropped: no table, only the flushed seq moves.
    const id = built ? this.allocSst() : undefined;
    try {
      let meta: SstMeta | undefined;
      if (built && id) {
        await this.store.put(id, built.bytes, { ifNoneMatch: '*' });
        meta = { id, ...built.meta, dropGen };
      }
      await this.updateManifest((d) => {
        if (meta) d.l0 = [meta, ...d.l0];
        d.flushedSeq = Math.max(d.flushedSeq, m.maxSeq);
      });
    } finally {
      // On failure the table is garbage (a retry writes a new one) unless the manifest
      // names it, which GC checks first.
      if (id) this.pendingSsts.delete(id);
    }
    this.frozen.shift();
    this.stats.l0Flushes++;
    if (!this.o.wal) this.advanceDurable(m.maxSeq);
    this.checkCapacity();
    this.maybeCompact();
  }

  private allocSst(): string {
    const id = sstKey(this.manifest.epoch, this.sstCounter++);
    this.pendingSsts.add(id);
    return id;
  }

  /** The first WAL id that may hold a seq above flushedSeq. */
  private replayFrom(flushedSeq: number): number {
    while (this.walObjects.length > 0 && this.walObjects[0]!.lastSeq <= flushedSeq) this.walObjects.shift();
    if (this.walObjects.length > 0) return this.walObjects[0]!.id;
    return this.walInFlight ? this.walInFlight.id : this.nextWalId;
  }

  /** Writes the next manifest version (serialized; create-only at id+1). */
  private updateManifest(mutate: (draft: ManifestData) => void): Promise<void> {
    const run = async () => {
      if (this.failure) throw this.failure;
      const draft: ManifestData = { ...this.manifest };
      mutate(draft);
      draft.nextSstId = this.sstCounter;
      // Also without a WAL: objects logged before CONFIG SET durability off may still be needed.
      draft.walReplayFrom = Math.max(draft.walReplayFrom, this.replayFrom(draft.flushedSeq));
      if (draft.dropped.length > 0) draft.dropped = rangesStillNeeded(draft.dropped, allTables(draft), draft.flushedSeq);
      try {
        await this.store.put(manifestKey(this.manifestId + 1), encodeManifest(draft), { ifNoneMatch: '*' });
      } catch (e) {
        if (e instanceof PreconditionFailedError) await this.adoptOwnManifest(this.manifestId + 1);
        throw e;
      }
      this.manifestId++;
      this.manifest = draft;
    };
    const p = this.manifestLock.then(run, run);
    this.manifestLock = p.catch(() => {});
    return p;
  }

  /**
   * The manifest at id exists although our put of it failed. An earlier update whose put
   * failed ambiguously (applied, response lost) may have written it: then it carries our epoch
   * and writer id, and we adopt it as current; the caller retries its work on top of it (a
   * flush may leave a duplicate table, which is harmless). Anything else means fenced.
   */
  private async adoptOwnManifest(id: number): Promise<never> {
    const bytes = await this.store.get(manifestKey(id));
    const stored = bytes && decodeManifest(manifestKey(id), bytes);
    if (stored && stored.epoch === this.manifest.epoch && stored.writerId === this.manifest.writerId) {
      this.manifestId = id;
      this.manifest = stored;
      throw new TransientStoreError(`manifest ${id} was written by an earlier attempt of this writer; adopted it`);
    }
    const err = new FencedError(`manifest ${id} was written by another writer`);
    this.fail(err);
    throw err;
  }

  // ---------------------------------------------------------------- compaction

  private maybeCompact(): void {
    if (!this.o.autoCompact || this.closing || this.failure) return;
    if (this.compacting) {
      this.maybeCompactL0();
      return;
    }
    if (!this.pickCompaction() && !this.pickDropRewrite()) return;
    this.compacting = this.compactLoop().then(
      () => {
        this.compacting = undefined;
        this.maybeCompact();
      },
      (e: Error) => {
        this.compacting = undefined;
        this.compactionFailed(e);
      },
    );
  }

  /**
   * While a long merge of sorted runs is under way, L0 tables are compacted beside it (their
   * inputs never overlap: an L0 compaction makes a new newest run), so writers do not stall
   * at l0StallCount until the big merge ends.
   */
  private maybeCompactL0(): void {
    const m = this.manifest;
    if (!this.mergingRuns || this.l0Compacting || m.l0.length < this.o.l0CompactionTrigger) return;
    this.l0Compacting = this.runCompaction(m.l0, []).then(
      () => {
        this.l0Compacting = undefined;
        this.checkCapacity();
        this.maybeCompact();
      },
      (e: Error) => {
        this.l0Compacting = undefined;
        this.compactionFailed(e);
      },
    );
  }

  /** A transient store failure just waits for the next trigger; these cannot heal. */
  private compactionFailed(e: Error): void {
    if (e instanceof FencedError || e instanceof CorruptionError || e instanceof WorkerFailedError) this.fail(e);
  }

  /** Waits until no compaction runs. */
  private async compactionsIdle(): Promise<void> {
    while (this.compacting || this.l0Compacting) await (this.compacting ?? this.l0Compacting);
  }

  /** Runs compactions until none is due; `full` first merges every table into one run. */
  async compact(options: { full?: boolean } = {}): Promise<void> {
    await this.compactionsIdle();
    const m = this.manifest;
    const run =
      options.full && m.l0.length + m.runs.length > 0
        ? this.runCompaction(m.l0, m.runs).then(() => this.compactLoop())
        : this.compactLoop();
    this.compacting = run.then(
      () => {
        this.compacting = undefined;
      },
      () => {
        this.compacting = undefined;
      },
    );
    await run;
  }

  /** Merges while any is due, then rewrites tables that still hold dropped ranges. */
  private async compactLoop(): Promise<void> {
    while (!this.failure) {
      const job = this.pickCompaction();
      if (job) {
        this.mergingRuns = job.runs.length > 0;
        if (this.mergingRuns) this.maybeCompactL0();
        try {
          await this.runCompaction(job.l0, job.runs);
        } finally {
          this.mergingRuns = false;
        }
        this.checkCapacity();
        continue;
      }
      const table = this.pickDropRewrite();
      if (!table) return;
      await this.rewriteForDrops(table);
    }
  }

  /**
   * A table built before some dropped range whose key span meets it. Not while an L0
   * compaction runs beside (it may hold the table); none starts during a rewrite, which is
   * not a merge of runs.
   */
  private pickDropRewrite(): SstMeta | undefined {
    const m = this.manifest;
    if (m.dropped.length === 0 || this.l0Compacting) return undefined;
    return allTables(m).find((s) => m.dropped.some((r) => (s.dropGen ?? 0) < r.gen && tableMeets(s, r)));
  }

  /**
   * Rewrites one table without its dropped records; the outputs take its place (in L0 or in
   * its run: they hold the same versions within its key span). A table that loses nothing is
   * only stamped, not written again; one wholly inside a range just goes, unread.
   */
  private async rewriteForDrops(s: SstMeta): Promise<void> {
    const { drop, dropGen } = this.dropFilter();
    const ids: string[] = [];
    try {
      let metas: SstMeta[] = [];
      if (!drop.some((r) => s.first >= r.start && s.last < r.end)) {
        const bytes = await this.store.get(s.id);
        if (!bytes) return this.missingTable(s.id);
        const input: CompactInput = { name: s.id, bytes: ownBytes(bytes), tailOffset: s.tailOffset };
        const { oldestSnapshot } = this;
        const { targetSstBytes, blockSize } = this.o;
        const outputs = await this.pool.run(
          { kind: 'compact', inputs: [input], oldestSnapshot, bottom: false, now: this.now(), targetSstBytes, blockSize, drop },
          [input.bytes.buffer as ArrayBuffer],
        );
        if (outputs.length === 1 && outputs[0]!.meta.count === s.count) metas = [{ ...s, dropGen }];
        else {
          for (const o of outputs) {
            const id = this.allocSst();
            ids.push(id);
            await this.store.put(id, o.bytes, { ifNoneMatch: '*' });
            metas.push({ id, ...o.meta, dropGen });
          }
        }
      }
      await this.updateManifest((d) => {
        const swap = (list: SstMeta[]) => {
          const i = list.findIndex((x) => x.id === s.id);
          return i < 0 ? list : [...list.slice(0, i), ...metas, ...list.slice(i + 1)];
        };
        d.l0 = swap(d.l0);
        d.runs = d.runs.map((r) => ({ ...r, ssts: swap(r.ssts) })).filter((r) => r.ssts.length > 0);
      });
    } finally {
      for (const id of ids) this.pendingSsts.delete(id);
    }
    this.stats.dropRewrites++;
  }

  /** Size-tiered: all L0 tables once there are enough, else the newest runs of similar size. */
  private pickCompaction(): { l0: SstMeta[]; runs: SortedRun[] } | undefined {
    const m = this.manifest;
    // L0 tables being compacted beside a merge are not picked twice.
    if (m.l0.length >= this.o.l0CompactionTrigger && !this.l0Compacting) return { l0: m.l0, runs: [] };
    const runs = m.runs;
    if (runs.length < 2) return undefined;
    const size = (r: SortedRun) => r.ssts.reduce((n, s) => n + s.size, 0);
    let acc = size(runs[0]!);
    let n = 1;
    while (n < runs.length && size(runs[n]!) <= acc * 2) acc += size(runs[n++]!);
    if (n >= this.o.minMergeWidth) return { l0: [], runs: runs.slice(0, n) };
    if (runs.length > this.o.maxRuns) return { l0: [], runs: runs.slice(0, Math.max(2, n)) };
    return undefined;
  }

  private async runCompaction(l0: SstMeta[], runs: SortedRun[]): Promise<void> {
    const inputs = [...l0, ...runs.flatMap((r) => r.ssts)];
    const bottom = runs.length > 0 ? runs[runs.length - 1] === this.manifest.runs[this.manifest.runs.length - 1] : this.manifest.runs.length === 0;
    const ssts: SstMeta[] = [];
    const ids: string[] = [];
    const { drop, dropGen } = this.dropFilter();
    try {
      // Part by part, so that only one part's inputs and outputs are in memory at a time.
      for (const part of compactionParts(inputs, this.o.compactionChunkBytes)) {
        // A stop does not wait out a long merge: what was written is GC's, the next start
        // compacts again.
        if (this.closing) throw new EngineClosedError('compaction stopped: the engine is closing');
        const fetched: CompactInput[] = await Promise.all(
          part.tables.map(async (s) => {
            const bytes = await this.store.get(s.id);
            if (!bytes) return this.missingTable(s.id);
            return { name: s.id, bytes: ownBytes(bytes), tailOffset: s.tailOffset };
          }),
        );
        const outputs = await this.pool.run(
          {
            kind: 'compact',
            inputs: fetched,
            oldestSnapshot: this.oldestSnapshot,
            bottom,
            now: this.now(),
            targetSstBytes: this.o.targetSstBytes,
            blockSize: this.o.blockSize,
            lo: part.lo,
            hi: part.hi,
            drop,
          },
          fetched.map((f) => f.bytes.buffer as ArrayBuffer),
        );
        for (const o of outputs) {
          const id = this.allocSst();
          ids.push(id);
          await this.store.put(id, o.bytes, { ifNoneMatch: '*' });
          ssts.push({ id, ...o.meta, dropGen });
        }
      }
      await this.commitCompaction(inputs, runs, ssts);
    } finally {
      // Committed outputs are live in the manifest; after a failure they are orphans that
      // GC may delete (unless an adopted manifest names them, which GC checks first).
      for (const id of ids) this.pendingSsts.delete(id);
    }
    this.stats.compactions++;
    this.stats.compactionBytesIn += inputs.reduce((n, s) => n + s.size, 0);
    this.stats.compactionBytesOut += ssts.reduce((n, s) => n + s.size, 0);
  }

  /** Swaps a compaction's inputs for its outputs in a new manifest version. */
  private commitCompaction(inputs: SstMeta[], runs: SortedRun[], ssts: SstMeta[]): Promise<void> {
    const gone = new Set(inputs.map((s) => s.id));
    const runIds = new Set(runs.map((r) => r.id));
    return this.updateManifest((d) => {
      const run: SortedRun | undefined = ssts.length > 0 ? { id: d.nextRunId++, ssts } : undefined;
      d.l0 = d.l0.filter((s) => !gone.has(s.id));
      if (runs.length === 0) {
        d.runs = run ? [run, ...d.runs] : d.runs;
      } else {
        const at = d.runs.findIndex((r) => runIds.has(r.id));
        const rest = d.runs.filter((r) => !runIds.has(r.id));
        if (run) rest.splice(at, 0, run);
        d.runs = rest;
      }
    });
  }

  // ---------------------------------------------------------------- GC

  /** Deletes objects nothing references any more, once older than gcMinAgeMs. */
  async gc(minAgeMs = this.o.gcMinAgeMs): Promise<number> {
    if (this.failure || this.closed) return 0;
    // A fenced writer's manifest is stale: it would delete the new writer's tables.
    if (await this.checkFenced()) return 0;
    const m = this.manifest;
    const cutoff = Date.now() - minAgeMs;
    const tables: string[] = [];
    for await (const o of listAll(this.store, 'sst/')) {
      if (o.lastModified <= cutoff) tables.push(o.key);
    }
    // Checked after listing: a build or compaction may have committed meanwhile. Whatever is
    // neither in the manifest nor owned by one in flight (e.g. a failed one's outputs) goes.
    const live = liveTables(this.manifest);
    const doomed = tables.filter((k) => !live.has(k) && !this.pendingSsts.has(k));
    const fences = new Set(m.fences);
    for await (const o of listAll(this.store, 'wal/')) {
      const id = Number(o.key.slice(4));
      if (id >= m.walReplayFrom) break;
      if (!fences.has(id) && o.lastModified <= cutoff) doomed.push(o.key);
    }
    const manifests: { key: string; lastModified: number }[] = [];
    for await (const o of listAll(this.store, 'manifest/')) manifests.push(o);
    for (const o of manifests.slice(0, Math.max(0, manifests.length - KEEP_MANIFESTS))) {
      if (o.lastModified <= cutoff) doomed.push(o.key);
    }
    // One DeleteObjects request per 1000 keys on S3 (a loop on backends without batches).
    await this.store.deleteMany(doomed);
    this.stats.gcDeleted += doomed.length;
    return doomed.length;
  }

  // ---------------------------------------------------------------- reads

  snapshot(): Snapshot {
    const seq = this._lastSeq;
    this.snapshots.set(seq, (this.snapshots.get(seq) ?? 0) + 1);
    if (seq < this.oldestSnapshot) this.oldestSnapshot = seq;
    let released = false;
    return {
      seq,
      release: () => {
        if (released) return;
        released = true;
        const n = this.snapshots.get(seq)! - 1;
        if (n > 0) this.snapshots.set(seq, n);
        else this.snapshots.delete(seq);
        this.oldestSnapshot = this.snapshots.size === 0 ? Infinity : Math.min(...this.snapshots.keys());
      },
    };
  }

  get(key: string, options: { snapshot?: Snapshot } = {}): Promise<Uint8Array | undefined> {
    try {
      return Promise.resolve(this.getMaybe(key, options));
    } catch (e) {
      return Promise.reject(e as Error);
    }
  }

  /**
   * get() answered now when memory holds the answer (a memtable, cached table filters and
   * blocks), so that a read of a hot key costs no promise; a promise only when it must load.
   * Throws EngineClosedError instead of rejecting.
   */
  getMaybe(key: string, options: { snapshot?: Snapshot } = {}): Maybe<Uint8Array | undefined> {
    return map(this.newest(key, options), (v) => v && liveValue(v, this.now()));
  }

  /** The live value with its expiry (0 = none). */
  async getEntry(key: string, options: { snapshot?: Snapshot } = {}): Promise<{ value: Uint8Array; expireAt: number } | undefined> {
    return this.getEntryMaybe(key, options);
  }

  /** getEntry() answered now when memory holds the answer (see getMaybe). */
  getEntryMaybe(key: string, options: { snapshot?: Snapshot } = {}): Maybe<{ value: Uint8Array; expireAt: number } | undefined> {
    return map(this.newest(key, options), (v) => {
      const value = v && liveValue(v, this.now());
      return value ? { value, expireAt: v!.expireAt } : undefined;
    });
  }

  /** The newest version of key a snapshot (or now) sees, tombstone or not, outside dropped ranges. */
  private newest(key: string, options: { snapshot?: Snapshot }): Maybe<Version | undefined> {
    this.checkReadable();
    if (this.isDropped(key)) return undefined;
    const snapSeq = options.snapshot?.seq ?? Infinity;
    return this.memGet(key, snapSeq) ?? this.tablesGet(this.manifest, key, hashKey(key), snapSeq, 0);
  }

  private memGet(key: string, snapSeq: number): Version | undefined {
    this.checkReadable();
    const v = this.memtable.get(key, snapSeq);
    if (v) return v;
    for (let i = this.frozen.length - 1; i >= 0; i--) {
      const f = this.frozen[i]!.get(key, snapSeq);
      if (f) return f;
    }
    return undefined;
  }

  /** The newest version in the tables of m, from the i-th on (L0 tables, then sorted runs). */
  private tablesGet(m: ManifestData, key: string, hash: number, snapSeq: number, i: number): Maybe<Version | undefined> {
    const nl0 = m.l0.length;
    for (; i < nl0 + m.runs.length; i++) {
      const s = i < nl0 ? m.l0[i]! : findTable(m.runs[i - nl0]!.ssts, key);
      if (!s || key < s.first || key > s.last) continue;
      const v = this.tableGet(s, key, hash, snapSeq);
      if (v instanceof Promise) {
        const next = i + 1;
        return v.then((x) => x ?? this.tablesGet(m, key, hash, snapSeq, next));
      }
      if (v) return v;
    }
    return undefined;
  }

  private tableGet(s: SstMeta, key: string, hash: number, snapSeq: number): Maybe<Version | undefined> {
    return map(this.tail(s), (tail) => {
      if (!mayContain(tail, key, hash)) return undefined;
      const b = findBlock(tail, key);
      if (b < 0) return undefined;
      return map(this.block(s, tail, b), (block) => findInBlock(block, key, snapSeq));
    });
  }

  /** Cached parse of a table's filter, index and properties (one ranged GET on a miss). */
  tail(s: SstMeta): Maybe<SstTail> {
    const hit = this.tailCache.get(s.id);
    if (hit) return hit;
    return this.load(`t:${s.id}`, async () => {
      const bytes = await this.store.get(s.id, { start: s.tailOffset, end: s.size });
      if (!bytes) return this.missingTable(s.id);
      if (bytes.length !== s.size - s.tailOffset) throw new CorruptionError(s.id, 'short read of table tail');
      const t = parseTail(s.id, bytes, s.tailOffset);
      this.tailCache.set(s.id, t);
      return t;
    }) as Promise<SstTail>;
  }

  /**
   * Block `index` of a table. On a miss, `ahead` (a scan's readahead: positive forward, negative
   * in reverse) extends the read to that many blocks in one ranged GET, each cached on its own.
   */
  block(s: SstMeta, tail: SstTail, index: number, ahead = 1): Maybe<Block> {
    const key = `${s.id}#${index}`;
    const hit = this.blockCache.get(key);
    if (hit) {
      this.stats.blockCacheHits++;
      return hit;
    }
    this.stats.blockCacheMisses++;
    return this.load(key, async () => {
      const cached = (i: number) => this.blockCache.has(`${s.id}#${i}`);
      let lo = index;
      let hi = index;
      if (ahead > 1) while (hi + 1 < Math.min(tail.offsets.length, index + ahead) && !cached(hi + 1)) hi++;
      if (ahead < -1) while (lo - 1 >= Math.max(0, index + ahead + 1) && !cached(lo - 1)) lo--;
      const start = tail.offsets[lo]!;
      const end = tail.offsets[hi]! + tail.sizes[hi]!;
      const bytes = await this.store.get(s.id, { start, end });
      if (!bytes) return this.missingTable(s.id);
      if (bytes.length !== end - start) throw new CorruptionError(s.id, `short read of block ${index}`);
      let want: Block | undefined;
      for (let i = lo; i <= hi; i++) {
        const at = tail.offsets[i]! - start;
        // A block's values are views into its bytes: each cached block owns a copy of just its
        // bytes, so it never pins a whole read (Uint8Array's slice copies; a Buffer's would not).
        const own = lo === hi ? ownBytes(bytes) : copyBytes(bytes, at, at + tail.sizes[i]!);
        const b = parseBlock(s.id, own);
        this.blockCache.set(`${s.id}#${i}`, b);
        if (i === index) want = b;
      }
      return want!;
    }) as Promise<Block>;
  }

  /**
   * A table our manifest names is gone. The usual cause is a newer writer that compacted it
   * away and collected it: that is fencing, not corruption, and is reported as such.
   */
  private async missingTable(id: string): Promise<never> {
    const fenced = await this.checkFenced().catch(() => undefined);
    if (fenced) throw fenced;
    throw new CorruptionError(id, 'table referenced by the manifest is missing');
  }

  /**
   * Whether a newer writer has taken over, from the latest manifest in the store; if so the
   * engine fails with (and returns) the FencedError.
   */
  private async checkFenced(): Promise<FencedError | undefined> {
    if (this.failure instanceof FencedError) return this.failure;
    // Only manifests newer than ours matter: one LIST, and a GET only when there is one.
    let last: string | undefined;
    for await (const o of listAll(this.store, 'manifest/', manifestKey(this.manifestId))) last = o.key;
    const bytes = last === undefined ? undefined : await this.store.get(last);
    if (!last || !bytes) return undefined;
    const latest = decodeManifest(last, bytes);
    if (latest.epoch === this.manifest.epoch && latest.writerId === this.manifest.writerId) return undefined;
    const err = new FencedError(`${last} has epoch ${latest.epoch}, ours is ${this.manifest.epoch}`);
    this.fail(err);
    return err;
  }

  /** One load per object part at a time, however many readers ask. */
  private load<T extends SstTail | Block>(key: string, fn: () => Promise<T>): Promise<T> {
    const running = this.loading.get(key);
    if (running) return running as Promise<T>;
    const p = fn().finally(() => this.loading.delete(key));
    this.loading.set(key, p);
    return p;
  }

  private checkReadable(): void {
    if (this.closed) throw new EngineClosedError();
  }

  /** Ordered range scan over every layer; yields live entries only. */
  async *scan(options: ScanOptions = {}): AsyncGenerator<ScanEntry> {
    const merge = await this.openScan(options);
    const limit = options.limit ?? Infinity;
    // Entries are merged in batches (no async hop per entry inside the merge); a batch is
    // small so that a consumer that stops early has not paid for much more than it read.
    for (let n = 0, batch = SCAN_BATCH_FIRST; n < limit; batch = Math.min(batch * 2, SCAN_BATCH_MAX)) {
      const out = await merge.fill(Math.min(batch, limit - n));
      n += out.length;
      for (const e of out) yield e;
      if (merge.done) return;
    }
  }

  /**
   * A whole scan as one array: for ranges the caller knows to be bounded (a page, a list
   * range), it saves the per-entry async step of the generator.
   */
  async scanAll(options: ScanOptions & { limit: number }): Promise<ScanEntry[]> {
    return this.scanAllMaybe(options);
  }

  /** scanAll() answered now when memory holds every block it reads (see getMaybe). */
  scanAllMaybe(options: ScanOptions & { limit: number }): Maybe<ScanEntry[]> {
    return map(this.openScan(options), (merge) => merge.fill(options.limit));
  }

  private openScan(options: ScanOptions): Maybe<MergeScan> {
    this.checkReadable();
    const { start, end, reverse = false } = options;
    const m = this.manifest;
    const cursors: Cursor[] = [new MemCursor(this.memtable, reverse, start, end)];
    for (let i = this.frozen.length - 1; i >= 0; i--) cursors.push(new MemCursor(this.frozen[i]!, reverse, start, end));
    // Only tables that can hold keys of the range: a short scan (a list range, a page) usually
    // touches one layer, and each cursor skipped saves a seek.
    const tables: TableCursor[] = m.l0.filter((s) => overlaps(s, start, end)).map((s) => new TableCursor(this, [s], reverse));
    for (const r of m.runs) {
      const ssts = overlappingRun(r.ssts, start, end);
      if (ssts.length > 0) tables.push(new TableCursor(this, ssts, reverse));
    }
    let seeking: Promise<void>[] | undefined;
    for (const c of tables) {
      const p = c.seek(start, end);
      if (p) (seeking ??= []).push(p);
    }
    const merge = () => {
      cursors.push(...tables);
      // A cursor that starts outside the range (a table spanning it without keys in it) only
      // costs comparisons in every step of the merge: leave it out.
      const inRange = (c: Cursor) => c.key !== undefined && (reverse ? start === undefined || c.key >= start : end === undefined || c.key < end);
      // Dropped ranges the scan meets: checked per key, which only such scans pay.
      const drops = m.dropped.length === 0 ? m.dropped : m.dropped.filter((r) => (end === undefined || r.start < end) && (start === undefined || r.end > start));
      return new MergeScan(cursors.filter(inRange), options, options.snapshot?.seq ?? Infinity, this.now(), drops);
    };
    return seeking ? Promise.all(seeking).then(merge) : merge();
  }

  // ---------------------------------------------------------------- lifecycle

  /** Flushes the WAL and the memtable, waits for background work, stops workers. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closing = true;
    if (this.gcTimer) clearInterval(this.gcTimer);
    clearTimeout(this.openCompactTimer);
    try {
      if (!this.failure) {
        await this.flush();
        this.freeze();
      }
      while (this.l0Flushing) await this.l0Flushing;
      await this.compactionsIdle();
    } finally {
      if (this.walTimer) clearTimeout(this.walTimer);
      this.closed = true;
      await this.pool.close();
      this.fail(new EngineClosedError());
    }
  }

  /** Stops at once without flushing (tests that simulate a crash in-process). */
  async abandon(): Promise<void> {
    this.closing = true;
    this.closed = true;
    if (this.gcTimer) clearInterval(this.gcTimer);
    clearTimeout(this.openCompactTimer);
    if (this.walTimer) clearTimeout(this.walTimer);
    this.fail(new EngineClosedError('engine abandoned'));
    await this.pool.close();
  }
}

/** How long compaction found due at open waits (see Engine.open). */
const OPEN_COMPACTION_DELAY_MS = 1000;

/** First and largest batch sizes of a generator scan. */
const SCAN_BATCH_FIRST = 16;
const SCAN_BATCH_MAX = 1024;

/** The k-way merge of a scan's cursors: the newest visible version of each key, live ones only. */
class MergeScan {
  done = false;
  private readonly cursors: Cursor[];
  private readonly reverse: boolean;
  private readonly start: string | undefined;
  private readonly end: string | undefined;
  private readonly snapSeq: number;
  private readonly now: number;
  private readonly drops: DroppedRanges | undefined;

  constructor(cursors: Cursor[], o: ScanOptions, snapSeq: number, now: number, drops: DroppedRanges) {
    this.cursors = cursors;
    this.drops = drops.length > 0 ? drops : undefined;
    this.reverse = o.reverse ?? false;
    this.start = o.start;
    this.end = o.end;
    this.snapSeq = snapSeq;
    this.now = now;
  }

  /** Up to `max` more entries (appended to out); a promise only when a cursor must load a block. */
  fill(max: number, out: ScanEntry[] = []): Maybe<ScanEntry[]> {
    const { cursors, reverse, start, end } = this;
    while (!this.done && out.length < max) {
      let key: string | undefined;
      for (const c of cursors) {
        const k = c.key;
        if (k !== undefined && (key === undefined || (reverse ? k > key : k < key))) key = k;
      }
      if (key === undefined || (reverse ? start !== undefined && key < start : end !== undefined && key >= end)) {
        this.done = true;
        break;
      }
      let best: Version | undefined;
      let pending: Promise<void>[] | undefined;
      for (const c of cursors) {
        if (c.key !== key) continue;
        const v = c.best(this.snapSeq);
        if (v && (!best || v.seq > best.seq)) best = v;
        const p = c.next();
        if (p) (pending ??= []).push(p);
      }
      const value = best && liveValue(best, this.now);
      if (value && !(this.drops && droppedAt(this.drops, key))) out.push({ key, value, expireAt: best!.expireAt });
      // The cursors must be positioned before anyone reads on, this call or the next.
      if (pending) return Promise.all(pending).then(() => this.fill(max, out));
    }
    return out;
  }
}

function allTables(m: ManifestData): SstMeta[] {
  return [...m.l0, ...m.runs.flatMap((r) => r.ssts)];
}

function liveTables(m: ManifestData): Set<string> {
  return new Set(allTables(m).map((s) => s.id));
}

/**
 * Splits a compaction into key ranges [lo, hi) whose overlapping input tables hold at most about
 * `budget` bytes (a range takes at least one cut, so a single big table is still one part).
 * Cuts fall on tables' first keys; a table spanning several ranges is read once per range.
 */
export function compactionParts(tables: SstMeta[], budget: number): { lo?: string; hi?: string; tables: SstMeta[] }[] {
  const bytes = (ts: SstMeta[]) => ts.reduce((n, t) => n + t.size, 0);
  if (bytes(tables) <= budget) return [{ tables }];
  const within = (lo: string | undefined, hi: string | undefined) =>
    tables.filter((t) => (lo === undefined || t.last >= lo) && (hi === undefined || t.first < hi));
  // Cutting at the smallest first key would leave an empty range below it.
  const cuts = [...new Set(tables.map((t) => t.first))].sort().slice(1);
  const parts: { lo?: string; hi?: string; tables: SstMeta[] }[] = [];
  let lo: string | undefined;
  let j = 0;
  for (;;) {
    while (j < cuts.length && lo !== undefined && cuts[j]! <= lo) j++;
    let hi: string | undefined;
    for (; j < cuts.length; j++) {
      if (hi !== undefined && bytes(within(lo, cuts[j])) > budget) break;
      hi = cuts[j];
    }
    if (hi === undefined || (j >= cuts.length && bytes(within(lo, undefined)) <= budget)) {
      parts.push({ lo, tables: within(lo, undefined) });
      return parts;
    }
    parts.push({ lo, hi, tables: within(lo, hi) });
    lo = hi;
  }
}

/** In a sorted run, the index of the first table whose last key is >= key. */
function firstEndingAtOrAfter(ssts: SstMeta[], key: string): number {
  let lo = 0;
  let hi = ssts.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ssts[mid]!.last < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function findTable(ssts: SstMeta[], key: string): SstMeta | undefined {
  const s = ssts[firstEndingAtOrAfter(ssts, key)];
  return s && s.first <= key ? s : undefined;
}

/** The tables of a sorted run that overlap [start, end), found by binary search. */
function overlappingRun(ssts: SstMeta[], start: string | undefined, end: string | undefined): SstMeta[] {
  const lo = start === undefined ? 0 : firstEndingAtOrAfter(ssts, start);
  let stop = lo;
  if (end === undefined) stop = ssts.length;
  else while (stop < ssts.length && ssts[stop]!.first < end) stop++;
  return lo === 0 && stop === ssts.length ? ssts : ssts.slice(lo, stop);
}

function overlaps(s: SstMeta, start: string | undefined, end: string | undefined): boolean {
  return (start === undefined || s.last >= start) && (end === undefined || s.first < end);
}

/** Encodes a frozen memtable for the worker (unsorted: it sorts), yielding every few ms. */
async function serializeMemtable(m: Memtable): Promise<Uint8Array> {
  const w = new Writer(Math.max(1 << 16, Math.ceil(m.bytes * 0.8)));
  let t0 = performance.now();
  let n = 0;
  for (const [key, chain] of m.entries()) {
    for (let c: Chain | undefined = chain; c; c = c.older) writeEntry(w, key, c);
    if ((++n & 1023) === 0 && performance.now() - t0 > 4) {
      await yieldLoop();
      t0 = performance.now();
    }
  }
  return ownBytes(w.finish());
}

export type { Entry, WriteOp };
