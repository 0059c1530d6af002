/**
 * S3 Express One Zone directory buckets list keys in no particular order, refuse StartAfter
 * and accept only '/'-ended prefixes. An HTTP proxy in front of the S3 test server behaves
 * that way (it reverses every listing and rejects the rest with 400), and S3Store in
 * directory-bucket mode still gives the engine sorted, paginated listings: the engine finds its
 * latest manifest and reopens with all its data. Also the URL rules for directory buckets.
 */
import { request as httpRequest, createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/engine/index.ts';
import { S3Store } from '../src/engine/objectstore/s3.ts';
import { listAll } from '../src/engine/objectstore/types.ts';
import { parseStoreUrl } from '../src/engine/objectstore/url.ts';
import { type S3TestServer, startS3Server } from './support/s3-server.ts';

const BUCKET = 'express';
let s3: S3TestServer;
let proxy: Server;
let endpoint: string;
const rejected: string[] = [];

const badRequest = (code: string) =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>not supported for directory buckets</Message></Error>`;

/** Forwards to the test server, reversing listings and refusing what directory buckets refuse. */
function directoryBucketProxy(target: number): Server {
  return createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const isList = req.method === 'GET' && url.searchParams.get('list-type') === '2';
    const prefix = url.searchParams.get('prefix');
    if (isList && (url.searchParams.has('start-after') || (prefix !== null && prefix !== '' && !prefix.endsWith('/')))) {
      rejected.push(req.url ?? '');
      res.writeHead(400, { 'content-type': 'application/xml' });
      return void res.end(badRequest('InvalidArgument'));
    }
    const up = httpRequest({ port: target, host: '127.0.0.1', method: req.method, path: req.url, headers: req.headers }, (upRes) => {
      const chunks: Buffer[] = [];
      upRes.on('data', (c: Buffer) => chunks.push(c));
      upRes.on('end', () => {
        let body = Buffer.concat(chunks);
        if (isList && upRes.statusCode === 200) {
          const xml = body.toString('utf8');
          const items = xml.match(/<Contents>[\s\S]*?<\/Contents>/g) ?? [];
          const first = xml.indexOf('<Contents>');
          const rest = xml.replace(/<Contents>[\s\S]*?<\/Contents>/g, '');
          body = Buffer.from(first < 0 ? xml : rest.slice(0, first) + items.reverse().join('') + rest.slice(first), 'utf8');
        }
        res.writeHead(upRes.statusCode ?? 500, { ...upRes.headers, 'content-length': String(body.length) });
        res.end(body);
      });
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
}

beforeAll(async () => {
  s3 = await startS3Server({ buckets: [BUCKET] });
  proxy = directoryBucketProxy(s3.port);
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  endpoint = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((r) => proxy.close(() => r()));
  await s3.close();
});

const store = (prefix: string, directoryBucket = true) =>
  new S3Store({
    bucket: BUCKET,
    prefix,
    endpoint,
    forcePathStyle: true,
    region: 'us-east-1',
    accessKeyId: 'k',
    secretAccessKey: 's',
    directoryBucket,
  });

describe('S3Store on a directory bucket (unordered listings, no StartAfter)', () => {
  it('the proxy really behaves like a directory bucket: plain mode gets reversed or refused listings', async () => {
    const plain = store('plain', false);
    for (const k of ['a/1', 'a/2', 'a/3']) await plain.put(k, new Uint8Array([1]));
    expect((await plain.list('a/')).objects.map((o) => o.key)).toEqual(['a/3', 'a/2', 'a/1']);
    await expect(plain.list('a/', { startAfter: 'a/1' })).rejects.toThrow(/InvalidArgument/);
    await plain.close();
  });

  it('lists in key order, paginates with limit and startAfter, and filters partial prefixes', async () => {
    const st = store('dir');
    const keys = Array.from({ length: 23 }, (_, i) => `p/${String(i).padStart(3, '0')}`);
    await Promise.all(keys.map((k) => st.put(k, new Uint8Array([7]))));
    await st.put('q/outside', new Uint8Array([1]));
    await st.put('p0-sibling', new Uint8Array([1]));
    rejected.length = 0;
    expect((await st.list('p/')).objects.map((o) => o.key)).toEqual(keys);
    const seen: string[] = [];
    let after: string | undefined;
    do {
      const page = await st.list('p/', { limit: 5, startAfter: after });
      expect(page.objects.length).toBeLessThanOrEqual(5);
      seen.push(...page.objects.map((o) => o.key));
      after = page.nextStartAfter;
    } while (after !== undefined);
    expect(seen).toEqual(keys);
    expect((await st.list('p/01')).objects.map((o) => o.key)).toEqual(keys.slice(10, 20));
    expect((await st.list('p', { startAfter: 'p/021' })).objects.map((o) => o.key)).toEqual(['p/022', 'p0-sibling']);
    const all: string[] = [];
    for await (const o of listAll(st, '')) all.push(o.key);
    expect(all).toEqual([...keys, 'p0-sibling', 'q/outside']);
    // Nothing was sent that a directory bucket refuses.
    expect(rejected).toEqual([]);
    await st.close();
  });

  it('the engine reopens from the latest of many manifests, with all its data', async () => {
    const options = { gcIntervalMs: 0, workers: 'inline' as const, memtableBytes: 4096, flushIntervalMs: 1 };
    for (let round = 0; round < 4; round++) {
      const e = await Engine.open({ store: store('engine'), ...options });
      let seq = 0;
      for (let i = 0; i < 100; i++) seq = e.put(`r${round}-${i}`, Buffer.from(`v${round}-${i}`));
      await e.awaitDurable(seq);
      await e.close();
    }
    const e = await Engine.open({ store: store('engine'), ...options });
    try {
      expect(e.shape.manifestId).toBeGreaterThan(8);
      for (let round = 0; round < 4; round++) {
        for (let i = 0; i < 100; i += 11) expect(Buffer.from((await e.get(`r${round}-${i}`))!).toString()).toBe(`v${round}-${i}`);
      }
    } finally {
      await e.close();
    }
    expect(rejected).toEqual([]);
  });
});

describe('store URLs for directory buckets', () => {
  it('use virtual-host style even with an endpoint, and refuse forcePathStyle=true', () => {
    const zonal = 'https://s3express-usw2-az1.us-west-2.amazonaws.com';
    const spec = parseStoreUrl(`s3://shale--usw2-az1--x-s3/db?endpoint=${zonal}&region=us-west-2`);
    expect(spec).toEqual({
      kind: 's3',
      options: { bucket: 'shale--usw2-az1--x-s3', prefix: 'db', endpoint: zonal, region: 'us-west-2', forcePathStyle: false },
    });
    expect(() => parseStoreUrl('s3://shale--usw2-az1--x-s3/db?forcePathStyle=true')).toThrow(/directory bucket .*virtual-host style/);
    // An ordinary bucket with an endpoint keeps the path-style default.
    expect(parseStoreUrl('s3://plain/db?endpoint=http://127.0.0.1:9000')).toMatchObject({ options: { forcePathStyle: true } });
    expect(new S3Store({ bucket: 'shale--usw2-az1--x-s3', region: 'us-west-2' }).directoryBucket).toBe(true);
    expect(new S3Store({ bucket: 'plain', region: 'us-west-2' }).directoryBucket).toBe(false);
  });
});
