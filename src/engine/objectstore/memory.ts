import { createHash } from 'node:crypto';
import {
  type ByteRange,
  type ListOptions,
  type ListPage,
  type ObjectInfo,
  type ObjectStore,
  type PutOptions,
  PreconditionFailedError,
} from './types.ts';
import { copyBytes } from '../../util/bytes.ts';

interface Stored {
  body: Uint8Array;
  info: ObjectInfo;
}

const PAGE = 1000;

/** In-memory backend for unit tests: same semantics as the others, nothing durable. */
export class MemoryStore implements ObjectStore {
  private readonly objects = new Map<string, Stored>();

  async get(key: string, range?: ByteRange): Promise<Uint8Array | undefined> {
    const o = this.objects.get(key);
    if (!o) return undefined;
    // Copies: the caller never shares the stored bytes.
    return copyBytes(o.body, range?.start ?? 0, range?.end ?? o.body.length);
  }

  async put(key: string, body: Uint8Array, options: PutOptions = {}): Promise<{ etag: string }> {
    const cur = this.objects.get(key);
    if (options.ifNoneMatch === '*' && cur) throw new PreconditionFailedError(key, 'object exists');
    if (options.ifMatch !== undefined && cur?.info.etag !== options.ifMatch) {
      throw new PreconditionFailedError(key, 'etag mismatch');
    }
    const etag = `"${createHash('md5').update(body).digest('hex')}"`;
    const info = { key, size: body.length, etag, lastModified: Date.now() };
    this.objects.set(key, { body: copyBytes(body), info });
    return { etag };
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const o = this.objects.get(key);
    return o ? { ...o.info } : undefined;
  }

  async list(prefix: string, options: ListOptions = {}): Promise<ListPage> {
    const limit = Math.min(options.limit ?? PAGE, PAGE);
    const keys = [...this.objects.keys()]
      .filter((k) => k.startsWith(prefix) && (options.startAfter === undefined || k > options.startAfter))
      .sort();
    const page = keys.slice(0, limit);
    const objects = page.map((k) => ({ ...this.objects.get(k)!.info }));
    return keys.length > limit ? { objects, nextStartAfter: page[page.length - 1] } : { objects };
  }

  async delete(key: string): Promise<void> {
    this.objects.delete(key);
  }

  async deleteMany(keys: string[]): Promise<void> {
    for (const k of keys) this.objects.delete(k);
  }

  async close(): Promise<void> {}

  /** Test hook: overwrite an object's bytes in place, bypassing conditions. */
  corrupt(key: string, mutate: (body: Uint8Array) => Uint8Array): void {
    const o = this.objects.get(key);
    if (!o) throw new Error(`no object ${key}`);
    o.body = mutate(o.body);
    o.info.size = o.body.length;
  }
}
