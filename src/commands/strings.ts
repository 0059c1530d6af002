/** String commands (Redis t_string.c semantics, replies and errors). */
import { ErrorReply, MapReply, OK, type Reply } from '../resp/reply.ts';
import { readKey, readString, writeKey } from '../types/access.ts';
import {
  formatLongDoubleHuman,
  intReply,
  ldAdd,
  ldFromBigInt,
  parseInt64,
  parseLongDouble,
} from '../types/numbers.ts';
import {
  argInt,
  invalidExpire,
  LLONG_MAX,
  LLONG_MIN,
  NAN_OR_INF,
  NOT_FLOAT,
  NOT_INTEGER,
  OVERFLOW,
  protoMaxBulkLen,
  SYNTAX,
  TOO_BIG,
  toExpireMs,
  WRONGTYPE,
  wrongArgs,
} from '../types/replies.ts';
import type { StringEnc } from '../types/values.ts';
import type { CommandModule, ExecContext } from './types.ts';

const F_NX = 1;
const F_XX = 2;
const F_GET = 4;
const F_KEEPTTL = 8;
const F_PERSIST = 16;
const F_EX = 32;
const F_PX = 64;
const F_EXAT = 128;
const F_PXAT = 256;
const F_ANY_EXPIRE = F_EX | F_PX | F_EXAT | F_PXAT;
const EXPIRE_FLAG: Record<string, number> = { ex: F_EX, px: F_PX, exat: F_EXAT, pxat: F_PXAT };

interface ExtArgs {
  flags: number;
  expire: string | undefined;
}

/** parseExtendedStringArgumentsOrReply for SET (isSet) and GETEX. */
function parseExtended(args: string[], from: number, isSet: boolean): ExtArgs | ErrorReply {
  let flags = 0;
  let expire: string | undefined;
  for (let j = from; j < args.length; j++) {
    const opt = args[j]!.toLowerCase();
    const hasNext = j < args.length - 1;
    if (opt === 'nx' && !(flags & F_XX) && isSet) flags |= F_NX;
    else if (opt === 'xx' && !(flags & F_NX) && isSet) flags |= F_XX;
    else if (opt === 'get' && isSet) flags |= F_GET;
    else if (opt === 'keepttl' && !(flags & F_PERSIST) && !(flags & F_ANY_EXPIRE) && isSet) flags |= F_KEEPTTL;
    else if (opt === 'persist' && !isSet && !(flags & F_ANY_EXPIRE) && !(flags & F_KEEPTTL)) flags |= F_PERSIST;
    else if (
      (opt === 'ex' || opt === 'px' || opt === 'exat' || opt === 'pxat') &&
      !(flags & F_KEEPTTL) &&
      !(flags & F_PERSIST) &&
      // The same option may repeat (the last one wins); two different ones may not.
      !(flags & F_ANY_EXPIRE & ~EXPIRE_FLAG[opt]!) &&
      hasNext
    ) {
      flags |= EXPIRE_FLAG[opt]!;
      expire = args[++j]!;
    } else {
      return SYNTAX;
    }
  }
  return { flags, expire };
}

/** getExpireMillisecondsOrReply: absolute ms, or the error. */
export function expireMs(ctx: ExecContext, raw: string, flags: number, cmd: string): number | ErrorReply {
  const v = parseInt64(raw);
  if (v === undefined) return NOT_INTEGER;
  const seconds = (flags & (F_EX | F_EXAT)) !== 0;
  if (v <= 0n || (seconds && v > LLONG_MAX / 1000n)) return invalidExpire(cmd);
  let ms = seconds ? v * 1000n : v;
  if (flags & (F_EX | F_PX)) ms += BigInt(ctx.now);
  if (ms <= 0n || ms > LLONG_MAX) return invalidExpire(cmd);
  return toExpireMs(ms);
}

function setGeneric(ctx: ExecContext, cmd: string, key: string, value: string, flags: number, expire: string | undefined): Reply {
  let when = 0;
  if (expire !== undefined) {
    const ms = expireMs(ctx, expire, flags, cmd);
    if (ms instanceof ErrorReply) return ms;
    when = ms;
  }
  let old: Reply = null;
  if (flags & F_GET) {
    const got = readString(ctx, key);
    if (got instanceof ErrorReply) return got;
    old = got ? got.v : null;
  }
  const cur = writeKey(ctx, key);
  if (((flags & F_NX) && cur) || ((flags & F_XX) && !cur)) return flags & F_GET ? old : null;
  const expireAt = expire !== undefined ? when : flags & F_KEEPTTL && cur ? cur.expireAt : 0;
  ctx.keyspace.set(ctx.db, key, value, expireAt);
  return flags & F_GET ? old : OK;
}

function checkLength(ctx: ExecContext, size: number, append: number): ErrorReply | undefined {
  return size + append > protoMaxBulkLen(ctx.server) ? TOO_BIG : undefined;
}

function incrDecr(ctx: ExecContext, key: string, incr: bigint): Reply {
  const e = writeKey(ctx, key);
  if (e && typeof e.value !== 'string') return WRONGTYPE;
  const old = e ? parseInt64(e.value as string) : 0n;
  if (old === undefined) return NOT_INTEGER;
  const next = old + incr;
  if (next > LLONG_MAX || next < LLONG_MIN) return OVERFLOW;
  const s = next.toString();
  if (e) ctx.keyspace.setString(ctx.db, key, e, s);
  else ctx.keyspace.set(ctx.db, key, s);
  return intReply(next);
}

function getrange(ctx: ExecContext, args: string[]): Reply {
  const s = argInt(args[2]!);
  if (s instanceof ErrorReply) return s;
  const en = argInt(args[3]!);
  if (en instanceof ErrorReply) return en;
  const got = readString(ctx, args[1]!);
  if (got === undefined) return '';
  if (got instanceof ErrorReply) return got;
  const str = got.v;
  const len = BigInt(str.length);
  let start = s;
  let end = en;
  if (start < 0n && end < 0n && start > end) return '';
  if (start < 0n) start = len + start;
  if (end < 0n) end = len + end;
  if (start < 0n) start = 0n;
  if (end < 0n) end = 0n;
  if (end >= len) end = len - 1n;
  if (start > end || len === 0n) return '';
  return str.slice(Number(start), Number(end) + 1);
}

/** LCS (the dynamic-programming table and range walk of Redis's lcsCommand). */
function lcs(ctx: ExecContext, args: string[]): Reply {
  const ea = readKey(ctx, args[1]!);
  const eb = readKey(ctx, args[2]!);
  if ((ea && typeof ea.value !== 'string') || (eb && typeof eb.value !== 'string')) {
    return new ErrorReply('ERR The specified keys must contain string values');
  }
  const a = (ea?.value as string | undefined) ?? '';
  const b = (eb?.value as string | undefined) ?? '';
  let getidx = false;
  let getlen = false;
  let withmatchlen = false;
  let minmatchlen = 0n;
  for (let j = 3; j < args.length; j++) {
    const opt = args[j]!.toLowerCase();
    const more = args.length - 1 - j;
    if (opt === 'idx') getidx = true;
    else if (opt === 'len') getlen = true;
    else if (opt === 'withmatchlen') withmatchlen = true;
    else if (opt === 'minmatchlen' && more > 0) {
      const v = argInt(args[j + 1]!);
      if (v instanceof ErrorReply) return v;
      minmatchlen = v < 0n ? 0n : v;
      j++;
    } else return SYNTAX;
  }
  if (getidx && getlen) return new ErrorReply('ERR If you want both the length and indexes, please just use IDX.');
  const alen = a.length;
  const blen = b.length;
  const cells = (alen + 1) * (blen + 1);
  if (cells * 4 > protoMaxBulkLen(ctx.server)) {
    return new ErrorReply('ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len');
  }
  const w = blen + 1;
  const dp = new Uint32Array(cells);
  for (let i = 1; i <= alen; i++) {
    const ac = a.charCodeAt(i - 1);
    for (let j = 1; j <= blen; j++) {
      if (ac === b.charCodeAt(j - 1)) dp[i * w + j] = dp[(i - 1) * w + j - 1]! + 1;
      else {
        const l1 = dp[(i - 1) * w + j]!;
        const l2 = dp[i * w + j - 1]!;
        dp[i * w + j] = l1 > l2 ? l1 : l2;
      }
    }
  }
  let idx = dp[alen * w + blen]!;
  const total = idx;
  const computelcs = getidx || !getlen;
  const result: number[] = computelcs ? new Array<number>(idx) : [];
  const matches: Reply[] = [];
  let aStart = alen;
  let aEnd = 0;
  let bStart = 0;
  let bEnd = 0;
  let i = alen;
  let j = blen;
  while (computelcs && i > 0 && j > 0) {
    let emit = false;
    if (a.charCodeAt(i - 1) === b.charCodeAt(j - 1)) {
      result[idx - 1] = a.charCodeAt(i - 1);
      if (aStart === alen) {
        aStart = i - 1;
        aEnd = i - 1;
        bStart = j - 1;
        bEnd = j - 1;
      } else if (aStart === i && bStart === j) {
        aStart--;
        bStart--;
      } else {
        emit = true;
      }
      if (aStart === 0 || bStart === 0) emit = true;
      idx--;
      i--;
      j--;
    } else {
      const l1 = dp[(i - 1) * w + j]!;
      const l2 = dp[i * w + j - 1]!;
      if (l1 > l2) i--;
      else j--;
      if (aStart !== alen) emit = true;
    }
    const matchLen = aEnd - aStart + 1;
    if (emit) {
      if (getidx && (minmatchlen === 0n || BigInt(matchLen) >= minmatchlen)) {
        const m: Reply[] = [[aStart, aEnd], [bStart, bEnd]];
        if (withmatchlen) m.push(matchLen);
        matches.push(m);
      }
      aStart = alen;
    }
  }
  if (getidx) {
    return new MapReply([
      ['matches', matches],
      ['len', total],
    ]);
  }
  if (getlen) return total;
  return Buffer.from(result).toString('latin1');
}

export const commands: CommandModule = {
  get(ctx, args) {
    const got = readString(ctx, args[1]!);
    if (got instanceof ErrorReply) return got;
    return got ? got.v : null;
  },

  set(ctx, args) {
    const p = parseExtended(args, 3, true);
    if (p instanceof ErrorReply) return p;
    return setGeneric(ctx, 'set', args[1]!, args[2]!, p.flags, p.expire);
  },

  setnx(ctx, args) {
    if (writeKey(ctx, args[1]!)) return 0;
    ctx.keyspace.set(ctx.db, args[1]!, args[2]!);
    return 1;
  },

  setex(ctx, args) {
    return setGeneric(ctx, 'setex', args[1]!, args[3]!, F_EX, args[2]!);
  },

  psetex(ctx, args) {
    return setGeneric(ctx, 'psetex', args[1]!, args[3]!, F_PX, args[2]!);
  },

  getset(ctx, args) {
    const got = readString(ctx, args[1]!);
    if (got instanceof ErrorReply) return got;
    ctx.keyspace.set(ctx.db, args[1]!, args[2]!);
    return got ? got.v : null;
  },

  getdel(ctx, args) {
    const got = readString(ctx, args[1]!);
    if (got instanceof ErrorReply) return got;
    if (!got) return null;
    ctx.keyspace.delete(ctx.db, args[1]!, ctx.now);
    return got.v;
  },

  getex(ctx, args) {
    const p = parseExtended(args, 2, false);
    if (p instanceof ErrorReply) return p;
    const key = args[1]!;
    const got = readString(ctx, key);
    if (got instanceof ErrorReply) return got;
    if (!got) return null;
    if (p.expire !== undefined) {
      const ms = expireMs(ctx, p.expire, p.flags, 'getex');
      if (ms instanceof ErrorReply) return ms;
      if (p.flags & (F_EXAT | F_PXAT) && ms <= ctx.now) ctx.keyspace.delete(ctx.db, key, ctx.now);
      else ctx.keyspace.setExpire(ctx.db, key, ms);
    } else if (p.flags & F_PERSIST && got.e.expireAt) {
      ctx.keyspace.setExpire(ctx.db, key, 0);
    }
    return got.v;
  },

  mget(ctx, args) {
    const out: Reply[] = [];
    for (let i = 1; i < args.length; i++) {
      const e = readKey(ctx, args[i]!);
      out.push(e && typeof e.value === 'string' ? e.value : null);
    }
    return out;
  },

  mset(ctx, args) {
    if (args.length % 2 === 0) return wrongArgs('mset');
    for (let i = 1; i < args.length; i += 2) ctx.keyspace.set(ctx.db, args[i]!, args[i + 1]!);
    return OK;
  },

  msetnx(ctx, args) {
    if (args.length % 2 === 0) return wrongArgs('msetnx');
    for (let i = 1; i < args.length; i += 2) if (writeKey(ctx, args[i]!)) return 0;
    for (let i = 1; i < args.length; i += 2) ctx.keyspace.set(ctx.db, args[i]!, args[i + 1]!);
    return 1;
  },

  append(ctx, args) {
    const key = args[1]!;
    const add = args[2]!;
    const e = writeKey(ctx, key);
    if (!e) {
      ctx.keyspace.set(ctx.db, key, add);
      return add.length;
    }
    if (typeof e.value !== 'string') return WRONGTYPE;
    const tooBig = checkLength(ctx, e.value.length, add.length);
    if (tooBig) return tooBig;
    const v = e.value + add;
    ctx.keyspace.setString(ctx.db, key, e, v, 'raw');
    return v.length;
  },

  strlen(ctx, args) {
    const got = readString(ctx, args[1]!);
    if (got instanceof ErrorReply) return got;
    return got ? got.v.length : 0;
  },

  getrange: getrange,
  substr: getrange,

  setrange(ctx, args) {
    const key = args[1]!;
    const off = argInt(args[2]!);
    if (off instanceof ErrorReply) return off;
    if (off < 0n) return new ErrorReply('ERR offset is out of range');
    const value = args[3]!;
    const e = writeKey(ctx, key);
    let cur: string;
    let enc: StringEnc = 'raw';
    if (!e) {
      if (value.length === 0) return 0;
      const tooBig = checkLength(ctx, Number(off), value.length);
      if (tooBig) return tooBig;
      cur = '';
    } else {
      if (typeof e.value !== 'string') return WRONGTYPE;
      if (value.length === 0) return e.value.length;
      const tooBig = checkLength(ctx, Number(off), value.length);
      if (tooBig) return tooBig;
      cur = e.value;
      enc = 'raw';
    }
    const o = Number(off);
    const padded = cur.length < o ? cur + '\0'.repeat(o - cur.length) : cur;
    const next = padded.slice(0, o) + value + padded.slice(o + value.length);
    if (e) ctx.keyspace.setString(ctx.db, key, e, next, enc);
    else ctx.keyspace.set(ctx.db, key, next, 0, { enc });
    return next.length;
  },

  incr(ctx, args) {
    return incrDecr(ctx, args[1]!, 1n);
  },

  decr(ctx, args) {
    return incrDecr(ctx, args[1]!, -1n);
  },

  incrby(ctx, args) {
    const v = argInt(args[2]!);
    if (v instanceof ErrorReply) return v;
    return incrDecr(ctx, args[1]!, v);
  },

  decrby(ctx, args) {
    const v = argInt(args[2]!);
    if (v instanceof ErrorReply) return v;
    if (v === LLONG_MIN) return new ErrorReply('ERR decrement would overflow');
    return incrDecr(ctx, args[1]!, -v);
  },

  incrbyfloat(ctx, args) {
    const key = args[1]!;
    const e = writeKey(ctx, key);
    if (e && typeof e.value !== 'string') return WRONGTYPE;
    const cur = e ? parseLongDouble(e.value as string) : ldFromBigInt(0n);
    if (!cur) return NOT_FLOAT;
    const incr = parseLongDouble(args[2]!);
    if (!incr) return NOT_FLOAT;
    const next = ldAdd(cur, incr);
    if (next.kind !== 'f') return NAN_OR_INF;
    const s = formatLongDoubleHuman(next);
    // createStringObjectFromLongDouble: a plain string object, never int-encoded.
    if (e) ctx.keyspace.setString(ctx.db, key, e, s, 'noint');
    else ctx.keyspace.set(ctx.db, key, s, 0, { enc: 'noint' });
    return s;
  },

  lcs,
};
