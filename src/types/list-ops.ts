/**
 * List operations over both encodings (src/types/list.ts). Inline lists are plain arrays and
 * every operation is synchronous. Split lists keep their elements in the engine at positions
 * [head, head + count), packed in node records (src/types/list-nodes.ts): pushes and pops
 * rewrite the node at their end (its contents come from the end's cache, or one read when the
 * cache does not reach across it), reads go by position, and the O(n) operations (LINSERT,
 * LREM, big LTRIMs) stream through the elements and, when they would move many of them,
 * rewrite the list under a new version in chunks and switch to it with one metadata write, so
 * a crash never leaves a half-shifted list (the unreferenced records are cleanup's business).
 *
 * Operations that await the engine pin the key (Keyspace.hold) and rely on the dispatcher's
 * key locks for atomicity. Each mutating operation persists through Keyspace.listChanged.
 */
import { elemPrefix, fromBytes, toBytes as bytes } from './encoding.ts';
import type { EngineWrite } from './engine-api.ts';
import type { Keyspace } from './keyspace.ts';
import { END_CACHE_ELEMENTS, type EndCache, fitsInline, ListValue, POS_BIAS, type Where } from './list.ts';
import { LIST_CHUNK, splitList } from './list-records.ts';
import { bigKey, decodeNode, decodeNodes, entryOf, isBig, NodeBuilder, nodeKey, type NodeEntry, nodeOf, nodeRange, NODE_SLOTS, type NodeSpace, putNode, withEntry, withoutEntry } from './list-nodes.ts';
import type { Entry } from './values.ts';

export type { Where };

/** A list key being operated on. */
export interface ListRef {
  ks: Keyspace;
  db: number;
  key: string;
  e: Entry;
  l: ListValue;
}

export function ref(ks: Keyspace, db: number, key: string, e: Entry): ListRef {
  return { ks, db, key, e, l: e.value as ListValue };
}

function ns(r: ListRef): number {
  return r.ks.db(r.db).ns;
}

/** Where the current version's nodes live. */
function space(r: ListRef): NodeSpace {
  return { ns: ns(r), key: r.key, version: r.l.version, k: r.l.slots };
}

/** Runs an async body with the key pinned in memory. */
async function pinned<T>(r: ListRef, body: () => Promise<T>): Promise<T> {
  const release = r.ks.hold(r.db, [r.key]);
  try {
    return await body();
  } finally {
    release();
  }
}

/**
 * Elements at positions [from, to) of a split list, in order (or reversed), as the engine's
 * bytes: replies send them as they are, callers that need strings decode. Positions in one node
 * are a point get (bloom filters apply), more nodes a forward scan, reversed in memory when
 * asked: reverse engine scans are never needed.
 */
async function readPositions(r: ListRef, from: number, to: number, reverse = false): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  if (to <= from) return out;
  const l = r.l;
  const s = space(r);
  const k = s.k;
  const first = nodeOf(from, k);
  const last = nodeOf(to - 1, k);
  if (first === last) {
    const key = nodeKey(s, first);
    const v = await r.ks.engine.get(key);
    if (v) {
      const entries = decodeNode(v, k);
      const start = Math.max(first * k, l.head);
      for (let pos = Math.max(from, start); pos < to && pos - start < entries.length; pos++) {
        const e = entries[pos - start]!;
        const big = e ?? (await r.ks.engine.get(bigKey(key, pos - first * k)));
        if (big) out.push(big);
      }
    }
  } else {
    // Whole nodes, and the big elements of each (at most k per node).
    const records = await r.ks.engine.scanAll({ ...nodeRange(s, from, to), limit: (last - first + 1) * (k + 1) });
    decodeNodes(records, s, l.head, from, to, (v) => out.push(v));
  }
  if (out.length !== to - from) throw new Error(`list ${JSON.stringify(r.key)}: ${out.length} of ${to - from} elements found`);
  return reverse ? out.reverse() : out;
}

// ------------------------------------------------------------------------------------ creation

/** A new list holding elems in list order (LPUSH reverses before calling). */
export function create(ks: Keyspace, db: number, key: string, elems: string[]): number {
  ks.set(db, key, new ListValue(elems));
  return elems.length;
}

// ---------------------------------------------------------------------------------------- reads

/**
 * Elements [start, stop] (0 <= start <= stop < length), optionally reversed. A split list's
 * elements come from its cached ends when there, else as the engine's bytes, fit for a reply
 * without a round trip through strings.
 */
export function range(r: ListRef, start: number, stop: number, reverse = false): string[] | Promise<Uint8Array[] | string[]> {
  const l = r.l;
  if (!l.split) {
    const out = l.items.slice(start, stop + 1);
    return reverse ? out.reverse() : out;
  }
  const cached = fromEnds(l, start, stop);
  if (cached) return reverse ? cached.reverse() : cached;
  // Near an end: load that end's cache, so the next read there is served from memory.
  const where = stop < END_CACHE_ELEMENTS ? 'head' : start >= l.count - END_CACHE_ELEMENTS ? 'tail' : undefined;
  if (where) {
    return pinned(r, async () => {
      await loadEnd(r, where, where === 'head' ? stop + 1 : l.count - start);
      const out = fromEnds(l, start, stop)!;
      l.end(where).cap();
      r.ks.remeasure(r.db, r.key, r.e);
      return reverse ? out.reverse() : out;
    });
  }
  return pinned(r, () => readPositions(r, l.pos(start), l.pos(stop) + 1, reverse));
}

/** Elements [start, stop] of a split list from its cached ends, or undefined if not all there. */
function fromEnds(l: ListValue, start: number, stop: number): string[] | undefined {
  if (stop < l.front.length) {
    const out = new Array<string>(stop - start + 1);
    for (let i = start; i <= stop; i++) out[i - start] = l.front.at(i);
    return out;
  }
  const firstBack = l.count - l.back.length;
  if (start >= firstBack && l.back.length > 0) {
    const out = new Array<string>(stop - start + 1);
    for (let i = start; i <= stop; i++) out[i - start] = l.back.at(l.count - 1 - i);
    return out;
  }
  return undefined;
}

/**
 * Loads the cached end at `where` with END_CACHE_ELEMENTS elements, or `atLeast` if more, or
 * the whole list if shorter. The caller applies the cache's limits (EndCache.cap) once done.
 */
async function loadEnd(r: ListRef, where: Where, atLeast: number): Promise<void> {
  const l = r.l;
  const n = Math.min(l.count, Math.max(atLeast, END_CACHE_ELEMENTS));
  const from = where === 'head' ? l.head : l.head + l.count - n;
  l.end(where).reset((await readPositions(r, from, from + n, where === 'head')).map(fromBytes));
}

/** range() as strings, for callers that work on the elements (SORT). */
export async function rangeStrings(r: ListRef, start: number, stop: number, reverse = false): Promise<string[]> {
  const v = await range(r, start, stop, reverse);
  return v.map((x) => (typeof x === 'string' ? x : fromBytes(x)));
}

/** The element at index i (0 <= i < length). */
export function index(r: ListRef, i: number): string | Promise<string> {
  const l = r.l;
  if (!l.split) return l.items[i]!;
  const cached = fromEnds(l, i, i);
  if (cached) return cached[0]!;
  return pinned(r, async () => fromBytes((await readPositions(r, l.pos(i), l.pos(i) + 1))[0]!));
}

/**
 * Streams elements from one end, calling visit(element, index from that end) until it returns
 * false or `limit` elements were seen. Reads the engine in bounded chunks.
 */
export async function scanFrom(r: ListRef, from: Where, visit: (elem: string, i: number) => boolean, limit = Infinity): Promise<void> {
  const l = r.l;
  const n = Math.min(l.length, limit);
  const len = l.length;
  if (!l.split) {
    for (let i = 0; i < n; i++) if (!visit(l.items[from === 'head' ? i : len - 1 - i]!, i)) return;
    return;
  }
  await pinned(r, async () => {
    let i = 0;
    while (i < n) {
      const take = Math.min(LIST_CHUNK, n - i);
      const chunk = from === 'head' ? await readPositions(r, l.pos(i), l.pos(i + take)) : await readPositions(r, l.pos(len - i - take), l.pos(len - i), true);
      for (const b of chunk) if (!visit(fromBytes(b), i++)) return;
    }
  });
}

// --------------------------------------------------------------------------------------- writes

/** Pushes elements one by one at an end (LPUSH a b c leaves c first); returns the new length. */
export function push(r: ListRef, elems: string[], where: Where): number | Promise<number> {
  const l = r.l;
  if (!l.split) {
    if (where === 'head') l.items = elems.slice().reverse().concat(l.items);
    else for (const s of elems) l.items.push(s);
    for (const s of elems) l.bytes += s.length;
    inlineChanged(r);
    return l.length;
  }
  if (l.head - elems.length < -POS_BIAS || l.head + l.count + elems.length >= POS_BIAS) {
    throw new Error('list position space exhausted');
  }
  if (elems.length === 1 && pushOntoEndNode(r, elems[0]!, where)) return l.length;
  const entries = endEntries(l, where);
  if (entries) return pushNodes(r, elems, where, entries);
  // The pushes onto the loaded cache apply its limits again.
  return pinned(r, async () => {
    await loadEnd(r, where, nodeReach(l, where, 1));
    return pushNodes(r, elems, where, endEntries(l, where)!);
  });
}

/**
 * Elements from the end at `where` through the last one of the node holding the n-th element
 * from that end (0 <= n <= count): what a cached end must hold to take n elements and rewrite
 * that node without them (n = 1: the whole end node).
 */
function nodeReach(l: ListValue, where: Where, n: number): number {
  if (n === 0) return 0;
  const k = l.slots;
  if (where === 'head') return Math.min((nodeOf(l.head + n - 1, k) + 1) * k, l.head + l.count) - l.head;
  const last = l.head + l.count - 1;
  return last - Math.max(nodeOf(last - n + 1, k) * k, l.head) + 1;
}

/**
 * The entries of the node at end `where`, from that end's cache, or undefined when the cache
 * does not hold all of them.
 */
function endEntries(l: ListValue, where: Where): NodeEntry[] | undefined {
  const m = nodeReach(l, where, 1);
  const c = l.end(where);
  if (c.length < m) return undefined;
  const out = new Array<NodeEntry>(m);
  // The cache holds the end element last: position order is reversed at the tail.
  for (let i = 0; i < m; i++) out[where === 'head' ? i : m - 1 - i] = entryOf(c.at(i), l.slots);
  return out;
}

/**
 * One push that stays in the end node, whose record the last push left (EndCache.node):
 * extends that record. False when it is not at hand or the element goes elsewhere.
 */
function pushOntoEndNode(r: ListRef, elem: string, where: Where): boolean {
  const l = r.l;
  const c = l.end(where);
  const k = l.slots;
  if (!c.node || k === 1 || isBig(elem, k)) return false;
  const pos = where === 'head' ? l.head - 1 : l.head + l.count;
  if (nodeOf(pos, k) !== nodeOf(where === 'head' ? l.head : pos - 1, k)) return false;
  // Full once the next push at this end would start another node.
  const full = nodeOf(where === 'head' ? pos - 1 : pos + 1, k) !== nodeOf(pos, k);
  const node = withEntry(c.node, elem, where === 'head', full);
  if (where === 'head') l.head--;
  l.count++;
  c.push(elem);
  writeEndNode(r, c, node);
  return true;
}

/** push() once the end node's entries are known. */
function pushNodes(r: ListRef, elems: string[], where: Where, entries: NodeEntry[]): number {
  const l = r.l;
  const s = space(r);
  const k = s.k;
  const records: EngineWrite[] = [];
  let node = nodeOf(where === 'head' ? l.head : l.head + l.count - 1, k);
  let dirty = false;
  for (const elem of elems) {
    const pos = where === 'head' ? l.head - 1 : l.head + l.count;
    const n = nodeOf(pos, k);
    if (n !== node) {
      if (dirty) putNode(s, node, entries, records);
      node = n;
      entries = [];
    }
    const e = entryOf(elem, k);
    if (where === 'head') entries.unshift(e);
    else entries.push(e);
    dirty = true;
    if (e === null) records.push({ key: bigKey(nodeKey(s, n), pos - n * k), value: bytes(elem) });
    if (where === 'head') l.head--;
    l.count++;
    l.end(where).push(elem);
  }
  if (dirty) putNode(s, node, entries, records);
  const endNode = dirty && k > 1 ? records[records.length - 1]! : undefined;
  r.ks.listChanged(r.db, r.key, r.e, records);
  if (endNode) keepEndNode(l.end(where), endNode);
  return l.length;
}

/** Writes the new record of the node at end c (the metadata goes with it) and keeps it. */
function writeEndNode(r: ListRef, c: EndCache, node: string): void {
  const record = { key: c.nodeKey, value: node };
  r.ks.listChanged(r.db, r.key, r.e, [record]);
  keepEndNode(c, record);
}

/** Keeps the record just written for the node at an end (EndCache.node). */
function keepEndNode(c: EndCache, record: EngineWrite): void {
  // Node records are strings or bytes, never deferred.
  const v = record.value as Uint8Array | string;
  c.node = typeof v === 'string' ? v : fromBytes(v);
  c.nodeKey = record.key;
}

/** Persists an inline list after a change, splitting it when it outgrew one node. */
function inlineChanged(r: ListRef): void {
  const l = r.l;
  const records: EngineWrite[] = [];
  let rehomed = false;
  if (!fitsInline(r.ks.listMaxListpackSize, l.items.length, l.bytes)) {
    splitList(l, r.ks.allocVersion(), ns(r), r.key, records);
    rehomed = true;
  }
  r.ks.listChanged(r.db, r.key, r.e, records, rehomed);
}

/** Removes up to n elements from an end; returns them in pop order. Deletes an emptied key. */
export function pop(r: ListRef, where: Where, n: number): string[] | Promise<string[]> {
  const l = r.l;
  n = Math.min(n, l.length);
  if (!l.split) {
    let out: string[];
    if (where === 'head') out = l.items.splice(0, n);
    else out = l.items.splice(l.items.length - n, n).reverse();
    for (const s of out) l.bytes -= s.length;
    r.ks.listChanged(r.db, r.key, r.e, []);
    return out;
  }
  if (n === 1) {
    const elem = popOffEndNode(r, where);
    if (elem !== undefined) return [elem];
  }
  const need = nodeReach(l, where, n);
  if (l.end(where).length >= need) return popCached(r, where, n);
  return pinned(r, async () => {
    await loadEnd(r, where, need);
    return popCached(r, where, n);
  });
}

/** Pops n elements that the cached end at `where` holds (nodeReach of them: no engine read). */
function popCached(r: ListRef, where: Where, n: number): string[] {
  const records: EngineWrite[] = [];
  const out = popRecords(r, where, n, records);
  const c = r.l.end(where);
  c.cap();
  // The last record rewrites the node now at this end, unless that node emptied.
  const last = records[records.length - 1];
  r.ks.listChanged(r.db, r.key, r.e, records);
  if (last?.value !== undefined && r.l.slots > 1) keepEndNode(c, last);
  return out;
}

/**
 * One pop that leaves the end node non-empty, whose record the last push or pop left
 * (EndCache.node): cuts the entry off that record. Undefined when it is not at hand, the
 * element is big, or the node would empty.
 */
function popOffEndNode(r: ListRef, where: Where): string | undefined {
  const l = r.l;
  const c = l.end(where);
  const k = l.slots;
  if (!c.node || k === 1 || c.length === 0 || l.count < 2) return undefined;
  const pos = where === 'head' ? l.head : l.head + l.count - 1;
  if (nodeOf(pos, k) !== nodeOf(where === 'head' ? pos + 1 : pos - 1, k)) return undefined;
  const elem = c.at(0);
  if (isBig(elem, k)) return undefined;
  const node = withoutEntry(c.node, elem, where === 'head');
  l.take(where);
  writeEndNode(r, c, node);
  return elem;
}

/**
 * Takes n elements from the end at `where` out of the list and its cache (which holds nodeReach
 * of them), appending the record changes: nodes emptied are deleted, the last one reached is
 * rewritten from the cache. Returns the elements in pop order.
 */
function popRecords(r: ListRef, where: Where, n: number, records: EngineWrite[]): string[] {
  const l = r.l;
  const s = space(r);
  const k = s.k;
  const out = new Array<string>(n);
  let node = NaN;
  for (let i = 0; i < n; i++) {
    const pos = where === 'head' ? l.head : l.head + l.count - 1;
    const nd = nodeOf(pos, k);
    if (nd !== node) {
      if (!Number.isNaN(node)) records.push({ key: nodeKey(s, node) });
      node = nd;
    }
    const elem = l.take(where);
    out[i] = elem;
    if (isBig(elem, k)) records.push({ key: bigKey(nodeKey(s, nd), pos - nd * k) });
  }
  if (n > 0) {
    const end = where === 'head' ? l.head : l.head + l.count - 1;
    putNode(s, node, l.count > 0 && nodeOf(end, k) === node ? endEntries(l, where)! : [], records);
  }
  return out;
}

/** LSET at index i (0 <= i < length). */
export function setAt(r: ListRef, i: number, value: string): void | Promise<void> {
  const l = r.l;
  if (!l.split) {
    l.bytes += value.length - l.items[i]!.length;
    l.items[i] = value;
    inlineChanged(r);
    return;
  }
  const pos = l.pos(i);
  return pinned(r, async () => {
    const records = await rewriteSpans(r, [[pos, pos + 1]], () => value, () => {
      if (i < l.front.length) l.front.set(i, value);
      if (i >= l.count - l.back.length) l.back.set(l.count - 1 - i, value);
    });
    r.ks.listChanged(r.db, r.key, r.e, records);
  });
}

/**
 * Rewrites the nodes holding the positions of `spans` (each [lo, hi)) after a change that
 * affects only those positions: reads their current elements, lets `change` update the list
 * (head, count, caches), then writes each node they reach, taking the element at a position in
 * a span from newAt (given the elements before the change by position) and elsewhere the one
 * it had. Returns the records for listChanged.
 */
async function rewriteSpans(
  r: ListRef,
  spans: [number, number][],
  newAt: (pos: number, before: (pos: number) => string) => string | undefined,
  change: () => void,
): Promise<EngineWrite[]> {
  const l = r.l;
  const s = space(r);
  const k = s.k;
  const nodes = new Set<number>();
  const old = new Map<number, string>();
  for (const [lo, hi] of spans) {
    if (hi <= lo) continue;
    const first = nodeOf(lo, k);
    const last = nodeOf(hi - 1, k);
    for (let n = first; n <= last; n++) nodes.add(n);
    const from = Math.max(first * k, l.head);
    const to = Math.min((last + 1) * k, l.head + l.count);
    const got = await readPositions(r, from, to);
    for (let i = 0; i < got.length; i++) old.set(from + i, fromBytes(got[i]!));
  }
  const before = (pos: number): string => {
    const v = old.get(pos);
    if (v === undefined) throw new Error(`list ${JSON.stringify(r.key)}: position ${pos} was not read`);
    return v;
  };
  change();
  const records: EngineWrite[] = [];
  for (const n of nodes) {
    const key = nodeKey(s, n);
    const entries: NodeEntry[] = [];
    for (let slot = 0; slot < k; slot++) {
      const pos = n * k + slot;
      const was = old.get(pos);
      const live = pos >= l.head && pos < l.head + l.count;
      const now = !live ? undefined : spans.some(([lo, hi]) => pos >= lo && pos < hi) ? newAt(pos, before) : was;
      if (live && now === undefined) throw new Error(`list ${JSON.stringify(r.key)}: no element for position ${pos}`);
      if (now !== undefined) {
        entries.push(entryOf(now, k));
        if (isBig(now, k) && now !== was) records.push({ key: bigKey(key, slot), value: bytes(now) });
      }
      if (was !== undefined && isBig(was, k) && (now === undefined || !isBig(now, k))) records.push({ key: bigKey(key, slot) });
    }
    putNode(s, n, entries, records);
  }
  return records;
}

/** LINSERT: returns the new length, or -1 when the pivot is absent. */
export function insert(r: ListRef, pivot: string, value: string, after: boolean): number | Promise<number> {
  const l = r.l;
  if (!l.split) {
    const i = l.items.indexOf(pivot);
    if (i < 0) return -1;
    l.items.splice(after ? i + 1 : i, 0, value);
    l.bytes += value.length;
    inlineChanged(r);
    return l.length;
  }
  return (async () => {
    let found = -1;
    await scanFrom(r, 'head', (s, i) => {
      if (s !== pivot) return true;
      found = i;
      return false;
    });
    if (found < 0) return -1;
    return insertSplit(r, after ? found + 1 : found, value);
  })();
}

/**
 * Inserts at index `at` of a split list: shifts the shorter side by one position when it is
 * small enough for one atomic batch, else rewrites the list under a new version.
 */
async function insertSplit(r: ListRef, at: number, value: string): Promise<number> {
  const l = r.l;
  const n = l.count;
  const head = l.head;
  if (Math.min(at, n - at) <= LIST_CHUNK) {
    await pinned(r, async () => {
      const change = () => {
        if (at <= n - at) l.head--;
        l.count++;
        l.dropEnds();
      };
      // The shorter side moves one position outwards; the new element takes the gap.
      const records =
        at <= n - at
          ? await rewriteSpans(r, [[head - 1, head + at]], (pos, before) => (pos === head - 1 + at ? value : before(pos + 1)), change)
          : await rewriteSpans(r, [[head + at, head + n + 1]], (pos, before) => (pos === head + at ? value : before(pos - 1)), change);
      r.ks.listChanged(r.db, r.key, r.e, records);
    });
    return l.length;
  }
  await rewrite(r, (s, i, emit) => {
    if (i === at) emit(value);
    emit(s);
  }, at === n ? [value] : []);
  return l.length;
}

/** LREM: removes up to |count| matches (all when 0), from the tail when count < 0. */
export function remove(r: ListRef, count: number, value: string): number | Promise<number> {
  const l = r.l;
  const limit = count === 0 ? Infinity : Math.abs(count);
  if (!l.split) {
    const items = l.items;
    let removed = 0;
    if (count >= 0) {
      const kept: string[] = [];
      for (const s of items) {
        if (s === value && removed < limit) removed++;
        else kept.push(s);
      }
      l.items = kept;
    } else {
      const kept: string[] = [];
      for (let i = items.length - 1; i >= 0; i--) {
        if (items[i] === value && removed < limit) removed++;
        else kept.push(items[i]!);
      }
      l.items = kept.reverse();
    }
    if (removed === 0) return 0;
    l.recount();
    r.ks.listChanged(r.db, r.key, r.e, []);
    return removed;
  }
  return (async () => {
    // First pass: which indexes (from the head) go.
    const drop = new Set<number>();
    const n = l.count;
    await scanFrom(r, count >= 0 ? 'head' : 'tail', (s, i) => {
      if (s === value) drop.add(count >= 0 ? i : n - 1 - i);
      return drop.size < limit;
    });
    if (drop.size === 0) return 0;
    await rewrite(r, (s, i, emit) => {
      if (!drop.has(i)) emit(s);
    });
    return drop.size;
  })();
}

/** LTRIM to [start, stop] (normalised; start > stop empties the list). */
export function trim(r: ListRef, start: number, stop: number): void | Promise<void> {
  const l = r.l;
  const n = l.length;
  const keepFrom = Math.max(0, start);
  const keepTo = Math.min(n - 1, stop);
  if (!l.split) {
    l.items = keepFrom > keepTo ? [] : l.items.slice(keepFrom, keepTo + 1);
    if (l.items.length === n) return;
    l.recount();
    r.ks.listChanged(r.db, r.key, r.e, []);
    return;
  }
  const kept = keepFrom > keepTo ? 0 : keepTo - keepFrom + 1;
  if (kept === n) return;
  if (kept === 0) {
    l.count = 0;
    r.ks.listChanged(r.db, r.key, r.e, []);
    return;
  }
  const removed = n - kept;
  if (removed <= LIST_CHUNK) {
    // Few go (capped lists: LPUSH + LTRIM): their nodes change with the metadata, atomically,
    // from the cached ends when they hold what is needed.
    const fromTail = n - 1 - keepTo;
    if (l.front.length >= nodeReach(l, 'head', keepFrom) && l.back.length >= nodeReach(l, 'tail', fromTail)) {
      const records: EngineWrite[] = [];
      popRecords(r, 'head', keepFrom, records);
      popRecords(r, 'tail', fromTail, records);
      l.front.cap();
      l.back.cap();
      r.ks.listChanged(r.db, r.key, r.e, records);
      return;
    }
    const head = l.head;
    return pinned(r, async () => {
      const spans: [number, number][] = [[head, head + keepFrom], [head + keepTo + 1, head + n]];
      const records = await rewriteSpans(r, spans, () => undefined, () => {
        l.keepRange(keepFrom, keepTo);
        l.head += keepFrom;
        l.count = kept;
      });
      r.ks.listChanged(r.db, r.key, r.e, records);
    });
  }
  // Many go: copy what stays under a new version; the old one is cleaned up in the background.
  return rewrite(r, (s, _i, emit) => emit(s), [], keepFrom, keepTo + 1);
}

/**
 * Streams elements [from, to) through fn into a new version, LIST_CHUNK records per batch,
 * then switches the metadata to it in one write and queues the old version for cleanup.
 */
async function rewrite(
  r: ListRef,
  fn: (elem: string, index: number, emit: (s: string) => void) => void,
  tail: string[] = [],
  from = 0,
  to = r.l.count,
): Promise<void> {
  const l = r.l;
  const ks = r.ks;
  await pinned(r, async () => {
    const version = ks.allocVersion();
    const nsId = ns(r);
    // Streamed ahead of the metadata: the orphan sweep must wait for listChanged().
    const prefix = elemPrefix(nsId, r.key, version);
    ks.building.add(prefix);
    let pos = 0;
    let batch: EngineWrite[] = [];
    const nodes = new NodeBuilder({ ns: nsId, key: r.key, version, k: NODE_SLOTS }, () => batch);
    const emit = (s: string) => nodes.add(pos++, s);
    try {
      for (let i = from; i < to; ) {
        const take = Math.min(LIST_CHUNK, to - i);
        const chunk = await readPositions(r, l.pos(i), l.pos(i + take));
        for (const b of chunk) fn(fromBytes(b), i++, emit);
        if (batch.length >= LIST_CHUNK) {
          ks.writeRaw(batch);
          batch = [];
          const w = ks.waitForCapacity();
          if (w) await w;
        }
      }
    } catch (err) {
      ks.building.delete(prefix); // an orphan now: the sweep may take it
      throw err;
    }
    for (const s of tail) emit(s);
    nodes.finish();
    const old = l.version;
    l.version = version;
    l.slots = NODE_SLOTS;
    l.head = 0;
    l.count = pos;
    l.dropEnds();
    ks.listChanged(r.db, r.key, r.e, batch, true);
    ks.background.cleanupPrefix(elemPrefix(nsId, r.key, old));
  });
}

/**
 * LPOS: indexes (from the head) of matches, scanning from `from`, skipping the first rank-1
 * matches, stopping after `count` (0 = all) or `maxlen` examined elements (0 = no limit).
 */
export async function positions(r: ListRef, value: string, from: Where, rank: number, count: number, maxlen: number): Promise<number[]> {
  const out: number[] = [];
  const n = r.l.length;
  let matches = 0;
  await scanFrom(r, from, (s, i) => {
    if (s === value) {
      matches++;
      if (matches >= rank) {
        out.push(from === 'head' ? i : n - 1 - i);
        if (count !== 0 && out.length >= count) return false;
      }
    }
    return true;
  }, maxlen === 0 ? Infinity : maxlen);
  return out;
}

/** positions() without a promise for inline lists (the common case stays synchronous). */
export function positionsSync(l: ListValue, value: string, from: Where, rank: number, count: number, maxlen: number): number[] {
  const out: number[] = [];
  const n = l.items.length;
  let matches = 0;
  for (let i = 0; i < n; i++) {
    if (maxlen !== 0 && i >= maxlen) break;
    const idx = from === 'head' ? i : n - 1 - i;
    if (l.items[idx] === value) {
      matches++;
      if (matches >= rank) {
        out.push(idx);
        if (count !== 0 && out.length >= count) break;
      }
    }
  }
  return out;
}
