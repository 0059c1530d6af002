/**
 * Request framing: turns the bytes a client sends into commands (arrays of binary strings),
 * the way Redis's processMultibulkBuffer / processInlineBuffer do, with the same limits and
 * the same "Protocol error: ..." texts.
 *
 * Why not redis-parser: it is a reply parser for clients. It accepts any RESP type inside an
 * array (Redis requires '$' bulks), has no inline mode and no size limits, and buffers a bulk
 * of any announced length. Requests need all three, so the framing is done here; it is pull
 * based (`next()`), so the connection decides when to parse (one command at a time, paused
 * while a command runs or the client is paused).
 */
import { readLatin1 } from '../util/latin1.ts';
import { splitArgs } from './splitargs.ts';

export interface ParserLimits {
  /** proto-max-bulk-len: longest bulk string a client may send. */
  maxBulkLen: number;
  /** Longest inline request / multibulk header line without a newline (Redis: 64 KiB). */
  maxInline: number;
  /** Largest multibulk count (Redis 7: INT_MAX; arguments are allocated lazily). */
  maxArgs: number;
}

export const DEFAULT_LIMITS: ParserLimits = {
  maxBulkLen: 512 * 1024 * 1024,
  maxInline: 64 * 1024,
  maxArgs: 2147483647,
};

/** A framing error: the connection replies `-ERR <message>` and closes. */
export class ProtocolError {
  readonly message: string;
  constructor(message: string) {
    this.message = message;
  }
}

// A bulk this large is collected as a list of chunks and joined once, not re-concatenated per read.
const BIG_BULK = 32 * 1024;
const EMPTY = Buffer.alloc(0);

/**
 * Redis's string2ll over bytes [start, end): strict decimal, no '+', no leading zeros, at most
 * 20 characters; values beyond 2^53 are clamped (every limit they are checked against is smaller).
 */
function parseLen(b: Buffer, start: number, end: number): number | undefined {
  if (end === start || end - start > 20) return undefined;
  let i = start;
  const neg = b[i] === 0x2d; /* '-' */
  if (neg) i++;
  if (i === end) return undefined;
  if (b[i] === 0x30 /* '0' */) return i + 1 === end && !neg ? 0 : undefined;
  let n = 0;
  for (; i < end; i++) {
    const d = b[i]! - 0x30;
    if (d < 0 || d > 9) return undefined;
    n = n * 10 + d;
  }
  if (n > Number.MAX_SAFE_INTEGER) n = Number.MAX_SAFE_INTEGER;
  return neg ? -n : n;
}

export class RequestParser {
  private buf: Buffer = EMPTY;
  private pos = 0;
  /** Arguments still expected in the current multibulk request (0 = between requests). */
  private remaining = 0;
  private args: string[] = [];
  /** proto-max-bulk-len as it was when the current request began (read once per request). */
  private maxBulkLen = 0;
  /** Length of the bulk being read, or -1 before its $ header. */
  private bulkLen = -1;
  /** Chunks of a big bulk being collected (see BIG_BULK). */
  private chunks: Buffer[] | undefined;
  private chunkBytes = 0;
  private failed = false;
  /** The chunk last fed, while its owner may still reuse its memory (see keep). */
  private lent: Buffer | undefined;
  private readonly limits: () => ParserLimits;
  private readonly authRequired: () => boolean;

  constructor(limits: () => ParserLimits = () => DEFAULT_LIMITS, authRequired: () => boolean = () => false) {
    this.limits = limits;
    this.authRequired = authRequired;
  }

  /** Bytes received and not yet turned into commands (Redis's qbuf). */
  get buffered(): number {
    return this.buf.length - this.pos + this.chunkBytes;
  }

  /** Adds received bytes; a `borrowed` chunk's memory is reused once keep() has been called. */
  feed(chunk: Buffer, borrowed = false): void {
    if (this.failed) return;
    if (borrowed) this.lent = chunk;
    if (this.chunks) {
      this.chunks.push(chunk);
      this.chunkBytes += chunk.length;
      return;
    }
    if (this.pos >= this.buf.length) {
      this.buf = chunk;
      this.pos = 0;
    } else {
      this.buf = Buffer.concat([this.buf.subarray(this.pos), chunk]);
      this.pos = 0;
    }
  }

  /** Copies what is still unparsed of a borrowed chunk, before its owner reuses the memory. */
  keep(): void {
    const lent = this.lent;
    if (!lent) return;
    this.lent = undefined;
    if (this.buf === lent) {
      this.buf = this.pos < lent.length ? Buffer.from(lent.subarray(this.pos)) : EMPTY;
      this.pos = 0;
    }
    const last = this.chunks ? this.chunks.length - 1 : -1;
    if (last >= 0 && this.chunks![last] === lent) this.chunks![last] = Buffer.from(lent);
  }

  /**
   * The next complete command, a ProtocolError (after which the parser yields nothing more),
   * or undefined when more bytes are needed. Empty requests (blank inline lines, `*0`) are
   * skipped, as Redis does.
   */
  next(): string[] | ProtocolError | undefined {
    while (!this.failed) {
      if (this.chunks) {
        if (this.buf.length - this.pos + this.chunkBytes < this.bulkLen + 2) return undefined;
        this.buf = Buffer.concat([this.buf.subarray(this.pos), ...this.chunks]);
        this.pos = 0;
        this.chunks = undefined;
        this.chunkBytes = 0;
      }
      if (this.remaining === 0) {
        if (this.pos >= this.buf.length) return undefined;
        if (this.buf[this.pos] === 0x2a /* '*' */) {
          const r = this.multibulkHeader();
          if (r === 'more') return undefined;
          if (r === 'empty') continue;
          if (r instanceof ProtocolError) return r;
        } else {
          const r = this.inline();
          if (r === null) continue;
          return r;
        }
      }
      return this.bulks();
    }
    return undefined;
  }

  private fail(message: string): ProtocolError {
    this.failed = true;
    this.buf = EMPTY;
    this.pos = 0;
    this.chunks = undefined;
    this.chunkBytes = 0;
    return new ProtocolError(`Protocol error: ${message}`);
  }

  /** Position of the \r of a complete "\r\n"-terminated line starting at pos, or -1. */
  private lineEnd(): number {
    // A loop, not indexOf: headers are a few bytes, and a native call costs more than that.
    const b = this.buf;
    const n = b.length;
    let cr = this.pos;
    while (cr < n && b[cr] !== 13) cr++;
    return cr + 1 < n ? cr : -1;
  }

  private inline(): string[] | ProtocolError | null | undefined {
    const nl = this.buf.indexOf(10, this.pos);
    if (nl < 0) {
      if (this.buf.length - this.pos > this.limits().maxInline) return this.fail('too big inline request');
      return undefined;
    }
    let end = nl;
    if (end > this.pos && this.buf[end - 1] === 13) end--;
    let line = this.buf.toString('latin1', this.pos, end);
    const nul = line.indexOf('\0'); // Redis splits the line as a C string
    if (nul >= 0) line = line.slice(0, nul);
    const args = splitArgs(line);
    if (args === null) return this.fail('unbalanced quotes in request');
    this.pos = nl + 1;
    return args.length === 0 ? null : args;
  }

  private multibulkHeader(): ProtocolError | 'empty' | 'more' | 'ok' {
    const cr = this.lineEnd();
    if (cr < 0) {
      if (this.buf.length - this.pos > this.limits().maxInline) return this.fail('too big mbulk count string');
      return 'more';
    }
    const n = parseLen(this.buf, this.pos + 1, cr);
    const limits = this.limits();
    if (n === undefined || n > limits.maxArgs) return this.fail('invalid multibulk length');
    if (n > 10 && this.authRequired()) return this.fail('unauthenticated multibulk length');
    this.pos = cr + 2;
    if (n <= 0) return 'empty';
    this.remaining = n;
    this.maxBulkLen = limits.maxBulkLen;
    this.args = [];
    this.bulkLen = -1;
    return 'ok';
  }

  /** Reads bulks of the current request; returns the command once all have arrived. */
  private bulks(): string[] | ProtocolError | undefined {
    while (this.remaining > 0) {
      if (this.bulkLen < 0) {
        const cr = this.lineEnd();
        if (cr < 0) {
          if (this.buf.length - this.pos > this.limits().maxInline) return this.fail('too big bulk count string');
          return undefined;
        }
        const c = this.buf[this.pos]!;
        if (c !== 0x24 /* '$' */) return this.fail(`expected '$', got '${String.fromCharCode(c)}'`);
        const n = parseLen(this.buf, this.pos + 1, cr);
        if (n === undefined || n < 0 || n > this.maxBulkLen) return this.fail('invalid bulk length');
        if (n > 16384 && this.authRequired()) return this.fail('unauthenticated bulk length');
        this.pos = cr + 2;
        this.bulkLen = n;
      }
      const avail = this.buf.length - this.pos;
      if (avail < this.bulkLen + 2) {
        if (this.bulkLen >= BIG_BULK) {
          // Park what we have; feed() appends until the whole bulk is there.
          this.chunks = [];
          this.chunkBytes = 0;
        }
        return undefined;
      }
      // Like Redis, the two bytes after the bulk are skipped without checking they are \r\n.
      this.args.push(readLatin1(this.buf, this.pos, this.pos + this.bulkLen));
      this.pos += this.bulkLen + 2;
      this.bulkLen = -1;
      this.remaining--;
    }
    const args = this.args;
    this.args = [];
    if (this.pos >= this.buf.length) {
      this.buf = EMPTY;
      this.pos = 0;
    }
    return args;
  }
}
