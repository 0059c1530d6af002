/**
 * DUMP / RESTORE bodies of sets and sorted sets (the RDB object encodings, see dump.ts). We
 * write the plain RDB_TYPE_SET and RDB_TYPE_ZSET_2 forms and read every form Redis 7.0 emits
 * (intset, listpack, ziplist, the old string-score zset), choosing the encoding of the
 * restored value the way Redis's rdbLoadObject does.
 */
import { BadFormat, lenBytes, listpackEntries, rdbString, type Reader, ziplistEntries } from './dump.ts';
import { isIntMember, type SetLimits, SetValue } from './set-value.ts';
import { strtod } from './zset-range.ts';
import { type ZSetLimits, ZSetValue } from './zset-value.ts';

const RDB_TYPE_SET = 2;
const RDB_TYPE_ZSET = 3;
const RDB_TYPE_ZSET_2 = 5;
const RDB_TYPE_SET_INTSET = 11;
const RDB_TYPE_ZSET_ZIPLIST = 12;
const RDB_TYPE_ZSET_LISTPACK = 17;

export const SET_RDB_TYPES = new Set([RDB_TYPE_SET, RDB_TYPE_ZSET, RDB_TYPE_ZSET_2, RDB_TYPE_SET_INTSET, RDB_TYPE_ZSET_ZIPLIST, RDB_TYPE_ZSET_LISTPACK]);

export const DEFAULT_LIMITS: SetLimits & ZSetLimits = { setMaxIntsetEntries: 512, zsetMaxListpackEntries: 128, zsetMaxListpackValue: 64 };

/** The RDB type byte and body of an inline set or sorted set (split ones are read inline first). */
export function dumpCollection(v: SetValue | ZSetValue): Buffer[] {
  if (v instanceof SetValue) {
    const parts = [Buffer.from([RDB_TYPE_SET]), lenBytes(v.members.size)];
    for (const m of v.ordered()) parts.push(rdbString(m));
    return parts;
  }
  const parts = [Buffer.from([RDB_TYPE_ZSET_2]), lenBytes(v.members.length)];
  // Redis saves a skiplist from the highest score down; either order loads.
  for (let i = v.members.length - 1; i >= 0; i--) {
    const d = Buffer.alloc(8);
    d.writeDoubleLE(v.scores[i]!, 0);
    parts.push(rdbString(v.members[i]!), d);
  }
  return parts;
}

/** Decodes the body of one of the set/zset RDB types; throws BadFormat on corrupt data. */
export function restoreCollection(type: number, r: Reader, limits: SetLimits & ZSetLimits): SetValue | ZSetValue {
  switch (type) {
    case RDB_TYPE_SET: {
      const n = r.plainLen();
      if (n === 0) throw new BadFormat();
      const members = new Set<string>();
      for (let i = 0; i < n; i++) {
        const m = r.string();
        if (members.has(m)) throw new BadFormat(); // duplicate member
        members.add(m);
      }
      return SetValue.build(members, limits);
    }
    case RDB_TYPE_SET_INTSET: {
      return SetValue.build(intsetMembers(Buffer.from(r.string(), 'latin1')), limits);
    }
    case RDB_TYPE_ZSET:
    case RDB_TYPE_ZSET_2: {
      const n = r.plainLen();
      if (n === 0) throw new BadFormat();
      const pairs = new Map<string, number>();
      for (let i = 0; i < n; i++) {
        const m = r.string();
        const score = type === RDB_TYPE_ZSET_2 ? r.take(8).readDoubleLE(0) : oldDouble(r);
        if (Number.isNaN(score) || pairs.has(m)) throw new BadFormat();
        pairs.set(m, score);
      }
      return ZSetValue.build(pairs, limits);
    }
    case RDB_TYPE_ZSET_ZIPLIST:
    case RDB_TYPE_ZSET_LISTPACK: {
      const blob = Buffer.from(r.string(), 'latin1');
      const items = type === RDB_TYPE_ZSET_LISTPACK ? listpackEntries(blob) : ziplistEntries(blob);
      if (items.length === 0 || items.length % 2 !== 0) throw new BadFormat();
      const pairs = new Map<string, number>();
      for (let i = 0; i < items.length; i += 2) {
        const m = items[i]!;
        const t = strtod(items[i + 1]!);
        if (t.end !== items[i + 1]!.length || Number.isNaN(t.value) || pairs.has(m)) throw new BadFormat();
        pairs.set(m, t.value);
      }
      // A listpack payload stays a listpack unless it has too many entries (rdb.c).
      const z = ZSetValue.build(pairs);
      z.splitWanted = pairs.size > limits.zsetMaxListpackEntries;
      return z;
    }
    default:
      throw new BadFormat();
  }
}

/** RDB_TYPE_ZSET's score: a length byte (253 nan, 254 +inf, 255 -inf) then ASCII. */
function oldDouble(r: Reader): number {
  const len = r.byte();
  if (len === 253) return NaN;
  if (len === 254) return Infinity;
  if (len === 255) return -Infinity;
  const s = r.take(len).toString('latin1');
  const t = strtod(s);
  if (t.end !== s.length) throw new BadFormat();
  return t.value;
}

/** An intset blob: u32 LE encoding (2, 4 or 8), u32 LE length, strictly ascending integers. */
function intsetMembers(b: Buffer): string[] {
  if (b.length < 8) throw new BadFormat();
  const enc = b.readUInt32LE(0);
  const n = b.readUInt32LE(4);
  if ((enc !== 2 && enc !== 4 && enc !== 8) || n === 0 || b.length !== 8 + enc * n) throw new BadFormat();
  const out: string[] = [];
  let prev: bigint | undefined;
  for (let i = 0; i < n; i++) {
    const at = 8 + i * enc;
    const v = enc === 2 ? BigInt(b.readInt16LE(at)) : enc === 4 ? BigInt(b.readInt32LE(at)) : b.readBigInt64LE(at);
    if (prev !== undefined && v <= prev) throw new BadFormat();
    prev = v;
    out.push(v.toString());
  }
  if (!out.every(isIntMember)) throw new BadFormat();
  return out;
}
