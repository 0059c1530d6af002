/**
 * The two engines under test behind one small interface, addressed by key index (the
 * adapters turn an index into each engine's key form, outside the engines' own code paths).
 *
 * - Shale: src/engine on a LocalStore directory, wrapped in a CountingStore.
 * - SlateDB: @slatedb/uniffi on a `file://` object store URL (Rust object_store
 *   LocalFileSystem), with its DefaultMetricsRecorder attached.
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { Engine, LocalStore } from '../../src/engine/index.ts';
import type { WriteOp } from '../../src/engine/index.ts';
import { CountingStore } from './counting-store.ts';
import type { Keys, Values } from './keys.ts';

export interface OpenOptions {
  flushIntervalMs: number;
  /** Memtable size before it is flushed to an L0 table. */
  memtableBytes?: number;
}

export interface BenchDb {
  /** Non-durable put of key k. Synchronous for Shale (returns the seq), a promise for SlateDB. */
  put(k: number): unknown;
  /** One atomic batch of non-durable puts (values of valueBytes, default 100). */
  putBatch(ks: ArrayLike<number>, from: number, count: number, valueBytes?: number): unknown;
  /** Put and wait until the write is durable in the store. */
  putDurable(k: number): Promise<void>;
  get(k: number): Promise<Uint8Array | undefined>;
  /** Full ordered scan (stopping early after maxMs); returns the number of entries read. */
  scanAll(maxMs?: number): Promise<number>;
  /** Ordered scan of keys [k, k+n); returns the number of entries. */
  scanRange(k: number, n: number): Promise<number>;
  /** Memtable -> tables now. */
  flushToTables(): Promise<void>;
  close(): Promise<void>;
  /** Backpressure: a promise to await before writing more, or undefined. */
  gate(): Promise<void> | undefined;
  /**
   * Wall-clock times (ms) of the WAL objects written so far: when each PUT was issued where
   * the bench can see it (Shale), else when the object was last modified (SlateDB's files).
   */
  walPutTimes(): Promise<number[]>;
  /** What walPutTimes() measures. */
  readonly walTimeSource: string;
  /** The engine's own count of WAL flushes, if it keeps one. */
  walFlushCounter(): number | undefined;
  /** Engine counters for the JSON output. */
  stats(): Record<string, unknown>;
}

export interface Subject {
  readonly id: string;
  readonly label: string;
  /** True if put() is synchronous (no point pipelining it). */
  readonly syncPuts: boolean;
  open(dir: string, options: OpenOptions): Promise<BenchDb>;
}

// ------------------------------------------------------------------ Shale

export function shaleSubject(keys: Keys, values: Values, options: { fsync: boolean; id?: string; label?: string }): Subject {
  return {
    id: options.id ?? 'shale',
    label: options.label ?? 'Shale',
    syncPuts: true,
    async open(dir, o) {
      const store = new CountingStore(new LocalStore(dir, { fsync: options.fsync }));
      const engine = await Engine.open({
        store,
        flushIntervalMs: o.flushIntervalMs,
        ...(o.memtableBytes ? { memtableBytes: o.memtableBytes } : {}),
      });
      return new ShaleDb(engine, store, keys, values);
    },
  };
}

class ShaleDb implements BenchDb {
  private readonly engine: Engine;
  private readonly store: CountingStore;
  private readonly keys: Keys;
  private readonly values: Values;

  constructor(engine: Engine, store: CountingStore, keys: Keys, values: Values) {
    this.engine = engine;
    this.store = store;
    this.keys = keys;
    this.values = values;
  }

  put(k: number): number {
    return this.engine.put(this.keys.str(k), this.values.get(k));
  }

  putBatch(ks: ArrayLike<number>, from: number, count: number, valueBytes?: number): number {
    const ops: WriteOp[] = new Array(count);
    for (let j = 0; j < count; j++) {
      const k = ks[from + j]!;
      ops[j] = { key: this.keys.str(k), value: this.values.get(k, valueBytes) };
    }
    return this.engine.write(ops);
  }

  async putDurable(k: number): Promise<void> {
    if (this.engine.writeStalled) await this.engine.waitForCapacity();
    await this.engine.awaitDurable(this.engine.put(this.keys.str(k), this.values.get(k)));
  }

  get(k: number): Promise<Uint8Array | undefined> {
    return this.engine.get(this.keys.str(k));
  }

  async scanAll(maxMs = Infinity): Promise<number> {
    const deadline = performance.now() + maxMs;
    let n = 0;
    for await (const _ of this.engine.scan()) {
      if ((++n & 1023) === 0 && performance.now() >= deadline) break;
    }
    return n;
  }

  async scanRange(k: number, count: number): Promise<number> {
    let n = 0;
    for await (const _ of this.engine.scan({ start: this.keys.str(k), end: this.keys.str(k + count) })) n++;
    return n;
  }

  flushToTables(): Promise<void> {
    return this.engine.flushMemtable();
  }

  close(): Promise<void> {
    return this.engine.close();
  }

  gate(): Promise<void> | undefined {
    return this.engine.writeStalled ? this.engine.waitForCapacity() : undefined;
  }

  readonly walTimeSource = 'PUT issue time (counting ObjectStore wrapper)';

  walPutTimes(): Promise<number[]> {
    return Promise.resolve(this.store.putsUnder('wal').map((t) => t.start));
  }

  walFlushCounter(): number {
    return this.engine.stats.walFlushes;
  }

  stats(): Record<string, unknown> {
    return { engine: { ...this.engine.stats }, store: { ...this.engine.store.counters }, shape: this.engine.shape };
  }
}

// ------------------------------------------------------------------ SlateDB

type SlateModule = typeof import('@slatedb/uniffi');

let slateModule: Promise<SlateModule> | undefined;

/** Loads the binding (the native library via koffi); rejects with the reason if it cannot. */
export function loadSlateDb(): Promise<SlateModule> {
  slateModule ??= import('@slatedb/uniffi');
  return slateModule;
}

export function slateSubject(keys: Keys, values: Values, slate: SlateModule): Subject {
  return {
    id: 'slatedb',
    label: 'SlateDB',
    syncPuts: false,
    async open(dir, o) {
      const store = slate.ObjectStore.resolve(`file://${path.resolve(dir)}`);
      const settings = slate.Settings.default();
      const recorder = new slate.DefaultMetricsRecorder();
      let db;
      try {
        settings.set('flush_interval', JSON.stringify(`${o.flushIntervalMs}ms`));
        if (o.memtableBytes) settings.set('l0_sst_size_bytes', JSON.stringify(o.memtableBytes));
        const builder = new slate.DbBuilder(SLATE_DB_PATH, store);
        try {
          builder.with_settings(settings);
          builder.with_metrics_recorder(recorder);
          db = await builder.build();
        } finally {
          builder.dispose();
        }
      } catch (e) {
        recorder.dispose();
        store.dispose();
        throw e;
      } finally {
        settings.dispose();
      }
      return new SlateDb(slate, db, store, recorder, path.join(dir, SLATE_DB_PATH), keys, values);
    },
  };
}

const SLATE_DB_PATH = 'db';
const PUT_OPTIONS = { ttl: { tag: 'Default' } } as const;
const NO_WAIT = { await_durable: false };
const WAIT = { await_durable: true };
const FULL_RANGE = { start: undefined, start_inclusive: true, end: undefined, end_inclusive: false };

type SlateDbHandle = Awaited<ReturnType<InstanceType<SlateModule['DbBuilder']>['build']>>;
type SlateStore = ReturnType<SlateModule['ObjectStore']['resolve']>;
type SlateRecorder = InstanceType<SlateModule['DefaultMetricsRecorder']>;
type SlateIterator = Awaited<ReturnType<SlateDbHandle['scan']>>;

class SlateDb implements BenchDb {
  private readonly slate: SlateModule;
  private readonly db: SlateDbHandle;
  private readonly store: SlateStore;
  private readonly recorder: SlateRecorder;
  private readonly dbDir: string;
  private readonly keys: Keys;
  private readonly values: Values;

  constructor(slate: SlateModule, db: SlateDbHandle, store: SlateStore, recorder: SlateRecorder, dbDir: string, keys: Keys, values: Values) {
    this.slate = slate;
    this.db = db;
    this.store = store;
    this.recorder = recorder;
    this.dbDir = dbDir;
    this.keys = keys;
    this.values = values;
  }

  put(k: number): Promise<unknown> {
    return this.db.put_with_options(this.keys.buf(k), this.values.get(k), PUT_OPTIONS, NO_WAIT);
  }

  async putBatch(ks: ArrayLike<number>, from: number, count: number, valueBytes?: number): Promise<void> {
    const batch = new this.slate.WriteBatch();
    try {
      for (let j = 0; j < count; j++) {
        const k = ks[from + j]!;
        batch.put(this.keys.buf(k), this.values.get(k, valueBytes));
      }
      await this.db.write_with_options(batch, NO_WAIT);
    } finally {
      batch.dispose();
    }
  }

  async putDurable(k: number): Promise<void> {
    await this.db.put_with_options(this.keys.buf(k), this.values.get(k), PUT_OPTIONS, WAIT);
  }

  get(k: number): Promise<Uint8Array | undefined> {
    return this.db.get(this.keys.buf(k));
  }

  private async drain(it: SlateIterator, maxMs = Infinity): Promise<number> {
    const deadline = performance.now() + maxMs;
    let n = 0;
    try {
      while (await it.next()) {
        if ((++n & 1023) === 0 && performance.now() >= deadline) break;
      }
    } finally {
      it.dispose();
    }
    return n;
  }

  async scanAll(maxMs = Infinity): Promise<number> {
    return this.drain(await this.db.scan(FULL_RANGE), maxMs);
  }

  async scanRange(k: number, count: number): Promise<number> {
    return this.drain(
      await this.db.scan({ start: this.keys.buf(k), start_inclusive: true, end: this.keys.buf(k + count), end_inclusive: false }),
    );
  }

  flushToTables(): Promise<void> {
    return this.db.flush_with_options({ flush_type: 'MemTable' });
  }

  async close(): Promise<void> {
    try {
      await this.db.shutdown();
    } finally {
      this.db.dispose();
      this.recorder.dispose();
      this.store.dispose();
    }
  }

  gate(): undefined {
    return undefined;
  }

  readonly walTimeSource = 'mtime of the files under <db>/wal/ (about when each PUT completed)';

  /** SlateDB writes one object per WAL flush under <db>/wal/; their mtimes are the PUT times. */
  async walPutTimes(): Promise<number[]> {
    const dir = path.join(this.dbDir, 'wal');
    const names = await readdir(dir).catch(() => [] as string[]);
    const times: number[] = [];
    for (const n of names) {
      if (!n.endsWith('.sst')) continue;
      try {
        times.push((await stat(path.join(dir, n))).mtimeMs);
      } catch {
        // garbage-collected meanwhile
      }
    }
    return times;
  }

  walFlushCounter(): number | undefined {
    return this.counter('slatedb.db.wal_buffer_flushes');
  }

  private counter(name: string): number | undefined {
    const ms = this.recorder.metrics_by_name(name);
    if (ms.length === 0) return undefined;
    let sum = 0;
    for (const m of ms) if (m.value.tag !== 'Histogram') sum += Number(m.value['']);
    return sum;
  }

  stats(): Record<string, unknown> {
    const out: Record<string, number> = {};
    for (const m of this.recorder.snapshot()) {
      if (m.value.tag === 'Histogram') continue;
      const label = m.labels.length ? `${m.name}{${m.labels.map((l) => `${l.key}=${l.value}`).join(',')}}` : m.name;
      out[label] = (out[label] ?? 0) + Number(m.value['']);
    }
    return { metrics: out };
  }
}
