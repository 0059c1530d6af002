/**
 * Sorted-set commands (Redis 7.0 t_zset.c semantics, replies and errors). Small sorted sets
 * are served from memory; big (split) ones stream from the engine, so handlers may await and
 * run under guarded() (src/types/set-collection.ts). Scores reply as RESP3 doubles, or in
 * RESP2 as bulk strings printed like Redis's "%.17g" (src/resp/encode.ts formatDouble).
 */
import { block, parseTimeout } from '../server/blocking.ts';
import { globMatch } from '../util/glob.ts';
import { map, type Maybe } from '../util/maybe.ts';
import { DoubleReply, ErrorReply, NullArray, type Reply } from '../resp/reply.ts';
import { formatDouble } from '../resp/encode.ts';
import { NOT_FLOAT, parseCursor, SYNTAX, WRONGTYPE } from '../types/replies.ts';
import { argLong, argPositiveLong, argRangeLong, LONG_MAX, MAX_RANDOM_COUNT, parseScanOpts } from '../types/set-args.ts';
import { type Guard, guarded } from '../types/set-collection.ts';
import { type LexRange, parseFloatArg, parseLexRange, parseScoreRange, type ScoreRange } from '../types/zset-range.ts';
import { type Pair, type ZSource, zsetAt, zsourceAt, ZSetView } from '../types/zset-ops.ts';
import { ZSetValue } from '../types/zset-value.ts';
import type { CommandModule, ExecContext } from './types.ts';

const NOT_A_FLOAT_RANGE = new ErrorReply('ERR min or max is not a float');
const NOT_A_LEX_RANGE = new ErrorReply('ERR min or max not valid string range item');

/** Members, or members with scores: flat in RESP2, [member, score] pairs in RESP3. */
export function pairsReply(ctx: ExecContext, pairs: Pair[], withscores: boolean): Reply {
  if (!withscores) return pairs.map((p) => p[0]);
  if (ctx.client.resp === 3) return pairs.map((p) => [p[0], new DoubleReply(p[1])]);
  const out: Reply[] = [];
  for (const [m, s] of pairs) out.push(m, new DoubleReply(s));
  return out;
}

/** A bigint offset/count as a JS number, saturated (every collection is far smaller). */
function clampNum(v: bigint): number {
  if (v > 9007199254740991n) return 9007199254740991;
  if (v < -9007199254740991n) return -9007199254740991;
  return Number(v);
}

// ------------------------------------------------------------------ ZADD / ZINCRBY

export interface ZaddResult {
  added: number;
  updated: number;
  processed: number;
  score: number;
}

/** zaddGenericCommand; geoadd.ts calls it with its own argument vector. */
export function zaddGeneric(ctx: ExecContext, args: string[], incrCommand: boolean): Maybe<Reply> {
  const key = args[1]!;
  let nx = false;
  let xx = false;
  let gt = false;
  let lt = false;
  let ch = false;
  let incr = incrCommand;
  let i = 2;
  for (; i < args.length; i++) {
    const o = args[i]!.toLowerCase();
    if (o === 'nx') nx = true;
    else if (o === 'xx') xx = true;
    else if (o === 'ch') ch = true;
    else if (o === 'incr') incr = true;
    else if (o === 'gt') gt = true;
    else if (o === 'lt') lt = true;
    else break;
  }
  const elements = args.length - i;
  if (elements % 2 !== 0 || elements === 0) return SYNTAX;
  if (nx && xx) return new ErrorReply('ERR XX and NX options at the same time are not compatible');
  if ((gt && nx) || (lt && nx) || (gt && lt)) return new ErrorReply('ERR GT, LT, and/or NX options at the same time are not compatible');
  if (incr && elements > 2) return new ErrorReply('ERR INCR option supports a single increment-element pair');
  const pairs: Pair[] = [];
  for (let j = i; j < args.length; j += 2) {
    const s = parseFloatArg(args[j]!);
    if (s === undefined) return NOT_FLOAT;
    pairs.push([args[j + 1]!, s]);
  }
  return guarded(ctx, [key], (g) => {
    const found = zsetAt(g, key, true);
    if (found === 'wrongtype') return WRONGTYPE;
    if (!found && xx) return incr ? null : 0;
    const z = found ?? ZSetView.create(g, key);
    // One pair (the common case) needs no dedupe and no map of scores as they change.
    const single = pairs.length === 1;
    const uniq = single ? [pairs[0]![0]] : [...new Set(pairs.map((p) => p[0]))];
    return map(z.scores(uniq), (olds) => {
      const cur = single ? undefined : new Map<string, number | undefined>(uniq.map((m, k) => [m, olds[k]]));
      g.check();
      let added = 0;
      let updated = 0;
      let processed = 0;
      let score = 0;
      let error: ErrorReply | undefined;
      for (const [m, s0] of pairs) {
        const old = cur ? cur.get(m) : olds[0];
        if (old !== undefined) {
          if (nx) continue;
          let s = s0;
          if (incr) {
            s += old;
            if (Number.isNaN(s)) {
              error = new ErrorReply('ERR resulting score is not a number (NaN)');
              break;
            }
          }
          if ((lt && s >= old) || (gt && s <= old)) continue;
          processed++;
          score = s;
          if (s !== old) {
            z.set(m, s, old, ctx.keyspace);
            cur?.set(m, s);
            updated++;
          }
        } else if (!xx) {
          z.set(m, s0, undefined, ctx.keyspace);
          cur?.set(m, s0);
          added++;
          processed++;
          score = s0;
        }
      }
      z.commit();
      if (error) return error;
      if (incr) return processed ? new DoubleReply(score) : null;
      return ch ? added + updated : added;
    });
  });
}

// ------------------------------------------------------------------ simple reads

function withZset(write: boolean, run: (z: ZSetView, ctx: ExecContext, args: string[], g: Guard) => Maybe<Reply>, missing: Reply) {
  return (ctx: ExecContext, args: string[]): Maybe<Reply> =>
    guarded(ctx, [args[1]!], (g) => {
      const z = zsetAt(g, args[1]!, write);
      if (z === 'wrongtype') return WRONGTYPE;
      if (!z) return missing;
      return run(z, ctx, args, g);
    });
}

async function zmscore(ctx: ExecContext, args: string[]): Promise<Reply> {
  return guarded(ctx, [args[1]!], async (g) => {
    const z = zsetAt(g, args[1]!, false);
    if (z === 'wrongtype') return WRONGTYPE;
    const members = args.slice(2);
    if (!z) return members.map(() => null);
    return (await z.scores(members)).map((s) => (s === undefined ? null : new DoubleReply(s)));
  });
}

function zrank(rev: boolean) {
  return withZset(false, async (z, _ctx, args) => (await z.rank(args[2]!, rev)) ?? null, null);
}

function zcount(ctx: ExecContext, args: string[]): Reply | Promise<Reply> {
  const r = parseScoreRange(args[2]!, args[3]!);
  if (!r) return NOT_A_FLOAT_RANGE;
  return withZset(false, (z) => z.countScore(r), 0)(ctx, args);
}

function zlexcount(ctx: ExecContext, args: string[]): Reply | Promise<Reply> {
  const r = parseLexRange(args[2]!, args[3]!);
  if (!r) return NOT_A_LEX_RANGE;
  return withZset(false, (z) => z.countLex(r), 0)(ctx, args);
}

// ------------------------------------------------------------------ ZREM and range removals

function zrem(ctx: ExecContext, args: string[]): Maybe<Reply> {
  return withZset(true, (z, _ctx, a, g) => {
    const uniq = [...new Set(a.slice(2))];
    return map(z.scores(uniq), (scores) => {
      g.check();
      let n = 0;
      uniq.forEach((m, k) => {
        const s = scores[k];
        if (s !== undefined) {
          z.remove(m, s);
          n++;
        }
      });
      z.commit();
      return n;
    });
  }, 0)(ctx, args);
}

function zremrange(type: 'rank' | 'score' | 'lex') {
  return (ctx: ExecContext, args: string[]): Reply | Promise<Reply> => {
    let start = 0;
    let end = 0;
    let sr: ScoreRange | undefined;
    let lr: LexRange | undefined;
    if (type === 'rank') {
      const a = argLong(args[2]!);
      if (a instanceof ErrorReply) return a;
      const b = argLong(args[3]!);
      if (b instanceof ErrorReply) return b;
      start = clampNum(a);
      end = clampNum(b);
    } else if (type === 'score') {
      sr = parseScoreRange(args[2]!, args[3]!);
      if (!sr) return NOT_A_FLOAT_RANGE;
    } else {
      lr = parseLexRange(args[2]!, args[3]!);
      if (!lr) return NOT_A_LEX_RANGE;
    }
    return withZset(true, async (z, c, a, g) => {
      let pairs: Pair[];
      if (type === 'rank') {
        const n = z.card;
        let s = start < 0 ? n + start : start;
        let e = end < 0 ? n + end : end;
        if (s < 0) s = 0;
        if (s > e || s >= n) return 0;
        if (e >= n) e = n - 1;
        if (s === 0 && e === n - 1) {
          // Everything: an O(1) delete, whatever the size.
          g.check();
          c.keyspace.delete(c.db, a[1]!, c.now);
          return n;
        }
        pairs = await z.ascRange(s, e);
      } else if (sr) {
        pairs = await z.byScore(sr, false);
      } else {
        pairs = await z.byLex(lr!, false);
      }
      g.check();
      if (pairs.length === z.card) {
        c.keyspace.delete(c.db, a[1]!, c.now);
        return pairs.length;
      }
      for (const [m, s] of pairs) z.remove(m, s);
      z.commit();
      return pairs.length;
    }, 0)(ctx, args);
  };
}

// ------------------------------------------------------------------ ZRANGE family

type RangeType = 'auto' | 'rank' | 'score' | 'lex';
type Direction = 'auto' | 'fwd' | 'rev';

/** zrangeGenericCommand: every ZRANGE variant and ZRANGESTORE. */
function zrangeGeneric(ctx: ExecContext, args: string[], argStart: number, store: boolean, type0: RangeType, dir0: Direction): Reply | Promise<Reply> {
  const key = args[argStart]!;
  let minIdx = argStart + 1;
  let maxIdx = argStart + 2;
  let withscores = false;
  let offset = 0n;
  let limit = -1n;
  let type = type0;
  let dir = dir0;
  for (let j = argStart + 3; j < args.length; j++) {
    const left = args.length - j - 1;
    const a = args[j]!.toLowerCase();
    if (!store && a === 'withscores') {
      withscores = true;
    } else if (a === 'limit' && left >= 2) {
      const o = argLong(args[j + 1]!);
      if (o instanceof ErrorReply) return o;
      const l = argLong(args[j + 2]!);
      if (l instanceof ErrorReply) return l;
      offset = o;
      limit = l;
      j += 2;
    } else if (dir === 'auto' && a === 'rev') {
      dir = 'rev';
    } else if (type === 'auto' && a === 'bylex') {
      type = 'lex';
    } else if (type === 'auto' && a === 'byscore') {
      type = 'score';
    } else {
      return SYNTAX;
    }
  }
  if (dir === 'auto') dir = 'fwd';
  if (type === 'auto') type = 'rank';
  if (limit !== -1n && type === 'rank') return new ErrorReply('ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX');
  if (withscores && type === 'lex') return new ErrorReply('ERR syntax error, WITHSCORES not supported in combination with BYLEX');
  const rev = dir === 'rev';
  if (rev && type !== 'rank') [minIdx, maxIdx] = [maxIdx, minIdx];
  let start = 0;
  let end = 0;
  let sr: ScoreRange | undefined;
  let lr: LexRange | undefined;
  if (type === 'rank') {
    const a = argLong(args[minIdx]!);
    if (a instanceof ErrorReply) return a;
    const b = argLong(args[maxIdx]!);
    if (b instanceof ErrorReply) return b;
    start = clampNum(a);
    end = clampNum(b);
  } else if (type === 'score') {
    sr = parseScoreRange(args[minIdx]!, args[maxIdx]!);
    if (!sr) return NOT_A_FLOAT_RANGE;
  } else {
    lr = parseLexRange(args[minIdx]!, args[maxIdx]!);
    if (!lr) return NOT_A_LEX_RANGE;
  }
  const dst = store ? args[1]! : undefined;
  const off = clampNum(offset);
  const lim = clampNum(limit);
  return guarded(ctx, dst === undefined ? [key] : [dst, key], async (g) => {
    const z = zsetAt(g, key, false);
    if (z === 'wrongtype') return WRONGTYPE;
    let pairs: Pair[] = [];
    if (z) {
      if (type === 'rank') pairs = await z.byRank(start, end, rev);
      else if (sr) pairs = await z.byScore(sr, rev, off, lim);
      else pairs = await z.byLex(lr!, rev, off, lim);
    }
    if (dst === undefined) return pairsReply(ctx, pairs, withscores);
    // Redis builds the destination by adding the results in order to a listpack (a skiplist
    // when a rank range is known to be too long), converting when it outgrows the limits:
    // the scores that went into the listpack lose a -0 sign.
    const ks = ctx.keyspace;
    let listpack = !(type === 'rank' && pairs.length > ks.zsetMaxListpackEntries);
    let count = 0;
    for (const p of pairs) {
      if (listpack && (count + 1 > ks.zsetMaxListpackEntries || p[0].length > ks.zsetMaxListpackValue)) listpack = false;
      if (listpack && p[1] === 0) p[1] = 0;
      count++;
    }
    return storeZset(ctx, g, dst, pairs);
  });
}

/** Replaces dst with a sorted set built from pairs (deleting it when empty); replies its size. */
function storeZset(ctx: ExecContext, g: Guard, dst: string, pairs: Iterable<Pair>): number {
  g.write(dst);
  g.check();
  const z = ZSetValue.build(pairs, ctx.keyspace);
  if (z.card === 0) {
    ctx.keyspace.delete(ctx.db, dst, ctx.now);
    return 0;
  }
  ctx.keyspace.set(ctx.db, dst, z);
  return z.card;
}

function rangeCommand(argStart: number, store: boolean, type: RangeType, dir: Direction) {
  return (ctx: ExecContext, args: string[]) => zrangeGeneric(ctx, args, argStart, store, type, dir);
}

// ------------------------------------------------------------------ pops

/** genericZpopCommand over keys: pops from the first non-empty one. */
export function genericZpop(
  ctx: ExecContext,
  g: Guard,
  keys: string[],
  where: 'min' | 'max',
  emitKey: boolean,
  count0: number,
  nested: boolean,
  nilWhenEmpty: boolean,
): Maybe<Reply> {
  let z: ZSetView | undefined;
  let key = '';
  for (const k of keys) {
    const found = zsetAt(g, k, true);
    if (!found) continue;
    if (found === 'wrongtype') return WRONGTYPE;
    z = found;
    key = k;
    break;
  }
  if (!z) return nilWhenEmpty ? NullArray.instance : [];
  if (count0 === 0) return [];
  const count = count0 === -1 ? 1 : count0;
  const n = z.card;
  const len = Math.min(count, n);
  const zs = z;
  return map(where === 'min' ? zs.ascRange(0, len - 1) : zs.ascRange(n - len, n - 1), (range) => {
    const pairs = where === 'min' ? range : range.reverse();
    g.check();
    for (const [m, s] of pairs) zs.remove(m, s);
    if (pairs.length) zs.poppedTo(where, pairs[pairs.length - 1]!);
    zs.commit();
    const items: Reply[] = [];
    for (const [m, s] of pairs) {
      if (nested) items.push([m, new DoubleReply(s)]);
      else items.push(m, new DoubleReply(s));
    }
    if (!emitKey) return items;
    return nested ? [key, items] : [key, ...items];
  });
}

function zpop(where: 'min' | 'max') {
  return (ctx: ExecContext, args: string[]): Maybe<Reply> => {
    if (args.length > 3) return SYNTAX;
    let count = -1;
    if (args.length === 3) {
      const c = argPositiveLong(args[2]!);
      if (c instanceof ErrorReply) return c;
      count = clampNum(c);
    }
    const nested = ctx.client.resp > 2 && count !== -1;
    return guarded(ctx, [args[1]!], (g) => genericZpop(ctx, g, [args[1]!], where, false, count, nested, false));
  };
}

/** Parses [B]ZMPOP's arguments from numkeys at `at`: keys, MIN|MAX, COUNT. */
export function parseMpop(args: string[], at: number): { keys: string[]; where: 'min' | 'max'; count: number } | ErrorReply {
  const numkeys = argRangeLong(args[at]!, 1n, LONG_MAX, 'numkeys should be greater than 0');
  if (numkeys instanceof ErrorReply) return numkeys;
  const whereIdx = at + 1 + clampNum(numkeys);
  if (whereIdx >= args.length) return SYNTAX;
  const w = args[whereIdx]!.toLowerCase();
  if (w !== 'min' && w !== 'max') return SYNTAX;
  let count = -1;
  for (let j = whereIdx + 1; j < args.length; j++) {
    if (count === -1 && args[j]!.toLowerCase() === 'count' && j + 1 < args.length) {
      const c = argRangeLong(args[++j]!, 1n, LONG_MAX, 'count should be greater than 0');
      if (c instanceof ErrorReply) return c;
      count = clampNum(c);
    } else {
      return SYNTAX;
    }
  }
  return { keys: args.slice(at + 1, whereIdx), where: w, count: count === -1 ? 1 : count };
}

async function zmpop(ctx: ExecContext, args: string[]): Promise<Reply> {
  const p = parseMpop(args, 1);
  if (p instanceof ErrorReply) return p;
  return guarded(ctx, p.keys, (g) => genericZpop(ctx, g, p.keys, p.where, true, p.count, true, true));
}

// ------------------------------------------------------------------ blocking pops

/** Stands for "nothing to pop" inside guarded() (a Reply no command returns). */
const NOTHING: Reply = Object.freeze(['<nothing>']) as unknown as Reply;

/**
 * blockingGenericZpopCommand: pop from the first non-empty sorted set at once, else block
 * until a write makes one of the keys a non-empty sorted set (or the timeout passes).
 */
async function blockingZpop(ctx: ExecContext, keys: string[], where: 'min' | 'max', timeout: number, count: number, nested: boolean): Promise<Reply> {
  const pop = (c: ExecContext, candidates: string[]) =>
    guarded(c, candidates, async (g) => {
      for (const k of candidates) {
        const z = zsetAt(g, k, true);
        if (!z) continue;
        if (z === 'wrongtype') return WRONGTYPE;
        return genericZpop(c, g, [k], where, true, count, nested, true);
      }
      return NOTHING;
    });
  const now = await pop(ctx, keys);
  if (now !== NOTHING) return now;
  return block(ctx, {
    keys,
    type: 'zset',
    timeout,
    timeoutReply: NullArray.instance,
    // A key that now holds another type keeps the client blocked (Redis 7.0).
    serve: async (sctx, key) => {
      const r = await guarded(sctx, [key], async (g) => (zsetAt(g, key, true) instanceof ZSetView ? genericZpop(sctx, g, [key], where, true, count, nested, true) : NOTHING));
      return r === NOTHING ? undefined : r;
    },
  });
}

function bzpop(where: 'min' | 'max') {
  return (ctx: ExecContext, args: string[]): Promise<Reply> | Reply => {
    const timeout = parseTimeout(args[args.length - 1]!, ctx.now);
    if (timeout instanceof ErrorReply) return timeout;
    return blockingZpop(ctx, args.slice(1, -1), where, timeout, -1, false);
  };
}

function bzmpop(ctx: ExecContext, args: string[]): Promise<Reply> | Reply {
  const p = parseMpop(args, 2);
  if (p instanceof ErrorReply) return p;
  const timeout = parseTimeout(args[1]!, ctx.now);
  if (timeout instanceof ErrorReply) return timeout;
  return blockingZpop(ctx, p.keys, p.where, timeout, p.count, true);
}

// ------------------------------------------------------------------ ZUNION / ZINTER / ZDIFF

type SetOp = 'union' | 'inter' | 'diff';
type Aggregate = 'sum' | 'min' | 'max';

function aggregate(target: number, v: number, how: Aggregate): number {
  if (how === 'sum') {
    const s = target + v;
    return Number.isNaN(s) ? 0 : s; // inf + -inf is 0 by Redis's convention
  }
  if (how === 'min') return v < target ? v : target;
  return v > target ? v : target;
}

/** zunionInterDiffGenericCommand. */
function zsetOp(op: SetOp, store: boolean, cardOnly = false) {
  return async (ctx: ExecContext, args: string[]): Promise<Reply> => {
    const numIdx = store ? 2 : 1;
    const name = args[0]!.toLowerCase();
    const nk = argLong(args[numIdx]!);
    if (nk instanceof ErrorReply) return nk;
    if (nk < 1n) return new ErrorReply(`ERR at least 1 input key is needed for '${name}' command`);
    if (nk > BigInt(args.length - (numIdx + 1))) return SYNTAX;
    const n = Number(nk);
    const keys = args.slice(numIdx + 1, numIdx + 1 + n);
    const dst = store ? args[1]! : undefined;
    return guarded(ctx, dst === undefined ? keys : [dst, ...keys], async (g) => {
      const srcs: (ZSource | undefined)[] = [];
      for (const k of keys) {
        const s = zsourceAt(g, k);
        if (s === 'wrongtype') return WRONGTYPE;
        srcs.push(s);
      }
      const weights = keys.map(() => 1);
      let agg: Aggregate = 'sum';
      let withscores = false;
      let limit = 0;
      let j = numIdx + 1 + n;
      while (j < args.length) {
        const remaining = args.length - j;
        const a = args[j]!.toLowerCase();
        if (op !== 'diff' && !cardOnly && remaining >= n + 1 && a === 'weights') {
          j++;
          for (let i = 0; i < n; i++, j++) {
            const w = parseFloatArg(args[j]!);
            if (w === undefined) return new ErrorReply('ERR weight value is not a float');
            weights[i] = w;
          }
        } else if (op !== 'diff' && !cardOnly && remaining >= 2 && a === 'aggregate') {
          const how = args[j + 1]!.toLowerCase();
          if (how !== 'sum' && how !== 'min' && how !== 'max') return SYNTAX;
          agg = how;
          j += 2;
        } else if (remaining >= 1 && dst === undefined && !cardOnly && a === 'withscores') {
          withscores = true;
          j++;
        } else if (cardOnly && remaining >= 2 && a === 'limit') {
          const l = argPositiveLong(args[j + 1]!, "LIMIT can't be negative");
          if (l instanceof ErrorReply) return l;
          limit = clampNum(l);
          j += 2;
        } else {
          return SYNTAX;
        }
      }
      const inputs = srcs.map((s, i) => ({ s, w: weights[i]!, card: s?.card ?? 0 }));
      // Smallest first (a stable sort, as glibc's qsort is for these sizes).
      if (op !== 'diff') inputs.sort((a, b) => a.card - b.card);
      const result = new Map<string, number>();
      let cardinality = 0;
      if (op === 'inter') {
        const [first, ...rest] = inputs;
        if (first && first.card > 0) {
          outer: for await (const page of first.s!.pages()) {
            // Scores of this page in every other input, fetched together.
            const others = await Promise.all(rest.map((r) => (r.s!.scores(page.map((p) => p[0])))));
            for (let k = 0; k < page.length; k++) {
              const [m, s0] = page[k]!;
              let score = first.w * s0;
              if (Number.isNaN(score)) score = 0;
              let all = true;
              for (let r = 0; r < rest.length; r++) {
                const v = others[r]![k];
                if (v === undefined) {
                  all = false;
                  break;
                }
                score = aggregate(score, v * rest[r]!.w, agg);
              }
              if (!all) continue;
              if (cardOnly) {
                cardinality++;
                if (limit && cardinality >= limit) break outer;
              } else {
                result.set(m, score);
              }
            }
          }
        }
      } else if (op === 'union') {
        for (const inp of inputs) {
          if (!inp.s || inp.card === 0) continue;
          for await (const page of inp.s.pages()) {
            for (const [m, s0] of page) {
              let score = inp.w * s0;
              if (Number.isNaN(score)) score = 0;
              const had = result.get(m);
              result.set(m, had === undefined ? score : aggregate(had, score, agg));
            }
          }
        }
      } else {
        const [first, ...rest] = inputs;
        if (first?.s && first.card > 0) {
          for await (const page of first.s.pages()) {
            let keep = page;
            for (const r of rest) {
              if (!r.s || keep.length === 0) continue;
              const has = await r.s.scores(keep.map((p) => p[0]));
              keep = keep.filter((_, k) => has[k] === undefined);
            }
            for (const [m, s] of keep) result.set(m, s);
          }
        }
      }
      if (cardOnly) return cardinality;
      if (dst !== undefined) return storeZset(ctx, g, dst, result);
      const sorted = ZSetValue.build(result);
      // Scores as computed (build() would store -0 as 0, as a listpack does; Redis replies
      // from a skiplist here).
      return pairsReply(ctx, sorted.members.map((m) => [m, result.get(m)!]), withscores);
    });
  };
}

// ------------------------------------------------------------------ ZRANDMEMBER / ZSCAN

async function zrandmember(ctx: ExecContext, args: string[]): Promise<Reply> {
  const key = args[1]!;
  let count: bigint | undefined;
  let withscores = false;
  if (args.length >= 3) {
    const c = argRangeLong(args[2]!, -LONG_MAX, LONG_MAX);
    if (c instanceof ErrorReply) return c;
    count = c;
    if (args.length > 4 || (args.length === 4 && args[3]!.toLowerCase() !== 'withscores')) return SYNTAX;
    if (args.length === 4) {
      withscores = true;
      if (c < -LONG_MAX / 2n || c > LONG_MAX / 2n) return new ErrorReply('ERR value is out of range');
    }
  }
  return guarded(ctx, [key], async (g) => {
    const z = zsetAt(g, key, false);
    if (z === 'wrongtype') return WRONGTYPE;
    if (count === undefined) {
      if (!z) return null;
      return (await z.randomWithRepeats(1))[0]![0];
    }
    if (!z || count === 0n) return [];
    if (count < 0n || count === 1n) {
      const n = count < 0n ? -count : count;
      if (n > BigInt(MAX_RANDOM_COUNT)) return new ErrorReply('ERR value is out of range');
      return pairsReply(ctx, await z.randomWithRepeats(Number(n)), withscores);
    }
    if (count >= BigInt(z.card)) return pairsReply(ctx, await z.all(), withscores);
    return pairsReply(ctx, await z.randomDistinct(Number(count)), withscores);
  });
}

async function zscan(ctx: ExecContext, args: string[]): Promise<Reply> {
  const cur = parseCursor(args[2]!);
  if (cur instanceof ErrorReply) return cur;
  const key = args[1]!;
  return guarded(ctx, [key], async (g) => {
    const z = zsetAt(g, key, false);
    if (z === 'wrongtype') return WRONGTYPE;
    if (!z) return ['0', []];
    const opts = parseScanOpts(args, 3);
    if (opts instanceof ErrorReply) return opts;
    const flat = (pairs: Pair[]) => {
      const out: string[] = [];
      for (const [m, s] of pairs) if (opts.pattern === undefined || globMatch(opts.pattern, m)) out.push(m, formatDouble(s));
      return out;
    };
    if (!z.v.split) return ['0', flat(await z.all())];
    const after = cur === 0n ? undefined : ctx.keyspace.cursorPosition(cur.toString());
    const page = await z.page(after, opts.count);
    const next = page.length < opts.count ? '0' : ctx.keyspace.newCursor(page[page.length - 1]![0]);
    return [next, flat(page)];
  });
}

export const commands: CommandModule = {
  zadd: (ctx, args) => zaddGeneric(ctx, args, false),
  zincrby: (ctx, args) => zaddGeneric(ctx, args, true),
  zrem,
  zcard: withZset(false, (z) => z.card, 0),
  zscore: withZset(false, (z, _ctx, args) => map(z.score(args[2]!), (s) => (s === undefined ? null : new DoubleReply(s))), null),
  zmscore,
  zrank: zrank(false),
  zrevrank: zrank(true),
  zcount,
  zlexcount,
  zrange: rangeCommand(1, false, 'auto', 'auto'),
  zrangestore: rangeCommand(2, true, 'auto', 'auto'),
  zrangebyscore: rangeCommand(1, false, 'score', 'fwd'),
  zrevrangebyscore: rangeCommand(1, false, 'score', 'rev'),
  zrangebylex: rangeCommand(1, false, 'lex', 'fwd'),
  zrevrangebylex: rangeCommand(1, false, 'lex', 'rev'),
  zrevrange: rangeCommand(1, false, 'rank', 'rev'),
  zremrangebyrank: zremrange('rank'),
  zremrangebyscore: zremrange('score'),
  zremrangebylex: zremrange('lex'),
  zpopmin: zpop('min'),
  zpopmax: zpop('max'),
  zmpop,
  bzpopmin: bzpop('min'),
  bzpopmax: bzpop('max'),
  bzmpop,
  zunion: zsetOp('union', false),
  zunionstore: zsetOp('union', true),
  zinter: zsetOp('inter', false),
  zinterstore: zsetOp('inter', true),
  zdiff: zsetOp('diff', false),
  zdiffstore: zsetOp('diff', true),
  zintercard: zsetOp('inter', false, true),
  zrandmember,
  zscan,
};
