import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalStore, type LocalStoreOptions } from './local.ts';
import { MemoryStore } from './memory.ts';
import { isDirectoryBucketName, S3Store, type S3StoreOptions } from './s3.ts';
import type { ObjectStore } from './types.ts';

/** What a store URL names, before anything is opened. */
export type StoreSpec =
  | { kind: 's3'; options: S3StoreOptions }
  | { kind: 'memory' }
  | { kind: 'local'; root: string };

export interface OpenStoreOptions {
  /** Defaults for S3 (e.g. credentials from a config file); the URL's own parameters win. */
  s3?: Partial<S3StoreOptions>;
  local?: LocalStoreOptions;
}

const S3_PARAMS = new Set(['endpoint', 'region', 'forcePathStyle', 'requestTimeoutMs', 'connectTimeoutMs', 'maxSockets']);

/**
 * Parses a store URL:
 *   s3://bucket/prefix?endpoint=http://127.0.0.1:9000&region=us-east-1&forcePathStyle=true
 *   memory://          (nothing durable; tests)
 *   file:///abs/dir    or a plain path (relative to the working directory)
 * Throws an Error with a one-line message on anything it does not understand, so a typo in a
 * parameter name fails at start-up instead of being ignored.
 */
export function parseStoreUrl(spec: string): StoreSpec {
  const s = spec.trim();
  if (s === '') throw new Error('empty store URL');
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(s)?.[1]?.toLowerCase();
  // A one-letter "scheme" is a Windows drive (C:\data), i.e. a plain path.
  if (scheme === undefined || scheme.length === 1) return { kind: 'local', root: path.resolve(s) };
  switch (scheme) {
    case 'memory':
      if (!/^memory:(\/\/)?$/i.test(s)) throw new Error(`memory store URL takes no name or parameters: ${s}`);
      return { kind: 'memory' };
    case 'file': {
      let root: string;
      try {
        root = fileURLToPath(s);
      } catch (e) {
        throw new Error(`bad file URL ${JSON.stringify(s)}: ${(e as Error).message} (use file:///absolute/dir)`);
      }
      return { kind: 'local', root };
    }
    case 's3':
      return { kind: 's3', options: parseS3(s) };
    default:
      throw new Error(`unsupported store URL scheme "${scheme}:" in ${JSON.stringify(s)} (use s3://, file://, memory:// or a path)`);
  }
}

function parseS3(s: string): S3StoreOptions {
  const url = new URL(s);
  if (url.username || url.password) {
    // Secrets in a URL end up in shell history and process listings.
    throw new Error('credentials do not belong in the s3:// URL: use AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or an AWS profile');
  }
  const bucket = decodeURIComponent(url.hostname);
  if (!bucket) throw new Error(`s3 URL needs a bucket: s3://bucket/prefix, got ${JSON.stringify(s)}`);
  if (url.port) throw new Error(`s3 URL names a bucket, not a host: put the endpoint in ?endpoint=, got ${JSON.stringify(s)}`);
  const options: S3StoreOptions = { bucket, prefix: decodeURIComponent(url.pathname).replace(/^\/+|\/+$/g, '') };
  for (const [name, value] of url.searchParams) {
    if (!S3_PARAMS.has(name)) {
      throw new Error(`unknown s3 URL parameter "${name}" (known: ${[...S3_PARAMS].join(', ')})`);
    }
    switch (name) {
      case 'endpoint':
        if (!/^https?:\/\/[^/]/i.test(value)) throw new Error(`s3 endpoint must be an http(s) URL, got ${JSON.stringify(value)}`);
        options.endpoint = value;
        break;
      case 'region':
        options.region = value;
        break;
      case 'forcePathStyle':
        options.forcePathStyle = parseBool(name, value);
        break;
      default:
        (options as unknown as Record<string, number>)[name] = parsePositiveInt(name, value);
    }
  }
  if (isDirectoryBucketName(bucket)) {
    // S3 Express One Zone: zonal endpoints take virtual-host-style requests only.
    if (options.forcePathStyle) throw new Error(`directory bucket "${bucket}" (S3 Express One Zone) needs virtual-host style: drop forcePathStyle`);
    options.forcePathStyle = false;
  }
  // Self-hosted endpoints (MinIO, Ceph, localstack) rarely have wildcard DNS for
  // bucket.host names, so path style is their sensible default; AWS keeps virtual-host style.
  if (options.forcePathStyle === undefined && options.endpoint !== undefined) options.forcePathStyle = true;
  return options;
}

function parseBool(name: string, v: string): boolean {
  if (/^(true|1|yes)$/i.test(v)) return true;
  if (/^(false|0|no)$/i.test(v)) return false;
  throw new Error(`s3 URL parameter ${name} must be true or false, got ${JSON.stringify(v)}`);
}

function parsePositiveInt(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`s3 URL parameter ${name} must be a positive integer, got ${JSON.stringify(v)}`);
  return n;
}

/** Opens the raw backend a URL names; the caller wraps it (ResilientStore) as it needs. */
export function openStore(spec: string, opts: OpenStoreOptions = {}): ObjectStore {
  const parsed = parseStoreUrl(spec);
  switch (parsed.kind) {
    case 'memory':
      return new MemoryStore();
    case 'local':
      return new LocalStore(parsed.root, opts.local);
    case 's3': {
      const o: S3StoreOptions = { ...opts.s3, ...parsed.options };
      if (o.forcePathStyle === undefined && o.endpoint !== undefined) o.forcePathStyle = true;
      return new S3Store(o);
    }
  }
}

/** Start-up check: a cheap request that fails with one clear line (S3 only; others pass). */
export async function checkStoreAccess(store: ObjectStore): Promise<void> {
  if (store instanceof S3Store) await store.checkAccess();
}
