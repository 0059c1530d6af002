/**
 * How Redis keys become engine records (the byte layout is documented in docs/data-model.md).
 * Engine keys are binary strings (one char per byte) so these builders are plain concatenation.
 *
 *   m | ns:u32 | key                                   metadata: one per Redis key
 *   e | ns:u32 | keylen:u32 | key | version:u64 | elem  element records of big collections
 *   t | ns:u32 | expireAt:u64 | key                    TTL index (value: version or empty)
 *   c                                                   catalog (db -> namespace, counters)
 *
 * `ns` is a namespace id: each logical database maps to one, and FLUSHDB/SWAPDB only change
 * that mapping, so they are O(1) on the engine; dead namespaces are deleted in the background.
 */
import { pack, unpack } from 'msgpackr';
import { POS_BIAS, ListValue } from './list.ts';
import { decodeSetMeta, encodeSetMeta, SetValue, TAG_SET_INLINE, TAG_SET_SPLIT } from './set-value.ts';
import { decodeZSetMeta, encodeZSetMeta, TAG_ZSET_INLINE, TAG_ZSET_SPLIT, ZSetValue } from './zset-value.ts';
import { HashValue, type Value } from './values.ts';
import { readVarint, varintLen, writeVarint } from './varint.ts';
import { headerScratch, headerString, latin1String, readLatin1, writeLatin1 } from '../util/latin1.ts';
import type { DeferredValue } from '../engine/version.ts';

export const CATALOG_KEY = 'c';

// One fromCharCode call per field, not one per byte joined by '+': key building is on every
// write's path, and each concatenation makes a string piece that hashing must flatten.
function u32(n: number): string {
  return String.fromCharCode(n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255);
}

/** Big-endian 8 bytes of a non-negative safe integer. */
export function u64(n: number): string {
  const hi = Math.floor(n / 0x100000000);
  const lo = n >>> 0;
  return String.fromCharCode(
    hi >>> 24, (hi >>> 16) & 255, (hi >>> 8) & 255, hi & 255,
    lo >>> 24, (lo >>> 16) & 255, (lo >>> 8) & 255, lo & 255,
  );
}

export function readU32(s: string, at: number): number {
  return ((s.charCodeAt(at) << 24) | (s.charCodeAt(at + 1) << 16) | (s.charCodeAt(at + 2) << 8) | s.charCodeAt(at + 3)) >>> 0;
}

export function readU64(s: string, at: number): number {
  return readU32(s, at) * 0x100000000 + readU32(s, at + 4);
}

export function metaPrefix(ns: number): string {
  return 'm' + u32(ns);
}

export function metaKey(ns: number, key: string): string {
  return 'm' + u32(ns) + key;
}

/** Length of the metadata key prefix; the user key starts here. */
export const META_PREFIX_LEN = 5;

export function nsOfPhysKey(pk: string): number {
  return readU32(pk, 1);
}

export function elemPrefix(ns: number, key: string, version: number): string {
  return 'e' + u32(ns) + u32(key.length) + key + u64(version);
}

export function elemKey(ns: number, key: string, version: number, elem: string): string {
  return elemPrefix(ns, key, version) + elem;
}

/** A split list's element at a signed position (biased so byte order is numeric order). */
export function listPosKey(ns: number, key: string, version: number, pos: number): string {
  return elemPrefix(ns, key, version) + u64(pos + POS_BIAS);
}

/** The (ns, key, version) group of an element record key, with its prefix. */
export function parseElemKey(k: string): { ns: number; key: string; version: number; prefix: string } | undefined {
  if (k.length < 17 || k[0] !== 'e') return undefined;
  const ns = readU32(k, 1);
  const len = readU32(k, 5);
  if (k.length < 9 + len + 8) return undefined;
  const key = k.slice(9, 9 + len);
  const version = readU64(k, 9 + len);
  return { ns, key, version, prefix: k.slice(0, 9 + len + 8) };
}

export function ttlPrefix(ns: number): string {
  return 't' + u32(ns);
}

export function ttlKey(ns: number, expireAt: number, key: string): string {
  return 't' + u32(ns) + u64(expireAt) + key;
}

export function parseTtlKey(k: string): { ns: number; expireAt: number; key: string } {
  return { ns: readU32(k, 1), expireAt: readU64(k, 5), key: k.slice(13) };
}

/** Every record of namespace ns, for one record family ('m', 'e' or 't'). */
export function nsRange(family: string, ns: number): { start: string; end: string } {
  return { start: family + u32(ns), end: family + u32(ns + 1) };
}

/** The smallest string greater than every string starting with p ('' if there is none). */
export function prefixEnd(p: string): string {
  let i = p.length - 1;
  while (i >= 0 && p.charCodeAt(i) === 255) i--;
  if (i < 0) return '';
  return p.slice(0, i) + String.fromCharCode(p.charCodeAt(i) + 1);
}

/**
 * A value's bytes. Pool slices, not small Uint8Arrays of their own: those live on V8's heap,
 * and with a million of them in the memtable the server's RSS was about 55 MB higher.
 */
export function toBytes(s: string): Uint8Array {
  return Buffer.from(s, 'latin1');
}

export const fromBytes = latin1String;

// Metadata record values: tag byte, then the body.
export const TAG_STRING = 1;
export const TAG_HASH_INLINE = 2;
export const TAG_HASH_SPLIT = 3;
export const TAG_LIST_INLINE = 4;
export const TAG_LIST_SPLIT = 5;

export type MetaType = 'string' | 'hash' | 'list' | 'set' | 'zset';

export function typeOfTag(tag: number): MetaType | undefined {
  if (tag === TAG_STRING) return 'string';
  if (tag === TAG_HASH_INLINE || tag === TAG_HASH_SPLIT) return 'hash';
  if (tag === TAG_LIST_INLINE || tag === TAG_LIST_SPLIT) return 'list';
  if (tag === TAG_SET_INLINE || tag === TAG_SET_SPLIT) return 'set';
  if (tag === TAG_ZSET_INLINE || tag === TAG_ZSET_SPLIT) return 'zset';
  return undefined;
}

/** Header of a split collection: its element version and element count. */
export interface SplitHeader {
  v: number;
  n: number;
  /** Lists: position of the first element. */
  h?: number;
  /** Lists: positions per node record (absent: 1, the layout before nodes). */
  k?: number;
}

/** A decoded metadata record; split collections still need their elements loaded. */
export type DecodedMeta = { kind: 'value'; value: Value } | { kind: 'split'; type: MetaType; header: SplitHeader };

export function encodeString(s: string): Uint8Array {
  const b = Buffer.allocUnsafe(1 + s.length);
  b[0] = TAG_STRING;
  writeLatin1(b, 1, s);
  return b;
}

/** Inline pairs: varint length + bytes, repeated. Compact and exact for binary strings. */
export function encodePairs(tag: number, map: Map<string, string>): Uint8Array {
  let size = 1;
  for (const [f, v] of map) size += f.length + v.length + varintLen(f.length) + varintLen(v.length);
  const b = Buffer.allocUnsafe(size);
  b[0] = tag;
  let at = 1;
  for (const [f, v] of map) {
    at = writeVarint(b, at, f.length);
    at = writeLatin1(b, at, f);
    at = writeVarint(b, at, v.length);
    at = writeLatin1(b, at, v);
  }
  return b;
}

function decodePairs(b: Buffer, at: number): Map<string, string> {
  const map = new Map<string, string>();
  while (at < b.length) {
    let [len, next] = readVarint(b, at);
    const f = readLatin1(b, next, next + len);
    at = next + len;
    [len, next] = readVarint(b, at);
    const v = readLatin1(b, next, next + len);
    at = next + len;
    map.set(f, v);
  }
  return map;
}

/** The most bytes encodeSplit writes: tag, fixmap, four one-char names with float 64 values. */
const SPLIT_HEADER_MAX = 2 + 4 * 11;

/** A split list's or hash's header, encoded only when the engine needs its bytes. */
class SplitHeaderValue implements DeferredValue, SplitHeader {
  readonly tag: number;
  readonly v: number;
  readonly n: number;
  readonly h: number | undefined;
  readonly k: number | undefined;
  constructor(tag: number, v: number, n: number, h?: number, k?: number) {
    this.tag = tag;
    this.v = v;
    this.n = n;
    this.h = h;
    this.k = k;
  }
  get length(): number {
    return SPLIT_HEADER_MAX;
  }
  encode(): string {
    return encodeSplit(this.tag, this);
  }
}

/**
 * Tag byte, then the header as a MessagePack map, written by hand: a generic encoder costs
 * more than the rest of a write to a big collection.
 */
export function encodeSplit(tag: number, header: SplitHeader): string {
  const { v, n, h, k } = header;
  const fields = 2 + (h === undefined ? 0 : 1) + (k === undefined ? 0 : 1);
  const b = headerScratch;
  b[0] = tag;
  b[1] = 0x80 | fields; // fixmap
  let at = writeField(b, 2, 0x76 /* v */, v);
  at = writeField(b, at, 0x6e /* n */, n);
  if (h !== undefined) at = writeField(b, at, 0x68 /* h */, h);
  if (k !== undefined) at = writeField(b, at, 0x6b /* k */, k);
  return headerString(at);
}

/** Bytes after the type byte of a MessagePack integer: fixint, int 32, or float 64 (exact for safe integers). */
function intSize(n: number): number {
  return n >= -32 && n < 128 ? 0 : n >= -0x80000000 && n < 0x80000000 ? 4 : 8;
}

const f64 = new DataView(new ArrayBuffer(8));

/** A one-char fixstr name and an integer value; returns the position after them. */
function writeField(b: Uint8Array, at: number, name: number, n: number): number {
  b[at++] = 0xa1; // fixstr of one char
  b[at++] = name;
  const size = intSize(n);
  if (size === 0) {
    b[at++] = n & 0xff; // positive or negative fixint
  } else if (size === 4) {
    b[at++] = 0xd2;
    b[at++] = (n >>> 24) & 0xff;
    b[at++] = (n >>> 16) & 0xff;
    b[at++] = (n >>> 8) & 0xff;
    b[at++] = n & 0xff;
  } else {
    b[at++] = 0xcb;
    f64.setFloat64(0, n);
    for (let i = 0; i < 8; i++) b[at++] = f64.getUint8(i);
  }
  return at;
}

/** A metadata record's value: bytes, or a split collection's header, encoded when needed. */
export function encodeValue(v: Value): Uint8Array | DeferredValue {
  if (typeof v === 'string') return encodeString(v);
  if (v instanceof SetValue) return encodeSetMeta(v);
  if (v instanceof ZSetValue) return encodeZSetMeta(v);
  if (v instanceof ListValue) {
    if (v.version === 0) return encodeItems(TAG_LIST_INLINE, v.items);
    return new SplitHeaderValue(TAG_LIST_SPLIT, v.version, v.count, v.head, v.slots === 1 ? undefined : v.slots);
  }
  if (v.version === 0) return encodePairs(TAG_HASH_INLINE, v.map);
  return new SplitHeaderValue(TAG_HASH_SPLIT, v.version, v.size);
}

export function decodeMeta(raw: Uint8Array): DecodedMeta {
  const b = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  switch (b[0]) {
    case TAG_STRING:
      return { kind: 'value', value: b.toString('latin1', 1) };
    case TAG_HASH_INLINE:
      return { kind: 'value', value: new HashValue(decodePairs(b, 1)) };
    case TAG_HASH_SPLIT:
      return { kind: 'split', type: 'hash', header: unpack(b.subarray(1)) as SplitHeader };
    case TAG_LIST_INLINE:
      return { kind: 'value', value: new ListValue(decodeItems(b, 1)) };
    case TAG_LIST_SPLIT: {
      // The metadata is the whole in-memory value of a split list: no elements are loaded.
      const h = unpack(b.subarray(1)) as SplitHeader;
      return { kind: 'value', value: ListValue.split(h.v, h.h ?? 0, h.n, h.k ?? 1) };
    }
    // Sets and sorted sets (set-value.ts, zset-value.ts): a split one's header is its whole
    // in-memory value; elements are read on demand.
    case TAG_SET_INLINE:
    case TAG_SET_SPLIT:
      return { kind: 'value', value: decodeSetMeta(b) };
    case TAG_ZSET_INLINE:
    case TAG_ZSET_SPLIT:
      return { kind: 'value', value: decodeZSetMeta(b) };
    default:
      throw new Error(`unknown metadata tag ${b[0]}`);
  }
}

/** Inline list: varint length + bytes per element. */
function encodeItems(tag: number, items: string[]): Uint8Array {
  let size = 1;
  for (const s of items) size += s.length + varintLen(s.length);
  const b = Buffer.allocUnsafe(size);
  b[0] = tag;
  let at = 1;
  for (const s of items) {
    at = writeVarint(b, at, s.length);
    at = writeLatin1(b, at, s);
  }
  return b;
}

function decodeItems(b: Buffer, at: number): string[] {
  const out: string[] = [];
  while (at < b.length) {
    const [len, next] = readVarint(b, at);
    out.push(readLatin1(b, next, next + len));
    at = next + len;
  }
  return out;
}


/** The TTL-index record value: the element version to clean up when the key expires. */
export function encodeTtlValue(version: number): Uint8Array {
  return version === 0 ? new Uint8Array(0) : toBytes(u64(version));
}

export function decodeTtlValue(v: Uint8Array): number {
  return v.length === 8 ? readU64(fromBytes(v), 0) : 0;
}

/** Persistent keyspace bookkeeping, rewritten on FLUSHDB/SWAPDB/SAVE and after restarts. */
export interface Catalog {
  /** Format version of this record. */
  format: 1;
  /** Namespace id of each logical database. */
  dbs: number[];
  /** Next namespace id to hand out. */
  nextNs: number;
  /** Namespaces whose records are being deleted in the background. */
  dead: number[];
  /** Element versions below this ceiling may have been handed out; allocate above it. */
  versionCeil: number;
  /** True when `counts` matches the data (written at SAVE/shutdown, cleared on next write). */
  clean: boolean;
  /** Per namespace: [keys, keys with TTL, sum of their expireAt]. */
  counts: Record<string, number[]>;
}

export function encodeCatalog(c: Catalog): Uint8Array {
  return pack(c);
}

export function decodeCatalog(raw: Uint8Array): Catalog {
  return unpack(raw) as Catalog;
}
