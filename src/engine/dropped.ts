/**
 * Dropped key ranges (Engine.dropRange): ranges whose keys the caller never reads or writes
 * again, such as the element records of a deleted collection or a flushed database. Reads
 * hide them at once; table builds and compactions leave their records out, so deleting a
 * million records costs one manifest update instead of a million tombstones.
 *
 * A range stays in the manifest until no table can hold its keys: every record in it has a
 * seq <= `seq` (nothing is written there after the drop), so once flushedSeq reaches `seq` the
 * memtables hold none, and a table built after the drop (its dropGen >= `gen`) was filtered.
 */
import type { SstMeta } from './sst.ts';

export interface DroppedRange {
  /** Inclusive. */
  start: string;
  /** Exclusive. */
  end: string;
  /** The last seq written when the range was dropped. */
  seq: number;
  /** Dropped ranges are numbered in order; a table built with ranges up to gen g filtered them. */
  gen: number;
}

/** Sorted by start, disjoint. */
export type DroppedRanges = readonly DroppedRange[];

/** The range holding key, if any (binary search). */
export function droppedAt(ranges: DroppedRanges, key: string): DroppedRange | undefined {
  let lo = 0;
  let hi = ranges.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ranges[mid]!.end <= key) lo = mid + 1;
    else hi = mid;
  }
  const r = ranges[lo];
  return r && r.start <= key ? r : undefined;
}

/** The ranges with the new one merged in: ranges it overlaps or touches become one. */
export function addRange(ranges: DroppedRanges, start: string, end: string, seq: number, gen: number): DroppedRange[] {
  const out: DroppedRange[] = [];
  const merged: DroppedRange = { start, end, seq, gen };
  for (const r of ranges) {
    if (r.end < merged.start || r.start > merged.end) {
      out.push(r);
      continue;
    }
    // The union keeps the largest seq and gen: the conditions to forget it imply theirs.
    if (r.start < merged.start) merged.start = r.start;
    if (r.end > merged.end) merged.end = r.end;
    if (r.seq > merged.seq) merged.seq = r.seq;
  }
  out.push(merged);
  return out.sort((a, b) => (a.start < b.start ? -1 : 1));
}

/** Whether [start, end) lies inside one range already. */
export function coveredBy(ranges: DroppedRanges, start: string, end: string): boolean {
  const r = droppedAt(ranges, start);
  return r !== undefined && end <= r.end;
}

/** Whether a table's key span meets the range. */
export function tableMeets(s: Pick<SstMeta, 'first' | 'last'>, r: { start: string; end: string }): boolean {
  return s.last >= r.start && s.first < r.end;
}

/** The ranges some table or memtable may still hold records of. */
export function rangesStillNeeded(ranges: DroppedRanges, tables: readonly SstMeta[], flushedSeq: number): DroppedRange[] {
  return ranges.filter((r) => r.seq > flushedSeq || tables.some((s) => (s.dropGen ?? 0) < r.gen && tableMeets(s, r)));
}

/**
 * For keys visited in ascending order (a table build, a compaction): whether each lies in a
 * dropped range, in O(1) amortized per key.
 */
export class AscendingDropFilter {
  private readonly ranges: readonly { start: string; end: string }[];
  private i = 0;

  constructor(ranges: readonly { start: string; end: string }[]) {
    this.ranges = ranges;
  }

  drops(key: string): boolean {
    const rs = this.ranges;
    while (this.i < rs.length && rs[this.i]!.end <= key) this.i++;
    return this.i < rs.length && rs[this.i]!.start <= key;
  }
}
