/**
 * An ObjectStore wrapper that records when each PUT was issued and completed, by key prefix (the part before
 * the first '/'), so the bench can count WAL PUTs in a time window.
 */
import type { ByteRange, ListOptions, ListPage, ObjectInfo, ObjectStore, PutOptions } from '../../src/engine/objectstore/types.ts';
import { wallNow } from '../lib/measure.ts';

type Inner = ObjectStore;

export class CountingStore implements ObjectStore {
  readonly inner: Inner;
  /** Wall-clock times (ms) at which successful PUTs were issued and completed, per key prefix. */
  readonly putTimes = new Map<string, { start: number; end: number }[]>();

  constructor(inner: Inner) {
    this.inner = inner;
  }

  putsUnder(prefix: string): { start: number; end: number }[] {
    return this.putTimes.get(prefix) ?? [];
  }

  get(key: string, range?: ByteRange): Promise<Uint8Array | undefined> {
    return this.inner.get(key, range);
  }

  async put(key: string, body: Uint8Array, options?: PutOptions): Promise<{ etag: string }> {
    const start = wallNow();
    const r = await this.inner.put(key, body, options);
    const slash = key.indexOf('/');
    const prefix = slash < 0 ? '' : key.slice(0, slash);
    let list = this.putTimes.get(prefix);
    if (!list) this.putTimes.set(prefix, (list = []));
    list.push({ start, end: wallNow() });
    return r;
  }

  head(key: string): Promise<ObjectInfo | undefined> {
    return this.inner.head(key);
  }

  list(prefix: string, options?: ListOptions): Promise<ListPage> {
    return this.inner.list(prefix, options);
  }

  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }

  deleteMany(keys: string[]): Promise<void> {
    return this.inner.deleteMany ? this.inner.deleteMany(keys) : Promise.all(keys.map((k) => this.inner.delete(k))).then(() => {});
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
