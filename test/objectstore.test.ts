/**
 * ObjectStore conformance: one suite run on every backend (memory, local files, S3 over real
 * HTTP against test/support/s3-server.ts, a real endpoint when SHALE_TEST_S3_URL is set, and
 * MinIO when a Docker engine is reachable), plus S3-specific behaviour: retries through
 * ResilientStore under injected faults, ambiguous create-only puts, timeouts, start-up access
 * checks, addressing styles and the SDK's chunked uploads.
 */
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { request as httpRequest } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { crc32 } from 'node:zlib';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LocalStore } from '../src/engine/objectstore/local.ts';
import { MemoryStore } from '../src/engine/objectstore/memory.ts';
import { ResilientStore } from '../src/engine/objectstore/resilient.ts';
import { S3Store, StoreAccessError, type S3StoreOptions } from '../src/engine/objectstore/s3.ts';
import {
  type ObjectStore,
  PreconditionFailedError,
  TransientStoreError,
  listAll,
} from '../src/engine/objectstore/types.ts';
import { checkStoreAccess, openStore, parseStoreUrl } from '../src/engine/objectstore/url.ts';
import { type S3TestServer, startS3Server } from './support/s3-server.ts';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : new TextDecoder().decode(b));
/** Hex of the bytes (Buffer and plain Uint8Array compare alike); undefined stays undefined. */
const hex = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : Buffer.from(b).toString('hex'));
const md5Etag = (b: Uint8Array): string => `"${createHash('md5').update(b).digest('hex')}"`;

interface ConformanceOptions {
  /** When set, the block is registered as skipped and the reason shows in its name. */
  skipReason?: string;
  setup?: () => Promise<void>;
  teardown?: () => Promise<void>;
}

/**
 * The behaviour the engine relies on from any backend. makeStore must return a store over an
 * empty namespace (a fresh prefix, directory or instance) for every test.
 */
function describeStoreConformance(name: string, makeStore: () => Promise<ObjectStore>, opts: ConformanceOptions = {}): void {
  const title = opts.skipReason === undefined ? name : `${name} (skipped: ${opts.skipReason})`;
  describe.skipIf(opts.skipReason !== undefined)(title, () => {
    if (opts.setup) beforeAll(opts.setup, 300_000);
    if (opts.teardown) afterAll(opts.teardown, 60_000);
    let store: ObjectStore;
    beforeEach(async () => {
      store = await makeStore();
    });
    afterEach(async () => {
      // Leave nothing behind (matters on real buckets).
      const keys: string[] = [];
      for await (const o of listAll(store, '')) keys.push(o.key);
      if (store.deleteMany) await store.deleteMany(keys);
      else for (const k of keys) await store.delete(k);
      await store.close();
    });

    it('get and head of a missing key are undefined', async () => {
      expect(await store.get('nope/missing')).toBeUndefined();
      expect(await store.get('nope/missing', { start: 2 })).toBeUndefined();
      expect(await store.head('nope/missing')).toBeUndefined();
    });

    it('put then get returns the bytes; head reports size and the put etag', async () => {
      const body = enc('hello object store');
      const { etag } = await store.put('dir/a.bin', body);
      expect(etag).toMatch(/\S/);
      expect(dec(await store.get('dir/a.bin'))).toBe('hello object store');
      const info = await store.head('dir/a.bin');
      expect(info).toMatchObject({ key: 'dir/a.bin', size: body.length, etag });
      expect(Math.abs(info!.lastModified - Date.now())).toBeLessThan(10 * 60_000);
    });

    it('an unconditional put replaces the object and changes the etag', async () => {
      const a = await store.put('k', enc('first'));
      const b = await store.put('k', enc('second, longer'));
      expect(b.etag).not.toBe(a.etag);
      expect(dec(await store.get('k'))).toBe('second, longer');
      expect((await store.head('k'))?.etag).toBe(b.etag);
    });

    it('ranged gets: start only, start and end, end beyond the size, empty ranges', async () => {
      await store.put('r', enc('0123456789'));
      expect(dec(await store.get('r', { start: 4 }))).toBe('456789');
      expect(dec(await store.get('r', { start: 2, end: 5 }))).toBe('234');
      expect(dec(await store.get('r', { start: 0, end: 1 }))).toBe('0');
      expect(dec(await store.get('r', { start: 7, end: 100 }))).toBe('789');
      expect(dec(await store.get('r', { start: 9 }))).toBe('9');
      expect(hex(await store.get('r', { start: 10 }))).toBe('');
      expect(hex(await store.get('r', { start: 50, end: 60 }))).toBe('');
      expect(hex(await store.get('r', { start: 3, end: 3 }))).toBe('');
      expect(await store.get('missing-r', { start: 3, end: 3 })).toBeUndefined();
    });

    it('create-only put: succeeds on a new key, fails on an existing one and keeps it', async () => {
      const { etag } = await store.put('once', enc('original'), { ifNoneMatch: '*' });
      await expect(store.put('once', enc('intruder'), { ifNoneMatch: '*' })).rejects.toBeInstanceOf(PreconditionFailedError);
      expect(dec(await store.get('once'))).toBe('original');
      expect((await store.head('once'))?.etag).toBe(etag);
    });

    it('if-match: succeeds on the current etag, fails on a stale one and on a missing key', async () => {
      const v1 = await store.put('m', enc('v1'));
      const v2 = await store.put('m', enc('v2 is here'), { ifMatch: v1.etag });
      expect(dec(await store.get('m'))).toBe('v2 is here');
      const stale = store.put('m', enc('v3 from a stale writer'), { ifMatch: v1.etag });
      await expect(stale).rejects.toBeInstanceOf(PreconditionFailedError);
      expect(dec(await store.get('m'))).toBe('v2 is here');
      expect((await store.head('m'))?.etag).toBe(v2.etag);
      await expect(store.put('m-missing', enc('x'), { ifMatch: v1.etag })).rejects.toBeInstanceOf(PreconditionFailedError);
      expect(await store.get('m-missing')).toBeUndefined();
    });

    it('list returns keys under the prefix in lexical order with sizes and etags', async () => {
      const bodies: Record<string, string> = { 'a/2': 'bb', 'a/1': 'a', 'a/deep/x/y': 'deep', ab: 'abab', 'b/1': 'c' };
      const etags: Record<string, string> = {};
      for (const [k, v] of Object.entries(bodies)) etags[k] = (await store.put(k, enc(v))).etag;
      const page = await store.list('a/');
      expect(page.objects.map((o) => o.key)).toEqual(['a/1', 'a/2', 'a/deep/x/y']);
      expect(page.nextStartAfter).toBeUndefined();
      for (const o of page.objects) expect(o).toMatchObject({ size: bodies[o.key]!.length, etag: etags[o.key] });
      expect((await store.list('a')).objects.map((o) => o.key)).toEqual(['a/1', 'a/2', 'a/deep/x/y', 'ab']);
      expect((await store.list('')).objects).toHaveLength(5);
      expect((await store.list('zzz')).objects).toEqual([]);
    });

    it('list paginates 25 keys with limit 7 and startAfter continues without gaps or repeats', async () => {
      const keys = Array.from({ length: 25 }, (_, i) => `p/${String(i).padStart(3, '0')}`);
      await Promise.all(keys.map((k) => store.put(k, enc(k))));
      await store.put('q/outside', enc('x'));
      const seen: string[] = [];
      let after: string | undefined;
      let pages = 0;
      for (;;) {
        const page = await store.list('p/', { limit: 7, startAfter: after });
        pages++;
        expect(page.objects.length).toBeLessThanOrEqual(7);
        seen.push(...page.objects.map((o) => o.key));
        if (page.nextStartAfter === undefined) break;
        expect(page.nextStartAfter).toBe(page.objects[page.objects.length - 1]?.key);
        after = page.nextStartAfter;
        expect(pages).toBeLessThan(30);
      }
      expect(seen).toEqual(keys);
      expect(pages).toBeGreaterThanOrEqual(4);
      const all: string[] = [];
      for await (const o of listAll(store, 'p/')) all.push(o.key);
      expect(all).toEqual(keys);
    });

    it('startAfter skips keys up to and including it, also when it is not a key', async () => {
      for (const k of ['s/a', 's/b', 's/c', 's/d']) await store.put(k, enc(k));
      expect((await store.list('s/', { startAfter: 's/b' })).objects.map((o) => o.key)).toEqual(['s/c', 's/d']);
      expect((await store.list('s/', { startAfter: 's/bb' })).objects.map((o) => o.key)).toEqual(['s/c', 's/d']);
      expect((await store.list('s/', { startAfter: 's/d' })).objects).toEqual([]);
      expect((await store.list('s/', { startAfter: 'a' })).objects).toHaveLength(4);
    });

    it('delete removes the object and is idempotent', async () => {
      await store.put('d/1', enc('x'));
      await store.delete('d/1');
      expect(await store.get('d/1')).toBeUndefined();
      expect(await store.head('d/1')).toBeUndefined();
      await store.delete('d/1');
      await store.delete('d/never-existed');
      expect((await store.list('d/')).objects).toEqual([]);
    });

    it('deleteMany removes exactly the given keys and tolerates missing ones', async () => {
      expect(store.deleteMany).toBeTypeOf('function');
      const keys = Array.from({ length: 12 }, (_, i) => `dm/${i}`);
      for (const k of keys) await store.put(k, enc(k));
      await store.deleteMany!([...keys.slice(0, 10), 'dm/missing']);
      expect((await store.list('dm/')).objects.map((o) => o.key).sort()).toEqual(['dm/10', 'dm/11']);
      await store.deleteMany!([]);
      expect((await store.list('dm/')).objects).toHaveLength(2);
    });

    it('binary bodies round-trip exactly, including every byte value and empty objects', async () => {
      const every = Uint8Array.from({ length: 512 }, (_, i) => i % 256);
      const big = new Uint8Array(randomBytes(300_000));
      const empty = new Uint8Array(0);
      await store.put('bin/every', every);
      await store.put('bin/big', big);
      await store.put('bin/empty', empty);
      expect(Buffer.from((await store.get('bin/every'))!).equals(Buffer.from(every))).toBe(true);
      expect(Buffer.from((await store.get('bin/big'))!).equals(Buffer.from(big))).toBe(true);
      expect(Buffer.from((await store.get('bin/big', { start: 123_456, end: 200_001 }))!).equals(Buffer.from(big.subarray(123_456, 200_001)))).toBe(true);
      expect(hex(await store.get('bin/empty'))).toBe('');
      expect(hex(await store.get('bin/empty', { start: 0 }))).toBe('');
      expect((await store.head('bin/empty'))?.size).toBe(0);
      expect((await store.head('bin/big'))?.size).toBe(300_000);
    });

    it('keys with spaces, +, =, &, ~ and non-ASCII characters round-trip through put, get and list', async () => {
      const keys = ['odd/a b+c=d&e~f', 'odd/é-ü-日本', "odd/quote'\"<>"];
      for (const k of keys) await store.put(k, enc(`body of ${k}`));
      for (const k of keys) expect(dec(await store.get(k))).toBe(`body of ${k}`);
      const listed = (await store.list('odd/')).objects.map((o) => o.key);
      expect([...listed].sort()).toEqual([...keys].sort());
      await store.delete(keys[0]!);
      expect(await store.get(keys[0]!)).toBeUndefined();
    });

    it('10 concurrent create-only puts of one key: exactly one wins and its bytes are stored', async () => {
      const results = await Promise.allSettled(
        Array.from({ length: 10 }, (_, i) => store.put('race/manifest', enc(`writer ${i}`), { ifNoneMatch: '*' })),
      );
      const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
      expect(winners).toHaveLength(1);
      for (const r of results) {
        if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(PreconditionFailedError);
      }
      expect(dec(await store.get('race/manifest'))).toBe(`writer ${winners[0]}`);
    });
  });
}

// ---------------------------------------------------------------------------------------
// Backends

describeStoreConformance('MemoryStore', async () => new MemoryStore());

let tmpRoot: string | undefined;
describeStoreConformance(
  'LocalStore',
  async () => new LocalStore(await fs.mkdtemp(path.join(tmpRoot!, 'store-')), { fsync: false }),
  {
    setup: async () => {
      tmpRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'shale-objectstore-'));
    },
    teardown: async () => {
      if (tmpRoot) await fs.rm(tmpRoot, { recursive: true, force: true });
    },
  },
);

const BUCKET = 'test';
const KEY_ID = 'test-key';
const SECRET = 'test-secret-never-printed';
let server: S3TestServer;
let prefixSeq = 0;

function s3Options(endpoint: string, extra: Partial<S3StoreOptions> = {}): S3StoreOptions {
  return {
    bucket: BUCKET,
    prefix: `t${++prefixSeq}`,
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    accessKeyId: KEY_ID,
    secretAccessKey: SECRET,
    requestTimeoutMs: 5_000,
    ...extra,
  };
}

describeStoreConformance('S3Store against the test S3 server', async () => new S3Store(s3Options(server.endpoint)), {
  setup: async () => {
    server = await startS3Server({ buckets: [BUCKET], accessKeys: [KEY_ID] });
  },
  teardown: async () => server.close(),
});

// A real endpoint, when configured: SHALE_TEST_S3_URL=s3://bucket/prefix?endpoint=...&region=...
const realUrl = process.env.SHALE_TEST_S3_URL;
const realCreds = Boolean(process.env.AWS_ACCESS_KEY_ID && process.env.AWS_SECRET_ACCESS_KEY) || Boolean(process.env.AWS_PROFILE);
const realSkip = !realUrl
  ? 'SHALE_TEST_S3_URL not set'
  : !realCreds
    ? 'no AWS credentials in the environment (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE)'
    : undefined;
const runId = `shale-test-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
let realSeq = 0;
describeStoreConformance(
  'S3Store against a real endpoint (SHALE_TEST_S3_URL)',
  async () => {
    const spec = parseStoreUrl(realUrl!);
    if (spec.kind !== 's3') throw new Error(`SHALE_TEST_S3_URL must be an s3:// URL, got ${realUrl}`);
    const prefix = [spec.options.prefix, runId, String(++realSeq)].filter(Boolean).join('/');
    return new S3Store({ ...spec.options, prefix, requestTimeoutMs: 30_000 });
  },
  { skipReason: realSkip },
);

// MinIO through testcontainers, when a Docker engine answers.
const dockerSkip = await dockerUnavailableReason();
let minio: { endpoint: string; stop: () => Promise<unknown> } | undefined;
let minioSeq = 0;
describeStoreConformance(
  'S3Store against MinIO via testcontainers',
  async () =>
    new S3Store({
      bucket: 'shale-test',
      prefix: `m${++minioSeq}`,
      endpoint: minio!.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      accessKeyId: 'minioadmin',
      secretAccessKey: 'minioadmin',
    }),
  {
    skipReason: dockerSkip,
    setup: async () => {
      // Imported lazily: loading testcontainers is slow and pointless without Docker.
      const { GenericContainer, Wait } = await import('testcontainers');
      // Pinned: a release with conditional PutObject (If-None-Match / If-Match) support.
      const image = process.env.SHALE_TEST_MINIO_IMAGE ?? 'minio/minio:RELEASE.2025-04-22T22-12-26Z';
      const container = await new GenericContainer(image)
        .withCommand(['server', '/data'])
        .withEnvironment({ MINIO_ROOT_USER: 'minioadmin', MINIO_ROOT_PASSWORD: 'minioadmin' })
        .withExposedPorts(9000)
        .withWaitStrategy(Wait.forHttp('/minio/health/ready', 9000))
        .start();
      const endpoint = `http://${container.getHost()}:${container.getMappedPort(9000)}`;
      minio = { endpoint, stop: () => container.stop() };
      const admin = new S3Client({
        endpoint,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: { accessKeyId: 'minioadmin', secretAccessKey: 'minioadmin' },
      });
      await admin.send(new CreateBucketCommand({ Bucket: 'shale-test' }));
      admin.destroy();
    },
    teardown: async () => {
      await minio?.stop();
    },
  },
);

/**
 * Undefined when a Docker engine answers /_ping quickly, else why not. Without DOCKER_HOST the
 * usual sockets are tried (system, rootless, Docker Desktop); one found off the default path is
 * exported as DOCKER_HOST so testcontainers uses the same engine.
 */
async function dockerUnavailableReason(): Promise<string | undefined> {
  const host = process.env.DOCKER_HOST;
  type Target = { socketPath: string } | { host: string; port: number };
  let targets: Target[];
  if (!host) {
    const home = os.homedir();
    const runtime = process.env.XDG_RUNTIME_DIR;
    targets = [
      '/var/run/docker.sock',
      ...(runtime ? [path.join(runtime, 'docker.sock')] : []),
      path.join(home, '.docker/run/docker.sock'),
      path.join(home, '.docker/desktop/docker.sock'),
    ].map((socketPath) => ({ socketPath }));
  } else if (host.startsWith('unix://')) targets = [{ socketPath: host.slice('unix://'.length) }];
  else if (host.startsWith('tcp://')) {
    const u = new URL(host.replace(/^tcp:/, 'http:'));
    targets = [{ host: u.hostname, port: Number(u.port || 2375) }];
  } else return undefined; // ssh:// and friends: let testcontainers try
  const describeTarget = (t: Target): string => ('socketPath' in t ? t.socketPath : `${t.host}:${t.port}`);
  for (const t of targets) {
    if (await pingDocker(t)) {
      if (!host && 'socketPath' in t && t.socketPath !== '/var/run/docker.sock') process.env.DOCKER_HOST = `unix://${t.socketPath}`;
      return undefined;
    }
  }
  return `no Docker engine reachable at ${targets.map(describeTarget).join(', ')}`;
}

function pingDocker(target: { socketPath: string } | { host: string; port: number }): Promise<boolean> {
  return new Promise((resolve) => {
    const req = httpRequest({ ...target, path: '/_ping', timeout: 1_000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(false));
    req.end();
  });
}

// ---------------------------------------------------------------------------------------
// S3-specific behaviour against the test server

describe('S3Store specifics (test S3 server)', () => {
  let s3: S3TestServer;
  const open: ObjectStore[] = [];
  const track = <T extends ObjectStore>(s: T): T => {
    open.push(s);
    return s;
  };
  const raw = (extra: Partial<S3StoreOptions> = {}): S3Store => track(new S3Store(s3Options(s3.endpoint, extra)));
  const resilient = (inner: S3Store, attempts = 5): ResilientStore =>
    new ResilientStore(inner, { attempts, baseDelayMs: 1, maxDelayMs: 5 });

  beforeAll(async () => {
    s3 = await startS3Server({ buckets: [BUCKET], accessKeys: [KEY_ID], seed: 42 });
  });
  afterAll(async () => {
    await s3.close();
  });
  beforeEach(() => {
    s3.clearFaults();
    s3.resetCounts();
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
  });

  it('stores keys under `${prefix}/` and lists them back without it, isolated from sibling prefixes', async () => {
    const a = raw({ prefix: 'iso' });
    const b = raw({ prefix: '/iso-other/' });
    const root = raw({ prefix: '' });
    await a.put('k', enc('A'));
    await b.put('k', enc('B'));
    await a.put('sub/k2', enc('A2'));
    expect(s3.objects(BUCKET).get('iso/k')?.body.toString()).toBe('A');
    expect(s3.objects(BUCKET).get('iso-other/k')?.body.toString()).toBe('B');
    expect((await a.list('')).objects.map((o) => o.key)).toEqual(['k', 'sub/k2']);
    expect((await b.list('')).objects.map((o) => o.key)).toEqual(['k']);
    expect((await root.list('iso')).objects.map((o) => o.key)).toEqual(['iso-other/k', 'iso/k', 'iso/sub/k2']);
    expect(dec(await root.get('iso/sub/k2'))).toBe('A2');
  });

  it('etags are the quoted md5 of the body; byte counters see the body once each way', async () => {
    const store = raw();
    const body = new Uint8Array(randomBytes(1000));
    const { etag } = await store.put('x', body);
    expect(etag).toBe(md5Etag(body));
    expect(s3.counts.bytesIn).toBe(1000);
    await store.get('x');
    expect(s3.counts.bytesOut).toBe(1000);
    expect(s3.counts).toMatchObject({ PUT: 1, GET: 1 });
  });

  it('ResilientStore retries injected 500s on PUT and counts the retries', async () => {
    const store = resilient(raw());
    s3.setFaults({ ops: ['PUT'], errorRate: 1, limit: 2 });
    const body = enc('survives two 500s');
    await store.put('r/500', body);
    expect(s3.counts.PUT).toBe(3);
    expect(s3.counts.injected.error).toBe(2);
    expect(store.counters).toMatchObject({ puts: 3, retries: 2, failures: 0 });
    expect(dec(await store.get('r/500'))).toBe('survives two 500s');
  });

  it('a 503 SlowDown is a TransientStoreError, and ResilientStore retries it', async () => {
    const inner = raw();
    await inner.put('r/slow', enc('slow'));
    s3.setFaults({ ops: ['GET'], throttleRate: 1, limit: 1 });
    const err = await inner.get('r/slow').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientStoreError);
    expect(String((err as Error).message)).toContain('SlowDown');
    s3.setFaults({ ops: ['GET'], throttleRate: 1, limit: 2 });
    const store = resilient(inner);
    expect(dec(await store.get('r/slow'))).toBe('slow');
    expect(store.counters.retries).toBe(2);
    expect(s3.counts.injected.throttle).toBe(3);
  });

  it('503 ServiceUnavailable and dropped connections on LIST/HEAD/DELETE are retried', async () => {
    const store = resilient(raw());
    await store.put('r/a', enc('a'));
    s3.setFaults({ ops: ['LIST'], dropRate: 1, limit: 2 });
    expect((await store.list('r/')).objects.map((o) => o.key)).toEqual(['r/a']);
    s3.setFaults({ ops: ['HEAD'], errorRate: 1, errorStatus: 503, limit: 1 });
    expect((await store.head('r/a'))?.size).toBe(1);
    s3.setFaults({ ops: ['DELETE'], dropRate: 1, limit: 1 });
    await store.delete('r/a');
    expect(await store.head('r/a')).toBeUndefined();
    expect(s3.counts.injected).toMatchObject({ drop: 3, error: 1 });
    expect(store.counters.retries).toBe(4);
  });

  it('gives up after the configured attempts with a TransientStoreError', async () => {
    const store = resilient(raw(), 3);
    s3.setFaults({ ops: ['GET'], errorRate: 1 });
    await expect(store.get('r/never')).rejects.toBeInstanceOf(TransientStoreError);
    expect(s3.counts.GET).toBe(3);
    expect(store.counters).toMatchObject({ retries: 2, failures: 1 });
  });

  it('permanent errors (bad credentials) are not retried', async () => {
    const store = resilient(raw({ accessKeyId: 'WRONG' }));
    const err = await store.put('r/denied', enc('x')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(TransientStoreError);
    expect((err as Error).message).toContain('InvalidAccessKeyId');
    expect((err as Error).message).not.toContain(SECRET);
    expect(s3.counts.PUT).toBe(1);
    expect(store.counters.retries).toBe(0);
  });

  it('a create-only put applied server-side whose response was lost is recognised as our own success', async () => {
    const inner = raw();
    const body = enc('epoch 7 manifest');
    // Without retries the caller only sees an ambiguous transport failure...
    s3.setFaults({ ops: ['PUT'], applyThenDropRate: 1, limit: 1 });
    await expect(inner.put('amb/raw', body, { ifNoneMatch: '*' })).rejects.toBeInstanceOf(TransientStoreError);
    expect(s3.objects(BUCKET).get(`${inner.prefix}/amb/raw`)?.body.toString()).toBe('epoch 7 manifest');
    // ...ResilientStore retries, gets 412, reads the object back and finds its own bytes.
    const store = resilient(inner);
    s3.setFaults({ ops: ['PUT'], applyThenDropRate: 1, limit: 1 });
    const { etag } = await store.put('amb/mine', body, { ifNoneMatch: '*' });
    expect(etag).toBe(md5Etag(body));
    expect(s3.counts.injected.applyThenDrop).toBe(2);
    expect(store.counters.retries).toBe(1);
  });

  it("a competitor's object is not mistaken for ours after an ambiguous create-only put", async () => {
    const inner = raw();
    s3.putObject(BUCKET, `${inner.prefix}/amb/theirs`, enc('epoch 8 manifest (competitor)'));
    const store = resilient(inner);
    s3.setFaults({ ops: ['PUT'], applyThenDropRate: 1, limit: 1 });
    await expect(store.put('amb/theirs', enc('epoch 7 manifest'), { ifNoneMatch: '*' })).rejects.toBeInstanceOf(
      PreconditionFailedError,
    );
    expect(s3.counts.PUT).toBe(2);
    expect(dec(await store.get('amb/theirs'))).toBe('epoch 8 manifest (competitor)');
  });

  it('409 ConditionalRequestConflict on a conditional put is a PreconditionFailedError', async () => {
    const store = raw();
    s3.setFaults({ ops: ['PUT'], conflictRate: 1 });
    await expect(store.put('c/1', enc('x'), { ifNoneMatch: '*' })).rejects.toBeInstanceOf(PreconditionFailedError);
    expect(await store.get('c/1')).toBeUndefined();
    // Unconditional puts are never conflicted.
    await store.put('c/2', enc('y'));
    expect(s3.counts.injected.conflict).toBe(1);
  });

  it('the per-request timeout fires against injected latency, and a retry then succeeds', async () => {
    const inner = raw({ requestTimeoutMs: 200 });
    await inner.put('slow/k', enc('eventually'));
    s3.setFaults({ ops: ['GET'], latencyMs: 1_500 });
    const t0 = Date.now();
    const err = await inner.get('slow/k').catch((e: unknown) => e);
    expect(Date.now() - t0).toBeLessThan(1_200);
    expect(err).toBeInstanceOf(TransientStoreError);
    expect(((err as Error).cause as Error).name).toBe('TimeoutError');
    let calls = 0;
    s3.setFaults({ ops: ['GET'], latencyMs: () => (++calls === 1 ? 1_500 : 0) });
    const store = resilient(inner);
    expect(dec(await store.get('slow/k'))).toBe('eventually');
    expect(store.counters.retries).toBe(1);
  });

  it('checkAccess passes with a good configuration', async () => {
    await raw().checkAccess();
    await checkStoreAccess(raw());
    expect(s3.counts.LIST).toBe(2);
  });

  it('checkAccess: wrong credentials give one clear line, without the secret', async () => {
    const err = await raw({ accessKeyId: 'AKIAWRONG' }).checkAccess().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreAccessError);
    const msg = (err as Error).message;
    expect(msg).toMatch(/^S3 access denied for bucket "test" at http:\/\/127\.0\.0\.1:\d+ \(InvalidAccessKeyId\): check credentials$/);
    expect(msg).not.toContain(SECRET);
  });

  it('checkAccess: a missing bucket and an unreachable endpoint give one clear line each', async () => {
    const missing = await raw({ bucket: 'no-such-bucket' }).checkAccess().catch((e: unknown) => e);
    expect((missing as Error).message).toMatch(/^S3 bucket "no-such-bucket" does not exist at http:\/\/127\.0\.0\.1:\d+$/);
    const dead = await startS3Server();
    await dead.close();
    const unreachable = await raw({ endpoint: dead.endpoint }).checkAccess().catch((e: unknown) => e);
    expect(unreachable).toBeInstanceOf(StoreAccessError);
    expect((unreachable as Error).message).toMatch(/^S3 endpoint http:\/\/127\.0\.0\.1:\d+ is unreachable: ECONNREFUSED/);
    expect((unreachable as Error).message).not.toContain('\n');
  });

  it('virtual-host-style addressing works end to end (bucket.localhost:PORT)', async () => {
    const store = raw({ endpoint: `http://localhost:${s3.port}`, forcePathStyle: false });
    await store.put('vh/k', enc('virtual'));
    expect(dec(await store.get('vh/k', { start: 1 }))).toBe('irtual');
    expect((await store.list('vh/')).objects.map((o) => o.key)).toEqual(['vh/k']);
    await store.delete('vh/k');
    expect(s3.counts.virtualHostRequests).toBe(4);
    expect(s3.objects(BUCKET).has(`${store.prefix}/vh/k`)).toBe(false);
    // And the raw form: a Host header naming the bucket, the path naming only the key.
    s3.putObject(BUCKET, 'vh raw/key', enc('by host header'));
    const res = await rawRequest(s3, { method: 'GET', path: '/vh%20raw/key', headers: { host: `${BUCKET}.localhost:${s3.port}`, authorization: auth() } });
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('by host header');
  });

  it('the server demands an Authorization header and answers S3 XML errors', async () => {
    const res = await rawRequest(s3, { method: 'GET', path: `/${BUCKET}/anything` });
    expect(res.status).toBe(403);
    expect(res.body.toString()).toContain('<Code>AccessDenied</Code>');
    const missing = await rawRequest(s3, { method: 'GET', path: `/${BUCKET}/missing`, headers: { authorization: auth() } });
    expect(missing.status).toBe(404);
    expect(missing.body.toString()).toContain('<Code>NoSuchKey</Code>');
  });

  it("the SDK's aws-chunked streaming upload (with a CRC32 trailer) is decoded", async () => {
    const client = new S3Client({
      endpoint: s3.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: KEY_ID, secretAccessKey: SECRET },
    });
    const parts = [randomBytes(70_000), randomBytes(5), randomBytes(40_000)];
    const total = Buffer.concat(parts);
    await client.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: 'chunked/obj', Body: Readable.from(parts), ContentLength: total.length }),
    );
    client.destroy();
    expect(s3.counts.chunkedUploads).toBe(1);
    expect(s3.counts.bytesIn).toBeGreaterThan(total.length);
    const store = raw({ prefix: 'chunked' });
    expect(Buffer.from((await store.get('obj'))!).equals(total)).toBe(true);
  });

  it('signed aws-chunked framing is decoded and a wrong trailer checksum is rejected', async () => {
    const data = Buffer.from('signed chunk payload');
    const framed = (crc: string): Buffer =>
      Buffer.concat([
        Buffer.from(`${data.length.toString(16)};chunk-signature=${'a'.repeat(64)}\r\n`),
        data,
        Buffer.from(`\r\n0;chunk-signature=${'b'.repeat(64)}\r\nx-amz-checksum-crc32:${crc}\r\nx-amz-trailer-signature:${'c'.repeat(64)}\r\n\r\n`),
      ]);
    const good = Buffer.alloc(4);
    good.writeUInt32BE(crc32(data));
    const headers = {
      authorization: auth(),
      'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER',
      'content-encoding': 'aws-chunked',
      'x-amz-decoded-content-length': String(data.length),
      'x-amz-trailer': 'x-amz-checksum-crc32',
    };
    const ok = await rawRequest(s3, { method: 'PUT', path: `/${BUCKET}/signed/ok`, headers, body: framed(good.toString('base64')) });
    expect(ok.status).toBe(200);
    expect(s3.objects(BUCKET).get('signed/ok')?.body.equals(data)).toBe(true);
    const bad = await rawRequest(s3, { method: 'PUT', path: `/${BUCKET}/signed/bad`, headers, body: framed('AAAAAA==') });
    expect(bad.status).toBe(400);
    expect(bad.body.toString()).toContain('<Code>BadDigest</Code>');
    expect(s3.objects(BUCKET).has('signed/bad')).toBe(false);
  });

  it('full-object GETs are checksum-validated by the SDK: a corrupted stored body is detected', async () => {
    const store = raw();
    await store.put('integrity/k', enc('pristine bytes'));
    const obj = s3.objects(BUCKET).get(`${store.prefix}/integrity/k`)!;
    expect(obj.checksums['x-amz-checksum-crc32']).toBeDefined();
    obj.body = Buffer.from('corrupt! bytes');
    await expect(store.get('integrity/k')).rejects.toThrow(/checksum/i);
  });

  it('deleteMany sends one DeleteObjects request per 1000 keys', async () => {
    const store = raw();
    const keys = Array.from({ length: 2500 }, (_, i) => `many/${String(i).padStart(5, '0')}`);
    for (const k of keys) s3.putObject(BUCKET, `${store.prefix}/${k}`, enc(k));
    s3.putObject(BUCKET, `${store.prefix}/keep`, enc('keep'));
    await store.deleteMany([...keys, 'many/not-there']);
    expect(s3.counts.DELETE).toBe(3);
    expect((await store.list('')).objects.map((o) => o.key)).toEqual(['keep']);
  });

  it('ResilientStore.deleteMany retries a dropped DeleteObjects batch', async () => {
    const inner = raw();
    for (const k of ['a', 'b', 'c']) await inner.put(k, enc(k));
    const store = resilient(inner);
    s3.setFaults({ ops: ['DELETE'], applyThenDropRate: 1, limit: 1 });
    await store.deleteMany(['a', 'b']);
    expect(store.counters.retries).toBe(1);
    expect((await inner.list('')).objects.map((o) => o.key)).toEqual(['c']);
  });

  it('faults are deterministic for a given seed and can be limited to a key prefix', async () => {
    const pattern = async (): Promise<string> => {
      const srv = await startS3Server({ buckets: [BUCKET], seed: 7 });
      const store = new S3Store(s3Options(srv.endpoint, { prefix: '' }));
      srv.putObject(BUCKET, 'f/k', enc('x'));
      srv.putObject(BUCKET, 'g/k', enc('y'));
      srv.setFaults({ errorRate: 0.5, keyPrefix: 'f/' });
      let out = '';
      for (let i = 0; i < 24; i++) out += (await store.get('f/k').then(() => '.', () => 'x'));
      for (let i = 0; i < 5; i++) expect(dec(await store.get('g/k'))).toBe('y');
      await store.close();
      await srv.close();
      return out;
    };
    const a = await pattern();
    expect(a).toMatch(/x/);
    expect(a).toMatch(/\./);
    expect(await pattern()).toBe(a);
  });
});

// ---------------------------------------------------------------------------------------
// Store URLs

describe('store URLs', () => {
  it('parses s3:// URLs with bucket, prefix and parameters', () => {
    expect(
      parseStoreUrl('s3://my-bucket/some/prefix/?endpoint=http://127.0.0.1:9000&region=eu-west-1&forcePathStyle=false&requestTimeoutMs=1500'),
    ).toEqual({
      kind: 's3',
      options: {
        bucket: 'my-bucket',
        prefix: 'some/prefix',
        endpoint: 'http://127.0.0.1:9000',
        region: 'eu-west-1',
        forcePathStyle: false,
        requestTimeoutMs: 1500,
      },
    });
    expect(parseStoreUrl('s3://b')).toEqual({ kind: 's3', options: { bucket: 'b', prefix: '' } });
    expect(parseStoreUrl('s3://b/my%20data')).toMatchObject({ options: { prefix: 'my data' } });
    // A custom endpoint defaults to path style; AWS itself does not.
    expect(parseStoreUrl('s3://b/p?endpoint=https://minio.internal:9000')).toMatchObject({ options: { forcePathStyle: true } });
    expect(parseStoreUrl('s3://b/p?endpoint=https://x.example&forcePathStyle=0')).toMatchObject({ options: { forcePathStyle: false } });
    expect(parseStoreUrl('s3://b/p?maxSockets=8&connectTimeoutMs=250')).toMatchObject({ options: { maxSockets: 8, connectTimeoutMs: 250 } });
  });

  it('parses memory://, file:// URLs and plain paths', () => {
    expect(parseStoreUrl('memory://')).toEqual({ kind: 'memory' });
    expect(parseStoreUrl('memory:')).toEqual({ kind: 'memory' });
    expect(parseStoreUrl('file:///var/lib/shale')).toEqual({ kind: 'local', root: '/var/lib/shale' });
    expect(parseStoreUrl('file:///tmp/with%20space')).toEqual({ kind: 'local', root: '/tmp/with space' });
    expect(parseStoreUrl('/abs/dir')).toEqual({ kind: 'local', root: '/abs/dir' });
    expect(parseStoreUrl('data/shale')).toEqual({ kind: 'local', root: path.resolve('data/shale') });
  });

  it('rejects malformed URLs with one clear line', () => {
    const bad: [string, RegExp][] = [
      ['', /empty store URL/],
      ['s3://', /needs a bucket/],
      ['s3://b/p?endpoit=http://x', /unknown s3 URL parameter "endpoit"/],
      ['s3://AKIA:secret@b/p', /credentials do not belong/],
      ['s3://b:9000/p', /put the endpoint in \?endpoint=/],
      ['s3://b?forcePathStyle=maybe', /must be true or false/],
      ['s3://b?endpoint=ftp://x', /must be an http\(s\) URL/],
      ['s3://b?requestTimeoutMs=-5', /positive integer/],
      ['gs://b/p', /unsupported store URL scheme "gs:"/],
      ['memory://named', /takes no name/],
      ['file://otherhost/x', /bad file URL/],
    ];
    for (const [spec, re] of bad) {
      expect(() => parseStoreUrl(spec), spec).toThrow(re);
      try {
        parseStoreUrl(spec);
      } catch (e) {
        expect((e as Error).message).not.toContain('\n');
        expect((e as Error).message).not.toContain('secret');
      }
    }
  });

  it('openStore returns the raw backend each URL names, and the S3 one works', async () => {
    expect(openStore('memory://')).toBeInstanceOf(MemoryStore);
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'shale-url-'));
    try {
      const local = openStore(`file://${dir}`);
      expect(local).toBeInstanceOf(LocalStore);
      expect((local as LocalStore).root).toBe(dir);
      expect(openStore(dir)).toBeInstanceOf(LocalStore);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
    const srv = await startS3Server({ buckets: ['ub'] });
    try {
      const s3 = openStore(`s3://ub/base/dir?endpoint=${srv.endpoint}`, {
        s3: { accessKeyId: 'k', secretAccessKey: 's', prefix: 'ignored' },
      });
      expect(s3).toBeInstanceOf(S3Store);
      await checkStoreAccess(s3);
      await s3.put('obj', enc('via url'));
      expect(srv.objects('ub').get('base/dir/obj')?.body.toString()).toBe('via url');
      await s3.close();
    } finally {
      await srv.close();
    }
  });
});

// ---------------------------------------------------------------------------------------

function auth(keyId = KEY_ID): string {
  return `AWS4-HMAC-SHA256 Credential=${keyId}/20250101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=${'0'.repeat(64)}`;
}

function rawRequest(
  srv: S3TestServer,
  r: { method: string; path: string; headers?: Record<string, string>; body?: Buffer },
): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port: srv.port, method: r.method, path: r.path, headers: { ...r.headers, 'content-length': String(r.body?.length ?? 0) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(r.body);
  });
}
