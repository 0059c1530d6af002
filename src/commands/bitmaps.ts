/**
 * Bitmap commands on the string type (Redis 7.0 bitops.c semantics, replies and errors):
 * SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD, BITFIELD_RO.
 *
 * Argument checks happen in Redis's order (which differs per command: BITCOUNT looks the key up
 * before parsing its range, BITPOS parses the bit first), because clients can see the order.
 * Every string these commands write is 'raw' encoded, as Redis's dbUnshareStringValue makes it.
 */
import { ErrorReply, type Reply } from '../resp/reply.ts';
import { readKey, writeKey } from '../types/access.ts';
import {
  bitposByte,
  bitposIn,
  checkSignedOverflow,
  checkUnsignedOverflow,
  getSigned,
  getUnsigned,
  growZero,
  OVERFLOW_FAIL,
  OVERFLOW_SAT,
  OVERFLOW_WRAP,
  popcount,
  popcountByte,
  setBits,
  window,
  withByte,
} from '../types/bitmap.ts';
import { intReply, parseInt64 } from '../types/numbers.ts';
import { argInt, NOT_INTEGER, protoMaxBulkLen, SYNTAX, WRONGTYPE } from '../types/replies.ts';
import type { Entry } from '../types/values.ts';
import type { CommandModule, ExecContext } from './types.ts';

const BAD_OFFSET = new ErrorReply('ERR bit offset is not an integer or out of range');
const BAD_BIT = new ErrorReply('ERR bit is not an integer or out of range');
const BAD_TYPE = new ErrorReply('ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.');

/**
 * getBitOffsetFromArgument: a bit offset below proto-max-bulk-len bytes. With `bits` > 0 the
 * "#n" form means n*bits (multiplied with C's wrap-around, so huge n turns negative and fails).
 */
function bitOffset(ctx: ExecContext, s: string, bits = 0): number | ErrorReply {
  const hash = bits > 0 && s.charCodeAt(0) === 35; /* # */
  const v = parseInt64(hash ? s.slice(1) : s);
  if (v === undefined) return BAD_OFFSET;
  const off = hash ? BigInt.asIntN(64, v * BigInt(bits)) : v;
  if (off < 0n || off >> 3n >= BigInt(protoMaxBulkLen(ctx.server))) return BAD_OFFSET;
  return Number(off);
}

/** getBitfieldTypeFromArgument: i1..i64 or u1..u63 (the width is read up to a NUL, like strlen). */
function bitfieldType(s: string): { signed: boolean; bits: number } | ErrorReply {
  const c = s[0];
  if (c !== 'i' && c !== 'u') return BAD_TYPE;
  const rest = s.slice(1);
  const nul = rest.indexOf('\0');
  const v = parseInt64(nul >= 0 ? rest.slice(0, nul) : rest);
  const signed = c === 'i';
  if (v === undefined || v < 1n || (signed && v > 64n) || (!signed && v > 63n)) return BAD_TYPE;
  return { signed, bits: Number(v) };
}

/** The string at key for a bit write, or WRONGTYPE; undefined when the key is missing. */
function writeString(ctx: ExecContext, key: string): Entry | undefined | ErrorReply {
  const e = writeKey(ctx, key);
  if (e && typeof e.value !== 'string') return WRONGTYPE;
  return e;
}

/** Stores a bit command's result: a new raw string, or the old one changed in place. */
function store(ctx: ExecContext, key: string, e: Entry | undefined, value: string, changed: boolean): void {
  if (!e) ctx.keyspace.set(ctx.db, key, value, 0, { enc: 'raw' });
  else if (changed) ctx.keyspace.setString(ctx.db, key, e, value, 'raw');
  // Unchanged: Redis still unshares the value into a raw sds (OBJECT ENCODING says raw); the
  // encoding hint lives only in memory, so nothing needs writing.
  else e.enc = 'raw';
}

function setbit(ctx: ExecContext, args: string[]): Reply {
  const key = args[1]!;
  const off = bitOffset(ctx, args[2]!);
  if (off instanceof ErrorReply) return off;
  const on = parseInt64(args[3]!);
  if (on === undefined || (on & ~1n) !== 0n) return BAD_BIT;
  const e = writeString(ctx, key);
  if (e instanceof ErrorReply) return e;
  const byte = Math.floor(off / 8);
  const cur = (e?.value as string | undefined) ?? '';
  const s = growZero(cur, byte + 1);
  const old = s.charCodeAt(byte);
  const shift = 7 - (off % 8);
  const bitval = (old >> shift) & 1;
  const grown = s.length !== cur.length || !e;
  if (grown || bitval !== Number(on)) {
    const next = on ? old | (1 << shift) : old & ~(1 << shift);
    store(ctx, key, e, withByte(s, byte, next), true);
  } else {
    store(ctx, key, e, s, false);
  }
  return bitval;
}

function getbit(ctx: ExecContext, args: string[]): Reply {
  const off = bitOffset(ctx, args[2]!);
  if (off instanceof ErrorReply) return off;
  const e = readKey(ctx, args[1]!);
  if (!e) return 0;
  if (typeof e.value !== 'string') return WRONGTYPE;
  const byte = Math.floor(off / 8);
  if (byte >= e.value.length) return 0;
  return (e.value.charCodeAt(byte) >> (7 - (off % 8))) & 1;
}

/** A BYTE|BIT unit argument: true for BIT, false for BYTE, or the syntax error. */
function unitArg(s: string): boolean | ErrorReply {
  const u = s.toLowerCase();
  if (u === 'bit') return true;
  if (u === 'byte') return false;
  return SYNTAX;
}

/**
 * Normalizes a start/end range (negative = from the end, then clamped) over `total` units,
 * and, for bit ranges, turns it into bytes plus masks of the out-of-range bits at both edges.
 */
function clampRange(
  startIn: bigint,
  endIn: bigint,
  total: bigint,
  isbit: boolean,
): { start: number; end: number; firstMask: number; lastMask: number } {
  let start = startIn;
  let end = endIn;
  if (start < 0n) start = total + start;
  if (end < 0n) end = total + end;
  if (start < 0n) start = 0n;
  if (end < 0n) end = 0n;
  if (end >= total) end = total - 1n;
  let firstMask = 0;
  let lastMask = 0;
  if (isbit && start <= end) {
    firstMask = ~((1 << (8 - Number(start & 7n))) - 1) & 0xff;
    lastMask = (1 << (7 - Number(end & 7n))) - 1;
    start >>= 3n;
    end >>= 3n;
  }
  return { start: Number(start), end: Number(end), firstMask, lastMask };
}

function bitcount(ctx: ExecContext, args: string[]): Reply {
  // 7.0 looks the key up first: a missing key answers 0 whatever the other arguments are.
  const e = readKey(ctx, args[1]!);
  if (!e) return 0;
  if (typeof e.value !== 'string') return WRONGTYPE;
  const s = e.value;
  let r: { start: number; end: number; firstMask: number; lastMask: number };
  if (args.length === 4 || args.length === 5) {
    const start = argInt(args[2]!);
    if (start instanceof ErrorReply) return start;
    const end = argInt(args[3]!);
    if (end instanceof ErrorReply) return end;
    if (start < 0n && end < 0n && start > end) return 0;
    let isbit = false;
    if (args.length === 5) {
      const u = unitArg(args[4]!);
      if (u instanceof ErrorReply) return u;
      isbit = u;
    }
    const total = BigInt(s.length) * (isbit ? 8n : 1n);
    r = clampRange(start, end, total, isbit);
  } else if (args.length === 2) {
    r = { start: 0, end: s.length - 1, firstMask: 0, lastMask: 0 };
  } else {
    return SYNTAX;
  }
  if (r.start > r.end) return 0;
  let count = popcount(s, r.start, r.end);
  // Subtract the bits of the edge bytes that lie outside a BIT range.
  if (r.firstMask) count -= popcountByte(s.charCodeAt(r.start) & r.firstMask);
  if (r.lastMask) count -= popcountByte(s.charCodeAt(r.end) & r.lastMask);
  return count;
}

function bitpos(ctx: ExecContext, args: string[]): Reply {
  const b = parseInt64(args[2]!);
  if (b === undefined) return NOT_INTEGER;
  if (b !== 0n && b !== 1n) return new ErrorReply('ERR The bit argument must be 1 or 0.');
  const bit = Number(b);
  const e = readKey(ctx, args[1]!);
  // A missing key is an infinite run of zeros.
  if (!e) return bit ? -1 : 0;
  if (typeof e.value !== 'string') return WRONGTYPE;
  const s = e.value;
  let endGiven = false;
  let r: { start: number; end: number; firstMask: number; lastMask: number };
  if (args.length >= 4 && args.length <= 6) {
    const start = argInt(args[3]!);
    if (start instanceof ErrorReply) return start;
    let isbit = false;
    if (args.length === 6) {
      const u = unitArg(args[5]!);
      if (u instanceof ErrorReply) return u;
      isbit = u;
    }
    let end: bigint;
    const len = BigInt(s.length);
    if (args.length >= 5) {
      const v = argInt(args[4]!);
      if (v instanceof ErrorReply) return v;
      end = v;
      endGiven = true;
    } else {
      end = isbit ? len * 8n + 7n : len - 1n;
    }
    r = clampRange(start, end, isbit ? len * 8n : len, isbit);
  } else if (args.length === 3) {
    r = { start: 0, end: s.length - 1, firstMask: 0, lastMask: 0 };
  } else {
    return SYNTAX;
  }
  // An empty range contains neither a 0 nor a 1.
  if (r.start > r.end) return -1;
  const { pos, start, bytes } = searchRange(s, r.start, r.end, r.firstMask, r.lastMask, bit);
  // With an explicit end, the zero "after the string" is outside the range: not found.
  if (endGiven && bit === 0 && pos === bytes * 8) return -1;
  return pos !== -1 ? pos + start * 8 : -1;
}

/**
 * The search of Redis's bitposCommand over bytes [start, end]: the edge bytes of a BIT range
 * get their outside bits forced to the value not searched for. Returns redisBitpos's result
 * relative to `start` as it stood when the search stopped, and the bytes still in range then.
 */
function searchRange(s: string, start: number, end: number, first: number, last: number, bit: number): { pos: number; start: number; bytes: number } {
  let bytes = end - start + 1;
  if (first) {
    let c = s.charCodeAt(start);
    c = bit ? c & ~first : c | first;
    if (last && bytes === 1) c = bit ? c & ~last : c | last;
    const pos = bitposByte(c & 255, bit);
    if (bytes === 1 || (pos !== -1 && pos !== 8)) return { pos, start, bytes };
    start++;
    bytes--;
  }
  const cur = bytes - (last ? 1 : 0);
  if (cur > 0) {
    const pos = bitposIn(s, start, cur, bit);
    if (bytes === cur || (pos !== -1 && pos !== cur * 8)) return { pos, start, bytes };
    start += cur;
    bytes -= cur;
  }
  const c = s.charCodeAt(end);
  return { pos: bitposByte((bit ? c & ~last : c | last) & 255, bit), start, bytes };
}

const OP_AND = 0;
const OP_OR = 1;
const OP_XOR = 2;
const OP_NOT = 3;
const OPS: Record<string, number> = { and: OP_AND, or: OP_OR, xor: OP_XOR, not: OP_NOT };

function bitop(ctx: ExecContext, args: string[]): Reply {
  const op = OPS[args[1]!.toLowerCase()];
  if (op === undefined) return SYNTAX;
  if (op === OP_NOT && args.length !== 4) return new ErrorReply('ERR BITOP NOT must be called with a single source key.');
  const dest = args[2]!;
  const srcs: Buffer[] = [];
  let maxlen = 0;
  for (let i = 3; i < args.length; i++) {
    const e = readKey(ctx, args[i]!);
    if (!e) {
      srcs.push(Buffer.alloc(0));
      continue;
    }
    if (typeof e.value !== 'string') return WRONGTYPE;
    const b = Buffer.from(e.value, 'latin1');
    srcs.push(b);
    if (b.length > maxlen) maxlen = b.length;
  }
  if (maxlen === 0) {
    ctx.keyspace.delete(ctx.db, dest, ctx.now);
    return 0;
  }
  const res = Buffer.alloc(maxlen);
  const first = srcs[0]!;
  first.copy(res);
  if (op === OP_NOT) {
    for (let j = 0; j < maxlen; j++) res[j] = ~res[j]! & 255;
  } else {
    // Bytes past a source's end count as zero.
    for (let i = 1; i < srcs.length; i++) {
      const src = srcs[i]!;
      const n = src.length;
      if (op === OP_AND) {
        for (let j = 0; j < n; j++) res[j]! &= src[j]!;
        res.fill(0, n);
      } else if (op === OP_OR) {
        for (let j = 0; j < n; j++) res[j]! |= src[j]!;
      } else {
        for (let j = 0; j < n; j++) res[j]! ^= src[j]!;
      }
    }
  }
  ctx.keyspace.set(ctx.db, dest, res.toString('latin1'), 0, { enc: 'raw' });
  return maxlen;
}

const OP_GET = 0;
const OP_SET = 1;
const OP_INCRBY = 2;

interface FieldOp {
  op: number;
  offset: number;
  value: bigint;
  owtype: number;
  bits: number;
  signed: boolean;
}

function bitfield(ctx: ExecContext, args: string[], readonlyCmd: boolean): Reply {
  const ops: FieldOp[] = [];
  let owtype = OVERFLOW_WRAP;
  let readonly = true;
  let highest = 0;
  for (let j = 2; j < args.length; j++) {
    const rem = args.length - j - 1;
    const sub = args[j]!.toLowerCase();
    let op: number;
    if (sub === 'get' && rem >= 2) op = OP_GET;
    else if (sub === 'set' && rem >= 3) op = OP_SET;
    else if (sub === 'incrby' && rem >= 3) op = OP_INCRBY;
    else if (sub === 'overflow' && rem >= 1) {
      const t = args[++j]!.toLowerCase();
      if (t === 'wrap') owtype = OVERFLOW_WRAP;
      else if (t === 'sat') owtype = OVERFLOW_SAT;
      else if (t === 'fail') owtype = OVERFLOW_FAIL;
      else return new ErrorReply('ERR Invalid OVERFLOW type specified');
      continue;
    } else return SYNTAX;
    const type = bitfieldType(args[j + 1]!);
    if (type instanceof ErrorReply) return type;
    const offset = bitOffset(ctx, args[j + 2]!, type.bits);
    if (offset instanceof ErrorReply) return offset;
    let value = 0n;
    if (op !== OP_GET) {
      readonly = false;
      highest = Math.max(highest, offset + type.bits - 1);
      const v = argInt(args[j + 3]!);
      if (v instanceof ErrorReply) return v;
      value = v;
    }
    ops.push({ op, offset, value, owtype, bits: type.bits, signed: type.signed });
    j += op === OP_GET ? 2 : 3;
  }

  const key = args[1]!;
  if (readonly) {
    const e = readKey(ctx, key);
    if (e && typeof e.value !== 'string') return WRONGTYPE;
    const s = (e?.value as string | undefined) ?? '';
    return ops.map((o) => fieldGet(s, o));
  }
  if (readonlyCmd) return new ErrorReply('ERR BITFIELD_RO only supports the GET subcommand');
  const e = writeString(ctx, key);
  if (e instanceof ErrorReply) return e;
  const cur = (e?.value as string | undefined) ?? '';
  const s = growZero(cur, Math.floor(highest / 8) + 1);
  const grown = !e || s.length !== cur.length;
  const p = Buffer.from(s, 'latin1');
  let changed = grown;
  const out: Reply[] = [];
  for (const o of ops) {
    if (o.op === OP_GET) {
      out.push(fieldGet(p, o));
      continue;
    }
    const r = o.signed ? fieldWriteSigned(p, o) : fieldWriteUnsigned(p, o);
    if (r === undefined) {
      out.push(null);
      continue;
    }
    if (r.changed) changed = true;
    out.push(intReply(r.reply));
  }
  store(ctx, key, e, changed ? p.toString('latin1') : cur, changed);
  return out;
}

/**
 * A GET: Redis copies up to 9 bytes from the field's first byte into a zero-padded buffer, so a
 * field reaching past the end of the string reads zeros there.
 */
function fieldGet(src: string | Buffer, o: FieldOp): Reply {
  const byte = Math.floor(o.offset / 8);
  const w = typeof src === 'string' ? window(src, byte, 9) : new Uint8Array(9);
  if (typeof src !== 'string') src.copy(w, 0, Math.min(byte, src.length), Math.min(byte + 9, src.length));
  const at = o.offset % 8;
  return intReply(o.signed ? getSigned(w, at, o.bits) : getUnsigned(w, at, o.bits));
}

/** SET / INCRBY on a signed field: the reply and whether bytes changed; undefined = FAIL. */
function fieldWriteSigned(p: Buffer, o: FieldOp): { reply: bigint; changed: boolean } | undefined {
  const oldval = getSigned(p, o.offset, o.bits);
  let newval: bigint;
  let reply: bigint;
  let dir: number;
  if (o.op === OP_INCRBY) {
    const c = checkSignedOverflow(oldval, o.value, o.bits, o.owtype);
    dir = c.dir;
    newval = dir ? c.limit : oldval + o.value;
    reply = newval;
  } else {
    const c = checkSignedOverflow(o.value, 0n, o.bits, o.owtype);
    dir = c.dir;
    newval = dir ? c.limit : o.value;
    reply = oldval;
  }
  if (dir && o.owtype === OVERFLOW_FAIL) return undefined;
  setBits(p, o.offset, o.bits, newval);
  return { reply, changed: oldval !== newval };
}

/** SET / INCRBY on an unsigned field (values as C uint64). */
function fieldWriteUnsigned(p: Buffer, o: FieldOp): { reply: bigint; changed: boolean } | undefined {
  const oldval = getUnsigned(p, o.offset, o.bits);
  let newval: bigint;
  let reply: bigint;
  let dir: number;
  if (o.op === OP_INCRBY) {
    const c = checkUnsignedOverflow(oldval, o.value, o.bits, o.owtype);
    dir = c.dir;
    newval = dir ? c.limit : BigInt.asUintN(64, oldval + o.value);
    reply = newval;
  } else {
    const v = BigInt.asUintN(64, o.value);
    const c = checkUnsignedOverflow(v, 0n, o.bits, o.owtype);
    dir = c.dir;
    newval = dir ? c.limit : v;
    reply = oldval;
  }
  if (dir && o.owtype === OVERFLOW_FAIL) return undefined;
  setBits(p, o.offset, o.bits, newval);
  // Replies are C long longs: an unsigned value is at most 2^63-1 here (u63 is the widest).
  return { reply: BigInt.asIntN(64, reply), changed: oldval !== newval };
}

export const commands: CommandModule = {
  setbit,
  getbit,
  bitcount,
  bitpos,
  bitop,
  bitfield: (ctx, args) => bitfield(ctx, args, false),
  bitfield_ro: (ctx, args) => bitfield(ctx, args, true),
};
