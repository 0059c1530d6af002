import { setTimeout as sleep } from 'node:timers/promises';
import {
  type ByteRange,
  type ListOptions,
  type ListPage,
  type ObjectInfo,
  type ObjectStore,
  type PutOptions,
  PreconditionFailedError,
  TransientStoreError,
} from './types.ts';

export interface RetryOptions {
  /** Attempts in all, the first included. */
  attempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Decides what is worth retrying; by default TransientStoreError and network resets. */
  isTransient?: (e: unknown) => boolean;
}

/** Request and byte counts, for INFO, /metrics and the cost estimate. */
export class StoreCounters {
  gets = 0;
  puts = 0;
  heads = 0;
  lists = 0;
  deletes = 0;
  retries = 0;
  failures = 0;
  bytesRead = 0;
  bytesWritten = 0;
}

const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNREFUSED', 'EAI_AGAIN', 'EBUSY', 'EMFILE']);

export function defaultIsTransient(e: unknown): boolean {
  if (e instanceof TransientStoreError) return true;
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return code !== undefined && RESET_CODES.has(code);
}

/**
 * Wraps a backend with counting and retries (jittered exponential backoff). A create-only put
 * that is retried after an ambiguous failure may find its own earlier attempt in place: it
 * reads the object back and counts identical bytes as its own success (the engine stamps the
 * writer's epoch into every object, so a competitor's bytes never match).
 */
export class ResilientStore implements ObjectStore {
  readonly counters = new StoreCounters();
  private readonly attempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly isTransient: (e: unknown) => boolean;
  readonly inner: ObjectStore;
  /** The latest failed request, until a request succeeds (for "store unavailable" errors). */
  lastError: Error | undefined;

  constructor(inner: ObjectStore, options: RetryOptions = {}) {
    this.inner = inner;
    this.attempts = options.attempts ?? 8;
    this.baseDelayMs = options.baseDelayMs ?? 20;
    this.maxDelayMs = options.maxDelayMs ?? 2000;
    this.isTransient = options.isTransient ?? defaultIsTransient;
  }

  private async retry<T>(op: (attempt: number) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        const r = await op(attempt);
        this.lastError = undefined;
        return r;
      } catch (e) {
        if (!(e instanceof PreconditionFailedError)) this.lastError = e as Error;
        if (attempt >= this.attempts || !this.isTransient(e)) {
          this.counters.failures++;
          throw e;
        }
        this.counters.retries++;
        const cap = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempt - 1));
        await sleep(cap / 2 + Math.random() * (cap / 2));
      }
    }
  }

  async get(key: string, range?: ByteRange): Promise<Uint8Array | undefined> {
    return this.retry(async () => {
      this.counters.gets++;
      const body = await this.inner.get(key, range);
      if (body) this.counters.bytesRead += body.length;
      return body;
    });
  }

  async put(key: string, body: Uint8Array, options?: PutOptions): Promise<{ etag: string }> {
    return this.retry(async (attempt) => {
      this.counters.puts++;
      try {
        const r = await this.inner.put(key, body, options);
        this.counters.bytesWritten += body.length;
        return r;
      } catch (e) {
        if (e instanceof PreconditionFailedError && attempt > 1 && options?.ifNoneMatch === '*') {
          const mine = await this.inner.get(key);
          this.counters.gets++;
          if (mine && Buffer.compare(mine, body) === 0) {
            const info = await this.inner.head(key);
            return { etag: info?.etag ?? '' };
          }
        }
        throw e;
      }
    });
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    return this.retry(() => {
      this.counters.heads++;
      return this.inner.head(key);
    });
  }

  async list(prefix: string, options?: ListOptions): Promise<ListPage> {
    return this.retry(() => {
      this.counters.lists++;
      return this.inner.list(prefix, options);
    });
  }

  async delete(key: string): Promise<void> {
    return this.retry(() => {
      this.counters.deletes++;
      return this.inner.delete(key);
    });
  }

  /** One retried call when the backend batches (deletes are idempotent), else a loop. */
  async deleteMany(keys: string[]): Promise<void> {
    const inner = this.inner;
    if (!inner.deleteMany) {
      for (const k of keys) await this.delete(k);
      return;
    }
    if (keys.length === 0) return;
    return this.retry(() => {
      this.counters.deletes++;
      return inner.deleteMany!(keys);
    });
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
