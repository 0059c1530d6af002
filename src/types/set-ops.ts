/**
 * Set operations over both forms (set-value.ts). Inline sets are a JS Set in memory; split
 * sets read members from the engine (a membership test is one get, iteration a scan, a random
 * member a short seek), so nothing ever loads a big set whole unless the reply itself holds
 * every member. Reads may await; mutations are synchronous and go through commit(), which
 * must follow Guard.check() (set-collection.ts).
 */
import type { EngineWrite } from './engine-api.ts';
import { CHUNK, type Guard, lookupAll, RandomSeeker, scanSuffixes, widen } from './set-collection.ts';
import { EMPTY, type SetLimits, SetValue } from './set-value.ts';
import type { Entry } from './values.ts';
import { map, type Maybe } from '../util/maybe.ts';

/** Below this many members a split set is read whole for random sampling (exactly uniform). */
const SAMPLE_WHOLE = 2000;
/**
 * A split set whose removals outnumber its members REWRITE_RATIO to one (at least
 * REWRITE_MIN of them) is rewritten whole by the next SPOP, if it has at most REWRITE_MAX members.
 */
const REWRITE_RATIO = 4;
const REWRITE_MIN = 1024;
const REWRITE_MAX = 16384;

export class SetView {
  readonly g: Guard;
  readonly key: string;
  /** The key's entry; undefined for a set this command is creating. */
  readonly e: Entry | undefined;
  v: SetValue;
  private records: EngineWrite[] = [];
  private rehomed = false;
  private touched = false;
  /** Split and due a rewrite: every member this command read, as its changes leave them. */
  private live: Set<string> | undefined;

  constructor(g: Guard, key: string, e: Entry | undefined, v: SetValue) {
    this.g = g;
    this.key = key;
    this.e = e;
    this.v = v;
  }

  /** A view of a set that does not exist yet (written by commit()). */
  static create(g: Guard, key: string): SetView {
    return new SetView(g, key, undefined, new SetValue());
  }

  get card(): number {
    return this.v.card;
  }

  private get prefix(): string {
    return this.g.prefix(this.key, this.v.version);
  }

  has(member: string): Maybe<boolean> {
    if (!this.v.split) return this.v.members.has(member);
    return map(this.g.ks.engine.getMaybe(this.prefix + member), (v) => v !== undefined);
  }

  hasMany(members: readonly string[]): Maybe<boolean[]> {
    if (!this.v.split) return members.map((m) => this.v.members.has(m));
    const prefix = this.prefix;
    const engine = this.g.ks.engine;
    return lookupAll(members, (m) => map(engine.getMaybe(prefix + m), (v) => v !== undefined));
  }

  /** Every member, in pages of at most CHUNK (inline: one page, intsets sorted as Redis sorts them). */
  async *pages(): AsyncGenerator<string[]> {
    if (!this.v.split) {
      if (this.v.members.size) yield this.v.ordered();
      return;
    }
    let page: string[] = [];
    for await (const [m] of scanSuffixes(this.g.ks, this.prefix, { bounds: this.v.bounds })) {
      page.push(m);
      if (page.length >= CHUNK) {
        yield page;
        page = [];
      }
    }
    if (page.length) yield page;
  }

  all(): Maybe<string[]> {
    if (!this.v.split) return this.v.ordered();
    return this.splitAll();
  }

  private async splitAll(): Promise<string[]> {
    const out: string[] = [];
    for await (const p of this.pages()) for (const m of p) out.push(m);
    return out;
  }

  /** SSCAN of a split set: members after `after` in member order, at most `limit`. */
  async page(after: string | undefined, limit: number): Promise<string[]> {
    const out: string[] = [];
    for await (const [m] of scanSuffixes(this.g.ks, this.prefix, { after, limit, bounds: this.v.bounds })) out.push(m);
    return out;
  }

  /** One random member (undefined for an empty set): a seek, however small a split set is. */
  randomOne(): Maybe<string | undefined> {
    if (!this.v.split) {
      const all = this.v.ordered();
      return all[Math.floor(Math.random() * all.length)];
    }
    if (this.rewriteDue()) {
      return map(this.splitAll(), (all) => {
        this.live = new Set(all);
        return all[Math.floor(Math.random() * all.length)];
      });
    }
    return map(new RandomSeeker(this.g.ks, this.prefix, this.v.bounds).next(), (x) => x?.[0]);
  }

  /**
   * Removed members leave deletions in the element range until compaction drops them, and each
   * random seek walks the ones after the point it lands on: in a set that has lost most of its
   * members (a big set drained by SPOP), that is most of the range. Rewritten under a fresh
   * version, the set's range holds its members only, at a cost the removals have paid for.
   */
  private rewriteDue(): boolean {
    const v = this.v;
    return v.split && v.removed >= REWRITE_MIN && v.removed > REWRITE_RATIO * v.count && v.count <= REWRITE_MAX;
  }

  /** `n` random members, repetitions allowed (SRANDMEMBER with a negative count). */
  async randomWithRepeats(n: number): Promise<string[]> {
    const out: string[] = [];
    if (!this.v.split || this.card <= Math.max(SAMPLE_WHOLE, n)) {
      const all = await this.all();
      for (let i = 0; i < n; i++) out.push(all[Math.floor(Math.random() * all.length)]!);
      return out;
    }
    const seek = new RandomSeeker(this.g.ks, this.prefix, this.v.bounds);
    for (let i = 0; i < n; i++) out.push((await seek.next())![0]);
    return out;
  }

  /**
   * `n` distinct random members, n < card. Sets read whole anyway (inline, small, or n close to
   * the size: Redis's "CASE 3") are sampled exactly; otherwise distinct random seeks.
   */
  async randomDistinct(n: number): Promise<string[]> {
    if (!this.v.split || this.card <= SAMPLE_WHOLE || n * 3 > this.card || this.rewriteDue()) {
      const all = await this.all();
      if (this.rewriteDue()) this.live = new Set(all);
      for (let i = 0; i < n; i++) {
        const j = i + Math.floor(Math.random() * (all.length - i));
        [all[i], all[j]] = [all[j]!, all[i]!];
      }
      return all.slice(0, n);
    }
    const seek = new RandomSeeker(this.g.ks, this.prefix, this.v.bounds);
    const got = new Set<string>();
    for (let tries = 0; got.size < n && tries < n * 4 + 64; tries++) got.add((await seek.next())![0]);
    if (got.size < n) {
      // Seeks kept landing on the same members: take the rest in order.
      for await (const [m] of scanSuffixes(this.g.ks, this.prefix)) {
        got.add(m);
        if (got.size >= n) break;
      }
    }
    return [...got];
  }

  // ---------------------------------------------------------------- mutations (after check())

  /** Adds members known to be absent (distinct). */
  add(members: readonly string[], limits: SetLimits): void {
    const v = this.v;
    for (const m of members) {
      v.noteAdd(m, limits);
      if (v.split) {
        this.records.push({ key: this.prefix + m, value: EMPTY });
        v.count++;
        widen(v.bounds, m);
        this.live?.add(m);
      } else {
        v.addInline(m);
      }
    }
    if (members.length) this.touched = true;
  }

  /** Removes members known to be present (distinct). */
  remove(members: readonly string[]): void {
    const v = this.v;
    for (const m of members) {
      if (v.split) {
        this.records.push({ key: this.prefix + m });
        v.count--;
        v.removed++;
        this.live?.delete(m);
      } else {
        v.removeInline(m);
      }
    }
    if (members.length) this.touched = true;
  }

  /** Persists the changes: creates, converts to split, updates or deletes the key. */
  commit(limits: SetLimits): void {
    if (!this.touched) return;
    this.touched = false;
    const ks = this.g.ks;
    if (!this.e) {
      if (this.v.card === 0) return;
      this.v.splitWanted = !this.v.fitsInline(limits);
      ks.set(this.g.db, this.key, this.v);
      return;
    }
    if (!this.v.split && !this.v.fitsInline(limits)) {
      const version = ks.allocVersion();
      const prefix = this.g.prefix(this.key, version);
      for (const [m, value] of this.v.splitOff(version)) this.records.push({ key: prefix + m, value });
      this.rehomed = true;
    }
    const old = this.live?.size && this.v.split ? this.rewrite(this.live) : undefined;
    this.live = undefined;
    const records = this.records;
    this.records = [];
    ks.collectionChanged(this.g.db, this.key, this.e, records, this.rehomed);
    this.rehomed = false;
    // Only once the new version is written: until then the metadata names the old one.
    if (old !== undefined) ks.retireVersion(this.g.db, this.key, old);
  }

  /** Moves the set to a fresh version holding `live` (see rewriteDue); returns the old version. */
  private rewrite(live: Set<string>): number {
    const v = this.v;
    const old = v.version;
    v.version = this.g.ks.allocVersion();
    const prefix = this.prefix;
    // The old version's records go with its whole range: the changes to them are moot.
    this.records = [];
    for (const m of live) this.records.push({ key: prefix + m, value: EMPTY });
    v.count = live.size;
    v.removed = 0;
    v.bounds = {};
    this.rehomed = true;
    return old;
  }
}

/** The set at a key for a command: a view, undefined (missing), or 'wrongtype'. */
export function setAt(g: Guard, key: string, write: boolean): SetView | undefined | 'wrongtype' {
  const e = write ? g.write(key) : g.read(key);
  if (!e) return undefined;
  if (!(e.value instanceof SetValue)) return 'wrongtype';
  return new SetView(g, key, e, e.value);
}
