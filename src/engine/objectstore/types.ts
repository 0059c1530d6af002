/**
 * The one small interface the engine needs from an object store. Keys are '/'-separated
 * names under the store's own prefix; bodies are immutable once written.
 */

export interface ByteRange {
  /** First byte, inclusive. */
  start: number;
  /** Last byte, exclusive; omitted means to the end of the object. */
  end?: number;
}

export interface PutOptions {
  /** '*' makes the put create-only: it fails with PreconditionFailedError if the key exists. */
  ifNoneMatch?: '*';
  /** The put succeeds only if the current object has this etag. */
  ifMatch?: string;
}

export interface ObjectInfo {
  key: string;
  size: number;
  etag: string;
  /** Milliseconds since the epoch. */
  lastModified: number;
}

export interface ListOptions {
  /** Only keys strictly greater than this one. */
  startAfter?: string;
  /** At most this many keys in one page (backends may return fewer). */
  limit?: number;
}

export interface ListPage {
  objects: ObjectInfo[];
  /** Set when more keys may follow: pass it as startAfter for the next page. */
  nextStartAfter?: string;
}

export interface ObjectStore {
  /** The object's bytes (or a range of them), or undefined if there is no such key. */
  get(key: string, range?: ByteRange): Promise<Uint8Array | undefined>;
  put(key: string, body: Uint8Array, options?: PutOptions): Promise<{ etag: string }>;
  head(key: string): Promise<ObjectInfo | undefined>;
  /** One page of keys starting with prefix, in lexical order. */
  list(prefix: string, options?: ListOptions): Promise<ListPage>;
  /** Deleting a missing key is not an error. */
  delete(key: string): Promise<void>;
  /** Deletes several keys (missing ones are fine); backends may batch the requests. */
  deleteMany?(keys: string[]): Promise<void>;
  /** Releases sockets and handles. */
  close(): Promise<void>;
}

/** A conditional put lost: the key exists (create-only) or its etag differs (if-match). */
export class PreconditionFailedError extends Error {
  readonly key: string;
  constructor(key: string, detail = 'precondition failed') {
    super(`${detail}: ${key}`);
    this.name = 'PreconditionFailedError';
    this.key = key;
  }
}

/** A failure worth retrying: timeouts, throttling, 5xx, dropped connections. */
export class TransientStoreError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TransientStoreError';
  }
}

/** Iterates every key under prefix across pages. */
export async function* listAll(
  store: ObjectStore,
  prefix: string,
  startAfter?: string,
): AsyncGenerator<ObjectInfo> {
  let after = startAfter;
  for (;;) {
    const page = await store.list(prefix, { startAfter: after });
    for (const o of page.objects) yield o;
    if (page.nextStartAfter === undefined) return;
    after = page.nextStartAfter;
  }
}
