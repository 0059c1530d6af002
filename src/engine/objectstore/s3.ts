import { lookup as dnsLookup } from 'node:dns';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { LookupFunction } from 'node:net';
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type ListObjectsV2CommandOutput,
} from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
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

export interface S3StoreOptions {
  bucket: string;
  /** Keys live under `${prefix}/`; leading and trailing slashes are ignored. */
  prefix?: string;
  /** S3-compatible endpoint (MinIO, R2, ...); AWS when omitted. */
  endpoint?: string;
  /** Default: AWS_REGION, then AWS_DEFAULT_REGION, then us-east-1. */
  region?: string;
  /** Path-style addressing (`endpoint/bucket/key`) instead of `bucket.endpoint/key`. */
  forcePathStyle?: boolean;
  /** Explicit credentials; otherwise the SDK's default chain (env, profile, SSO, IMDS...). */
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  /** Deadline for one request until response headers arrive (uploads included), and the
   *  longest a socket may sit idle while a body streams. Default 30 s. */
  requestTimeoutMs?: number;
  /** TCP/TLS connect deadline. Default 5 s. */
  connectTimeoutMs?: number;
  /** Concurrent sockets to the endpoint. Default 64. */
  maxSockets?: number;
  /**
   * An S3 Express One Zone directory bucket, whose listings are not in key order and take no
   * StartAfter: list() then reads the whole prefix and sorts it. Default: the bucket name ends
   * in `--x-s3`, as directory bucket names do.
   */
  directoryBucket?: boolean;
}

/** S3 Express One Zone directory buckets are named `base--zone-id--x-s3`. */
export const isDirectoryBucketName = (bucket: string): boolean => bucket.endsWith('--x-s3');

const PAGE = 1000;
const DELETE_BATCH = 1000;

/** Thrown by checkAccess: a one-line, user-facing explanation (no stack needed). */
export class StoreAccessError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreAccessError';
  }
}

/**
 * ObjectStore over S3 (or an S3-compatible service) using conditional puts. The SDK's own
 * retries are off (maxAttempts 1): ResilientStore retries, and it must see every ambiguous
 * failure to recognise a create-only put whose first attempt had in fact succeeded.
 */
export class S3Store implements ObjectStore {
  readonly bucket: string;
  readonly prefix: string;
  readonly directoryBucket: boolean;
  private readonly client: S3Client;
  private readonly agents: { http: HttpAgent; https: HttpsAgent };
  private readonly where: string;

  constructor(options: S3StoreOptions) {
    this.bucket = options.bucket;
    this.prefix = (options.prefix ?? '').replace(/^\/+|\/+$/g, '');
    this.directoryBucket = options.directoryBucket ?? isDirectoryBucketName(options.bucket);
    const region = options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1';
    const timeout = options.requestTimeoutMs ?? 30_000;
    const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? 64, lookup: loopbackAwareLookup };
    this.agents = { http: new HttpAgent(agentOptions), https: new HttpsAgent(agentOptions) };
    this.where = options.endpoint ? redactUrl(options.endpoint) : `AWS S3 (${region})`;
    this.client = new S3Client({
      region,
      endpoint: options.endpoint,
      forcePathStyle: options.forcePathStyle,
      maxAttempts: 1,
      credentials:
        options.accessKeyId && options.secretAccessKey
          ? { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey, sessionToken: options.sessionToken }
          : undefined,
      requestHandler: new NodeHttpHandler({
        httpAgent: this.agents.http,
        httpsAgent: this.agents.https,
        connectionTimeout: options.connectTimeoutMs ?? 5_000,
        requestTimeout: timeout,
        throwOnRequestTimeout: true,
        socketTimeout: timeout,
      }),
    });
  }

  /** For logs: where the data lives, without credentials. */
  describe(): string {
    return `s3://${this.bucket}/${this.prefix} at ${this.where}`;
  }

  private full(key: string): string {
    return this.prefix ? `${this.prefix}/${key}` : key;
  }

  private strip(fullKey: string): string | undefined {
    if (!this.prefix) return fullKey;
    return fullKey.startsWith(`${this.prefix}/`) ? fullKey.slice(this.prefix.length + 1) : undefined;
  }

  async get(key: string, range?: ByteRange): Promise<Uint8Array | undefined> {
    // `bytes=5-4` is not a valid range and S3 would answer with the whole object.
    if (range?.end !== undefined && range.end <= range.start) {
      return (await this.head(key)) ? new Uint8Array(0) : undefined;
    }
    try {
      const out = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: this.full(key),
          Range: range ? `bytes=${range.start}-${range.end === undefined ? '' : range.end - 1}` : undefined,
        }),
      );
      const body = out.Body ? await out.Body.transformToByteArray() : new Uint8Array(0);
      // A server that ignores Range answers 200 with everything: cut the range out here.
      if (range && out.$metadata.httpStatusCode === 200) return body.subarray(range.start, range.end ?? body.length);
      return body;
    } catch (e) {
      if (isNotFound(e)) return undefined;
      // The object exists (else 404) but the range starts at or after its end.
      if (statusOf(e) === 416) return new Uint8Array(0);
      throw this.failure('GET', key, e);
    }
  }

  async put(key: string, body: Uint8Array, options: PutOptions = {}): Promise<{ etag: string }> {
    try {
      const out = await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.full(key),
          Body: body,
          ContentLength: body.length,
          IfNoneMatch: options.ifNoneMatch,
          IfMatch: options.ifMatch,
        }),
      );
      return { etag: out.ETag ?? (await this.head(key))?.etag ?? '' };
    } catch (e) {
      const conditional = options.ifNoneMatch !== undefined || options.ifMatch !== undefined;
      const name = nameOf(e);
      if (statusOf(e) === 412 || name === 'PreconditionFailed') {
        throw new PreconditionFailedError(key, options.ifNoneMatch ? 'object exists' : 'etag mismatch');
      }
      // S3's answer when another conditional write to the key is in flight: someone else is
      // creating or replacing it, so this one lost the race.
      if (conditional && (name === 'ConditionalRequestConflict' || statusOf(e) === 409)) {
        throw new PreconditionFailedError(key, 'conflicting conditional write');
      }
      // If-Match on a missing object: S3 answers 404 NoSuchKey.
      if (options.ifMatch !== undefined && isNotFound(e)) throw new PreconditionFailedError(key, 'no such object');
      throw this.failure('PUT', key, e);
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.full(key) }));
      return {
        key,
        size: out.ContentLength ?? 0,
        etag: out.ETag ?? '',
        lastModified: out.LastModified?.getTime() ?? 0,
      };
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw this.failure('HEAD', key, e);
    }
  }

  async list(prefix: string, options: ListOptions = {}): Promise<ListPage> {
    const maxKeys = Math.max(1, Math.min(options.limit ?? PAGE, PAGE));
    const fullPrefix = this.full(prefix);
    if (this.directoryBucket) return this.listSorted(prefix, fullPrefix, maxKeys, options.startAfter);
    try {
      let out: ListObjectsV2CommandOutput;
      let token: string | undefined;
      do {
        out = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: fullPrefix || undefined,
            StartAfter: options.startAfter !== undefined && token === undefined ? this.full(options.startAfter) : undefined,
            ContinuationToken: token,
            MaxKeys: maxKeys,
          }),
        );
        token = out.NextContinuationToken;
        // S3 may (rarely) return an empty page that is still truncated: follow the token.
      } while (out.IsTruncated && (out.Contents ?? []).length === 0 && token !== undefined);
      const objects: ObjectInfo[] = [];
      for (const o of out.Contents ?? []) {
        const key = o.Key === undefined ? undefined : this.strip(o.Key);
        if (key === undefined) continue;
        objects.push({ key, size: o.Size ?? 0, etag: o.ETag ?? '', lastModified: o.LastModified?.getTime() ?? 0 });
      }
      const last = objects[objects.length - 1];
      return out.IsTruncated && last ? { objects, nextStartAfter: last.key } : { objects };
    } catch (e) {
      throw this.failure('LIST', prefix, e);
    }
  }

  /**
   * Directory buckets: list everything under the enclosing '/'-ended prefix (the only kind
   * they accept), then filter, sort in S3's UTF-8 byte order and cut the page here. Costs a
   * full listing per page, which the engine's small wal/, sst/ and manifest/ folders allow.
   */
  private async listSorted(prefix: string, fullPrefix: string, maxKeys: number, startAfter?: string): Promise<ListPage> {
    const dir = fullPrefix.slice(0, fullPrefix.lastIndexOf('/') + 1);
    const objects: ObjectInfo[] = [];
    try {
      let token: string | undefined;
      do {
        const out = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: dir || undefined, ContinuationToken: token }),
        );
        for (const o of out.Contents ?? []) {
          const key = o.Key?.startsWith(fullPrefix) ? this.strip(o.Key) : undefined;
          if (key === undefined || (startAfter !== undefined && compareUtf8(key, startAfter) <= 0)) continue;
          objects.push({ key, size: o.Size ?? 0, etag: o.ETag ?? '', lastModified: o.LastModified?.getTime() ?? 0 });
        }
        token = out.IsTruncated ? out.NextContinuationToken : undefined;
      } while (token !== undefined);
    } catch (e) {
      throw this.failure('LIST', prefix, e);
    }
    objects.sort((a, b) => compareUtf8(a.key, b.key));
    if (objects.length <= maxKeys) return { objects };
    const page = objects.slice(0, maxKeys);
    return { objects: page, nextStartAfter: page[page.length - 1]!.key };
  }

  async delete(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.full(key) }));
    } catch (e) {
      if (isNotFound(e)) return;
      throw this.failure('DELETE', key, e);
    }
  }

  /** Deletes in DeleteObjects batches of 1000 (one request per batch). */
  async deleteMany(keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += DELETE_BATCH) {
      const batch = keys.slice(i, i + DELETE_BATCH);
      let errors;
      try {
        const out = await this.client.send(
          new DeleteObjectsCommand({
            Bucket: this.bucket,
            Delete: { Objects: batch.map((k) => ({ Key: this.full(k) })), Quiet: true },
          }),
        );
        errors = (out.Errors ?? []).filter((x) => x.Code !== 'NoSuchKey');
      } catch (e) {
        throw this.failure('DELETE', `${batch.length} keys from ${batch[0]}`, e);
      }
      if (errors.length > 0) {
        const first = errors[0]!;
        const msg = `S3 DELETE of ${errors.length} keys failed, e.g. ${first.Key}: ${first.Code} ${first.Message ?? ''}`.trim();
        const transient = errors.every((x) => TRANSIENT_NAMES.has(x.Code ?? ''));
        throw transient ? new TransientStoreError(msg) : new Error(msg);
      }
    }
  }

  /**
   * One cheap request at start-up (a one-key list under the prefix, which also proves list
   * permission). Throws StoreAccessError with a single line saying what is wrong.
   */
  async checkAccess(): Promise<void> {
    try {
      await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix ? `${this.prefix}/` : undefined, MaxKeys: 1 }),
      );
    } catch (e) {
      throw new StoreAccessError(this.accessMessage(e).replace(/\s+/g, ' '), { cause: e });
    }
  }

  private accessMessage(e: unknown): string {
    const b = `"${this.bucket}"`;
    const name = nameOf(e);
    const status = statusOf(e);
    if (name === 'NoSuchBucket') return `S3 bucket ${b} does not exist at ${this.where}`;
    if (name === 'CredentialsProviderError' || /could not load credentials/i.test(messageOf(e))) {
      return `S3 credentials not found for bucket ${b}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or configure an AWS profile`;
    }
    if (
      status === 403 ||
      ['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'InvalidToken', 'ExpiredToken'].includes(name)
    ) {
      return `S3 access denied for bucket ${b} at ${this.where} (${name || status}): check credentials`;
    }
    if (status === 301 || name === 'PermanentRedirect' || name === 'AuthorizationHeaderMalformed') {
      return `S3 bucket ${b} is in a different region than the configured one (${name || status}): set the region`;
    }
    if (status === undefined && (isTransient(e) || codeOf(e) === 'ENOTFOUND')) {
      return `S3 endpoint ${this.where} is unreachable: ${codeOf(e) || name}: ${messageOf(e)}`;
    }
    return `S3 check of bucket ${b} at ${this.where} failed: ${name || 'error'}${status ? ` (HTTP ${status})` : ''}: ${messageOf(e)}`;
  }

  private failure(op: string, key: string, e: unknown): Error {
    const status = statusOf(e);
    const what = `${nameOf(e) || codeOf(e) || 'error'}${status ? ` (HTTP ${status})` : ''}`;
    const msg = `S3 ${op} ${this.bucket}/${this.full(key)} failed: ${what}: ${messageOf(e)}`;
    return isTransient(e) ? new TransientStoreError(msg, { cause: e }) : new Error(msg, { cause: e });
  }

  async close(): Promise<void> {
    this.client.destroy();
    this.agents.http.destroy();
    this.agents.https.destroy();
  }
}

interface SdkErrorLike {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
}

const TRANSIENT_NAMES = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'RequestTimeout',
  'RequestTimeoutException',
  'InternalError',
  'ServiceUnavailable',
  'TimeoutError',
  'AbortError',
]);
const NETWORK_CODES = new Set([
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

const asSdk = (e: unknown): SdkErrorLike => (typeof e === 'object' && e !== null ? (e as SdkErrorLike) : {});
const statusOf = (e: unknown): number | undefined => asSdk(e).$metadata?.httpStatusCode;
const nameOf = (e: unknown): string => asSdk(e).name ?? '';
const codeOf = (e: unknown): string => asSdk(e).code ?? '';
const messageOf = (e: unknown): string => asSdk(e).message ?? String(e);

const compareUtf8 = (a: string, b: string): number => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

/** A missing key, but not a missing bucket (that must surface as an error). */
function isNotFound(e: unknown): boolean {
  const name = nameOf(e);
  return name === 'NoSuchKey' || name === 'NotFound' || (statusOf(e) === 404 && name !== 'NoSuchBucket');
}

/** Worth retrying: 5xx, throttling, timeouts and connection failures. */
export function isTransient(e: unknown): boolean {
  const status = statusOf(e);
  if (status !== undefined && (status >= 500 || status === 429)) return true;
  if (TRANSIENT_NAMES.has(nameOf(e)) || NETWORK_CODES.has(codeOf(e))) return true;
  if (status === undefined && /socket hang up|aborted|premature close/i.test(messageOf(e))) return true;
  return asSdk(e).$retryable !== undefined && asSdk(e).$retryable !== false;
}

/**
 * RFC 6761 makes every *.localhost name loopback, but glibc without systemd-resolved does not
 * resolve `bucket.localhost`, which virtual-host-style requests to a local endpoint need.
 */
const loopbackAwareLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname.toLowerCase().endsWith('.localhost') ? 'localhost' : hostname, options, callback);
};

function redactUrl(u: string): string {
  try {
    const url = new URL(u);
    url.username = '';
    url.password = '';
    return url.toString().replace(/\/$/, '');
  } catch {
    return u;
  }
}
