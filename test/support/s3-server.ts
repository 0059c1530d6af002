/**
 * A small S3-compatible HTTP server for tests (node:http only), speaking the REST protocol the
 * way the real AWS SDK v3 sends it, so S3Store is tested over real HTTP with the real SDK.
 *
 *   const s3 = await startS3Server({ buckets: ['b'], accessKeys: ['test-key'] });
 *   new S3Store({ bucket: 'b', endpoint: s3.endpoint, forcePathStyle: true, ... });
 *   s3.setFaults({ ops: ['PUT'], errorRate: 1, limit: 2 });   // the next two PUTs get a 500
 *   s3.counts.PUT; s3.counts.bytesIn; await s3.close();
 *
 * Addressing: path style (`/bucket/key`) and virtual-host style (`Host: bucket.localhost:PORT`).
 * Operations: CreateBucket, HeadBucket, PutObject (If-None-Match: *, If-Match), GetObject
 * (Range: 206 + Content-Range, 416 when unsatisfiable), HeadObject, ListObjectsV2 (prefix,
 * start-after, continuation-token, max-keys, encoding-type=url), DeleteObject, DeleteObjects
 * (Quiet). Request bodies may use the SDK's aws-chunked framing (signed or unsigned, with
 * checksum trailers); Content-MD5 and x-amz-checksum-{crc32,sha1,sha256} are verified (400
 * BadDigest), and stored checksums are returned on full GET/HEAD when checksum mode is on.
 * Errors carry S3's XML bodies (<Error><Code>NoSuchKey</Code>...) so the SDK maps them.
 * ETags are quoted md5 hex. Signatures are not verified, but an Authorization header (or
 * presigned X-Amz-Credential) is required (403 AccessDenied), and when `accessKeys` is given the
 * access key id must be one of them (403 InvalidAccessKeyId).
 *
 * Faults (setFaults/clearFaults, at run time), optionally filtered by operation and key prefix
 * (for LIST the prefix parameter is matched): latency (fixed ms or a function), 500/503 errors,
 * 503 SlowDown throttling, dropped connections (socket destroyed before the request is applied),
 * apply-then-drop (applied, then the socket is destroyed before the response: the ambiguous
 * failure), 409 ConditionalRequestConflict on conditional PUTs, and `limit` to stop after N
 * injected failures. One random draw per request decides, from a seeded RNG when `seed` is set.
 */
import { createHash, randomUUID } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { crc32 } from 'node:zlib';
import { rng } from './gen.ts';

export type S3Op = 'GET' | 'PUT' | 'HEAD' | 'LIST' | 'DELETE' | 'BUCKET';

export interface S3RequestInfo {
  op: S3Op;
  method: string;
  bucket: string;
  /** The object key; for LIST the prefix parameter; '' for bucket-level requests. */
  key: string;
  headers: IncomingMessage['headers'];
}

export interface FaultConfig {
  /** Only requests of these operations are affected (default: all). */
  ops?: readonly S3Op[];
  /** Only requests whose key starts with this are affected. */
  keyPrefix?: string;
  /** Delay before the request is handled. */
  latencyMs?: number | ((r: S3RequestInfo) => number);
  /** Probability of an error response with errorStatus (500 InternalError by default). */
  errorRate?: number;
  errorStatus?: 500 | 503;
  /** Probability of a 503 SlowDown. */
  throttleRate?: number;
  /** Probability that the connection is destroyed before the request is applied. */
  dropRate?: number;
  /** Probability that the request is applied and then the connection destroyed. */
  applyThenDropRate?: number;
  /** Probability of a 409 ConditionalRequestConflict for a conditional PUT. */
  conflictRate?: number;
  /** Inject at most this many more failures (latency is not counted), then stop. */
  limit?: number;
}

export type FaultKind = 'latency' | 'error' | 'throttle' | 'drop' | 'applyThenDrop' | 'conflict';

export interface S3Counts extends Record<S3Op, number> {
  /** Raw request body bytes received and response body bytes sent. */
  bytesIn: number;
  bytesOut: number;
  virtualHostRequests: number;
  chunkedUploads: number;
  injected: Record<FaultKind, number>;
}

export interface StoredObject {
  body: Buffer;
  etag: string;
  lastModified: Date;
  contentType: string;
  /** Checksum headers given at upload, e.g. { 'x-amz-checksum-crc32': 'base64' }. */
  checksums: Record<string, string>;
}

export interface S3ServerOptions {
  /** Buckets that exist from the start. */
  buckets?: string[];
  /** Valid access key ids; any key id is accepted when omitted. */
  accessKeys?: string[];
  /** Seed for the fault RNG (deterministic runs); Math.random when omitted. */
  seed?: number;
  /** Host suffix that marks virtual-host-style requests (default 'localhost'). */
  virtualHostSuffix?: string;
}

export interface S3TestServer {
  /** http://127.0.0.1:PORT */
  endpoint: string;
  port: number;
  counts: S3Counts;
  readonly faults: FaultConfig;
  setFaults(f: FaultConfig): void;
  clearFaults(): void;
  resetCounts(): void;
  createBucket(name: string): void;
  /** Direct access to a bucket's objects (seeding, inspection), bypassing HTTP. */
  objects(bucket: string): Map<string, StoredObject>;
  putObject(bucket: string, key: string, body: Uint8Array): StoredObject;
  close(): Promise<void>;
}

const XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/';
const MAX_KEYS = 1000;
const VERIFIED_CHECKSUMS: Record<string, (b: Buffer) => string> = {
  'x-amz-checksum-crc32': (b) => {
    const out = Buffer.alloc(4);
    out.writeUInt32BE(crc32(b));
    return out.toString('base64');
  },
  'x-amz-checksum-sha1': (b) => createHash('sha1').update(b).digest('base64'),
  'x-amz-checksum-sha256': (b) => createHash('sha256').update(b).digest('base64'),
};
const CHECKSUM_HEADERS = [
  'x-amz-checksum-crc32',
  'x-amz-checksum-crc32c',
  'x-amz-checksum-crc64nvme',
  'x-amz-checksum-sha1',
  'x-amz-checksum-sha256',
];

class S3Error extends Error {
  readonly status: number;
  readonly code: string;
  readonly extra: Record<string, string>;
  constructor(status: number, code: string, message: string, extra: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.extra = extra;
  }
}

export async function startS3Server(options: S3ServerOptions = {}): Promise<S3TestServer> {
  const buckets = new Map<string, Map<string, StoredObject>>();
  for (const b of options.buckets ?? []) buckets.set(b, new Map());
  const accessKeys = options.accessKeys ? new Set(options.accessKeys) : undefined;
  const vhostSuffix = `.${options.virtualHostSuffix ?? 'localhost'}`;
  const random = options.seed === undefined ? Math.random : rng(options.seed);
  let faults: FaultConfig = {};
  const counts = newCounts();
  const sockets = new Set<Socket>();

  const bucketOf = (name: string): Map<string, StoredObject> => {
    const b = buckets.get(name);
    if (!b) throw new S3Error(404, 'NoSuchBucket', 'The specified bucket does not exist', { BucketName: name });
    return b;
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (res.headersSent || req.socket.destroyed) return;
      sendError(res, req, e instanceof S3Error ? e : new S3Error(500, 'InternalError', String(e)));
    });
  });
  // Long keep-alive so the client never races the server closing an idle socket (that would
  // surface as a spurious ECONNRESET in tests that run without retries).
  server.keepAliveTimeout = 60_000;
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.setHeader('x-amz-request-id', randomUUID());
    const raw = await readBody(req);
    counts.bytesIn += raw.length;
    const route = parseRoute(req, vhostSuffix);
    if (route.virtualHost) counts.virtualHostRequests++;
    const info: S3RequestInfo = {
      op: route.op,
      method: req.method ?? 'GET',
      bucket: route.bucket,
      key: route.op === 'LIST' ? (route.query.get('prefix') ?? '') : route.key,
      headers: req.headers,
    };
    counts[route.op]++;

    const f = faults;
    const hit =
      (f.ops === undefined || f.ops.includes(info.op)) &&
      (f.keyPrefix === undefined || info.key.startsWith(f.keyPrefix));
    if (hit && f.latencyMs !== undefined) {
      const ms = typeof f.latencyMs === 'function' ? f.latencyMs(info) : f.latencyMs;
      if (ms > 0) {
        counts.injected.latency++;
        await new Promise((r) => setTimeout(r, ms));
      }
    }
    const fault = hit ? pickFault(f, info) : undefined;
    if (fault) {
      counts.injected[fault]++;
      if (f.limit !== undefined) f.limit--;
    }
    if (fault === 'drop') return void req.socket.destroy();
    if (fault === 'error') {
      const status = f.errorStatus ?? 500;
      const code = status === 500 ? 'InternalError' : 'ServiceUnavailable';
      return sendError(res, req, new S3Error(status, code, 'Injected failure'));
    }
    if (fault === 'throttle') return sendError(res, req, new S3Error(503, 'SlowDown', 'Please reduce your request rate.'));
    if (fault === 'conflict') {
      return sendError(res, req, new S3Error(409, 'ConditionalRequestConflict', 'A conflicting operation occurred.'));
    }

    let reply: Reply;
    try {
      checkAuth(req, route.query, accessKeys);
      reply = dispatch(route, req, raw);
    } catch (e) {
      if (!(e instanceof S3Error)) throw e;
      if (fault === 'applyThenDrop') return void req.socket.destroy();
      return sendError(res, req, e);
    }
    if (fault === 'applyThenDrop') return void req.socket.destroy();
    // A client that gave up (timeout) still had its request applied, as on real S3.
    if (req.socket.destroyed) return;
    res.writeHead(reply.status, { 'content-length': String(reply.body?.length ?? 0), ...reply.headers });
    if (req.method === 'HEAD' || !reply.body) return void res.end();
    counts.bytesOut += reply.body.length;
    res.end(reply.body);
  }

  function pickFault(f: FaultConfig, info: S3RequestInfo): FaultKind | undefined {
    if (f.limit !== undefined && f.limit <= 0) return undefined;
    const conditionalPut = info.op === 'PUT' && (info.headers['if-none-match'] !== undefined || info.headers['if-match'] !== undefined);
    const table: [FaultKind, number][] = [
      ['drop', f.dropRate ?? 0],
      ['applyThenDrop', f.applyThenDropRate ?? 0],
      ['error', f.errorRate ?? 0],
      ['throttle', f.throttleRate ?? 0],
      ['conflict', conditionalPut ? (f.conflictRate ?? 0) : 0],
    ];
    if (table.every(([, p]) => p <= 0)) return undefined;
    let r = random();
    for (const [kind, p] of table) {
      if (r < p) return kind;
      r -= p;
    }
    return undefined;
  }

  function dispatch(route: Route, req: IncomingMessage, raw: Buffer): Reply {
    const { bucket, key, query } = route;
    const method = req.method ?? 'GET';
    if (bucket === '') throw new S3Error(501, 'NotImplemented', 'ListBuckets is not implemented');
    if (key === '') {
      if (method === 'PUT') {
        if (!buckets.has(bucket)) buckets.set(bucket, new Map());
        return { status: 200, headers: { location: `/${bucket}` } };
      }
      if (method === 'HEAD') {
        bucketOf(bucket);
        return { status: 200, headers: {} };
      }
      if (method === 'GET') return listObjectsV2(bucket, bucketOf(bucket), query);
      if (method === 'POST' && query.has('delete')) return deleteObjects(bucketOf(bucket), req, raw);
      throw new S3Error(501, 'NotImplemented', `${method} on a bucket is not implemented`);
    }
    const objects = bucketOf(bucket);
    switch (method) {
      case 'PUT':
        return putObject(objects, key, req, raw);
      case 'GET':
      case 'HEAD':
        return getObject(objects, key, req);
      case 'DELETE':
        objects.delete(key);
        return { status: 204, headers: {} };
      default:
        throw new S3Error(405, 'MethodNotAllowed', `${method} is not allowed on an object`);
    }
  }

  function putObject(objects: Map<string, StoredObject>, key: string, req: IncomingMessage, raw: Buffer): Reply {
    if (req.headers['x-amz-copy-source']) throw new S3Error(501, 'NotImplemented', 'CopyObject is not implemented');
    const { body, trailers } = decodeBody(req, raw, counts);
    const checksums = verifyChecksums(req, body, trailers);
    // Conditions are checked after the whole body arrived and applied synchronously, so
    // concurrent conditional puts are atomic (exactly one create-only put wins).
    const cur = objects.get(key);
    const inm = header(req, 'if-none-match');
    const im = header(req, 'if-match');
    if (inm !== undefined) {
      if (inm !== '*') throw new S3Error(501, 'NotImplemented', 'If-None-Match supports only *');
      if (cur) throw new S3Error(412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', { Condition: 'If-None-Match' });
    }
    if (im !== undefined) {
      if (!cur) throw new S3Error(404, 'NoSuchKey', 'The specified key does not exist.', { Key: key });
      if (unquote(im) !== unquote(cur.etag)) {
        throw new S3Error(412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', { Condition: 'If-Match' });
      }
    }
    const obj = store(objects, key, body, header(req, 'content-type') ?? 'binary/octet-stream', checksums);
    return { status: 200, headers: { etag: obj.etag, ...checksums } };
  }

  function getObject(objects: Map<string, StoredObject>, key: string, req: IncomingMessage): Reply {
    const obj = objects.get(key);
    if (!obj) throw new S3Error(404, 'NoSuchKey', 'The specified key does not exist.', { Key: key });
    const size = obj.body.length;
    const headers: Record<string, string> = {
      etag: obj.etag,
      'last-modified': obj.lastModified.toUTCString(),
      'content-type': obj.contentType,
      'accept-ranges': 'bytes',
    };
    const range = header(req, 'range');
    const parsed = range === undefined ? undefined : parseRange(range, size);
    if (parsed === 'unsatisfiable') {
      throw new S3Error(416, 'InvalidRange', 'The requested range is not satisfiable', {
        RangeRequested: range ?? '',
        ActualObjectSize: String(size),
      });
    }
    if (parsed) {
      const [a, b] = parsed;
      headers['content-range'] = `bytes ${a}-${b}/${size}`;
      return { status: 206, headers, body: obj.body.subarray(a, b + 1) };
    }
    if (header(req, 'x-amz-checksum-mode') === 'ENABLED') {
      Object.assign(headers, obj.checksums);
      if (Object.keys(obj.checksums).length > 0) headers['x-amz-checksum-type'] = 'FULL_OBJECT';
    }
    if (req.method === 'HEAD') headers['content-length'] = String(size);
    return { status: 200, headers, body: req.method === 'HEAD' ? undefined : obj.body };
  }

  function deleteObjects(objects: Map<string, StoredObject>, req: IncomingMessage, raw: Buffer): Reply {
    const { body, trailers } = decodeBody(req, raw, counts);
    const hasDigest = req.headers['content-md5'] !== undefined || CHECKSUM_HEADERS.some((h) => req.headers[h] !== undefined || trailers[h] !== undefined);
    if (!hasDigest) throw new S3Error(400, 'InvalidRequest', 'Missing required header for this request: Content-MD5');
    verifyChecksums(req, body, trailers);
    const xml = body.toString('utf8');
    if (!/<Delete[\s>]/.test(xml)) throw new S3Error(400, 'MalformedXML', 'The XML you provided was not well-formed');
    const quiet = /<Quiet>\s*true\s*<\/Quiet>/.test(xml);
    const keys = [...xml.matchAll(/<Object>[\s\S]*?<Key>([\s\S]*?)<\/Key>[\s\S]*?<\/Object>/g)].map((m) => unescapeXml(m[1]!));
    if (keys.length === 0 || keys.length > MAX_KEYS) throw new S3Error(400, 'MalformedXML', 'Between 1 and 1000 objects are allowed');
    for (const k of keys) objects.delete(k);
    const deleted = quiet ? '' : keys.map((k) => `<Deleted><Key>${escapeXml(k)}</Key></Deleted>`).join('');
    return xmlReply(200, `<DeleteResult xmlns="${XMLNS}">${deleted}</DeleteResult>`);
  }

  server.listen(0, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const port = (server.address() as AddressInfo).port;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    counts,
    get faults() {
      return faults;
    },
    setFaults(f) {
      faults = { ...f };
    },
    clearFaults() {
      faults = {};
    },
    resetCounts() {
      Object.assign(counts, newCounts());
    },
    createBucket(name) {
      if (!buckets.has(name)) buckets.set(name, new Map());
    },
    objects: bucketOf,
    putObject(bucket, key, body) {
      return store(bucketOf(bucket), key, Buffer.from(body), 'binary/octet-stream', {});
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

interface Route {
  op: S3Op;
  bucket: string;
  key: string;
  query: URLSearchParams;
  virtualHost: boolean;
}

interface Reply {
  status: number;
  headers: Record<string, string>;
  body?: Buffer;
}

/** Splits the request into bucket, key and query; path style or virtual-host style. */
function parseRoute(req: IncomingMessage, vhostSuffix: string): Route {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  // Not `new URL`: it would normalise '.' and '..' segments, which are legal in S3 keys.
  const rawPath = q < 0 ? url : url.slice(0, q);
  const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
  const host = (req.headers.host ?? '').replace(/:\d+$/, '').toLowerCase();
  let bucket: string;
  let rawKey: string;
  const virtualHost = host.endsWith(vhostSuffix) && host.length > vhostSuffix.length;
  if (virtualHost) {
    bucket = host.slice(0, -vhostSuffix.length);
    rawKey = rawPath.slice(1);
  } else {
    const p = rawPath.slice(1);
    const i = p.indexOf('/');
    bucket = i < 0 ? p : p.slice(0, i);
    rawKey = i < 0 ? '' : p.slice(i + 1);
  }
  let key: string;
  try {
    key = decodeURIComponent(rawKey);
  } catch {
    throw new S3Error(400, 'InvalidURI', `Couldn't parse the specified URI: ${rawPath}`);
  }
  const method = req.method ?? 'GET';
  let op: S3Op;
  if (key === '') {
    if (method === 'GET') op = 'LIST';
    else if (method === 'POST' && query.has('delete')) op = 'DELETE';
    else op = 'BUCKET';
  } else {
    op = method === 'GET' ? 'GET' : method === 'HEAD' ? 'HEAD' : method === 'DELETE' ? 'DELETE' : 'PUT';
  }
  return { op, bucket, key, query, virtualHost };
}

function checkAuth(req: IncomingMessage, query: URLSearchParams, accessKeys: Set<string> | undefined): void {
  const auth = header(req, 'authorization');
  const credential = auth ? /Credential=([^,\s]+)/.exec(auth)?.[1] : query.get('X-Amz-Credential');
  if (!credential) throw new S3Error(403, 'AccessDenied', 'Access Denied');
  const keyId = credential.split('/')[0] ?? '';
  if (accessKeys && !accessKeys.has(keyId)) {
    throw new S3Error(403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.', {
      AWSAccessKeyId: keyId,
    });
  }
}

function listObjectsV2(name: string, objects: Map<string, StoredObject>, query: URLSearchParams): Reply {
  if (query.get('list-type') !== '2') throw new S3Error(501, 'NotImplemented', 'Only ListObjectsV2 (list-type=2) is implemented');
  const prefix = query.get('prefix') ?? '';
  const startAfter = query.get('start-after') ?? '';
  const token = query.get('continuation-token');
  const maxKeys = Math.min(Number(query.get('max-keys') ?? MAX_KEYS), MAX_KEYS);
  if (!Number.isInteger(maxKeys) || maxKeys < 0) throw new S3Error(400, 'InvalidArgument', 'max-keys must be a non-negative integer');
  const after = token !== null ? Buffer.from(token, 'base64url').toString('utf8') : startAfter;
  const matching = [...objects.keys()].filter((k) => k.startsWith(prefix) && k > after).sort(compareUtf8);
  const page = matching.slice(0, maxKeys);
  const truncated = matching.length > page.length;
  const urlEncode = query.get('encoding-type') === 'url';
  const enc = (s: string): string => escapeXml(urlEncode ? encodeURIComponent(s).replace(/%2F/g, '/') : s);
  const contents = page
    .map((k) => {
      const o = objects.get(k)!;
      return (
        `<Contents><Key>${enc(k)}</Key><LastModified>${o.lastModified.toISOString()}</LastModified>` +
        `<ETag>${escapeXml(o.etag)}</ETag><Size>${o.body.length}</Size><StorageClass>STANDARD</StorageClass></Contents>`
      );
    })
    .join('');
  const xml =
    `<ListBucketResult xmlns="${XMLNS}"><Name>${escapeXml(name)}</Name><Prefix>${enc(prefix)}</Prefix>` +
    (startAfter ? `<StartAfter>${enc(startAfter)}</StartAfter>` : '') +
    (token !== null ? `<ContinuationToken>${escapeXml(token)}</ContinuationToken>` : '') +
    `<KeyCount>${page.length}</KeyCount><MaxKeys>${maxKeys}</MaxKeys>` +
    (urlEncode ? '<EncodingType>url</EncodingType>' : '') +
    `<IsTruncated>${truncated}</IsTruncated>` +
    (truncated ? `<NextContinuationToken>${Buffer.from(page[page.length - 1]!, 'utf8').toString('base64url')}</NextContinuationToken>` : '') +
    `${contents}</ListBucketResult>`;
  return xmlReply(200, xml);
}

function store(
  objects: Map<string, StoredObject>,
  key: string,
  body: Buffer,
  contentType: string,
  checksums: Record<string, string>,
): StoredObject {
  const obj: StoredObject = {
    body: Buffer.from(body),
    etag: `"${createHash('md5').update(body).digest('hex')}"`,
    lastModified: new Date(),
    contentType,
    checksums,
  };
  objects.set(key, obj);
  return obj;
}

/** Undoes aws-chunked framing when the SDK used it; otherwise the body is the payload. */
function decodeBody(req: IncomingMessage, raw: Buffer, counts: S3Counts): { body: Buffer; trailers: Record<string, string> } {
  const sha = header(req, 'x-amz-content-sha256') ?? '';
  const encoding = header(req, 'content-encoding') ?? '';
  if (!sha.startsWith('STREAMING-') && !encoding.split(',').some((e) => e.trim() === 'aws-chunked')) {
    return { body: raw, trailers: {} };
  }
  counts.chunkedUploads++;
  const decoded = decodeAwsChunked(raw);
  const declared = header(req, 'x-amz-decoded-content-length');
  if (declared !== undefined && Number(declared) !== decoded.body.length) {
    throw new S3Error(400, 'IncompleteBody', `Decoded length ${decoded.body.length} != x-amz-decoded-content-length ${declared}`);
  }
  return decoded;
}

/**
 * aws-chunked: `<hex-size>[;chunk-signature=...]\r\n<data>\r\n` repeated, a zero-size chunk,
 * then optional `name:value\r\n` trailers (checksums, trailer signature) and a final `\r\n`.
 */
export function decodeAwsChunked(raw: Buffer): { body: Buffer; trailers: Record<string, string> } {
  const parts: Buffer[] = [];
  const trailers: Record<string, string> = {};
  const bad = (why: string): S3Error => new S3Error(400, 'IncompleteBody', `Malformed aws-chunked body: ${why}`);
  let pos = 0;
  for (;;) {
    const eol = raw.indexOf('\r\n', pos);
    if (eol < 0) throw bad('missing chunk header');
    const sizeHex = raw.toString('latin1', pos, eol).split(';')[0]!.trim();
    if (!/^[0-9a-fA-F]+$/.test(sizeHex)) throw bad(`bad chunk size ${JSON.stringify(sizeHex)}`);
    const size = parseInt(sizeHex, 16);
    pos = eol + 2;
    if (size === 0) break;
    if (pos + size + 2 > raw.length || raw.toString('latin1', pos + size, pos + size + 2) !== '\r\n') throw bad('truncated chunk');
    parts.push(raw.subarray(pos, pos + size));
    pos += size + 2;
  }
  while (pos < raw.length) {
    const eol = raw.indexOf('\r\n', pos);
    const line = raw.toString('latin1', pos, eol < 0 ? raw.length : eol);
    pos = eol < 0 ? raw.length : eol + 2;
    if (line === '') continue;
    const colon = line.indexOf(':');
    if (colon < 0) throw bad(`bad trailer ${JSON.stringify(line)}`);
    trailers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { body: Buffer.concat(parts), trailers };
}

function verifyChecksums(req: IncomingMessage, body: Buffer, trailers: Record<string, string>): Record<string, string> {
  const md5 = header(req, 'content-md5');
  if (md5 !== undefined && md5 !== createHash('md5').update(body).digest('base64')) {
    throw new S3Error(400, 'BadDigest', 'The Content-MD5 you specified did not match what we received.');
  }
  const given: Record<string, string> = {};
  for (const h of CHECKSUM_HEADERS) {
    const v = trailers[h] ?? header(req, h);
    if (v === undefined) continue;
    const compute = VERIFIED_CHECKSUMS[h];
    if (compute && compute(body) !== v) {
      throw new S3Error(400, 'BadDigest', `The ${h.slice('x-amz-checksum-'.length).toUpperCase()} you specified did not match the calculated checksum.`);
    }
    given[h] = v;
  }
  return given;
}

/** Byte range [first, last] inclusive, undefined to ignore the header, or 'unsatisfiable'. */
function parseRange(h: string, size: number): [number, number] | undefined | 'unsatisfiable' {
  const m = /^bytes=(\d*)-(\d*)$/.exec(h.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined; // S3 ignores malformed ranges
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0 || size === 0) return 'unsatisfiable';
    return [Math.max(0, size - n), size - 1];
  }
  const first = Number(m[1]);
  const last = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (m[2] !== '' && Number(m[2]) < first) return undefined;
  if (first >= size) return 'unsatisfiable';
  return [first, last];
}

function sendError(res: ServerResponse, req: IncomingMessage, e: S3Error): void {
  const extra = Object.entries(e.extra)
    .map(([k, v]) => `<${k}>${escapeXml(v)}</${k}>`)
    .join('');
  const reply = xmlReply(
    e.status,
    `<Error><Code>${e.code}</Code><Message>${escapeXml(e.message)}</Message>${extra}` +
      `<Resource>${escapeXml((req.url ?? '').split('?')[0]!)}</Resource><RequestId>${res.getHeader('x-amz-request-id') as string}</RequestId></Error>`,
  );
  if (e.status === 416 && e.extra.ActualObjectSize) reply.headers['content-range'] = `bytes */${e.extra.ActualObjectSize}`;
  res.writeHead(reply.status, { 'content-length': String(reply.body!.length), ...reply.headers });
  res.end(req.method === 'HEAD' ? undefined : reply.body);
}

function xmlReply(status: number, xml: string): Reply {
  return {
    status,
    headers: { 'content-type': 'application/xml' },
    body: Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>\n${xml}`, 'utf8'),
  };
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function newCounts(): S3Counts {
  return {
    GET: 0,
    PUT: 0,
    HEAD: 0,
    LIST: 0,
    DELETE: 0,
    BUCKET: 0,
    bytesIn: 0,
    bytesOut: 0,
    virtualHostRequests: 0,
    chunkedUploads: 0,
    injected: { latency: 0, error: 0, throttle: 0, drop: 0, applyThenDrop: 0, conflict: 0 },
  };
}

/** S3 lists keys in UTF-8 byte order, which differs from JS string order above U+FFFF. */
function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function unquote(etag: string): string {
  return etag.replace(/^W\//, '').replace(/^"|"$/g, '');
}

function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

function unescapeXml(s: string): string {
  return s.replace(/&(amp|lt|gt|quot|apos|#x?[0-9a-fA-F]+);/g, (_, e: string) => {
    const named: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
    if (named[e]) return named[e];
    return String.fromCodePoint(e[1] === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
  });
}
