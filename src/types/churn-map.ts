/**
 * A string-keyed map in approximate least-recently-used order that stays fast under key churn.
 *
 * V8's Map keeps a deleted entry in its bucket chain until the table is rebuilt, so one key that
 * is deleted and re-added (or moved to the end) over and over makes every lookup of it walk
 * thousands of dead entries: with 60k other keys, a queue that empties on each pop costs 100+ µs
 * per command. Here:
 * - removing a recently moved key leaves a tombstone in its slot, and re-adding it reuses it;
 * - a key moves to the recent end on use only if a quarter of the map's size in uses went by since
 *   it last moved, so a hot key moves rarely and the order is right to within that window;
 * - tombstones are dropped when iteration meets old ones, and the map is rebuilt when they
 *   outnumber live keys (amortised O(1)).
 */
const DEAD = Symbol('dead');

interface Slot<V> {
  v: V | typeof DEAD;
  /** `clock` when the slot was last appended. */
  seq: number;
}

export class ChurnMap<V> {
  private m = new Map<string, Slot<V>>();
  private live = 0;
  private dead = 0;
  /** Counts appends and uses. */
  private clock = 0;

  get size(): number {
    return this.live;
  }

  get(k: string): V | undefined {
    const s = this.m.get(k);
    return s === undefined || s.v === DEAD ? undefined : s.v;
  }

  has(k: string): boolean {
    const s = this.m.get(k);
    return s !== undefined && s.v !== DEAD;
  }

  /** Adds or replaces, counting as a use (the key moves to the recent end if due). */
  set(k: string, v: V): this {
    const s = this.m.get(k);
    if (s === undefined) {
      this.m.set(k, { v, seq: ++this.clock });
      this.live++;
      return this;
    }
    if (s.v === DEAD) {
      this.dead--;
      this.live++;
    }
    s.v = v;
    this.use(k, s);
    return this;
  }

  /** Marks a use of k: moves it to the recent end if due. */
  touch(k: string): void {
    const s = this.m.get(k);
    if (s !== undefined && s.v !== DEAD) this.use(k, s);
  }

  delete(k: string): boolean {
    const s = this.m.get(k);
    if (s === undefined || s.v === DEAD) return false;
    this.live--;
    if (this.stale(s)) {
      this.m.delete(k);
    } else {
      s.v = DEAD;
      this.dead++;
      if (this.dead > 1024 && this.dead > this.live) this.rebuild();
    }
    return true;
  }

  clear(): void {
    this.m.clear();
    this.live = 0;
    this.dead = 0;
  }

  /** Live entries, least recently used first (as far as the order is kept). */
  *[Symbol.iterator](): IterableIterator<[string, V]> {
    for (const [k, s] of this.m) {
      if (s.v !== DEAD) yield [k, s.v];
      else if (this.stale(s) && this.m.get(k) === s) {
        this.m.delete(k);
        this.dead--;
      }
    }
  }

  *keys(): IterableIterator<string> {
    for (const [k] of this) yield k;
  }

  private stale(s: Slot<V>): boolean {
    return this.clock - s.seq > (this.live >> 2) + 16;
  }

  private use(k: string, s: Slot<V>): void {
    this.clock++;
    if (!this.stale(s)) return;
    this.m.delete(k);
    s.seq = ++this.clock;
    this.m.set(k, s);
  }

  private rebuild(): void {
    const m = new Map<string, Slot<V>>();
    for (const [k, s] of this.m) if (s.v !== DEAD) m.set(k, s);
    this.m = m;
    this.dead = 0;
  }
}
