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
 * What one write op says; a missing value deletes the key. A string value is binary (one byte
 * per char): the memtable writes it into its arena, which spares a buffer made only to be copied.
 */
export interface WriteOp {
  key: string;
  value?: Uint8Array | string;
  /** Milliseconds since the epoch; omitted or 0 means no expiry. */
  expireAt?: number;
}

/** A version is live for readers if it is not a tombstone and has not expired by now. */
export function isLive(v: Version, now: number): boolean {
  return v.value !== undefined && (v.expireAt === 0 || v.expireAt > now);
}

/**
 * Bytes a version costs in memory: key and value plus the objects around them (the version,
 * its hash-index and sorted-order entries, the value's typed-array header), about 240 bytes as
 * measured on Node 24 with V8's heap statistics.
 */
export function versionCost(key: string, value: Uint8Array | string | undefined): number {
  return key.length + (value?.length ?? 0) + 240;
}
