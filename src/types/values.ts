/**
 * Decoded values as they live in the hot set. A Redis string is a binary JS string (one char
 * per byte); collections are small classes that track their own size for memory accounting.
 */
import { ListValue } from './list.ts';
import { SetValue } from './set-value.ts';
import { ZSetValue } from './zset-value.ts';

/** A hash: field -> value, in insertion order (matches Redis's listpack order while small). */
export class HashValue {
  readonly map: Map<string, string>;
  /**
   * 0 while the hash is stored inline in its metadata record (listpack-like); otherwise the
   * version under which its element records live (`hashtable` encoding). Never reverts to 0.
   */
  version: number;
  /** Sum of field and value lengths (for memory accounting and the inline-size decision). */
  bytes: number;

  constructor(map: Map<string, string> = new Map(), version = 0) {
    this.map = map;
    this.version = version;
    let b = 0;
    for (const [f, v] of map) b += f.length + v.length;
    this.bytes = b;
  }

  get size(): number {
    return this.map.size;
  }

  get(field: string): string | undefined {
    return this.map.get(field);
  }

  /** Returns true if the field is new. */
  set(field: string, value: string): boolean {
    const old = this.map.get(field);
    this.map.set(field, value);
    if (old === undefined) {
      this.bytes += field.length + value.length;
      return true;
    }
    this.bytes += value.length - old.length;
    return false;
  }

  delete(field: string): boolean {
    const old = this.map.get(field);
    if (old === undefined) return false;
    this.map.delete(field);
    this.bytes -= field.length + old.length;
    return true;
  }

  clone(): HashValue {
    return new HashValue(new Map(this.map), 0);
  }
}

export type Value = string | HashValue | ListValue | SetValue | ZSetValue;

export type TypeName = 'string' | 'hash' | 'list' | 'set' | 'zset' | 'stream';

export function typeOf(v: Value): TypeName {
  if (v instanceof ListValue) return 'list';
  if (v instanceof SetValue) return 'set';
  if (v instanceof ZSetValue) return 'zset';
  return typeof v === 'string' ? 'string' : 'hash';
}

/**
 * How OBJECT ENCODING / REFCOUNT report a string: computed from content ('auto'), or pinned by
 * how it was made: APPEND/SETRANGE make raw strings, INCRBYFLOAT never int, and COPY of an int
 * makes a private (unshared) int object.
 */
export type StringEnc = 'auto' | 'raw' | 'noint' | 'unshared';

/** One key in the hot set. */
export interface Entry {
  value: Value;
  /** Absolute expiry in ms since the epoch; 0 = no expiry. */
  expireAt: number;
  /** String encoding hint (APPEND/SETRANGE make raw strings, INCRBYFLOAT never makes int). */
  enc: StringEnc;
  /** Last access (ms) for LRU and OBJECT IDLETIME. */
  atime: number;
  /** LFU logarithmic counter and the minute it was last decayed (Redis's 8+16 bit LFU). */
  lfu: number;
  lfuTime: number;
  /** Bytes accounted to the hot set for this entry. */
  size: number;
}

/** Rough per-key and per-element overheads, so usedMemory tracks the real heap loosely. */
export const ENTRY_OVERHEAD = 96;
export const FIELD_OVERHEAD = 48;

export function entrySize(key: string, value: Value): number {
  if (typeof value === 'string') return ENTRY_OVERHEAD + key.length + value.length;
  // A split list keeps only its head/count and its cached ends in memory.
  if (value instanceof ListValue) return ENTRY_OVERHEAD + key.length + value.memBytes + value.size * FIELD_OVERHEAD;
  return ENTRY_OVERHEAD + key.length + value.bytes + value.size * FIELD_OVERHEAD;
}
