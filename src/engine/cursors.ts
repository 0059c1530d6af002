/**
 * Scan sources: each cursor walks one layer (a memtable, or a list of non-overlapping tables)
 * one distinct key at a time, forward or in reverse. The merge in engine.ts picks the smallest
 * (or largest) current key across cursors and the newest visible version among them.
 */
import { type Memtable, searchKeys, type SortedKeys, visible } from './memtable.ts';
import type { SstMeta, SstTail, Block } from './sst.ts';
import { findBlock, lowerBound } from './sst.ts';
import type { Version } from './version.ts';
import { map, type Maybe } from '../util/maybe.ts';

export interface Cursor {
  /** Current key, or undefined when the cursor is exhausted. */
  key: string | undefined;
  /** Newest version of the current key with seq <= snapSeq. */
  best(snapSeq: number): Version | undefined;
  /** Moves to the next distinct key; returns a promise only when it must load a block. */
  next(): void | Promise<void>;
}

export class MemCursor implements Cursor {
  key: string | undefined;
  private readonly table: Memtable;
  private readonly reverse: boolean;
  private order: SortedKeys;
  /** Per sorted array: the next key's index forward, the current key's in reverse. */
  private pos: number[];
  /** The array the current key came from. */
  private from = -1;
  private version: number;

  /** start is inclusive, end exclusive, in both directions. */
  constructor(table: Memtable, reverse: boolean, start: string | undefined, end: string | undefined) {
    this.table = table;
    this.reverse = reverse;
    this.order = table.sorted();
    this.version = table.orderVersion;
    // Reverse: the last keys below `end`; forward: the first at or above `start`.
    this.pos = this.order.map(({ keys }) =>
      reverse ? (end === undefined ? keys.length : searchKeys(keys, end, false)) - 1 : start === undefined ? 0 : searchKeys(keys, start, false),
    );
    this.step();
  }

  best(snapSeq: number): Version | undefined {
    // Read the chain now: the live table may have gained versions since positioning.
    return visible(this.order[this.from]!.chains[this.pos[this.from]!], snapSeq);
  }

  next(): void {
    if (this.key === undefined) return;
    if (this.table.orderVersion !== this.version) {
      // Another scan merged new keys in: walk on from the current key in the new arrays. Keys
      // written after this cursor was made may be missing; scans are not snapshots unless
      // given one.
      const key = this.key;
      this.order = this.table.sorted();
      this.version = this.table.orderVersion;
      this.pos = this.order.map(({ keys }) => (this.reverse ? searchKeys(keys, key, false) - 1 : searchKeys(keys, key, true)));
    } else {
      this.pos[this.from]! += this.reverse ? -1 : 1;
    }
    this.step();
  }

  /** Sets key to the smallest (largest, in reverse) of the arrays' keys at their positions. */
  private step(): void {
    let key: string | undefined;
    let from = -1;
    const { order, pos, reverse } = this;
    for (let l = 0; l < order.length; l++) {
      const k = order[l]!.keys[pos[l]!];
      if (k !== undefined && (key === undefined || (reverse ? k > key : k < key))) {
        key = k;
        from = l;
      }
    }
    this.key = key;
    this.from = from;
  }
}

/** What a table cursor needs from the engine: tail and block loads, ready now when cached. */
export interface TableSource {
  tail(meta: SstMeta): Maybe<SstTail>;
  block(meta: SstMeta, tail: SstTail, index: number, ahead?: number): Maybe<Block>;
}

/** Most blocks one readahead asks for (64 KiB of 4 KiB blocks). */
const READAHEAD_MAX = 16;

/** Walks an ascending list of non-overlapping tables (one L0 table, or a sorted run). */
export class TableCursor implements Cursor {
  key: string | undefined;
  private readonly src: TableSource;
  private readonly tables: SstMeta[];
  private readonly reverse: boolean;
  private table = -1;
  private tail: SstTail | undefined;
  private blockIndex = -1;
  private entries: Block['entries'] = [];
  /** Forward: first entry of the current key's group. Reverse: last entry of it. */
  private pos = 0;
  /**
   * Blocks to read at once on a miss: 1 for the seek (a point-like scan reads one block), then
   * doubling with every block the scan moves on to, up to READAHEAD_MAX: a long scan costs a
   * few store reads instead of one per block, a short one reads at most twice what it uses.
   */
  private ahead = 1;

  constructor(src: TableSource, tables: SstMeta[], reverse: boolean) {
    this.src = src;
    this.tables = tables;
    this.reverse = reverse;
  }

  /** Positions at the first key >= start (in reverse: the last < end); a promise only to load. */
  seek(start: string | undefined, end: string | undefined): void | Promise<void> {
    const t = this.tables;
    let i: number;
    if (!this.reverse) {
      i = 0;
      if (start !== undefined) while (i < t.length && t[i]!.last < start) i++;
      if (i >= t.length) return this.exhaust();
    } else {
      i = t.length - 1;
      if (end !== undefined) while (i >= 0 && t[i]!.first >= end) i--;
      if (i < 0) return this.exhaust();
    }
    this.table = i;
    return map(this.src.tail(t[i]!), (tail) => {
      this.tail = tail;
      if (!this.reverse) {
        // The first block whose last key is >= start (past the end: on to the next table).
        const b = start === undefined ? 0 : findBlock(tail, start);
        return map(this.loadBlock(b < 0 ? tail.lastKeys.length : b), () => {
          if (this.key === undefined || start === undefined) return;
          this.pos = lowerBound(this.entries, start);
          if (this.pos >= this.entries.length) return this.advanceBlock();
          this.key = this.entries[this.pos]!.key;
        });
      }
      // The block holding the last key < end: the first whose last key >= end, or the final one.
      const last = tail.lastKeys.length - 1;
      const b = end === undefined ? last : findBlock(tail, end);
      return map(this.loadBlock(b < 0 ? last : b), () => {
        if (this.key === undefined) return;
        this.pos = (end === undefined ? this.entries.length : lowerBound(this.entries, end)) - 1;
        if (this.pos < 0) return this.advanceBlock();
        this.key = this.entries[this.pos]!.key;
      });
    });
  }

  private exhaust(): void {
    this.key = undefined;
    this.entries = [];
  }

  /** Loads block b of the current table and positions at its first (or last) key. */
  private loadBlock(b: number): void | Promise<void> {
    const tail = this.tail!;
    if (b < 0 || b >= tail.lastKeys.length) return this.nextTable();
    this.blockIndex = b;
    return map(this.src.block(this.tables[this.table]!, tail, b, this.reverse ? -this.ahead : this.ahead), (block) => {
      this.entries = block.entries;
      if (this.entries.length === 0) return this.advanceBlock();
      this.pos = this.reverse ? this.entries.length - 1 : 0;
      this.key = this.entries[this.pos]!.key;
    });
  }

  private advanceBlock(): void | Promise<void> {
    this.ahead = Math.min(2 * this.ahead, READAHEAD_MAX);
    return this.loadBlock(this.blockIndex + (this.reverse ? -1 : 1));
  }

  private nextTable(): void | Promise<void> {
    this.table += this.reverse ? -1 : 1;
    if (this.table < 0 || this.table >= this.tables.length) return this.exhaust();
    return map(this.src.tail(this.tables[this.table]!), (tail) => {
      this.tail = tail;
      return this.loadBlock(this.reverse ? tail.lastKeys.length - 1 : 0);
    });
  }

  best(snapSeq: number): Version | undefined {
    const es = this.entries;
    let i = this.pos;
    // Versions of a key sit together in one block, newest first.
    if (this.reverse) while (i > 0 && es[i - 1]!.key === this.key) i--;
    for (; i < es.length && es[i]!.key === this.key; i++) if (es[i]!.seq <= snapSeq) return es[i];
    return undefined;
  }

  next(): void | Promise<void> {
    if (this.key === undefined) return;
    const es = this.entries;
    const k = this.key;
    if (!this.reverse) {
      let i = this.pos;
      while (i < es.length && es[i]!.key === k) i++;
      if (i >= es.length) return this.advanceBlock();
      this.pos = i;
    } else {
      let i = this.pos;
      while (i >= 0 && es[i]!.key === k) i--;
      if (i < 0) return this.advanceBlock();
      this.pos = i;
    }
    this.key = es[this.pos]!.key;
  }
}
