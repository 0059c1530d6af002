/**
 * How far the store is behind memory, in time and bytes: the age of the oldest write not yet
 * durable and the size of the writes not yet durable. The engine only knows sequence numbers,
 * so the keyspace's writes pass through this decorator (it is the keyspace's EngineLike),
 * which notes (seq, time, bytes) and forgets entries once the durable watermark passes them.
 */
import type { Engine, ScanOptions, WriteOp } from '../engine/index.ts';
import type { EngineLike } from '../types/engine-api.ts';
import { boundStoreWait } from './store-timeout.ts';

/** Bytes a write op adds to the WAL besides key and value (flags, lengths, seq, expiry). */
const OP_OVERHEAD = 16;
/** Past this many entries, writes join the last one whatever their seal (a bound, never reached in practice). */
const MAX_ENTRIES = 4096;

/** The writes of one engine seal (Engine.seals): they become durable together. */
interface Pending {
  seq: number;
  /** When the first of them was made. */
  at: number;
  bytes: number;
  seal: number;
}

export interface Lag {
  ms: number;
  bytes: number;
  /** Sequence numbers (write batches) not yet durable. */
  writes: number;
}

export class DurableLag implements EngineLike {
  inner: Engine;
  private queue: Pending[] = [];
  private head = 0;
  private pendingBytes = 0;

  /** store-timeout in ms (0 = no bound), read at each use since CONFIG SET may change it. */
  private readonly storeTimeoutMs: () => number;

  constructor(engine: Engine, storeTimeoutMs: () => number = () => 0) {
    this.inner = engine;
    this.storeTimeoutMs = storeTimeoutMs;
  }

  /** DEBUG RELOAD opened a new engine: everything the old one had is durable. */
  replace(engine: Engine): void {
    this.inner = engine;
    this.queue = [];
    this.head = 0;
    this.pendingBytes = 0;
  }

  write(ops: WriteOp[]): number {
    const seq = this.inner.write(ops);
    let bytes = 0;
    for (const op of ops) bytes += op.key.length + (op.value?.length ?? 0) + OP_OVERHEAD;
    this.trim();
    // One entry per seal: the clock is read once per seal, not per write.
    const seal = this.inner.seals;
    const last = this.queue.length > this.head ? this.queue[this.queue.length - 1]! : undefined;
    if (last && (last.seal === seal || this.queue.length - this.head >= MAX_ENTRIES)) {
      last.seq = seq;
      last.bytes += bytes;
    } else {
      this.queue.push({ seq, at: performance.now(), bytes, seal });
    }
    this.pendingBytes += bytes;
    return seq;
  }

  lag(): Lag {
    this.trim();
    const first = this.queue[this.head];
    return {
      ms: first ? Math.round(performance.now() - first.at) : 0,
      bytes: this.pendingBytes,
      writes: this.inner.lastSeq - this.inner.durableSeq,
    };
  }

  private trim(): void {
    const durable = this.inner.durableSeq;
    while (this.head < this.queue.length && this.queue[this.head]!.seq <= durable) {
      this.pendingBytes -= this.queue[this.head]!.bytes;
      this.head++;
    }
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
      this.pendingBytes = 0;
    } else if (this.head > 1024) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }

  // The rest of EngineLike passes straight through.
  get writeStalled(): boolean {
    return this.inner.writeStalled;
  }
  waitForCapacity(): Promise<void> {
    return this.inner.waitForCapacity();
  }
  get(key: string, opts?: Parameters<Engine['get']>[1]): ReturnType<Engine['get']> {
    return this.inner.get(key, opts);
  }
  getMaybe(key: string, opts?: Parameters<Engine['getMaybe']>[1]): ReturnType<Engine['getMaybe']> {
    return this.inner.getMaybe(key, opts);
  }
  getEntryMaybe(key: string, opts?: Parameters<Engine['getEntryMaybe']>[1]): ReturnType<Engine['getEntryMaybe']> {
    return this.inner.getEntryMaybe(key, opts);
  }
  getEntry(key: string, opts?: Parameters<Engine['getEntry']>[1]): ReturnType<Engine['getEntry']> {
    return this.inner.getEntry(key, opts);
  }
  scan(opts?: ScanOptions): ReturnType<Engine['scan']> {
    return this.inner.scan(opts);
  }
  scanAll(opts: ScanOptions & { limit: number }): ReturnType<Engine['scanAll']> {
    return this.inner.scanAll(opts);
  }
  scanAllMaybe(opts: ScanOptions & { limit: number }): ReturnType<Engine['scanAllMaybe']> {
    return this.inner.scanAllMaybe(opts);
  }
  snapshot(): ReturnType<Engine['snapshot']> {
    return this.inner.snapshot();
  }
  get lastSeq(): number {
    return this.inner.lastSeq;
  }
  get durableSeq(): number {
    return this.inner.durableSeq;
  }
  dropRange(start: string, end: string): Promise<boolean> {
    return this.inner.dropRange(start, end);
  }
  /** SAVE, DEBUG RELOAD, shutdown: gives up with `-ERR store unavailable` after store-timeout. */
  flushMemtable(): Promise<void> {
    return boundStoreWait(this.inner.flushMemtable(), this.storeTimeoutMs(), this.inner);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/** The lag of a server's keyspace, or zeros when it runs on a bare engine (in-process tests). */
export function durableLag(engine: EngineLike | undefined): Lag {
  if (engine instanceof DurableLag) return engine.lag();
  return { ms: 0, bytes: 0, writes: 0 };
}
