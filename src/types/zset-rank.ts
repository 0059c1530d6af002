/**
 * Ranks in a split sorted set without walking it from an end: an order-statistics index over
 * its score records, kept in memory beside the value (docs/data-model.md, "Sorted sets").
 *
 * The score-ordered record suffixes are cut into buckets of about BUCKET records with exact
 * counts, so a rank is a sum over the counts plus a scan inside one bucket. ZSetView.commit
 * reports every record it adds or removes. A bucket that outgrows MAX_BUCKET is re-cut by a
 * background scan at an engine snapshot; changes to it meanwhile are logged and replayed into
 * the new buckets, so the counts stay exact.
 *
 * The index is stored (one FAM_RANK record) when it is built by a scan, when the server saves
 * or stops, and when the key leaves memory; the first commit that changes the set deletes the
 * record in its own batch, so a stored index always matches the set. Only a set changed since
 * then needs a scan to rebuild it after a restart (a crash, or a save that came before).
 */
import type { EngineLike } from './engine-api.ts';
import { prefixEnd } from './encoding.ts';
import { readVarint, varintLen, writeVarint } from './varint.ts';
import { readLatin1, writeLatin1 } from '../util/latin1.ts';

export const BUCKET = 256;
const MAX_BUCKET = 4 * BUCKET;
/** Records per engine read of a recount. */
const RECOUNT_PAGE = 1024;

interface Recount {
  lo: string;
  hi: string | undefined;
  log: [string, number][];
}

export class RankIndex {
  /** bounds[0] is ''; bucket i holds the suffixes in [bounds[i], bounds[i + 1]). */
  private bounds: string[] = [''];
  private counts: number[] = [0];
  /** False until the first full count is in. */
  ready = false;
  /** The index is unusable (a recount failed): the caller drops it. */
  broken = false;
  private recount: Recount | undefined;
  /** The running re-cut of oversized buckets (split). */
  private splitting: Promise<void> | undefined;
  /** Some bucket may be over MAX_BUCKET (set by change(), rechecked after each re-cut). */
  private oversized = false;

  /** An index of an empty set: every record will be reported through add(). */
  static empty(): RankIndex {
    const r = new RankIndex();
    r.ready = true;
    return r;
  }

  /** The stored form (see encode), or undefined when the bytes are not an index. */
  static decode(b: Uint8Array): RankIndex | undefined {
    const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
    const bounds: string[] = [];
    const counts: number[] = [];
    let at = 0;
    try {
      while (at < buf.length) {
        let [len, next] = readVarint(buf, at);
        if (next + len > buf.length) return undefined;
        bounds.push(readLatin1(buf, next, next + len));
        at = next + len;
        [len, next] = readVarint(buf, at);
        counts.push(len);
        at = next;
      }
    } catch {
      return undefined;
    }
    if (at !== buf.length || bounds.length === 0 || bounds[0] !== '') return undefined;
    const r = new RankIndex();
    r.bounds = bounds;
    r.counts = counts;
    r.ready = true;
    r.oversized = counts.some((c) => c > MAX_BUCKET);
    return r;
  }

  /** Bucket bounds and counts as bytes: varint length + bound, varint count, per bucket. */
  encode(): Uint8Array {
    let size = 0;
    for (let i = 0; i < this.bounds.length; i++) size += varintLen(this.bounds[i]!.length) + this.bounds[i]!.length + varintLen(this.counts[i]!);
    const b = Buffer.allocUnsafe(size);
    let at = 0;
    for (let i = 0; i < this.bounds.length; i++) {
      at = writeVarint(b, at, this.bounds[i]!.length);
      at = writeLatin1(b, at, this.bounds[i]!);
      at = writeVarint(b, at, this.counts[i]!);
    }
    return b;
  }

  /**
   * Exact now, so fit to be stored: counted and not broken. A re-cut under way does not matter:
   * the bucket being re-cut keeps its exact count until its new buckets replace it.
   */
  get storable(): boolean {
    return this.ready && !this.broken;
  }

  get total(): number {
    let n = 0;
    for (const c of this.counts) n += c;
    return n;
  }

  add(suffix: string): void {
    this.change(suffix, 1);
  }

  remove(suffix: string): void {
    this.change(suffix, -1);
  }

  /** Whether a bucket outgrew its bound and no recount or re-cut is running. */
  get wantsSplit(): boolean {
    return this.ready && !this.recount && !this.splitting && this.oversized;
  }

  /** The bucket holding ascending rank `rank`: where it starts, and how many records precede it. */
  locate(rank: number): { from: string; to: string | undefined; before: number } {
    let before = 0;
    let i = 0;
    while (i < this.counts.length - 1 && before + this.counts[i]! <= rank) before += this.counts[i++]!;
    return { from: this.bounds[i]!, to: this.bounds[i + 1], before };
  }

  /** The bucket a suffix falls in: where it starts, and how many records precede it. */
  bucketOf(suffix: string): { from: string; before: number } {
    const i = this.find(suffix);
    let before = 0;
    for (let j = 0; j < i; j++) before += this.counts[j]!;
    return { from: this.bounds[i]!, before };
  }

  /**
   * Counts the records of the bucket starting at `lo` (all of them for a new index) at a
   * snapshot and re-cuts it into buckets of BUCKET.
   */
  async recountBucket(engine: EngineLike, prefix: string, lo: string): Promise<void> {
    const i0 = this.find(lo);
    const rc: Recount = { lo, hi: this.bounds[i0 + 1], log: [] };
    this.recount = rc;
    const snap = engine.snapshot();
    try {
      const bounds: string[] = [];
      const counts: number[] = [];
      const end = rc.hi === undefined ? prefixEnd(prefix) : prefix + rc.hi;
      // In pages that are read at once when memory holds them (a re-cut bucket usually is):
      // then the recount finishes before anything else runs, with nothing in its log.
      for (let start = prefix + lo; ; ) {
        const page = engine.scanAllMaybe({ start, end, snapshot: snap, limit: RECOUNT_PAGE });
        const entries = page instanceof Promise ? await page : page;
        for (const e of entries) {
          if (counts.length === 0 || counts[counts.length - 1] === BUCKET) {
            bounds.push(counts.length === 0 ? lo : e.key.slice(prefix.length));
            counts.push(0);
          }
          counts[counts.length - 1]!++;
        }
        if (entries.length < RECOUNT_PAGE) break;
        start = entries[entries.length - 1]!.key + '\0';
      }
      if (counts.length === 0) {
        bounds.push(lo);
        counts.push(0);
      }
      // Changes committed since the snapshot, into the new buckets.
      for (const [s, d] of rc.log) counts[upperBound(bounds, s) - 1]! += d;
      const i = this.find(lo);
      this.bounds.splice(i, 1, ...bounds);
      this.counts.splice(i, 1, ...counts);
      this.ready = true;
      this.oversized = this.counts.some((c) => c > MAX_BUCKET);
    } catch {
      this.broken = true;
    } finally {
      snap.release();
      this.recount = undefined;
    }
  }

  /**
   * Re-cuts every oversized bucket, one after another, in the background (ZSetView calls this
   * when wantsSplit, after a commit or before a rank read). All of them, not one per commit:
   * a batched load outgrows buckets faster than that, and a set that is only read would keep
   * them, each rank read then scanning through thousands of records.
   */
  split(engine: EngineLike, prefix: string): Promise<void> {
    this.splitting = (async () => {
      try {
        // Re-cut buckets replace bucket i, so the search goes on from there.
        for (let i = this.nextOversized(0); i >= 0 && !this.broken; i = this.nextOversized(i)) {
          await this.recountBucket(engine, prefix, this.bounds[i]!);
        }
        // Buckets before the last re-cut one may have grown meanwhile: the next call takes them.
        this.oversized = this.nextOversized(0) >= 0;
      } finally {
        this.splitting = undefined;
      }
    })();
    return this.splitting;
  }

  private nextOversized(from: number): number {
    for (let i = from; i < this.counts.length; i++) if (this.counts[i]! > MAX_BUCKET) return i;
    return -1;
  }

  /** Resolves when no background split is running (tests). */
  settled(): Promise<void> {
    return this.splitting ?? Promise.resolve();
  }

  private change(suffix: string, d: number): void {
    // The old bucket's count stays exact during a recount (queries go on using it); the log
    // carries the change into the buckets that replace it.
    const i = this.find(suffix);
    this.counts[i]! += d;
    if (this.counts[i]! > MAX_BUCKET) this.oversized = true;
    const rc = this.recount;
    if (rc && suffix >= rc.lo && (rc.hi === undefined || suffix < rc.hi)) rc.log.push([suffix, d]);
  }

  private find(suffix: string): number {
    return upperBound(this.bounds, suffix) - 1;
  }
}

/** The first index whose element is greater than s (a is sorted, a[0] = ''). */
function upperBound(a: string[], s: string): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! <= s) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
