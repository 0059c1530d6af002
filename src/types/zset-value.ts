/**
 * A Redis sorted set as it lives in the hot set (docs/data-model.md, "Sorted sets").
 *
 * Small sorted sets are inline (OBJECT ENCODING `listpack`): members and scores in memory,
 * sorted by (score, member), and the whole set is one metadata record. Big ones are split
 * (`skiplist`): two element families under one version,
 *
 *   e|ns|keylen|key|version|'m'|member              -> score (8 bytes)      member -> score
 *   e|ns|keylen|key|version|'s'|score:8|member      -> score (8 bytes)      score order
 *   e|ns|keylen|key|version|'x'                     -> the stored rank index (zset-rank.ts)
 *
 * where score:8 is the double with its bits arranged so that byte order is numeric order (the
 * value repeats the exact score, which keeps -0), so
 * rank and score ranges stream from an engine scan of the 's' family and lexicographic ranges
 * from the 'm' family. The in-memory value of a split sorted set is only (version, count).
 *
 * Inline scores are stored as a listpack stores them, so -0 becomes 0 as in Redis; a split set
 * keeps -0 (the 's' key encodes it as 0, where it sorts).
 */
import { readVarint, varintLen, writeVarint } from './varint.ts';
import { CountedHeaderValue, readU64 } from './set-value.ts';
import type { RankIndex } from './zset-rank.ts';
import { readLatin1, writeLatin1 } from '../util/latin1.ts';
import type { DeferredValue } from '../engine/version.ts';

export const TAG_ZSET_INLINE = 8;
export const TAG_ZSET_SPLIT = 9;

/** Element-family markers inside a split sorted set's element range. */
export const FAM_MEMBER = 'm';
export const FAM_SCORE = 's';
/**
 * The stored rank index (zset-rank.ts): one record, after both element families so that a
 * copy of the members stops before it. It exists only while it matches the set exactly: the
 * first commit that changes the set deletes it in the same batch.
 */
export const FAM_RANK = 'x';

/** The configuration the encoding depends on (kept on the Keyspace). */
export interface ZSetLimits {
  zsetMaxListpackEntries: number;
  zsetMaxListpackValue: number;
}

/** (score, member) order: scores numerically (-0 == 0), then members bytewise. */
export function cmpEntry(s1: number, m1: string, s2: number, m2: string): number {
  if (s1 < s2) return -1;
  if (s1 > s2) return 1;
  return m1 < m2 ? -1 : m1 > m2 ? 1 : 0;
}

export class ZSetValue {
  /** Inline: members sorted by (score, member), scores alongside. Empty when split. */
  members: string[];
  scores: number[];
  /** Inline: member -> score. */
  index: Map<string, number>;
  /** 0 while inline in the metadata record; else the version of its element records. */
  version: number;
  /** Split: number of members. */
  count: number;
  /** Inline: sum of member lengths plus 8 per score (memory accounting). */
  bytes: number;
  /** Inline: the longest member seen (listpack limit). */
  maxLen: number;
  /** A new inline value that must be stored split (Keyspace.set splits it). */
  splitWanted = false;
  /** Split: where live 'm' and 's' records lie (set-collection.ts Bounds; memory only). */
  mBounds: { lo?: string; hiEx?: string } = {};
  sBounds: { lo?: string; hiEx?: string } = {};
  /** Split: the rank index (zset-rank.ts), loaded from its record or built when first needed. */
  rank: RankIndex | undefined;
  /**
   * Split: whether the FAM_RANK record exists (memory only). Undefined after a load from the
   * engine: unknown, so the next commit deletes it blindly.
   */
  rankStored: boolean | undefined;

  constructor() {
    this.members = [];
    this.scores = [];
    this.index = new Map();
    this.version = 0;
    this.count = 0;
    this.bytes = 0;
    this.maxLen = 0;
  }

  /**
   * A new value from pairs with distinct members (any order), encoded as Redis encodes a
   * freshly built sorted set (zsetConvertToListpackIfNeeded) when `limits` are given.
   */
  static build(pairs: Iterable<[string, number]>, limits?: ZSetLimits): ZSetValue {
    const z = new ZSetValue();
    const all = [...pairs];
    all.sort((a, b) => cmpEntry(a[1], a[0], b[1], b[0]));
    for (const [m, s] of all) {
      z.members.push(m);
      z.scores.push(s);
      z.index.set(m, s);
      z.bytes += m.length + 8;
      if (m.length > z.maxLen) z.maxLen = m.length;
    }
    if (limits) z.splitWanted = !z.fitsInline(limits);
    if (!z.splitWanted) {
      // A listpack stores -0 as 0; a skiplist keeps it.
      for (let i = 0; i < z.scores.length; i++) {
        if (z.scores[i] === 0) {
          z.scores[i] = 0;
          z.index.set(z.members[i]!, 0);
        }
      }
    }
    return z;
  }

  /**
   * The record that stores this set's rank index under `prefix` (its element prefix), when the
   * index is exact now and not stored yet; marks it stored.
   */
  rankRecord(prefix: string): { key: string; value: Uint8Array } | undefined {
    const r = this.rank;
    if (!this.split || !r?.storable || this.rankStored === true || r.total !== this.count) return undefined;
    this.rankStored = true;
    return { key: prefix + FAM_RANK, value: r.encode() };
  }

  static split(version: number, count: number): ZSetValue {
    const z = new ZSetValue();
    z.version = version;
    z.count = count;
    return z;
  }

  get card(): number {
    return this.version === 0 ? this.members.length : this.count;
  }

  /** Members held in memory (0 when split): what the hot set accounts for. */
  get size(): number {
    return this.members.length;
  }

  get split(): boolean {
    return this.version !== 0;
  }

  get encoding(): 'listpack' | 'skiplist' {
    return this.version === 0 ? 'listpack' : 'skiplist';
  }

  /** Whether an inline set may stay inline (Redis's listpack limits). */
  fitsInline(limits: ZSetLimits): boolean {
    return this.members.length <= limits.zsetMaxListpackEntries && this.maxLen <= limits.zsetMaxListpackValue;
  }

  /** Index of the first inline entry >= (score, member). */
  lowerBound(score: number, member: string): number {
    let lo = 0;
    let hi = this.members.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cmpEntry(this.scores[mid]!, this.members[mid]!, score, member) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Index of the first inline entry with score > s (`after`), or >= s. */
  scoreBound(s: number, after: boolean): number {
    let lo = 0;
    let hi = this.scores.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const v = this.scores[mid]!;
      if (after ? v <= s : v < s) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Inline rank of a member, or -1. */
  rankOf(member: string): number {
    const s = this.index.get(member);
    if (s === undefined) return -1;
    return this.lowerBound(s, member);
  }

  /** Inline insert of a member that is absent. */
  insert(member: string, score: number): void {
    if (score === 0) score = 0;
    const at = this.lowerBound(score, member);
    this.members.splice(at, 0, member);
    this.scores.splice(at, 0, score);
    this.index.set(member, score);
    this.bytes += member.length + 8;
    if (member.length > this.maxLen) this.maxLen = member.length;
  }

  /** Inline removal; returns whether the member was there. */
  remove(member: string): boolean {
    const at = this.rankOf(member);
    if (at < 0) return false;
    this.members.splice(at, 1);
    this.scores.splice(at, 1);
    this.index.delete(member);
    this.bytes -= member.length + 8;
    return true;
  }

  /** Inline removal of ranks [from, to). */
  removeRange(from: number, to: number): void {
    if (to <= from) return;
    const gone = this.members.splice(from, to - from);
    this.scores.splice(from, to - from);
    for (const m of gone) {
      this.index.delete(m);
      this.bytes -= m.length + 8;
    }
  }

  /** Turns an inline set into a split one under `version`; returns its element records (suffix, value). */
  splitOff(version: number): [string, string][] {
    const out: [string, string][] = [];
    for (let i = 0; i < this.members.length; i++) {
      const m = this.members[i]!;
      const s = this.scores[i]!;
      out.push([memberSuffix(m), encodeScore(s)], [scoreSuffix(s, m), encodeScore(s)]);
    }
    this.count = this.members.length;
    this.members = [];
    this.scores = [];
    this.index = new Map();
    this.bytes = 0;
    this.version = version;
    return out;
  }

  /** An independent copy for another key; a split copy names `version` (elements copied apart). */
  copy(version = 0): ZSetValue {
    if (this.version !== 0) return ZSetValue.split(version, this.count);
    const z = new ZSetValue();
    z.members = [...this.members];
    z.scores = [...this.scores];
    z.index = new Map(this.index);
    z.bytes = this.bytes;
    z.maxLen = this.maxLen;
    return z;
  }
}

// ------------------------------------------------------------------ element keys

const scratch = Buffer.allocUnsafe(8);

/** 8 bytes whose byte order is the numeric order of scores (-0 sorts as 0). */
export function scoreBytes(score: number): string {
  scratch.writeDoubleBE(score === 0 ? 0 : score, 0);
  if (scratch[0]! & 0x80) {
    for (let i = 0; i < 8; i++) scratch[i] = ~scratch[i]! & 255;
  } else {
    scratch[0] = scratch[0]! | 0x80;
  }
  return scratch.toString('latin1');
}

export function scoreFromBytes(s: string, at = 0): number {
  scratch.write(s.slice(at, at + 8), 0, 'latin1');
  if (scratch[0]! & 0x80) {
    scratch[0] = scratch[0]! & 0x7f;
  } else {
    for (let i = 0; i < 8; i++) scratch[i] = ~scratch[i]! & 255;
  }
  return scratch.readDoubleBE(0);
}

/** The value of a member record: the exact score (keeps -0), 8 bytes little-endian, as a binary string. */
export function encodeScore(score: number): string {
  scratch.writeDoubleLE(score, 0);
  return readLatin1(scratch, 0, 8);
}

export function decodeScore(v: Uint8Array): number {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength).readDoubleLE(0);
}

export function memberSuffix(member: string): string {
  return FAM_MEMBER + member;
}

export function scoreSuffix(score: number, member: string): string {
  return FAM_SCORE + scoreBytes(score) + member;
}

// ------------------------------------------------------------------ metadata record

/** Inline: tag, then per entry an 8-byte double, varint length, member. Split: tag, u64 version, varint count. */
export function encodeZSetMeta(z: ZSetValue): Uint8Array | DeferredValue {
  if (z.version !== 0) return new CountedHeaderValue(TAG_ZSET_SPLIT, undefined, z.version, z.count);
  let size = 1;
  for (const m of z.members) size += 8 + m.length + varintLen(m.length);
  const b = Buffer.allocUnsafe(size);
  b[0] = TAG_ZSET_INLINE;
  let at = 1;
  for (let i = 0; i < z.members.length; i++) {
    const m = z.members[i]!;
    b.writeDoubleLE(z.scores[i]!, at);
    at = writeVarint(b, at + 8, m.length);
    at = writeLatin1(b, at, m);
  }
  return b;
}

export function decodeZSetMeta(b: Buffer): ZSetValue {
  if (b[0] === TAG_ZSET_SPLIT) return ZSetValue.split(readU64(b, 1), readVarint(b, 9)[0]);
  const z = new ZSetValue();
  let at = 1;
  while (at < b.length) {
    const score = b.readDoubleLE(at);
    const [len, next] = readVarint(b, at + 8);
    const m = readLatin1(b, next, next + len);
    at = next + len;
    // Stored in order already.
    z.members.push(m);
    z.scores.push(score);
    z.index.set(m, score);
    z.bytes += m.length + 8;
    if (m.length > z.maxLen) z.maxLen = m.length;
  }
  return z;
}
