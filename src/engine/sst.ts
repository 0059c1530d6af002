/**
 * Sorted string table: immutable, sorted by key ascending then seq descending. The byte
 * layout is documented in docs/format.md; this module is pure (no I/O) so it runs in the
 * worker threads that build and compact tables as well as on the read path.
 */
import { bloomMayContain, buildBloom, hashKey } from './bloom.ts';
import { checkCrc, Reader, Writer } from './codec.ts';
import { CorruptionError } from './errors.ts';
import type { Entry, Version } from './version.ts';
import { copyBytes } from '../util/bytes.ts';

export const SST_MAGIC = 'SHALSST1';
export const SST_FORMAT_VERSION = 1;
export const FOOTER_SIZE = 40;
const RESTART_INTERVAL = 16;
const FLAG_TOMBSTONE = 1;
const FLAG_EXPIRES = 2;

/** What the manifest records about a table, so a read can fetch its tail in one request. */
export interface SstMeta {
  /** Object key, e.g. sst/00000000000000000042-0000000003. */
  id: string;
  size: number;
  /** Offset of the filter block: [tailOffset, size) holds filter, index, props, footer. */
  tailOffset: number;
  first: string;
  last: string;
  count: number;
  minSeq: number;
  maxSeq: number;
  /** The table was built leaving out the dropped ranges numbered up to this (dropped.ts). */
  dropGen?: number;
}

export interface BuiltSst {
  bytes: Uint8Array;
  meta: Omit<SstMeta, 'id'>;
}

export class SstBuilder {
  private readonly out = new Writer(1 << 16);
  private readonly block = new Writer(8192);
  private readonly restarts: number[] = [];
  private readonly blockSize: number;
  private entriesInBlock = 0;
  private prevKey = '';
  private readonly index: { last: string; offset: number; size: number }[] = [];
  private hashes: number[] = [];
  count = 0;
  private first: string | undefined;
  private minSeq = Infinity;
  private maxSeq = 0;

  constructor(blockSize = 4096) {
    this.blockSize = blockSize;
  }

  /** Bytes so far, for splitting outputs by size. */
  get estimatedSize(): number {
    return this.out.pos + this.block.pos;
  }

  /** Entries must arrive sorted by key ascending, seq descending. */
  add(key: string, v: Version): void {
    if (this.count > 0) {
      if (key < this.prevKey) throw new Error('SstBuilder: keys out of order');
      // A key's versions never straddle blocks, so a point read touches one block.
      if (key !== this.prevKey && this.block.pos >= this.blockSize) this.flushBlock();
    } else {
      this.first = key;
    }
    if (key !== this.prevKey || this.count === 0) this.hashes.push(hashKey(key));
    let shared = 0;
    if (this.entriesInBlock % RESTART_INTERVAL === 0) {
      this.restarts.push(this.block.pos);
    } else {
      const max = Math.min(key.length, this.prevKey.length);
      while (shared < max && key.charCodeAt(shared) === this.prevKey.charCodeAt(shared)) shared++;
    }
    const b = this.block;
    b.varint(shared);
    b.varint(key.length - shared);
    const flags = (v.value === undefined ? FLAG_TOMBSTONE : 0) | (v.expireAt ? FLAG_EXPIRES : 0);
    b.u8(flags);
    b.varint(v.seq);
    if (v.expireAt) b.varint(v.expireAt);
    if (v.value !== undefined) b.varint(v.value.length);
    b.binary(shared === 0 ? key : key.slice(shared));
    if (v.value !== undefined) b.bytes(v.value);
    this.entriesInBlock++;
    this.count++;
    this.prevKey = key;
    if (v.seq < this.minSeq) this.minSeq = v.seq;
    if (v.seq > this.maxSeq) this.maxSeq = v.seq;
  }

  private flushBlock(): void {
    if (this.entriesInBlock === 0) return;
    const b = this.block;
    for (const r of this.restarts) b.u32(r);
    b.u32(this.restarts.length);
    b.crcFrom(0);
    const offset = this.out.pos;
    this.out.bytes(b.finish());
    this.index.push({ last: this.prevKey, offset, size: b.pos });
    b.pos = 0;
    this.restarts.length = 0;
    this.entriesInBlock = 0;
  }

  finish(): BuiltSst {
    if (this.count === 0) throw new Error('SstBuilder: empty table');
    this.flushBlock();
    const out = this.out;
    const filterOffset = out.pos;
    out.bytes(buildBloom(this.hashes));
    out.crcFrom(filterOffset);
    const filterSize = out.pos - filterOffset;

    const indexOffset = out.pos;
    out.varint(this.index.length);
    for (const e of this.index) {
      out.varint(e.last.length);
      out.binary(e.last);
      out.varint(e.offset);
      out.varint(e.size);
    }
    out.crcFrom(indexOffset);
    const indexSize = out.pos - indexOffset;

    const propsOffset = out.pos;
    out.varint(this.count);
    out.varint(this.minSeq);
    out.varint(this.maxSeq);
    out.varint(this.first!.length);
    out.binary(this.first!);
    out.varint(this.prevKey.length);
    out.binary(this.prevKey);
    out.crcFrom(propsOffset);
    const propsSize = out.pos - propsOffset;

    const footer = out.pos;
    out.u64(filterOffset);
    out.u32(filterSize);
    out.u32(indexSize);
    out.u32(propsSize);
    out.u32(SST_FORMAT_VERSION);
    out.crcFrom(footer);
    out.u32(0);
    out.binary(SST_MAGIC);
    const bytes = out.finish();
    return {
      bytes,
      meta: {
        size: bytes.length,
        tailOffset: filterOffset,
        first: this.first!,
        last: this.prevKey,
        count: this.count,
        minSeq: this.minSeq,
        maxSeq: this.maxSeq,
      },
    };
  }
}

/** The parsed tail of a table: what the metadata cache holds. */
export interface SstTail {
  filter: Uint8Array;
  /** Last key of each data block, ascending. */
  lastKeys: string[];
  offsets: number[];
  sizes: number[];
  count: number;
  first: string;
  last: string;
  minSeq: number;
  maxSeq: number;
  /** Bytes this structure pins in memory, for the cache's size accounting. */
  cost: number;
}

/** Parses [tailOffset, size) of a table; tail holds exactly those bytes. */
export function parseTail(name: string, tail: Uint8Array, tailOffset: number): SstTail {
  if (tail.length < FOOTER_SIZE) throw new CorruptionError(name, 'table shorter than its footer');
  const f = new Reader(tail, name, tail.length - FOOTER_SIZE);
  checkCrc(tail, name, tail.length - FOOTER_SIZE, tail.length - FOOTER_SIZE + 28);
  const filterOffset = f.u64();
  const filterSize = f.u32();
  const indexSize = f.u32();
  const propsSize = f.u32();
  const version = f.u32();
  f.u32();
  f.u32();
  if (f.binary(8) !== SST_MAGIC) throw new CorruptionError(name, 'bad magic');
  if (version !== SST_FORMAT_VERSION) throw new CorruptionError(name, `unknown format version ${version}`);
  if (filterOffset !== tailOffset || filterSize + indexSize + propsSize + FOOTER_SIZE !== tail.length) {
    throw new CorruptionError(name, 'footer offsets disagree with table size');
  }
  checkCrc(tail, name, 0, filterSize);
  // A copy: a view would keep the whole tail (the raw index too) alive in the cache.
  const filter = copyBytes(tail, 0, filterSize - 4);
  const ix0 = filterSize;
  checkCrc(tail, name, ix0, ix0 + indexSize);
  const ix = new Reader(tail, name, ix0, ix0 + indexSize - 4);
  const n = ix.varint();
  const lastKeys: string[] = [];
  const offsets: number[] = [];
  const sizes: number[] = [];
  let keyBytes = 0;
  for (let i = 0; i < n; i++) {
    const k = ix.binary(ix.varint());
    keyBytes += k.length;
    lastKeys.push(k);
    offsets.push(ix.varint());
    sizes.push(ix.varint());
  }
  const p0 = ix0 + indexSize;
  checkCrc(tail, name, p0, p0 + propsSize);
  const p = new Reader(tail, name, p0, p0 + propsSize - 4);
  const count = p.varint();
  const minSeq = p.varint();
  const maxSeq = p.varint();
  const first = p.binary(p.varint());
  const last = p.binary(p.varint());
  return {
    filter,
    lastKeys,
    offsets,
    sizes,
    count,
    first,
    last,
    minSeq,
    maxSeq,
    cost: filter.length + keyBytes + n * 40 + 200,
  };
}

const ENTRY_HEAP_BYTES = 200;

/** A decoded data block: entries in table order, values pointing into the block bytes. */
export interface Block {
  entries: Entry[];
  cost: number;
}

export function parseBlock(name: string, bytes: Uint8Array): Block {
  checkCrc(bytes, name);
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const restartsAt = bytes.length - 8;
  const nRestarts = b.readUInt32LE(restartsAt);
  const dataEnd = restartsAt - nRestarts * 4;
  if (dataEnd < 0) throw new CorruptionError(name, 'bad restart count');
  const r = new Reader(b, name, 0, dataEnd);
  const entries: Entry[] = [];
  let prev = '';
  while (!r.done) {
    const shared = r.varint();
    const unshared = r.varint();
    const flags = r.u8();
    const seq = r.varint();
    const expireAt = flags & FLAG_EXPIRES ? r.varint() : 0;
    const valueLen = flags & FLAG_TOMBSTONE ? -1 : r.varint();
    if (shared > prev.length) throw new CorruptionError(name, 'bad shared prefix');
    const key = (shared ? prev.slice(0, shared) : '') + r.binary(unshared);
    const value = valueLen < 0 ? undefined : r.bytes(valueLen);
    entries.push({ key, seq, expireAt, value });
    prev = key;
  }
  // Heap per decoded entry: the entry object, its key string and the value's Buffer view
  // (about 190 bytes measured on V8 13), on top of the block bytes the views point into.
  return { entries, cost: bytes.length + entries.length * ENTRY_HEAP_BYTES };
}

/** Index of the block that may hold key: the first whose last key is >= key, or -1. */
export function findBlock(tail: SstTail, key: string): number {
  let lo = 0;
  let hi = tail.lastKeys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (tail.lastKeys[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo < tail.lastKeys.length ? lo : -1;
}

export function mayContain(tail: SstTail, key: string, hash = hashKey(key)): boolean {
  return key >= tail.first && key <= tail.last && bloomMayContain(tail.filter, hash);
}

/** First entry index in a block with key >= target. */
export function lowerBound(entries: Entry[], key: string): number {
  let lo = 0;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (entries[mid]!.key < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Newest version of key with seq <= snapSeq within a block. */
export function findInBlock(block: Block, key: string, snapSeq: number): Version | undefined {
  const es = block.entries;
  for (let i = lowerBound(es, key); i < es.length && es[i]!.key === key; i++) {
    if (es[i]!.seq <= snapSeq) return es[i];
  }
  return undefined;
}

/** Every entry of a whole table, in table order (compaction input). */
export function* readAll(name: string, bytes: Uint8Array, meta: Pick<SstMeta, 'tailOffset'>): Generator<Entry> {
  const tail = parseTail(name, bytes.subarray(meta.tailOffset), meta.tailOffset);
  for (let i = 0; i < tail.offsets.length; i++) {
    const off = tail.offsets[i]!;
    yield* parseBlock(name, bytes.subarray(off, off + tail.sizes[i]!)).entries;
  }
}

