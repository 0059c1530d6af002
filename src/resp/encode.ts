/**
 * Encodes the Reply model (reply.ts) as RESP2 or RESP3 bytes, the way Redis 7.0 writes them.
 * Strings in the model are binary (one char per byte), so they are written as latin1.
 */
import {
  BoolReply,
  DoubleReply,
  ErrorReply,
  MapReply,
  NullArray,
  PushReply,
  SetReply,
  SimpleString,
  VerbatimReply,
  type Reply,
} from './reply.ts';
import { writeLatin1 } from '../util/latin1.ts';

export type Protocol = 2 | 3;

/** Byte arrays up to this length are copied byte by byte in JS (cheaper than a native call). */
const SHORT = 32;

/** A growable output buffer; replies for a pipeline batch go into one socket write. */
export class Writer {
  private buf: Buffer;
  private len = 0;

  constructor(initial = 16 * 1024) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  get length(): number {
    return this.len;
  }

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  /** Writes a binary string (chars 0-255) byte for byte. */
  str(s: string): void {
    this.ensure(s.length);
    this.len = writeLatin1(this.buf, this.len, s);
  }

  bytes(b: Uint8Array): void {
    const n = b.length;
    this.ensure(n);
    if (n <= SHORT) {
      const buf = this.buf;
      let at = this.len;
      for (let i = 0; i < n; i++) buf[at++] = b[i]!;
      this.len = at;
    } else {
      this.buf.set(b, this.len);
      this.len += n;
    }
  }

  /** A RESP header: the type char, a non-negative length, CRLF (no string built). */
  header(type: number, n: number): void {
    if (n >= 1e9) {
      this.str(`${String.fromCharCode(type)}${n}\r\n`);
      return;
    }
    this.ensure(13);
    this.len = putHeader(this.buf, this.len, type, n);
  }

  /** A bulk string ($, length, CRLF, the bytes, CRLF) with one bounds check: arrays of them are most replies' bulk. */
  bulk(s: string): void {
    const n = s.length; // < 2^30: V8's string limit
    this.ensure(n + 14);
    const buf = this.buf;
    const at = writeLatin1(buf, putHeader(buf, this.len, 0x24 /* $ */, n), s);
    buf[at] = 13;
    buf[at + 1] = 10;
    this.len = at + 2;
  }

  crlf(): void {
    this.ensure(2);
    this.buf[this.len++] = 13;
    this.buf[this.len++] = 10;
  }

  /**
   * The bytes written so far, as a view of the internal buffer, and starts empty again. The
   * view is overwritten by the next writes unless the caller hands the buffer over first.
   */
  take(): Buffer {
    const out = this.buf.subarray(0, this.len);
    this.len = 0;
    return out;
  }

  /** The last view taken is still in use (a socket queued it): write into a new buffer. */
  handOver(): void {
    this.buf = Buffer.allocUnsafe(Math.min(this.buf.length, 16 * 1024));
  }
}

/**
 * printf("%.17g", d) as Redis 7.0 uses for doubles: 17 significant digits, trailing zeros
 * dropped, exponent form when the exponent is < -4 or >= 17; "inf"/"-inf" for infinities.
 */
export function formatDouble(d: number): string {
  if (d === Infinity) return 'inf';
  if (d === -Infinity) return '-inf';
  if (Number.isNaN(d)) return 'nan';
  if (d === 0) return Object.is(d, -0) ? '-0' : '0';
  // Integral scores (the common case) print as themselves: a safe integer has at most 16 digits.
  if (Number.isSafeInteger(d)) return String(d);
  const [mant, expStr] = d.toExponential(16).split('e') as [string, string];
  const exp = Number(expStr);
  const neg = mant.startsWith('-');
  const digits = mant.replace('-', '').replace('.', ''); // 17 digits
  let out: string;
  if (exp < -4 || exp >= 17) {
    const frac = digits.slice(1).replace(/0+$/, '');
    const e = Math.abs(exp);
    out = digits[0]! + (frac ? '.' + frac : '') + 'e' + (exp < 0 ? '-' : '+') + (e < 10 ? '0' + e : String(e));
  } else if (exp >= 0) {
    const int = digits.slice(0, exp + 1);
    const frac = digits.slice(exp + 1).replace(/0+$/, '');
    out = int + (frac ? '.' + frac : '');
  } else {
    out = ('0.' + '0'.repeat(-exp - 1) + digits).replace(/0+$/, '');
  }
  return neg ? '-' + out : out;
}

/** Redis replaces CR/LF in status and error lines so a reply can never break the framing. */
function line(s: string): string {
  return s.includes('\r') || s.includes('\n') ? s.replace(/[\r\n]/g, ' ') : s;
}

function integer(n: number | bigint): string {
  if (typeof n === 'bigint') return n.toString();
  return Number.isSafeInteger(n) ? String(n) : BigInt(Math.trunc(n)).toString();
}

export function encodeReply(w: Writer, r: Reply, proto: Protocol): void {
  if (r === null) {
    w.str(proto === 3 ? '_\r\n' : '$-1\r\n');
  } else if (typeof r === 'string') {
    w.bulk(r);
  } else if (typeof r === 'number' || typeof r === 'bigint') {
    if (typeof r === 'number' && r >= 0 && r < 1e9 && Number.isInteger(r)) w.header(0x3a /* : */, r);
    else w.str(`:${integer(r)}\r\n`);
  } else if (Array.isArray(r)) {
    w.header(0x2a /* * */, r.length);
    // Bulk strings first, without the call: LRANGE, SMEMBERS, HGETALL... are arrays of them.
    for (const x of r) {
      if (typeof x === 'string') w.bulk(x);
      else encodeReply(w, x, proto);
    }
  } else if (r instanceof Uint8Array) {
    w.header(0x24 /* $ */, r.length);
    w.bytes(r);
    w.crlf();
  } else if (r instanceof SimpleString) {
    w.str(`+${line(r.value)}\r\n`);
  } else if (r instanceof ErrorReply) {
    w.str(`-${line(r.message)}\r\n`);
  } else if (r instanceof NullArray) {
    w.str(proto === 3 ? '_\r\n' : '*-1\r\n');
  } else if (r instanceof DoubleReply) {
    const s = r.text ?? formatDouble(r.value);
    w.str(proto === 3 ? `,${s}\r\n` : `$${s.length}\r\n${s}\r\n`);
  } else if (r instanceof BoolReply) {
    w.str(proto === 3 ? (r.value ? '#t\r\n' : '#f\r\n') : r.value ? ':1\r\n' : ':0\r\n');
  } else if (r instanceof MapReply) {
    w.str(proto === 3 ? `%${r.entries.length}\r\n` : `*${r.entries.length * 2}\r\n`);
    for (const [k, v] of r.entries) {
      encodeReply(w, k, proto);
      encodeReply(w, v, proto);
    }
  } else if (r instanceof SetReply || r instanceof PushReply) {
    const t = proto === 3 ? (r instanceof SetReply ? '~' : '>') : '*';
    w.str(`${t}${r.items.length}\r\n`);
    for (const x of r.items) encodeReply(w, x, proto);
  } else if (r instanceof VerbatimReply) {
    if (proto === 3) {
      const body = `${r.format}:${r.text}`;
      w.str(`=${body.length}\r\n`);
      w.str(body);
      w.str('\r\n');
    } else {
      w.str(`$${r.text.length}\r\n`);
      w.str(r.text);
      w.str('\r\n');
    }
  } else {
    throw new TypeError(`not a reply: ${String(r)}`);
  }
}

/** Writes type, n (0 <= n < 1e9) in decimal and CRLF at `at`; returns the position after them. */
function putHeader(buf: Buffer, at: number, type: number, n: number): number {
  buf[at++] = type;
  if (n < 10) {
    buf[at++] = 48 + n;
  } else {
    let div = 10;
    while (div * 10 <= n) div *= 10;
    for (; div > 0; div = (div / 10) | 0) buf[at++] = 48 + (((n / div) | 0) % 10);
  }
  buf[at++] = 13;
  buf[at++] = 10;
  return at;
}

/** Convenience for tests and one-off replies. */
export function encode(r: Reply, proto: Protocol = 2): Buffer {
  const w = new Writer(256);
  encodeReply(w, r, proto);
  return w.take();
}
