/**
 * List operations over both encodings (src/types/list.ts). Inline lists are plain arrays and
 * every operation is synchronous. Split lists keep their elements in the engine at positions
 * [head, head + count): pushes and pops touch only the ends (one record each, no reads for a
 * push), reads go by position with engine get/scan, and the O(n) operations (LINSERT, LREM,
 * big LTRIMs) stream through the elements and, when they would move many of them, rewrite the
 * list under a new version in chunks and switch to it with one metadata write, so a crash
 * never leaves a half-shifted list (the unreferenced records are cleanup's business).
 *
 * Operations that await the engine pin the key (Keyspace.hold) and rely on the dispatcher's
 * key locks for atomicity. Each mutating operation persists through Keyspace.listChanged.
 */
import { elemPrefix, fromBytes, listPosKey, toBytes as bytes } from './encoding.ts';
import type { EngineWrite } from './engine-api.ts';
import type { Keyspace } from './keyspace.ts';
import { END_CACHE_ELEMENTS, fitsInline, ListValue, POS_BIAS, type Where } from './list.ts';
import { LIST_CHUNK, splitList } from './list-records.ts';
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

function posKey(r: ListRef, pos: number): string {
  return listPosKey(ns(r), r.key, r.l.version, pos);
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
 * bytes: replies send them as they are, callers that need strings decode. The range is known
 * exactly, so one element is a point get (bloom filters apply) and more are a forward scan,
 * reversed in memory when asked: reverse engine scans are never needed.
 */
async function readPositions(r: ListRef, from: number, to: number, reverse = false): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  if (to <= from) return out;
  if (to - from === 1) {
    const v = await r.ks.engine.get(posKey(r, from));
    if (v) out.push(v);
  } else {
    for (const e of await r.ks.engine.scanAll({ start: posKey(r, from), end: posKey(r, to), limit: to - from })) out.push(e.value);
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
export function push(r: ListRef, elems: string[], where: Where): number {
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
  const records: EngineWrite[] = [];
  for (const s of elems) {
    if (where === 'head') {
      l.head--;
      records.push({ key: posKey(r, l.head), value: bytes(s) });
    } else {
      records.push({ key: posKey(r, l.head + l.count), value: bytes(s) });
    }
    l.count++;
    l.end(where).push(s);
  }
  r.ks.listChanged(r.db, r.key, r.e, records);
  return l.length;
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
  if (l.end(where).length >= n) return popCached(r, where, n);
  return pinned(r, async () => {
    await loadEnd(r, where, n);
    return popCached(r, where, n);
  });
}

/** Pops n elements that the cached end at `where` holds (no engine read). */
function popCached(r: ListRef, where: Where, n: number): string[] {
  const l = r.l;
  const out = new Array<string>(n);
  const records: EngineWrite[] = [];
  for (let i = 0; i < n; i++) {
    records.push({ key: posKey(r, where === 'head' ? l.head : l.head + l.count - 1) });
    out[i] = l.take(where);
  }
  l.end(where).cap();
  r.ks.listChanged(r.db, r.key, r.e, records);
  return out;
}

/** LSET at index i (0 <= i < length). */
export function setAt(r: ListRef, i: number, value: string): void {
  const l = r.l;
  if (!l.split) {
    l.bytes += value.length - l.items[i]!.length;
    l.items[i] = value;
    inlineChanged(r);
    return;
  }
  if (i < l.front.length) l.front.set(i, value);
  if (i >= l.count - l.back.length) l.back.set(l.count - 1 - i, value);
  r.ks.listChanged(r.db, r.key, r.e, [{ key: posKey(r, l.pos(i)), value: bytes(value) }]);
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
  const left = at;
  const right = n - at;
  if (Math.min(left, right) <= LIST_CHUNK) {
    await pinned(r, async () => {
      const records: EngineWrite[] = [];
      if (left <= right) {
        // Move [0, at) one position towards the head; the new element takes position at-1.
        // (Copies: what the engine returns may be a view of a whole cached block.)
        const moved = await readPositions(r, l.head, l.pos(at));
        for (let k = 0; k < moved.length; k++) records.push({ key: posKey(r, l.head + k - 1), value: new Uint8Array(moved[k]!) });
        l.head--;
        records.push({ key: posKey(r, l.pos(at)), value: bytes(value) });
      } else {
        const moved = await readPositions(r, l.pos(at), l.head + n);
        for (let k = 0; k < moved.length; k++) records.push({ key: posKey(r, l.pos(at) + 1 + k), value: new Uint8Array(moved[k]!) });
        records.push({ key: posKey(r, l.pos(at)), value: bytes(value) });
      }
      l.count++;
      l.dropEnds();
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
    // Few records go (capped lists: LPUSH + LTRIM): delete them with the metadata, atomically.
    const records: EngineWrite[] = [];
    for (let i = 0; i < keepFrom; i++) records.push({ key: posKey(r, l.pos(i)) });
    for (let i = keepTo + 1; i < n; i++) records.push({ key: posKey(r, l.pos(i)) });
    l.keepRange(keepFrom, keepTo);
    l.head += keepFrom;
    l.count = kept;
    r.ks.listChanged(r.db, r.key, r.e, records);
    return;
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
    const emit = (s: string) => {
      batch.push({ key: listPosKey(nsId, r.key, version, pos++), value: bytes(s) });
    };
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
    const old = l.version;
    l.version = version;
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
