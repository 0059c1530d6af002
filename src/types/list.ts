/**
 * A Redis list as it lives in the hot set (docs/data-model.md, "Lists").
 *
 * Small lists are inline: every element is in `items` and the whole list is one metadata
 * record. Big lists are split: element records `e|ns|keylen|key|version|pos` where pos is a
 * signed position (biased, so byte order is numeric order) and the elements occupy exactly the
 * positions [head, head + count). The in-memory value of a split list is just those three
 * numbers, so a list of any length costs a few bytes of memory, and LPUSH/RPUSH/LPOP/RPOP write
 * one element record plus the metadata.
 *
 * A split list also keeps copies of its first and last elements (`front`, `back`), at most one
 * small node's worth each, like the head and tail nodes of Redis's quicklist: pushes and pops
 * keep them exact, so reads and pops near the ends (LRANGE 0 99, LINDEX -1, RPOP) are answered
 * from memory without an engine read. Operations that move elements drop them (dropEnds()).
 */

/** Added to a position before it is written big-endian: positions in [-2^52, 2^52) sort right. */
export const POS_BIAS = 2 ** 52;

/** Per-element overhead of Redis's listpack entry, for the inline-size decision. */
const LP_ENTRY_OVERHEAD = 2;
/** listpack header + terminator. */
const LP_HEADER = 7;
/** Redis's SIZE_SAFETY_LIMIT: a positive list-max-listpack-size still caps a node at 8 KiB. */
const SIZE_SAFETY_LIMIT = 8192;

/** Elements a cached end is loaded with, and keeps after trimming. */
export const END_CACHE_ELEMENTS = 128;
/** Most elements a cached end holds: pushes trim it back to END_CACHE_ELEMENTS in one go. */
export const END_CACHE_MAX = END_CACHE_ELEMENTS + 32;
/** Most element bytes a cached end holds. */
export const END_CACHE_BYTES = SIZE_SAFETY_LIMIT;

export type Where = 'head' | 'tail';

/**
 * Copies of the elements at one end of a split list, the element at the end last (so a push or
 * pop at that end is an array push or pop). Holds at most END_CACHE_MAX / _BYTES: the
 * elements farthest from the end are dropped first.
 */
export class EndCache {
  elems: string[] = [];
  bytes = 0;
  /**
   * The record of the node at this end as last written, kept while pushes at this end are the
   * list's only changes (list-ops.ts): the next push extends it instead of encoding the node's
   * entries again. Any other change drops it (ListValue.forgetEndNodes). A binary string, not
   * a Buffer: a small Buffer kept for long would pin a 64 KiB slab of Node's pool.
   */
  node: string | undefined;
  /** That node's record key (with `node`). */
  nodeKey = '';

  get length(): number {
    return this.elems.length;
  }

  push(s: string): void {
    this.elems.push(s);
    this.bytes += s.length;
    this.cap();
  }

  pop(): string {
    const s = this.elems.pop()!;
    this.bytes -= s.length;
    return s;
  }

  /** Drops the element farthest from the end. */
  dropFar(): void {
    this.bytes -= this.elems.shift()!.length;
  }

  /** Replaces the contents (nearest the end last); cap() applies the limits. */
  reset(elems: string[]): void {
    this.elems = elems;
    let b = 0;
    for (const s of elems) b += s.length;
    this.bytes = b;
  }

  /** The k-th element from the end (0: the end itself). */
  at(k: number): string {
    return this.elems[this.elems.length - 1 - k]!;
  }

  /** Sets the k-th element from the end. */
  set(k: number, s: string): void {
    const i = this.elems.length - 1 - k;
    this.bytes += s.length - this.elems[i]!.length;
    this.elems[i] = s;
    this.cap();
  }

  /** Applies the limits, dropping the elements farthest from the end. */
  cap(): void {
    const c = this.elems;
    if (c.length <= END_CACHE_MAX && this.bytes <= END_CACHE_BYTES) return;
    // Trimmed in one splice down to END_CACHE_ELEMENTS, not by a shift per push.
    let k = 0;
    let b = this.bytes;
    while (k < c.length && (c.length - k > END_CACHE_ELEMENTS || b > END_CACHE_BYTES)) b -= c[k++]!.length;
    c.splice(0, k);
    this.bytes = b;
  }
}

/** An end cache after `cut` elements went from its end and the list was left `kept` long. */
function keepInner(c: EndCache, cut: number, kept: number): void {
  for (let i = 0; i < cut && c.length > 0; i++) c.pop();
  while (c.length > kept) c.dropFar();
}

export class ListValue {
  /** Inline (version 0): the elements, head first. Always empty when split. */
  items: string[];
  /** 0 while inline in the metadata record; else the version of its element records. */
  version: number;
  /** Split: position of the first element. */
  head: number;
  /** Split: number of elements. */
  count: number;
  /** Split: positions per node record (list-nodes.ts); 1 for lists split before nodes. */
  slots = 1;
  /** Inline: sum of element lengths. */
  bytes: number;
  /** Split: copies of elements [0, front.length), element 0 last. */
  front = new EndCache();
  /** Split: copies of elements [count - back.length, count), the last element last. */
  back = new EndCache();

  constructor(items: string[] = []) {
    this.items = items;
    this.version = 0;
    this.head = 0;
    this.count = 0;
    let b = 0;
    for (const s of items) b += s.length;
    this.bytes = b;
  }

  static split(version: number, head: number, count: number, slots: number): ListValue {
    const l = new ListValue();
    l.version = version;
    l.head = head;
    l.count = count;
    l.slots = slots;
    return l;
  }

  get length(): number {
    return this.version === 0 ? this.items.length : this.count;
  }

  /** Elements held in memory (for split lists only the cached ends: the rest stay in the engine). */
  get size(): number {
    return this.items.length + this.front.length + this.back.length;
  }

  /** Bytes of the elements held in memory. */
  get memBytes(): number {
    return this.bytes + this.front.bytes + this.back.bytes + (this.front.node?.length ?? 0) + (this.back.node?.length ?? 0);
  }

  /** Split: drops both ends' node records (after any change: a push sets its end's again). */
  forgetEndNodes(): void {
    this.front.node = undefined;
    this.back.node = undefined;
  }

  /** Split: the cached end at `where`. */
  end(where: Where): EndCache {
    return where === 'head' ? this.front : this.back;
  }

  /**
   * Split: takes the element at `where` from its cached end (the caller checked that the end
   * holds one) and updates head/count. The other end loses it too when it reached that far.
   */
  take(where: Where): string {
    const s = this.end(where).pop();
    if (where === 'head') this.head++;
    this.count--;
    const other = this.end(where === 'head' ? 'tail' : 'head');
    if (other.length > this.count) other.dropFar();
    return s;
  }

  /** Split: the list keeps only elements [from, to] (call before head/count change). */
  keepRange(from: number, to: number): void {
    const kept = to - from + 1;
    keepInner(this.front, from, kept);
    keepInner(this.back, this.count - 1 - to, kept);
  }

  /** Split: forgets both cached ends (after an operation that moves elements). */
  dropEnds(): void {
    this.front = new EndCache();
    this.back = new EndCache();
  }

  get split(): boolean {
    return this.version !== 0;
  }

  /** Position of the element at index i (split lists; i already normalised to 0..length-1). */
  pos(i: number): number {
    return this.head + i;
  }

  /** Recomputes `bytes` after bulk changes to `items`. */
  recount(): void {
    let b = 0;
    for (const s of this.items) b += s.length;
    this.bytes = b;
  }

  /** A detached inline copy (COPY of a small list). */
  clone(): ListValue {
    return new ListValue([...this.items]);
  }
}

/**
 * Whether an inline list of `count` elements and `bytes` payload still fits one quicklist node
 * under list-max-listpack-size `fill` (Redis's quicklistNodeExceedsLimit): a positive fill caps
 * the element count, a negative one the node size (-1: 4 KiB ... -5: 64 KiB).
 */
export function fitsInline(fill: number, count: number, bytes: number): boolean {
  const size = bytes + count * LP_ENTRY_OVERHEAD + LP_HEADER;
  if (fill >= 0) return count <= Math.max(fill, 1) && size <= SIZE_SAFETY_LIMIT;
  const limit = 4096 * 2 ** (Math.min(-fill, 5) - 1);
  return size <= limit;
}
