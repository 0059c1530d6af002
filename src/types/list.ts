/**
 * A Redis list as it lives in the hot set (docs/data-model.md, "Lists").
 *
 * Small lists are inline: every element is in `items` and the whole list is one metadata
 * record. Big lists are split: element records `e|ns|keylen|key|version|pos` where pos is a
 * signed position (biased, so byte order is numeric order) and the elements occupy exactly the
 * positions [head, head + count). The in-memory value of a split list is just those three
 * numbers, so a list of any length costs a few bytes of memory, and LPUSH/RPUSH/LPOP/RPOP write
 * one element record plus the metadata.
 */

/** Added to a position before it is written big-endian: positions in [-2^52, 2^52) sort right. */
export const POS_BIAS = 2 ** 52;

/** Per-element overhead of Redis's listpack entry, for the inline-size decision. */
const LP_ENTRY_OVERHEAD = 2;
/** listpack header + terminator. */
const LP_HEADER = 7;
/** Redis's SIZE_SAFETY_LIMIT: a positive list-max-listpack-size still caps a node at 8 KiB. */
const SIZE_SAFETY_LIMIT = 8192;

export class ListValue {
  /** Inline (version 0): the elements, head first. Always empty when split. */
  items: string[];
  /** 0 while inline in the metadata record; else the version of its element records. */
  version: number;
  /** Split: position of the first element. */
  head: number;
  /** Split: number of elements. */
  count: number;
  /** Inline: sum of element lengths. */
  bytes: number;

  constructor(items: string[] = []) {
    this.items = items;
    this.version = 0;
    this.head = 0;
    this.count = 0;
    let b = 0;
    for (const s of items) b += s.length;
    this.bytes = b;
  }

  static split(version: number, head: number, count: number): ListValue {
    const l = new ListValue();
    l.version = version;
    l.head = head;
    l.count = count;
    return l;
  }

  get length(): number {
    return this.version === 0 ? this.items.length : this.count;
  }

  /** Elements held in memory (0 for split lists: their elements stay in the engine). */
  get size(): number {
    return this.items.length;
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
