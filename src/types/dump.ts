/**
 * DUMP / RESTORE payloads. The body uses Redis's RDB object encoding (type byte, RDB lengths
 * and strings), followed by Redis's footer: RDB version (2 bytes LE) and CRC-64/Jones (8 bytes
 * LE) of everything before it. We write plain RDB_TYPE_STRING / RDB_TYPE_HASH and read those
 * plus the int, LZF and listpack forms real Redis 7 emits, so DUMP output from Redis can be
 * RESTOREd here and ours into Redis.
 */
import { ListValue } from './list.ts';
import { DEFAULT_LIMITS, dumpCollection, restoreCollection, SET_RDB_TYPES } from './set-rdb.ts';
import { type SetLimits, SetValue } from './set-value.ts';
import { HashValue, type Value } from './values.ts';
import { type ZSetLimits, ZSetValue } from './zset-value.ts';

export const RDB_VERSION = 10;
const RDB_TYPE_STRING = 0;
const RDB_TYPE_LIST = 1;
const RDB_TYPE_LIST_ZIPLIST = 10;
const RDB_TYPE_LIST_QUICKLIST = 14;
const RDB_TYPE_LIST_QUICKLIST_2 = 18;
const QUICKLIST_NODE_PLAIN = 1;
const QUICKLIST_NODE_PACKED = 2;
const RDB_TYPE_HASH = 4;
const RDB_TYPE_HASH_ZIPLIST = 13;
const RDB_TYPE_HASH_LISTPACK = 16;

// ---------------------------------------------------------------------------------- CRC-64
// Redis's crc64 (Jones polynomial, reflected, init 0, no final xor), as two 32-bit halves.
const POLY_HI = 0x95ac9329;
const POLY_LO = 0xac4bc9b5;
const T_HI = new Uint32Array(256);
const T_LO = new Uint32Array(256);
for (let i = 0; i < 256; i++) {
  let hi = 0;
  let lo = i;
  for (let k = 0; k < 8; k++) {
    const lsb = lo & 1;
    lo = ((lo >>> 1) | ((hi & 1) << 31)) >>> 0;
    hi = hi >>> 1;
    if (lsb) {
      hi = (hi ^ POLY_HI) >>> 0;
      lo = (lo ^ POLY_LO) >>> 0;
    }
  }
  T_HI[i] = hi;
  T_LO[i] = lo;
}

/** CRC-64/Jones of b as 8 little-endian bytes. */
export function crc64(b: Uint8Array): Buffer {
  let hi = 0;
  let lo = 0;
  for (let i = 0; i < b.length; i++) {
    const idx = (lo ^ b[i]!) & 255;
    const nlo = ((lo >>> 8) | ((hi & 255) << 24)) >>> 0;
    const nhi = hi >>> 8;
    lo = (nlo ^ T_LO[idx]!) >>> 0;
    hi = (nhi ^ T_HI[idx]!) >>> 0;
  }
  const out = Buffer.alloc(8);
  out.writeUInt32LE(lo, 0);
  out.writeUInt32LE(hi, 4);
  return out;
}

// --------------------------------------------------------------------------------- writing

export function lenBytes(n: number): Buffer {
  if (n < 64) return Buffer.from([n]);
  if (n < 16384) return Buffer.from([0x40 | (n >> 8), n & 255]);
  if (n <= 0xffffffff) {
    const b = Buffer.alloc(5);
    b[0] = 0x80;
    b.writeUInt32BE(n, 1);
    return b;
  }
  const b = Buffer.alloc(9);
  b[0] = 0x81;
  b.writeBigUInt64BE(BigInt(n), 1);
  return b;
}

/** An RDB string: integer-encoded when it round-trips as a small integer, like Redis. */
export function rdbString(s: string): Buffer {
  if (s.length <= 11 && /^-?[1-9][0-9]*$|^0$/.test(s)) {
    const v = Number(s);
    if (v >= -128 && v <= 127) return Buffer.from([0xc0, v & 255]);
    if (v >= -32768 && v <= 32767) {
      const b = Buffer.alloc(3);
      b[0] = 0xc1;
      b.writeInt16LE(v, 1);
      return b;
    }
    if (v >= -2147483648 && v <= 2147483647) {
      const b = Buffer.alloc(5);
      b[0] = 0xc2;
      b.writeInt32LE(v, 1);
      return b;
    }
  }
  return Buffer.concat([lenBytes(s.length), Buffer.from(s, 'latin1')]);
}

export function dumpValue(v: Value): Buffer {
  const parts: Buffer[] = [];
  if (typeof v === 'string') {
    parts.push(Buffer.from([RDB_TYPE_STRING]), rdbString(v));
  } else if (v instanceof ListValue) {
    // Plain RDB_TYPE_LIST (Redis 7 still loads it); a split list is dumped from its elements
    // read into an inline copy (keys.ts).
    parts.push(Buffer.from([RDB_TYPE_LIST]), lenBytes(v.items.length));
    for (const s of v.items) parts.push(rdbString(s));
  } else if (v instanceof SetValue || v instanceof ZSetValue) {
    // Sets and sorted sets: set-rdb.ts (split ones are read into an inline copy first).
    parts.push(...dumpCollection(v));
  } else {
    parts.push(Buffer.from([RDB_TYPE_HASH]), lenBytes(v.size));
    for (const [f, val] of v.map) parts.push(rdbString(f), rdbString(val));
  }
  const ver = Buffer.alloc(2);
  ver.writeUInt16LE(RDB_VERSION, 0);
  parts.push(ver);
  const body = Buffer.concat(parts);
  return Buffer.concat([body, crc64(body)]);
}

// --------------------------------------------------------------------------------- reading

/** Footer check (Redis verifyDumpPayload). */
export function verifyPayload(p: Buffer): boolean {
  if (p.length < 10) return false;
  const ver = p.readUInt16LE(p.length - 10);
  if (ver > RDB_VERSION) return false;
  return crc64(p.subarray(0, p.length - 8)).equals(p.subarray(p.length - 8));
}

export class BadFormat extends Error {}

export class Reader {
  private readonly b: Buffer;
  at = 0;
  constructor(b: Buffer) {
    this.b = b;
  }
  byte(): number {
    if (this.at >= this.b.length) throw new BadFormat();
    return this.b[this.at++]!;
  }
  take(n: number): Buffer {
    if (n < 0 || this.at + n > this.b.length) throw new BadFormat();
    const s = this.b.subarray(this.at, this.at + n);
    this.at += n;
    return s;
  }
  /** [length, isEncoded] */
  len(): [number, boolean] {
    const c = this.byte();
    const t = c >> 6;
    if (t === 0) return [c & 63, false];
    if (t === 1) return [((c & 63) << 8) | this.byte(), false];
    if (t === 3) return [c & 63, true];
    if (c === 0x80) return [this.take(4).readUInt32BE(0), false];
    if (c === 0x81) {
      const v = this.take(8).readBigUInt64BE(0);
      if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new BadFormat();
      return [Number(v), false];
    }
    throw new BadFormat();
  }
  plainLen(): number {
    const [n, enc] = this.len();
    if (enc) throw new BadFormat();
    return n;
  }
  string(): string {
    const [n, enc] = this.len();
    if (!enc) return this.take(n).toString('latin1');
    if (n === 0) return String(this.take(1).readInt8(0));
    if (n === 1) return String(this.take(2).readInt16LE(0));
    if (n === 2) return String(this.take(4).readInt32LE(0));
    if (n === 3) {
      const clen = this.plainLen();
      const ulen = this.plainLen();
      return lzfDecompress(this.take(clen), ulen).toString('latin1');
    }
    throw new BadFormat();
  }
  get done(): boolean {
    return this.at === this.b.length;
  }
}

/** LZF decompression (liblzf lzf_d.c). */
export function lzfDecompress(input: Buffer, outLen: number): Buffer {
  const out = Buffer.alloc(outLen);
  let ip = 0;
  let op = 0;
  while (ip < input.length) {
    let ctrl = input[ip++]!;
    if (ctrl < 32) {
      ctrl++;
      if (op + ctrl > outLen || ip + ctrl > input.length) throw new BadFormat();
      input.copy(out, op, ip, ip + ctrl);
      op += ctrl;
      ip += ctrl;
    } else {
      let len = ctrl >> 5;
      let ref = op - ((ctrl & 0x1f) << 8) - 1;
      if (len === 7) len += input[ip++]!;
      ref -= input[ip++]!;
      len += 2;
      if (op + len > outLen || ref < 0) throw new BadFormat();
      for (let i = 0; i < len; i++) out[op++] = out[ref++]!;
    }
  }
  if (op !== outLen) throw new BadFormat();
  return out;
}

/** Entries of a listpack blob, as strings. */
export function listpackEntries(lp: Buffer): string[] {
  if (lp.length < 7) throw new BadFormat();
  const total = lp.readUInt32LE(0);
  if (total !== lp.length) throw new BadFormat();
  const out: string[] = [];
  let p = 6;
  for (;;) {
    if (p >= lp.length) throw new BadFormat();
    const c = lp[p]!;
    if (c === 0xff) break;
    let entryLen: number;
    if ((c & 0x80) === 0) {
      out.push(String(c & 0x7f));
      entryLen = 1;
    } else if ((c & 0xc0) === 0x80) {
      const n = c & 0x3f;
      out.push(lp.toString('latin1', p + 1, p + 1 + n));
      entryLen = 1 + n;
    } else if ((c & 0xe0) === 0xc0) {
      let v = ((c & 0x1f) << 8) | lp[p + 1]!;
      if (v >= 4096) v -= 8192;
      out.push(String(v));
      entryLen = 2;
    } else if ((c & 0xf0) === 0xe0) {
      const n = ((c & 0x0f) << 8) | lp[p + 1]!;
      out.push(lp.toString('latin1', p + 2, p + 2 + n));
      entryLen = 2 + n;
    } else if (c === 0xf0) {
      const n = lp.readUInt32LE(p + 1);
      out.push(lp.toString('latin1', p + 5, p + 5 + n));
      entryLen = 5 + n;
    } else if (c === 0xf1) {
      out.push(String(lp.readInt16LE(p + 1)));
      entryLen = 3;
    } else if (c === 0xf2) {
      out.push(String(lp.readIntLE(p + 1, 3)));
      entryLen = 4;
    } else if (c === 0xf3) {
      out.push(String(lp.readInt32LE(p + 1)));
      entryLen = 5;
    } else if (c === 0xf4) {
      out.push(String(lp.readBigInt64LE(p + 1)));
      entryLen = 9;
    } else {
      throw new BadFormat();
    }
    const backlen = entryLen < 128 ? 1 : entryLen < 16384 ? 2 : entryLen < 2097152 ? 3 : entryLen < 268435456 ? 4 : 5;
    p += entryLen + backlen;
    if (p > lp.length) throw new BadFormat();
  }
  return out;
}

/** Entries of a (pre-7.0) ziplist blob, as strings. */
export function ziplistEntries(zl: Buffer): string[] {
  if (zl.length < 11 || zl.readUInt32LE(0) !== zl.length) throw new BadFormat();
  const out: string[] = [];
  let p = 10;
  for (;;) {
    if (p >= zl.length) throw new BadFormat();
    if (zl[p] === 0xff) break;
    p += zl[p] === 0xfe ? 5 : 1; // prevlen
    const c = zl[p]!;
    const t = c >> 6;
    if (t === 0) {
      const n = c & 0x3f;
      out.push(zl.toString('latin1', p + 1, p + 1 + n));
      p += 1 + n;
    } else if (t === 1) {
      const n = ((c & 0x3f) << 8) | zl[p + 1]!;
      out.push(zl.toString('latin1', p + 2, p + 2 + n));
      p += 2 + n;
    } else if (c === 0x80) {
      const n = zl.readUInt32BE(p + 1);
      out.push(zl.toString('latin1', p + 5, p + 5 + n));
      p += 5 + n;
    } else if (c === 0xc0) {
      out.push(String(zl.readInt16LE(p + 1)));
      p += 3;
    } else if (c === 0xd0) {
      out.push(String(zl.readInt32LE(p + 1)));
      p += 5;
    } else if (c === 0xe0) {
      out.push(String(zl.readBigInt64LE(p + 1)));
      p += 9;
    } else if (c === 0xf0) {
      out.push(String(zl.readIntLE(p + 1, 3)));
      p += 4;
    } else if (c === 0xfe) {
      out.push(String(zl.readInt8(p + 1)));
      p += 2;
    } else if (c >= 0xf1 && c <= 0xfd) {
      out.push(String((c & 0x0f) - 1));
      p += 1;
    } else {
      throw new BadFormat();
    }
  }
  return out;
}

function pairsToHash(items: string[]): HashValue {
  if (items.length === 0 || items.length % 2 !== 0) throw new BadFormat();
  const h = new HashValue();
  for (let i = 0; i < items.length; i += 2) {
    if (!h.set(items[i]!, items[i + 1]!)) throw new BadFormat(); // duplicate field
  }
  return h;
}

/** The elements of any of Redis's list encodings. */
function readList(r: Reader, type: number): string[] {
  if (type === RDB_TYPE_LIST_ZIPLIST) return ziplistEntries(Buffer.from(r.string(), 'latin1'));
  const n = r.plainLen();
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    if (type === RDB_TYPE_LIST) {
      out.push(r.string());
    } else if (type === RDB_TYPE_LIST_QUICKLIST) {
      for (const s of ziplistEntries(Buffer.from(r.string(), 'latin1'))) out.push(s);
    } else {
      const container = r.plainLen();
      const blob = r.string();
      if (container === QUICKLIST_NODE_PLAIN) out.push(blob);
      else if (container === QUICKLIST_NODE_PACKED) for (const s of listpackEntries(Buffer.from(blob, 'latin1'))) out.push(s);
      else throw new BadFormat();
    }
  }
  return out;
}

/** Decodes a verified payload; undefined means "Bad data format". */
export function restoreValue(p: Buffer, limits: SetLimits & ZSetLimits = DEFAULT_LIMITS): Value | undefined {
  try {
    const r = new Reader(p.subarray(0, p.length - 10));
    const type = r.byte();
    let v: Value;
    if (type === RDB_TYPE_STRING) {
      v = r.string();
    } else if (type === RDB_TYPE_HASH) {
      const n = r.plainLen();
      if (n === 0) return undefined;
      const h = new HashValue();
      for (let i = 0; i < n; i++) {
        const f = r.string();
        if (!h.set(f, r.string())) return undefined;
      }
      v = h;
    } else if (type === RDB_TYPE_HASH_LISTPACK) {
      v = pairsToHash(listpackEntries(Buffer.from(r.string(), 'latin1')));
    } else if (type === RDB_TYPE_HASH_ZIPLIST) {
      v = pairsToHash(ziplistEntries(Buffer.from(r.string(), 'latin1')));
    } else if (type === RDB_TYPE_LIST || type === RDB_TYPE_LIST_ZIPLIST || type === RDB_TYPE_LIST_QUICKLIST || type === RDB_TYPE_LIST_QUICKLIST_2) {
      const items = readList(r, type);
      if (items.length === 0) return undefined;
      v = new ListValue(items);
    } else if (SET_RDB_TYPES.has(type)) {
      v = restoreCollection(type, r, limits);
    } else {
      return undefined;
    }
    if (!r.done) return undefined;
    return v;
  } catch (e) {
    if (e instanceof BadFormat || e instanceof RangeError) return undefined;
    throw e;
  }
}
