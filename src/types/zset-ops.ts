/**
 * Sorted-set operations over both forms (zset-value.ts). Inline sets are sorted arrays in
 * memory. Split sets stream from the engine: score and rank ranges scan the 's' family in
 * (score, member) order, lexicographic ranges and ZSCAN scan the 'm' family in member order,
 * a score is one get. A rank near an end is counted by scanning from that end; deeper ranks go
 * through the in-memory rank index (zset-rank.ts): a sum of bucket counts and a scan inside one
 * bucket. Nothing reads a big set whole unless the reply holds all of it (or builds the index).
 *
 * Reads may await; mutations are synchronous and go through commit() after Guard.check(). A
 * split set's changes are collected per member (score before the command, score now) and
 * become records at commit, so a command that touches a member twice writes it once.
 */
import type { EngineWrite } from './engine-api.ts';
import { prefixEnd } from './encoding.ts';
import { CHUNK, type Guard, lookupAll, RandomSeeker, scanSuffixes, suffixRange, widen } from './set-collection.ts';
import { SetView } from './set-ops.ts';
import { SetValue } from './set-value.ts';
import { BUCKET, RankIndex } from './zset-rank.ts';
import {
  type LexRange,
  lexGteMin,
  lexLteMax,
  lexRangeEmpty,
  type ScoreRange,
  scoreGteMin,
  scoreLteMax,
  scoreRangeEmpty,
} from './zset-range.ts';
import {
  decodeScore,
  encodeScore,
  FAM_MEMBER,
  FAM_RANK,
  FAM_SCORE,
  scoreBytes,
  type ZSetLimits,
  ZSetValue,
} from './zset-value.ts';
import type { Entry } from './values.ts';
import { map, type Maybe } from '../util/maybe.ts';

export type Pair = [string, number];

/** Below this many members a split set is read whole for random sampling (exactly uniform). */
const SAMPLE_WHOLE = 2000;

/** A decoded 's' record: its suffix is score:8 + member, its value the exact score. */
function scorePair(suffix: string, value: Uint8Array): Pair {
  return [suffix.slice(8), decodeScore(value)];
}

export class ZSetView {
  readonly g: Guard;
  readonly key: string;
  /** The key's entry; undefined for a sorted set this command is creating. */
  readonly e: Entry | undefined;
  v: ZSetValue;
  /** Split: score of each touched member before this command (undefined = absent). */
  private orig: Map<string, number | undefined> | undefined;
  /** Split: score of each touched member now (null = removed). */
  private pending: Map<string, number | null> | undefined;
  private rehomed = false;
  private touched = false;

  constructor(g: Guard, key: string, e: Entry | undefined, v: ZSetValue) {
    this.g = g;
    this.key = key;
    this.e = e;
    this.v = v;
  }

  static create(g: Guard, key: string): ZSetView {
    return new ZSetView(g, key, undefined, new ZSetValue());
  }

  get card(): number {
    return this.v.card;
  }

  /** The element prefix of the set (both families and the rank record under it). */
  private get prefix(): string {
    return this.g.prefix(this.key, this.v.version);
  }

  private get mPrefix(): string {
    return this.prefix + FAM_MEMBER;
  }

  private get sPrefix(): string {
    return this.prefix + FAM_SCORE;
  }

  private get rankKey(): string {
    return this.prefix + FAM_RANK;
  }

  // ---------------------------------------------------------------- point reads

  score(member: string): Maybe<number | undefined> {
    if (!this.v.split) return this.v.index.get(member);
    const p = this.pending?.get(member);
    if (p !== undefined) return p ?? undefined;
    return map(this.g.ks.engine.getMaybe(this.mPrefix + member), (raw) => (raw ? decodeScore(raw) : undefined));
  }

  scores(members: readonly string[]): Maybe<(number | undefined)[]> {
    if (!this.v.split) return members.map((m) => this.v.index.get(m));
    return lookupAll(members, (m) => this.score(m));
  }

  /** 0-based rank in ascending order (descending with rev), or undefined. */
  async rank(member: string, rev: boolean): Promise<number | undefined> {
    const v = this.v;
    if (!v.split) {
      const r = v.rankOf(member);
      if (r < 0) return undefined;
      return rev ? v.members.length - 1 - r : r;
    }
    const score = await this.score(member);
    if (score === undefined) return undefined;
    const suffix = scoreBytes(score) + member;
    // Near an end, counting from it is cheapest; deeper, the rank index answers (built if need be).
    let asc = v.rank?.ready ? undefined : await this.rankFromEnds(suffix, v.count > 4 * BUCKET ? 2 * BUCKET : Infinity);
    if (asc === undefined) {
      const idx = await this.rankIndex();
      if (idx) {
        const { from, before } = idx.bucketOf(suffix);
        let n = 0;
        for await (const _ of this.g.ks.engine.scan({ start: this.sPrefix + from, end: this.sPrefix + suffix })) n++;
        asc = before + n;
      } else {
        asc = (await this.rankFromEnds(suffix, Infinity))!;
      }
    }
    return rev ? v.count - 1 - asc : asc;
  }

  /**
   * The ascending rank of a score record, counted by two interleaved scans (from the bottom up
   * to it, from the top down to it), so it costs twice the distance to the nearer end; undefined
   * once each scan has gone `budget` records.
   */
  private async rankFromEnds(suffix: string, budget: number): Promise<number | undefined> {
    const ks = this.g.ks;
    const at = this.sPrefix + suffix;
    const below = ks.engine.scan({ start: this.sPrefix, end: at })[Symbol.asyncIterator]();
    const above = ks.engine.scan({ start: at + '\0', end: prefixEnd(this.sPrefix), reverse: true })[Symbol.asyncIterator]();
    try {
      for (let a = 0, b = 0; a < budget; ) {
        if ((await below.next()).done) return a;
        a++;
        if ((await above.next()).done) return this.v.count - 1 - b;
        b++;
      }
      return undefined;
    } finally {
      await below.return?.(undefined);
      await above.return?.(undefined);
    }
  }

  /**
   * The set's rank index, built by one scan of its score records if it has none. Undefined when
   * it cannot be trusted now: this command has uncommitted changes, another command is building
   * it, or its total disagrees with the set's count (then it is dropped, to be rebuilt).
   */
  private async rankIndex(): Promise<RankIndex | undefined> {
    const v = this.v;
    if (this.pending?.size) return undefined;
    let idx = v.rank;
    if (!idx) {
      idx = new RankIndex();
      v.rank = idx;
      // The stored index, unless this session already knows there is none. A commit while
      // it loads deletes it (and sets rankStored), so then it is not taken.
      const raw = v.rankStored === undefined ? await this.g.ks.engine.get(this.rankKey) : undefined;
      const stored = raw && RankIndex.decode(raw);
      if (stored && v.rank === idx && v.rankStored === undefined && stored.total === v.count) {
        v.rank = idx = stored;
        v.rankStored = true;
      } else {
        await idx.recountBucket(this.g.ks.engine, this.sPrefix, '');
        // Stored at once: a set that is not changed afterwards never needs this scan again.
        const rec = v.rank === idx && !this.pending?.size ? v.rankRecord(this.prefix) : undefined;
        if (rec) this.g.ks.writeRaw([rec]);
      }
    }
    if (!idx.ready) return undefined;
    if (idx.broken || idx.total !== v.count) {
      if (v.rank === idx) {
        v.rank = undefined;
        // If it came from the store, the record is suspect too: the next commit deletes it.
        if (v.rankStored) v.rankStored = undefined;
      }
      return undefined;
    }
    // No uncommitted changes here, so the engine holds what the counts hold.
    if (idx.wantsSplit) this.splitRank(idx);
    return idx;
  }

  // ---------------------------------------------------------------- ranges

  /** Entries with ascending ranks start..end (0 <= start <= end < card), ascending. */
  ascRange(start: number, end: number): Maybe<Pair[]> {
    const v = this.v;
    if (!v.split) {
      const out: Pair[] = [];
      for (let i = start; i <= end; i++) out.push([v.members[i]!, v.scores[i]!]);
      return out;
    }
    const want = end - start + 1;
    const fromTop = v.count - 1 - end;
    // Skip from whichever end is nearer, or from the rank index's bucket when that is far.
    const reverse = fromTop < start;
    const skip = reverse ? fromTop : start;
    if (skip + want <= CHUNK) return this.nearEnd(skip, want, reverse);
    return this.splitAscRange(start, end, want, reverse, skip);
  }

  /**
   * A short range at one end (ZPOPMIN, ZRANGE 0 9): one bounded scan, answered now when the
   * records are in memory.
   */
  private nearEnd(skip: number, want: number, reverse: boolean): Maybe<Pair[]> {
    const b = this.v.sBounds;
    const p = this.sPrefix;
    const range = suffixRange(p, b);
    if (!range) return [];
    return map(this.g.ks.engine.scanAllMaybe({ ...range, reverse, limit: skip + want }), (entries) => {
      // The first live record from an end: tighten that end's bound.
      const first = entries[0]?.key.slice(p.length);
      if (first !== undefined) {
        if (reverse) b.hiEx = first + '\0';
        else b.lo = first;
      }
      const out: Pair[] = [];
      for (let i = skip; i < entries.length; i++) out.push(scorePair(entries[i]!.key.slice(p.length), entries[i]!.value));
      return reverse ? out.reverse() : out;
    });
  }

  private async splitAscRange(start: number, end: number, want: number, reverse: boolean, skip: number): Promise<Pair[]> {
    const v = this.v;
    const out: Pair[] = [];
    const idx = skip > 2 * BUCKET ? await this.rankIndex() : undefined;
    if (idx) {
      const { from, before } = idx.locate(start);
      skip = start - before;
      const bounds = { lo: v.sBounds.lo !== undefined && v.sBounds.lo > from ? v.sBounds.lo : from, hiEx: v.sBounds.hiEx };
      for await (const [suffix, value] of scanSuffixes(this.g.ks, this.sPrefix, { bounds })) {
        if (skip > 0) skip--;
        else if (out.push(scorePair(suffix, value)) >= want) break;
      }
      return out;
    }
    const b = v.sBounds;
    let first = true;
    for await (const [suffix, value] of scanSuffixes(this.g.ks, this.sPrefix, { reverse, bounds: b })) {
      if (first) {
        // The first live record from an end: tighten that end's bound.
        if (reverse) b.hiEx = suffix + '\0';
        else b.lo = suffix;
        first = false;
      }
      if (skip > 0) {
        skip--;
        continue;
      }
      out.push(scorePair(suffix, value));
      if (out.length >= want) break;
    }
    return reverse ? out.reverse() : out;
  }

  /** ZRANGE by rank with Redis's index rules (negative from the end); rev counts from the top. */
  byRank(start: number, end: number, rev: boolean): Maybe<Pair[]> {
    const n = this.card;
    if (start < 0) start = n + start;
    if (end < 0) end = n + end;
    if (start < 0) start = 0;
    if (start > end || start >= n) return [];
    if (end >= n) end = n - 1;
    if (!rev) return this.ascRange(start, end);
    return map(this.ascRange(n - 1 - end, n - 1 - start), (p) => p.reverse());
  }

  /** Entries in a score range, skipping `offset`, at most `limit` (< 0: all), in the given direction. */
  async byScore(r: ScoreRange, rev: boolean, offset = 0, limit = -1): Promise<Pair[]> {
    const out: Pair[] = [];
    if (scoreRangeEmpty(r) || offset < 0 || limit === 0) return out;
    const v = this.v;
    if (!v.split) {
      if (!rev) {
        for (let i = v.scoreBound(r.min, r.minex); i < v.scores.length; i++) {
          const s = v.scores[i]!;
          if (!scoreLteMax(s, r)) break;
          if (offset > 0) offset--;
          else if (out.push([v.members[i]!, s]) === limit) break;
        }
      } else {
        for (let i = v.scoreBound(r.max, !r.maxex) - 1; i >= 0; i--) {
          const s = v.scores[i]!;
          if (!scoreGteMin(s, r)) break;
          if (offset > 0) offset--;
          else if (out.push([v.members[i]!, s]) === limit) break;
        }
      }
      return out;
    }
    for await (const p of this.scanScores(r, rev)) {
      if (offset > 0) offset--;
      else if (out.push(p) === limit) break;
    }
    return out;
  }

  /** Split: the 's' records of a score range, streamed. */
  private async *scanScores(r: ScoreRange, rev: boolean): AsyncGenerator<Pair> {
    const sp = this.sPrefix;
    const lo = sp + scoreBytes(r.min);
    const hi = sp + scoreBytes(r.max);
    let start = r.minex ? prefixEnd(lo) : lo;
    let end = r.maxex ? hi : prefixEnd(hi);
    const b = this.v.sBounds;
    if (b.lo !== undefined && sp + b.lo > start) start = sp + b.lo;
    if (b.hiEx !== undefined && sp + b.hiEx < end) end = sp + b.hiEx;
    if (start >= end) return;
    for await (const e of this.g.ks.engine.scan({ start, end, reverse: rev })) yield scorePair(e.key.slice(sp.length), e.value);
  }

  async countScore(r: ScoreRange): Promise<number> {
    if (scoreRangeEmpty(r)) return 0;
    const v = this.v;
    if (!v.split) {
      const from = v.scoreBound(r.min, r.minex);
      const to = v.scoreBound(r.max, !r.maxex);
      return Math.max(0, to - from);
    }
    let n = 0;
    for await (const _ of this.scanScores(r, false)) n++;
    return n;
  }

  /**
   * Entries in a lex range. Inline sets walk in score order exactly as Redis walks a listpack
   * (meaningful when all scores are equal, as the commands require); split sets scan members.
   */
  async byLex(r: LexRange, rev: boolean, offset = 0, limit = -1): Promise<Pair[]> {
    const out: Pair[] = [];
    if (lexRangeEmpty(r) || offset < 0 || limit === 0) return out;
    const v = this.v;
    if (!v.split) {
      const n = v.members.length;
      if (n === 0 || !lexGteMin(v.members[n - 1]!, r) || !lexLteMax(v.members[0]!, r)) return out;
      if (!rev) {
        let i = 0;
        while (i < n && !lexGteMin(v.members[i]!, r)) i++;
        if (i >= n || !lexLteMax(v.members[i]!, r)) return out;
        i += offset;
        for (; i < n && lexLteMax(v.members[i]!, r); i++) if (out.push([v.members[i]!, v.scores[i]!]) === limit) break;
      } else {
        let i = n - 1;
        while (i >= 0 && !lexLteMax(v.members[i]!, r)) i--;
        if (i < 0 || !lexGteMin(v.members[i]!, r)) return out;
        i -= offset;
        for (; i >= 0 && lexGteMin(v.members[i]!, r); i--) if (out.push([v.members[i]!, v.scores[i]!]) === limit) break;
      }
      return out;
    }
    for await (const p of this.scanLex(r, rev)) {
      if (offset > 0) offset--;
      else if (out.push(p) === limit) break;
    }
    return out;
  }

  /** Split: the 'm' records of a lex range, streamed. */
  private async *scanLex(r: LexRange, rev: boolean): AsyncGenerator<Pair> {
    const mp = this.mPrefix;
    let start = r.min.kind === 'min' ? mp : r.min.kind === 'max' ? prefixEnd(mp) : mp + r.min.s + (r.min.ex ? '\0' : '');
    let end = r.max.kind === 'max' ? prefixEnd(mp) : r.max.kind === 'min' ? mp : mp + r.max.s + (r.max.ex ? '' : '\0');
    const b = this.v.mBounds;
    if (b.lo !== undefined && mp + b.lo > start) start = mp + b.lo;
    if (b.hiEx !== undefined && mp + b.hiEx < end) end = mp + b.hiEx;
    if (start >= end) return;
    for await (const e of this.g.ks.engine.scan({ start, end, reverse: rev })) yield [e.key.slice(mp.length), decodeScore(e.value)];
  }

  async countLex(r: LexRange): Promise<number> {
    if (!this.v.split) return (await this.byLex(r, false)).length;
    if (lexRangeEmpty(r)) return 0;
    let n = 0;
    for await (const _ of this.scanLex(r, false)) n++;
    return n;
  }

  /** Every entry in (score, member) order, in pages of at most CHUNK. */
  async *pages(): AsyncGenerator<Pair[]> {
    const v = this.v;
    if (!v.split) {
      if (v.members.length) yield v.members.map((m, i) => [m, v.scores[i]!]);
      return;
    }
    let page: Pair[] = [];
    for await (const [suffix, value] of scanSuffixes(this.g.ks, this.sPrefix, { bounds: v.sBounds })) {
      page.push(scorePair(suffix, value));
      if (page.length >= CHUNK) {
        yield page;
        page = [];
      }
    }
    if (page.length) yield page;
  }

  async all(): Promise<Pair[]> {
    const out: Pair[] = [];
    for await (const p of this.pages()) for (const x of p) out.push(x);
    return out;
  }

  /** ZSCAN of a split set: entries after member `after` in member order, at most `limit`. */
  async page(after: string | undefined, limit: number): Promise<Pair[]> {
    const out: Pair[] = [];
    for await (const [m, value] of scanSuffixes(this.g.ks, this.mPrefix, { after, limit, bounds: this.v.mBounds })) out.push([m, decodeScore(value)]);
    return out;
  }

  /** `n` random entries, repetitions allowed. */
  async randomWithRepeats(n: number): Promise<Pair[]> {
    const out: Pair[] = [];
    if (!this.v.split || this.card <= Math.max(SAMPLE_WHOLE, n)) {
      const all = await this.all();
      for (let i = 0; i < n; i++) out.push(all[Math.floor(Math.random() * all.length)]!);
      return out;
    }
    const seek = new RandomSeeker(this.g.ks, this.mPrefix, this.v.mBounds);
    for (let i = 0; i < n; i++) {
      const [m, value] = (await seek.next())!;
      out.push([m, decodeScore(value)]);
    }
    return out;
  }

  /** `n` distinct random entries, n < card (see SetView.randomDistinct). */
  async randomDistinct(n: number): Promise<Pair[]> {
    if (!this.v.split || this.card <= SAMPLE_WHOLE || n * 3 > this.card) {
      const all = await this.all();
      for (let i = 0; i < n; i++) {
        const j = i + Math.floor(Math.random() * (all.length - i));
        [all[i], all[j]] = [all[j]!, all[i]!];
      }
      return all.slice(0, n);
    }
    const seek = new RandomSeeker(this.g.ks, this.mPrefix, this.v.mBounds);
    const got = new Map<string, number>();
    for (let tries = 0; got.size < n && tries < n * 4 + 64; tries++) {
      const [m, value] = (await seek.next())!;
      got.set(m, decodeScore(value));
    }
    if (got.size < n) {
      for await (const [m, value] of scanSuffixes(this.g.ks, this.mPrefix)) {
        got.set(m, decodeScore(value));
        if (got.size >= n) break;
      }
    }
    return [...got];
  }

  // ---------------------------------------------------------------- mutations (after check())

  /**
   * Sets a member's score; `old` is its current score (undefined = new member). An inline set
   * about to outgrow the listpack limits becomes split first, as zsetAdd converts before the
   * insert (so a -0 added after the conversion keeps its sign).
   */
  set(member: string, score: number, old: number | undefined, limits: ZSetLimits): void {
    this.touched = true;
    const v = this.v;
    if (!v.split) {
      if (old !== undefined || (v.card + 1 <= limits.zsetMaxListpackEntries && member.length <= limits.zsetMaxListpackValue)) {
        if (old !== undefined) v.remove(member);
        v.insert(member, score);
        return;
      }
      this.toSplit();
    }
    this.change(member, old, score);
    if (old === undefined) v.count++;
    widen(v.mBounds, member);
    widen(v.sBounds, scoreBytes(score) + member);
  }

  /**
   * After popping `last` and everything before it from one end (ZPOPMIN/ZPOPMAX), no live
   * record lies beyond it: later scans from that end start past the pops' tombstones.
   */
  poppedTo(where: 'min' | 'max', last: Pair): void {
    if (!this.v.split) return;
    const suffix = scoreBytes(last[1]) + last[0];
    if (where === 'min') this.v.sBounds.lo = suffix + '\0';
    else this.v.sBounds.hiEx = suffix;
  }

  /** Removes a member whose current score is `old`. */
  remove(member: string, old: number): void {
    this.touched = true;
    const v = this.v;
    if (!v.split) {
      v.remove(member);
      return;
    }
    this.change(member, old, null);
    v.count--;
  }

  /** Notes a split member's change, and its score before this command the first time. */
  private change(member: string, old: number | undefined, now: number | null): void {
    const orig = (this.orig ??= new Map());
    if (!orig.has(member)) orig.set(member, old);
    (this.pending ??= new Map()).set(member, now);
  }

  /** Moves the inline entries into the pending changes of a fresh split version. */
  private toSplit(): void {
    const v = this.v;
    const version = this.g.ks.allocVersion();
    for (let i = 0; i < v.members.length; i++) this.change(v.members[i]!, undefined, v.scores[i]!);
    v.splitOff(version); // sets count; the records come from `pending` at commit
    v.rank = RankIndex.empty(); // commit reports every record to it
    v.rankStored = false;
    this.rehomed = true;
  }

  /** Persists the changes: creates, updates or deletes the key. */
  commit(): void {
    if (!this.touched) return;
    this.touched = false;
    const ks = this.g.ks;
    const records: EngineWrite[] = [];
    if (this.v.split) {
      const mp = this.mPrefix;
      const sp = this.sPrefix;
      const idx = this.v.rank;
      for (const [m, now] of this.pending ?? []) {
        const was = this.orig!.get(m);
        const wasSuffix = was === undefined ? undefined : scoreBytes(was) + m;
        if (now === null) {
          if (wasSuffix !== undefined) {
            records.push({ key: sp + wasSuffix }, { key: mp + m });
            idx?.remove(wasSuffix);
          }
          continue;
        }
        const nowSuffix = scoreBytes(now) + m;
        if (wasSuffix !== nowSuffix) {
          if (wasSuffix !== undefined) {
            records.push({ key: sp + wasSuffix });
            idx?.remove(wasSuffix);
          }
          idx?.add(nowSuffix);
        }
        const value = encodeScore(now);
        records.push({ key: mp + m, value }, { key: sp + nowSuffix, value });
      }
      this.pending = undefined;
      this.orig = undefined;
      // The stored rank index no longer matches: gone in the same batch as the change.
      if (records.length > 0 && this.v.rankStored !== false) {
        records.push({ key: this.rankKey });
        this.v.rankStored = false;
      }
    }
    if (!this.e) {
      if (this.v.card === 0) return;
      ks.writeRaw(records);
      ks.set(this.g.db, this.key, this.v);
    } else {
      ks.collectionChanged(this.g.db, this.key, this.e, records, this.rehomed);
      this.rehomed = false;
    }
    // Once this commit's records are in the engine: a recount's snapshot must hold what the
    // counts already hold.
    const idx = this.v.rank;
    if (idx?.wantsSplit) this.splitRank(idx);
  }

  /** Re-cuts the index's oversized buckets in the background (RankIndex.split). */
  private splitRank(idx: RankIndex): void {
    const v = this.v;
    void idx.split(this.g.ks.engine, this.sPrefix).then(() => {
      if (idx.broken && v.rank === idx) v.rank = undefined;
    });
  }
}

/** The sorted set at a key: a view, undefined (missing), or 'wrongtype'. */
export function zsetAt(g: Guard, key: string, write: boolean): ZSetView | undefined | 'wrongtype' {
  const e = write ? g.write(key) : g.read(key);
  if (!e) return undefined;
  if (!(e.value instanceof ZSetValue)) return 'wrongtype';
  return new ZSetView(g, key, e, e.value);
}

/**
 * An input of ZUNION/ZINTER/ZDIFF: a sorted set, or a plain set whose members score 1.
 */
export interface ZSource {
  card: number;
  /** Entries in pages. */
  pages(): AsyncGenerator<Pair[]>;
  /** Scores of members (undefined = absent). */
  scores(members: readonly string[]): Maybe<(number | undefined)[]>;
  /** Identity, to recognise the same key given twice. */
  id: unknown;
}

export function zsourceAt(g: Guard, key: string): ZSource | undefined | 'wrongtype' {
  const e = g.read(key);
  if (!e) return undefined;
  if (e.value instanceof ZSetValue) {
    const z = new ZSetView(g, key, e, e.value);
    return { card: z.card, pages: () => z.pages(), scores: (ms) => z.scores(ms), id: e };
  }
  if (e.value instanceof SetValue) {
    // A set's members count with score 1.
    const view = new SetView(g, key, e, e.value);
    return {
      card: view.card,
      id: e,
      async *pages() {
        for await (const p of view.pages()) yield p.map((m): Pair => [m, 1]);
      },
      scores: (ms) => map(view.hasMany(ms), (has) => has.map((h) => (h ? 1 : undefined))),
    };
  }
  return 'wrongtype';
}
