/** One version of a key: the unit the memtable, WAL and SSTs hold. */
export interface Version {
  seq: number;
  /** undefined marks a tombstone (delete). */
  value: Uint8Array | undefined;
  /** Milliseconds since the epoch; 0 means no expiry. */
  expireAt: number;
}

/** A version with its key, as stored in a block or yielded by a scan source. */
export interface Entry extends Version {
  key: string;
}

/**
 * A value whose bytes are made only when something needs them: the WAL, a flush, a read. It
 * must not change once written. A record rewritten on every change (a big collection's header)
 * is mostly replaced in the memtable before anything needs its bytes, so encoding it at each
 * write would be wasted.
 */
export interface DeferredValue {
  /** At least the length of encode()'s result (memory and WAL accounting). */
  readonly length: number;
  /** The value as a binary string. */
  encode(): string;
}

/**
 * What one write op says; a missing value deletes the key. A string value is binary (one byte
 * per char): the memtable keeps it as it is, which spares a buffer made only to be copied.
 */
export interface WriteOp {
  key: string;
  value?: Uint8Array | string | DeferredValue;
  /** Milliseconds since the epoch; omitted or 0 means no expiry. */
  expireAt?: number;
}

/**
 * What readers see of a version now: its value, or undefined for a tombstone or an expired one.
 * v.value is read once: a memtable version makes a string's bytes at each read (Chain).
 */
export function liveValue(v: Version, now: number): Uint8Array | undefined {
  return v.expireAt === 0 || v.expireAt > now ? v.value : undefined;
}

/**
 * Bytes a version costs in memory: key and value plus the objects around them (the version,
 * its hash-index and sorted-order entries, the value's typed-array header), about 240 bytes as
 * measured on Node 24 with V8's heap statistics.
 */
export function versionCost(key: string, value: { length: number } | undefined): number {
  return key.length + (value?.length ?? 0) + 240;
}
