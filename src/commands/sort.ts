/**
 * SORT and SORT_RO (Redis 7.0 sort.c semantics) on lists, sets and sorted sets: BY (weights
 * from keys or hash fields, or a constant pattern meaning "don't sort"), GET (with # for the
 * element itself and key->field), LIMIT, ASC/DESC, ALPHA and STORE.
 *
 * The sort key and the STORE destination come from the command's key specs; the keys its
 * BY/GET patterns name are only known once the elements are read, so they are loaded here, all
 * at once, before the synchronous part (lookups, sort, output) runs.
 *
 * Ordering follows Redis exactly: numeric ties fall back to byte order of the elements; ALPHA
 * compares with strcoll in the C/C.UTF-8 locale (byte order up to the first NUL) unless
 * storing (full byte order); equal elements keep their input order (glibc's qsort is a merge
 * sort); and a BY sort with a LIMIT uses Redis's partial quicksort (pqsort), whose order of
 * equal elements is its own.
 */
import { ErrorReply, type Reply } from '../resp/reply.ts';
import { readKey, writeKey } from '../types/access.ts';
import { type Guard, guarded } from '../types/set-collection.ts';
import { SetView } from '../types/set-ops.ts';
import { SetValue } from '../types/set-value.ts';
import { ZSetView } from '../types/zset-ops.ts';
import { ZSetValue } from '../types/zset-value.ts';
import { create as createList, rangeStrings, ref as listRef } from '../types/list-ops.ts';
import { ListValue } from '../types/list.ts';
import { parseInt64 } from '../types/numbers.ts';
import { NOT_INTEGER, SYNTAX, WRONGTYPE } from '../types/replies.ts';
import { type Entry, HashValue, typeOf } from '../types/values.ts';
import { partialSort } from '../util/partial-sort.ts';
import type { CommandModule, ExecContext } from './types.ts';

const NOT_DOUBLE = new ErrorReply("ERR One or more scores can't be converted into double");

interface SortOptions {
  desc: boolean;
  alpha: boolean;
  limitStart: bigint;
  limitCount: bigint;
  store: string | undefined;
  by: string | undefined;
  dontsort: boolean;
  gets: string[];
}

function parseOptions(args: string[], readonly: boolean): SortOptions | ErrorReply {
  const o: SortOptions = { desc: false, alpha: false, limitStart: 0n, limitCount: -1n, store: undefined, by: undefined, dontsort: false, gets: [] };
  for (let j = 2; j < args.length; j++) {
    const left = args.length - j - 1;
    const a = args[j]!.toLowerCase();
    if (a === 'asc') o.desc = false;
    else if (a === 'desc') o.desc = true;
    else if (a === 'alpha') o.alpha = true;
    else if (a === 'limit' && left >= 2) {
      const s = parseInt64(args[j + 1]!);
      const c = parseInt64(args[j + 2]!);
      if (s === undefined || c === undefined) return NOT_INTEGER;
      o.limitStart = s;
      o.limitCount = c;
      j += 2;
    } else if (!readonly && a === 'store' && left >= 1) {
      o.store = args[++j]!;
    } else if (a === 'by' && left >= 1) {
      o.by = args[++j]!;
      // A pattern without '*' names no key per element: nothing to sort by. (Sticky: a later
      // BY with a '*' replaces the pattern but does not turn sorting back on.)
      if (!cString(o.by).includes('*')) o.dontsort = true;
    } else if (a === 'get' && left >= 1) {
      o.gets.push(args[++j]!);
    } else {
      return SYNTAX;
    }
  }
  return o;
}

/** The part of s a C string function sees (up to the first NUL). */
function cString(s: string): string {
  const nul = s.indexOf('\0');
  return nul < 0 ? s : s.slice(0, nul);
}

// ------------------------------------------------------------------------------ patterns

/** A BY/GET pattern split for substitution, as lookupKeyByPattern reads it. */
interface Pattern {
  self: boolean;
  /** No '*': names no key. */
  none: boolean;
  prefix: string;
  postfix: string;
  field: string | undefined;
}

function compilePattern(p: string): Pattern {
  if (p === '#') return { self: true, none: false, prefix: '', postfix: '', field: undefined };
  const star = cString(p).indexOf('*');
  if (star < 0) return { self: false, none: true, prefix: '', postfix: '', field: undefined };
  // A hash field follows the first "->" after the '*', when the field is not empty.
  const arrow = cString(p.slice(star + 1)).indexOf('->');
  let field: string | undefined;
  let keyEnd = p.length;
  if (arrow >= 0) {
    const f = star + 1 + arrow;
    if (f + 2 < p.length && p[f + 2] !== '\0') {
      field = p.slice(f + 2);
      keyEnd = f;
    }
  }
  return { self: false, none: false, prefix: p.slice(0, star), postfix: p.slice(star + 1, keyEnd), field };
}

function patternKey(p: Pattern, elem: string): string | undefined {
  if (p.self || p.none) return undefined;
  return p.prefix + elem + p.postfix;
}

/** lookupKeyByPattern: the string value (or hash field) a pattern names for an element. */
function lookup(ctx: ExecContext, p: Pattern, elem: string): string | undefined {
  if (p.self) return elem;
  if (p.none) return undefined;
  const e = readKey(ctx, p.prefix + elem + p.postfix);
  if (!e) return undefined;
  if (p.field !== undefined) return e.value instanceof HashValue ? e.value.get(p.field) : undefined;
  return typeof e.value === 'string' ? e.value : undefined;
}

// ------------------------------------------------------------------------------ numbers

const DBL_MIN = 2.2250738585072014e-308;
const SPACE = new Set([32, 9, 10, 11, 12, 13]);

/**
 * The score SORT takes from a string: glibc strtod, accepted only when it consumed everything
 * up to the end (or a NUL), did not overflow or underflow (ERANGE) and is not NaN.
 */
export function sortScore(s: string): number | undefined {
  let i = 0;
  while (i < s.length && SPACE.has(s.charCodeAt(i))) i++;
  const r = strtod(s, i);
  if (!r) return s.length === 0 ? 0 : undefined; // no conversion: eptr is the start of s
  if (r.end < s.length && s.charCodeAt(r.end) !== 0) return undefined;
  if (r.erange || Number.isNaN(r.value)) return undefined;
  return r.value;
}

const INF_NAN = /^(inf(inity)?|nan(\([0-9A-Za-z_]*\))?)/i;
const DECIMAL = /^([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?/;
const HEX = /^0[xX]([0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)([pP][+-]?[0-9]+)?/;

function strtod(s: string, at: number): { value: number; end: number; erange: boolean } | undefined {
  let i = at;
  let sign = 1;
  if (s[i] === '+' || s[i] === '-') {
    if (s[i] === '-') sign = -1;
    i++;
  }
  const rest = s.slice(i);
  let m = INF_NAN.exec(rest);
  if (m) return { value: m[0][0]!.toLowerCase() === 'i' ? sign * Infinity : NaN, end: i + m[0].length, erange: false };
  m = HEX.exec(rest);
  if (m) {
    const r = hexValue(m[1]!, m[2] ? Number(m[2].slice(1)) : 0);
    return { value: sign * r.value, end: i + m[0].length, erange: r.erange };
  }
  m = DECIMAL.exec(rest);
  if (m) {
    const v = Number(m[0]);
    const nonzero = /[1-9]/.test(m[1]!);
    const abs = Math.abs(v);
    // Overflow, or an inexact result below the normal range (decimal subnormals are inexact).
    const erange = abs === Infinity || (nonzero && abs < DBL_MIN);
    return { value: sign * v, end: i + m[0].length, erange };
  }
  return undefined;
}

/** A hex float mantissa and binary exponent, correctly rounded, with glibc's ERANGE rules. */
function hexValue(digits: string, pexp: number): { value: number; erange: boolean } {
  const dot = digits.indexOf('.');
  const frac = dot < 0 ? 0 : digits.length - dot - 1;
  let mant = BigInt('0x' + (digits.replace('.', '') || '0'));
  if (mant === 0n) return { value: 0, erange: false };
  let exp = pexp - 4 * frac;
  const bits = mant.toString(2).length;
  const top = bits - 1 + exp; // exponent of the leading bit
  // Precision available at this magnitude: 53 bits, fewer for subnormals.
  const prec = top >= -1022 ? 53 : 53 - (-1022 - top);
  let inexact = false;
  if (bits > prec) {
    const drop = BigInt(bits - Math.max(prec, 0));
    const rem = mant & ((1n << drop) - 1n);
    const half = 1n << (drop - 1n);
    let q = mant >> drop;
    inexact = rem !== 0n;
    if (rem > half || (rem === half && (q & 1n) === 1n)) q += 1n;
    mant = q;
    exp += Number(drop);
  }
  // Two steps so neither power of two underflows or overflows on its own.
  const h = Math.trunc(exp / 2);
  const v = Number(mant) * 2 ** h * 2 ** (exp - h);
  const abs = Math.abs(v);
  return { value: v, erange: abs === Infinity || (inexact && abs < DBL_MIN) };
}

// ------------------------------------------------------------------------------ comparing

interface Item {
  elem: string;
  score: number;
  cmp: string | undefined;
}

/** Byte order (compareStringObjects). */
function binaryCompare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** strcoll in the C / C.UTF-8 locale: byte order of the C strings (up to the first NUL). */
function collate(a: string, b: string): number {
  return binaryCompare(cString(a), cString(b));
}

function comparator(o: SortOptions, bypattern: boolean): (a: Item, b: Item) => number {
  const store = o.store !== undefined;
  const sign = o.desc ? -1 : 1;
  if (!o.alpha) {
    return (a, b) => sign * (a.score > b.score ? 1 : a.score < b.score ? -1 : binaryCompare(a.elem, b.elem));
  }
  if (bypattern) {
    return (a, b) => {
      let c: number;
      if (a.cmp === undefined || b.cmp === undefined) c = a.cmp === b.cmp ? 0 : a.cmp === undefined ? -1 : 1;
      else c = store ? binaryCompare(a.cmp, b.cmp) : collate(a.cmp, b.cmp);
      return sign * c;
    };
  }
  return (a, b) => sign * (store ? binaryCompare(a.elem, b.elem) : collate(a.elem, b.elem));
}

// ------------------------------------------------------------------------------ elements

/** The elements to sort: a whole collection, or (dontsort) just the LIMIT range in order. */
async function elementsOf(g: Guard, key: string, e: Entry, from: number, to: number, desc: boolean, whole: boolean): Promise<string[]> {
  const v = e.value;
  if (v instanceof ListValue) {
    const n = v.length;
    if (n === 0 || to < from) return [];
    const r = listRef(g.ks, g.db, key, e);
    if (whole) return rangeStrings(r, 0, n - 1);
    // Desc reads the range counted from the tail.
    return desc ? rangeStrings(r, n - 1 - to, n - 1 - from, true) : rangeStrings(r, from, to);
  }
  if (v instanceof SetValue) return new SetView(g, key, e, v).all();
  if (v instanceof ZSetValue) {
    const z = new ZSetView(g, key, e, v);
    const n = v.card;
    if (n === 0 || to < from) return [];
    // Unsorted: rank order (DESC from the top). Sorted: any order will do.
    const pairs = whole ? await z.all() : desc ? (await z.ascRange(n - 1 - to, n - 1 - from)).reverse() : await z.ascRange(from, to);
    return pairs.map((p) => p[0]);
  }
  throw new Error(`SORT cannot read ${typeOf(v)} values`);
}

function lengthOf(e: Entry): number {
  const v = e.value;
  if (v instanceof ListValue) return v.length;
  if (v instanceof SetValue) return v.card;
  if (v instanceof ZSetValue) return v.card;
  return 0;
}

function sortable(e: Entry): boolean {
  const t = typeOf(e.value);
  return t === 'list' || t === 'set' || t === 'zset';
}

// ------------------------------------------------------------------------------ command

function sortGeneric(ctx: ExecContext, args: string[], readonly: boolean): Reply | Promise<Reply> {
  const o = parseOptions(args, readonly);
  if (o instanceof ErrorReply) return o;
  const key = args[1]!;
  const keys = o.store === undefined ? [key] : [key, o.store];
  // Re-run from the start if the key changed while elements or pattern keys were being read.
  return guarded(ctx, keys, (g) => sortWith(g, key, { ...o, gets: [...o.gets] }));
}

async function sortWith(g: Guard, key: string, o: SortOptions): Promise<Reply> {
  const ctx = g.ctx;
  const e = g.read(key);
  if (e && !sortable(e)) return WRONGTYPE;
  const type = e ? typeOf(e.value) : 'list';
  let by = o.by;
  // A set has no order of its own: when storing, sort it rather than keep a random order.
  if (o.dontsort && type === 'set' && o.store !== undefined) {
    o.dontsort = false;
    o.alpha = true;
    by = undefined;
  }
  let vectorlen = e ? lengthOf(e) : 0;
  // LIMIT, clamped to the collection the way Redis does (also guarding overflow).
  let start = Number(bmin(bmax(o.limitStart, 0n), BigInt(vectorlen)));
  const count = Number(bmin(bmax(o.limitCount, -1n), BigInt(vectorlen)));
  let end = count < 0 ? vectorlen - 1 : start + count - 1;
  if (start >= vectorlen) {
    start = vectorlen - 1;
    end = vectorlen - 2;
  }
  if (end >= vectorlen) end = vectorlen - 1;

  // Lists and sorted sets that are not sorted are read in their own order, range only.
  const direct = o.dontsort && (type === 'list' || type === 'zset');
  let elems: string[];
  if (!e) elems = [];
  else if (direct) {
    const partial = start !== 0 || end !== vectorlen - 1;
    elems = await elementsOf(g, key, e, start, end, o.desc, !partial && !o.desc);
    if (partial) vectorlen = elems.length;
    if (end >= start) {
      end -= start;
      start = 0;
    }
  } else {
    elems = await elementsOf(g, key, e, 0, vectorlen - 1, false, true);
  }

  // Load every key the BY and GET patterns name, then run the rest without yielding.
  const byPattern = !o.dontsort && by !== undefined ? compilePattern(by) : undefined;
  const gets = o.gets.map(compilePattern);
  const need = new Set<string>();
  for (const el of elems) {
    if (byPattern) {
      const k = patternKey(byPattern, el);
      if (k !== undefined) need.add(k);
    }
    for (const p of gets) {
      const k = patternKey(p, el);
      if (k !== undefined) need.add(k);
    }
  }
  if (o.store !== undefined) need.add(o.store);
  if (need.size > 0) await ctx.keyspace.ensureLoaded(ctx.db, [...need]);
  // From here on nothing awaits: lookups, sort and output see one consistent keyspace.
  g.check();

  const items: Item[] = elems.map((elem) => ({ elem, score: 0, cmp: undefined }));
  let bad = false;
  if (!o.dontsort) {
    for (const it of items) {
      const val = byPattern ? lookup(ctx, byPattern, it.elem) : it.elem;
      if (val === undefined) continue;
      if (o.alpha) {
        if (byPattern) it.cmp = val;
      } else {
        const sc = sortScore(val);
        if (sc === undefined) bad = true;
        else it.score = sc;
      }
    }
    const cmp = comparator(o, byPattern !== undefined);
    if (byPattern && (start !== 0 || end !== vectorlen - 1)) partialSort(items, cmp, start, end);
    else items.sort(cmp);
  }

  const outputlen = gets.length ? gets.length * (end - start + 1) : end - start + 1;
  if (bad) return NOT_DOUBLE;
  if (o.store === undefined) {
    const out: Reply[] = [];
    for (let j = start; j <= end; j++) {
      const el = items[j]!.elem;
      if (!gets.length) out.push(el);
      for (const p of gets) out.push(lookup(ctx, p, el) ?? null);
    }
    return out;
  }
  const stored: string[] = [];
  for (let j = start; j <= end; j++) {
    const el = items[j]!.elem;
    if (!gets.length) stored.push(el);
    for (const p of gets) stored.push(lookup(ctx, p, el) ?? '');
  }
  // setKey: the result replaces whatever the destination held, TTL included.
  writeKey(ctx, o.store);
  if (outputlen) createList(ctx.keyspace, ctx.db, o.store, stored);
  else ctx.keyspace.delete(ctx.db, o.store, ctx.now);
  return outputlen;
}

function bmin(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}

function bmax(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}

export const commands: CommandModule = {
  sort: (ctx, args) => sortGeneric(ctx, args, false),
  sort_ro: (ctx, args) => sortGeneric(ctx, args, true),
};
