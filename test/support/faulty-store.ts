/**
 * An ObjectStore wrapper for engine tests that counts requests per key prefix and can fail or
 * slow them on demand. It wraps a real backend; the S3 path has its own fault-injecting server.
 */
import type { ByteRange, ListOptions, ObjectStore, PutOptions } from '../../src/engine/objectstore/types.ts';
import { TransientStoreError } from '../../src/engine/objectstore/types.ts';

export class FaultyStore implements ObjectStore {
  readonly inner: ObjectStore;
  /** Requests by operation and top-level prefix, e.g. "put wal". */
  readonly counts = new Map<string, number>();
  /** Timestamps (ms) of WAL puts, for rate checks. */
  readonly walPutTimes: number[] = [];
  failPuts: ((key: string) => boolean) | undefined;
  putDelayMs = 0;
  /** Milliseconds to hold a GET of this key (0 = none). */
  getDelayMs: ((key: string) => number) | undefined;

  constructor(inner: ObjectStore) {
    this.inner = inner;
  }

  private count(op: string, key: string): void {
    const k = `${op} ${key.split('/')[0]}`;
    this.counts.set(k, (this.counts.get(k) ?? 0) + 1);
  }

  async get(key: string, range?: ByteRange) {
    this.count('get', key);
    const delay = this.getDelayMs?.(key) ?? 0;
    if (delay) await new Promise((r) => setTimeout(r, delay));
    return this.inner.get(key, range);
  }

  async put(key: string, body: Uint8Array, options?: PutOptions) {
    this.count('put', key);
    if (key.startsWith('wal/')) this.walPutTimes.push(performance.now());
    if (this.putDelayMs) await new Promise((r) => setTimeout(r, this.putDelayMs));
    if (this.failPuts?.(key)) throw new TransientStoreError(`injected failure for ${key}`);
    return this.inner.put(key, body, options);
  }

  head(key: string) {
    this.count('head', key);
    return this.inner.head(key);
  }

  list(prefix: string, options?: ListOptions) {
    this.count('list', prefix);
    return this.inner.list(prefix, options);
  }

  delete(key: string) {
    this.count('delete', key);
    return this.inner.delete(key);
  }

  close() {
    return this.inner.close();
  }
}
