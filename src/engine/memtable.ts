import { type DeferredValue, type Version, versionCost } from './version.ts';
import { ownBytes } from '../util/bytes.ts';

/** Values up to this size are copied into the table's own chunks; bigger ones get their own memory. */
const ARENA_VALUE_MAX = 4096;
const ARENA_CHUNK = 64 * 1024;
/** Every empty value (a set member's record): nothing to own. */
const NO_BYTES = new Uint8Array(0);

/** A value as the memtable keeps it; undefined marks a tombstone. */
export type RawValue = Uint8Array | string | DeferredValue | undefined;

/**
 * One version of a key, newest first; older links kept only while a snapshot may still read
 * them. A binary-string or deferred value is kept as it was written: most such versions (a
 * list's end node, a collection's header) are overwritten or logged (writeEntry takes them as
 * they are) before anything reads them as bytes, so making bytes at each write would be wasted.
 */
export class Chain implements Version {
  seq: number;
  raw: RawValue;
  expireAt: number;
  older: Chain | undefined;

  constructor(seq: number, raw: RawValue, expireAt: number, older: Chain | undefined) {
    this.seq = seq;
    this.raw = raw;
    this.expireAt = expireAt;
    this.older = older;
  }

  /** The value as bytes; a string's are made for each read (reads of such values are rare). */
  get value(): Uint8Array | undefined {
    const r = this.raw;
    if (r === undefined || r instanceof Uint8Array) return r;
    return Buffer.from(typeof r === 'string' ? r : r.encode(), 'latin1');
  }
}

/**
 * The in-memory table. A hash index holds every key's version chain (newest first) and serves
 * point reads and writes. The key order that scans need is kept as a few sorted arrays and is
 * only brought up to date when a scan asks for it (new keys wait in `pending`): a write costs a
 * hash update, and sorting is paid in batches, by scans, or off-thread when the table is
 * flushed. A batch is sorted into a new array; arrays merge when the next bigger one is at
 * most FANOUT times their size, so there are about log4(keys) of them and each key is copied
 * a few times. A first scan after many writes costs one sort, a later one a small merge.
 *
 * Byte values are copied in, small ones into 64 KiB chunks the table owns (an arena, gone with
 * the table). Writers hand in Buffers from Node's shared 64 KiB pool or views of bigger buffers:
 * kept as they are, one small live value would pin a whole slab, and a table of rewritten keys
 * would hold many times the memory it counts. The arena bytes of a value stay counted after a
 * rewrite replaces it, so such a table freezes before its waste grows beyond its size limit.
 * Strings and deferred values are immutable and hold only their own memory: they are kept as
 * they are (see Chain), and a rewrite frees them.
 */
export class Memtable {
  private readonly index = new Map<string, Chain>();
  private pending: string[] = [];
  private order: SortedKeys = [];
  private chunk: Buffer | undefined;
  private chunkPos = 0;
  /** Bumped whenever the order changes, so that cursors know when their positions went stale. */
  orderVersion = 0;
  bytes = 0;
  /** Bytes of the WAL objects sealed while this table took writes (the engine counts them). */
  logged = 0;
  /** Set by apply: seq and value length of the version it overwrote in place (seq 0: none). */
  replacedSeq = 0;
  replacedLen = 0;
  minSeq = Infinity;
  maxSeq = 0;

  get size(): number {
    return this.index.size;
  }

  /**
   * Stores a version and returns the chain node holding it. oldestSnapshot: the smallest open
   * snapshot seq, or Infinity when none is open.
   */
  apply(key: string, seq: number, written: RawValue, expireAt: number, oldestSnapshot: number): Chain {
    const prev = this.index.get(key);
    const value = written instanceof Uint8Array ? this.own(written) : written;
    this.bytes += heldCost(key, value);
    this.replacedSeq = 0;
    if (seq < this.minSeq) this.minSeq = seq;
    if (seq > this.maxSeq) this.maxSeq = seq;
    if (!prev) {
      const node = new Chain(seq, value, expireAt, undefined);
      this.pending.push(key);
      this.index.set(key, node);
      return node;
    }
    if (oldestSnapshot === Infinity) {
      // Nobody can read the old versions: the newest node takes the new one in place (most
      // writes rewrite a key, a collection's metadata above all).
      this.bytes -= chainCost(key, prev);
      this.replacedSeq = prev.seq;
      this.replacedLen = prev.raw?.length ?? 0;
      prev.seq = seq;
      prev.raw = value;
      prev.expireAt = expireAt;
      prev.older = undefined;
      return prev;
    }
    // A key's first node stays its node (the sorted arrays hold it): the version it held moves
    // down the chain. For the WAL this is a rewrite in place too: a queued node logs its newest.
    this.replacedSeq = prev.seq;
    this.replacedLen = prev.raw?.length ?? 0;
    prev.older = new Chain(prev.seq, prev.raw, prev.expireAt, prev.older);
    prev.seq = seq;
    prev.raw = value;
    prev.expireAt = expireAt;
    // Keep versions newer than the oldest snapshot plus the first one it can see.
    let c: Chain = prev;
    while (c.older && c.seq > oldestSnapshot) c = c.older;
    if (c.older) {
      this.bytes -= chainCost(key, c.older);
      c.older = undefined;
    }
    return prev;
  }

  /** Bytes as the table keeps them: in the arena, or with memory of their own. */
  private own(v: Uint8Array): Uint8Array {
    const n = v.length;
    if (n === 0) return NO_BYTES;
    if (n > ARENA_VALUE_MAX) return ownBytes(v);
    if (this.chunk === undefined || this.chunkPos + n > ARENA_CHUNK) {
      this.chunk = Buffer.allocUnsafeSlow(ARENA_CHUNK);
      this.chunkPos = 0;
    }
    const at = this.chunkPos;
    this.chunk.set(v, at);
    this.chunkPos = at + n;
    this.bytes += n;
    return this.chunk.subarray(at, at + n);
  }

  /** The newest version with seq <= snapSeq, if this table has one. */
  get(key: string, snapSeq: number): Version | undefined {
    return visible(this.index.get(key), snapSeq);
  }

  /** Every key with its chain, in no particular order (the flush sorts off-thread). */
  entries(): IterableIterator<[string, Chain]> {
    return this.index.entries();
  }

  /** The ordered key set, with keys added since the last call merged in. */
  sorted(): SortedKeys {
    if (this.pending.length > 0) {
      // Default sort compares UTF-16 units: byte order for binary strings.
      const keys = this.pending.sort();
      const index = this.index;
      const levels = [...this.order, { keys, chains: keys.map((k) => index.get(k)!) }];
      this.pending = [];
      // New arrays, never changed in place: a cursor keeps reading the ones it positioned in.
      while (levels.length > 1 && levels[levels.length - 2]!.keys.length <= FANOUT * levels[levels.length - 1]!.keys.length) {
        const small = levels.pop()!;
        levels.push(mergeSorted(levels.pop()!, small));
      }
      this.order = levels;
      this.orderVersion++;
    }
    return this.order;
  }
}

/** How much bigger than the next smaller one a sorted array of a memtable stays. */
const FANOUT = 4;

/**
 * Keys in order with each key's chain beside it (a key's first node never changes), so that a
 * scan reads versions without a hash lookup per key.
 */
export interface SortedLevel {
  readonly keys: readonly string[];
  readonly chains: readonly Chain[];
}

/** A memtable's keys in order: sorted levels, biggest first, with no key in two of them. */
export type SortedKeys = readonly SortedLevel[];

/** The sorted union of two sorted levels without common keys. */
function mergeSorted(a: SortedLevel, b: SortedLevel): SortedLevel {
  if (a.keys.length === 0) return b;
  if (b.keys.length === 0) return a;
  const n = a.keys.length + b.keys.length;
  const keys = new Array<string>(n);
  const chains = new Array<Chain>(n);
  const ak = a.keys;
  const bk = b.keys;
  let i = 0;
  let j = 0;
  let k = 0;
  while (i < ak.length && j < bk.length) {
    if (ak[i]! < bk[j]!) {
      keys[k] = ak[i]!;
      chains[k++] = a.chains[i++]!;
    } else {
      keys[k] = bk[j]!;
      chains[k++] = b.chains[j++]!;
    }
  }
  for (; i < ak.length; i++, k++) {
    keys[k] = ak[i]!;
    chains[k] = a.chains[i]!;
  }
  for (; j < bk.length; j++, k++) {
    keys[k] = bk[j]!;
    chains[k] = b.chains[j]!;
  }
  return { keys, chains };
}

/** Index of the first key >= key (or > key when `after`). */
export function searchKeys(keys: readonly string[], key: string, after: boolean): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const k = keys[mid]!;
    if (k < key || (after && k === key)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export function visible(chain: Chain | undefined, snapSeq: number): Version | undefined {
  let c = chain;
  while (c && c.seq > snapSeq) c = c.older;
  return c;
}

/**
 * What a version costs beyond its arena bytes (counted when copied in, kept after a rewrite);
 * a string or a large value is freed with its version.
 */
function heldCost(key: string, value: RawValue): number {
  return value instanceof Uint8Array && value.length <= ARENA_VALUE_MAX ? versionCost(key, undefined) : versionCost(key, value);
}

function chainCost(key: string, c: Chain | undefined): number {
  let n = 0;
  for (; c; c = c.older) n += heldCost(key, c.raw);
  return n;
}
