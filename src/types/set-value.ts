/**
 * A Redis set as it lives in the hot set (docs/data-model.md, "Sets").
 *
 * Small sets are inline: every member is in `members` and the whole set is one metadata
 * record. Big sets are split: one element record `e|ns|keylen|key|version|member -> ''` per
 * member, and the in-memory value is only the header (version, count, encoding), so a set of
 * any size costs a few bytes of memory and SADD/SREM write one record per member plus the
 * metadata.
 *
 * OBJECT ENCODING follows Redis 7.0 exactly and is independent of the physical form: `intset`
 * while every member is an integer (string2ll) and there are at most set-max-intset-entries
 * members, else `hashtable`, one way (Redis never converts back, except when it builds a new
 * set: the STORE commands, SPOP's rebuild, RESTORE).
 */
import { parseInt64 } from './numbers.ts';
import { readVarint, varintLen, writeVarint } from './varint.ts';
import { headerScratch, headerString, readLatin1, writeLatin1 } from '../util/latin1.ts';
import type { DeferredValue } from '../engine/version.ts';

export const TAG_SET_INLINE = 6;
export const TAG_SET_SPLIT = 7;

/** Physical limits: an intset stays inline up to this many members... */
export const SET_INLINE_INTS = 512;
/** ...any other set up to min(this, set-max-intset-entries) members of at most SET_INLINE_VALUE bytes. */
export const SET_INLINE_ENTRIES = 128;
export const SET_INLINE_VALUE = 64;

/** The value of a member's element record. */
export const EMPTY = new Uint8Array(0);

/** The configuration a set's encoding depends on (kept on the Keyspace). */
export interface SetLimits {
  setMaxIntsetEntries: number;
}

/** isSdsRepresentableAsLongLong: what an intset can hold. */
export function isIntMember(s: string): boolean {
  return s.length <= 20 && parseInt64(s) !== undefined;
}

export class SetValue {
  /** Inline (version 0): the members. Always empty when split. */
  members: Set<string>;
  /** 0 while inline in the metadata record; else the version of its element records. */
  version: number;
  /** Split: number of members. */
  count: number;
  /** OBJECT ENCODING is intset (else hashtable). */
  intset: boolean;
  /** Inline: sum of member lengths (memory accounting). */
  bytes: number;
  /** Inline: the longest member seen (inline placement). */
  maxLen: number;
  /** A new inline value that must be stored split (Keyspace.set splits it). */
  splitWanted = false;
  /** Split: where live members lie (set-collection.ts Bounds; memory only). */
  bounds: { lo?: string; hiEx?: string } = {};
  /** Split: members removed since its records were last written whole (memory only; SetView.rewrite). */
  removed = 0;

  constructor(members: Iterable<string> = [], intset = true) {
    this.members = new Set(members);
    this.version = 0;
    this.count = 0;
    this.intset = intset;
    let b = 0;
    let m = 0;
    for (const s of this.members) {
      b += s.length;
      if (s.length > m) m = s.length;
      if (this.intset && !isIntMember(s)) this.intset = false;
    }
    this.bytes = b;
    this.maxLen = m;
  }

  /** A new set built from members, encoded as Redis encodes a freshly built set. */
  static build(members: Iterable<string>, limits: SetLimits): SetValue {
    const s = new SetValue(members);
    if (s.members.size > limits.setMaxIntsetEntries) s.intset = false;
    s.splitWanted = !s.fitsInline(limits);
    return s;
  }

  static split(version: number, count: number, intset: boolean): SetValue {
    const s = new SetValue([], intset);
    s.version = version;
    s.count = count;
    return s;
  }

  /** Number of members. */
  get card(): number {
    return this.version === 0 ? this.members.size : this.count;
  }

  /** Members held in memory (0 when split): what the hot set accounts for. */
  get size(): number {
    return this.members.size;
  }

  get split(): boolean {
    return this.version !== 0;
  }

  get encoding(): 'intset' | 'hashtable' {
    return this.intset ? 'intset' : 'hashtable';
  }

  /** setTypeAdd's encoding rule for a member about to be added to a set of `card` members. */
  noteAdd(member: string, limits: SetLimits): void {
    if (this.intset && (!isIntMember(member) || this.card + 1 > limits.setMaxIntsetEntries)) this.intset = false;
  }

  /** Inline add (the caller knows the member is new and called noteAdd). */
  addInline(member: string): void {
    this.members.add(member);
    this.bytes += member.length;
    if (member.length > this.maxLen) this.maxLen = member.length;
  }

  removeInline(member: string): boolean {
    if (!this.members.delete(member)) return false;
    this.bytes -= member.length;
    return true;
  }

  /** Whether an inline set may stay inline (the physical rule in the header comment). */
  fitsInline(limits: SetLimits): boolean {
    const n = this.members.size;
    if (this.intset) return n <= SET_INLINE_INTS;
    return n <= Math.min(SET_INLINE_ENTRIES, limits.setMaxIntsetEntries) && this.maxLen <= SET_INLINE_VALUE;
  }

  /** Inline members in Redis's order: an intset is sorted by value. */
  ordered(): string[] {
    const out = [...this.members];
    if (this.intset) out.sort(compareInts);
    return out;
  }

  /** Turns an inline set into a split one under `version`; returns its element records (suffix, value). */
  splitOff(version: number): [string, Uint8Array][] {
    const out: [string, Uint8Array][] = [];
    for (const m of this.members) out.push([m, EMPTY]);
    this.count = this.members.size;
    this.members = new Set();
    this.bytes = 0;
    this.version = version;
    return out;
  }

  /** An independent copy for another key; a split copy names `version` (elements copied apart). */
  copy(version = 0): SetValue {
    if (this.version === 0) {
      const s = new SetValue(this.members, this.intset);
      s.intset = this.intset;
      return s;
    }
    return SetValue.split(version, this.count, this.intset);
  }
}

export function compareInts(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

// ------------------------------------------------------------------ metadata record

const FLAG_HASHTABLE = 1;

/** Inline: tag, flags, then varint length + bytes per member. Split: tag, flags, u64 version, varint count. */
export function encodeSetMeta(s: SetValue): Uint8Array | DeferredValue {
  const flags = s.intset ? 0 : FLAG_HASHTABLE;
  if (s.version !== 0) return new CountedHeaderValue(TAG_SET_SPLIT, flags, s.version, s.count);
  let size = 2;
  for (const m of s.members) size += m.length + varintLen(m.length);
  const b = Buffer.allocUnsafe(size);
  b[0] = TAG_SET_INLINE;
  b[1] = flags;
  let at = 2;
  for (const m of s.members) {
    at = writeVarint(b, at, m.length);
    at = writeLatin1(b, at, m);
  }
  return b;
}

/**
 * A split set's or sorted set's header, encoded only when the engine needs its bytes: tag,
 * flags (sets only), u64 version, varint count.
 */
export class CountedHeaderValue implements DeferredValue {
  readonly tag: number;
  readonly flags: number | undefined;
  readonly version: number;
  readonly count: number;
  constructor(tag: number, flags: number | undefined, version: number, count: number) {
    this.tag = tag;
    this.flags = flags;
    this.version = version;
    this.count = count;
  }
  get length(): number {
    return 2 + 8 + 10;
  }
  encode(): string {
    const b = headerScratch;
    b[0] = this.tag;
    let at = 1;
    if (this.flags !== undefined) b[at++] = this.flags;
    writeU64(b, at, this.version);
    return headerString(writeVarint(b, at + 8, this.count));
  }
}

export function decodeSetMeta(b: Buffer): SetValue {
  const intset = (b[1]! & FLAG_HASHTABLE) === 0;
  if (b[0] === TAG_SET_SPLIT) return SetValue.split(readU64(b, 2), readVarint(b, 10)[0], intset);
  const members: string[] = [];
  let at = 2;
  while (at < b.length) {
    const [len, next] = readVarint(b, at);
    members.push(readLatin1(b, next, next + len));
    at = next + len;
  }
  const s = new SetValue(members, intset);
  s.intset = intset;
  return s;
}

// Small binary helpers shared with zset-value.ts (kept here so neither imports encoding.ts).

export function writeU64(b: Buffer, at: number, n: number): void {
  b.writeUInt32BE(Math.floor(n / 0x100000000), at);
  b.writeUInt32BE(n >>> 0, at + 4);
}

export function readU64(b: Buffer, at: number): number {
  return b.readUInt32BE(at) * 0x100000000 + b.readUInt32BE(at + 4);
}
