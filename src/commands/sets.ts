/**
 * Set commands (Redis 7.0 t_set.c semantics, replies and errors). Sets small enough to be
 * inline are served from memory; big (split) sets read their members from the engine, so a
 * handler may await: each runs under guarded() (src/types/set-collection.ts), which re-runs it
 * if its keys changed meanwhile, and writes only after Guard.check().
 */
import { globMatch } from '../util/glob.ts';
import { ErrorReply, type Reply, SetReply } from '../resp/reply.ts';
import { SYNTAX, WRONGTYPE } from '../types/replies.ts';
import { argPositiveLong, argRangeLong, LONG_MAX, MAX_RANDOM_COUNT, parseScanOpts } from '../types/set-args.ts';
import { type Guard, guarded } from '../types/set-collection.ts';
import { setAt, SetView } from '../types/set-ops.ts';
import { SetValue } from '../types/set-value.ts';
import { parseCursor } from '../types/replies.ts';
import { map, type Maybe } from '../util/maybe.ts';
import type { CommandModule, ExecContext } from './types.ts';

/** Redis's SPOP_MOVE_STRATEGY_MUL: above this ratio SPOP rebuilds the set from what remains. */
const SPOP_MOVE_STRATEGY_MUL = 5;

/** args[from..], each once (a single member, the common case, needs no Set). */
function distinctFrom(args: string[], from: number): string[] {
  return args.length === from + 1 ? [args[from]!] : [...new Set(args.slice(from))];
}

function sadd(ctx: ExecContext, args: string[]): Maybe<Reply> {
  const key = args[1]!;
  return guarded(ctx, [key], (g) => {
    const s = setAt(g, key, true);
    if (s === 'wrongtype') return WRONGTYPE;
    const view = s ?? SetView.create(g, key);
    const uniq = distinctFrom(args, 2);
    return map(view.hasMany(uniq), (present) => {
      const added = uniq.filter((_, i) => !present[i]);
      g.check();
      view.add(added, ctx.keyspace);
      view.commit(ctx.keyspace);
      return added.length;
    });
  });
}

function srem(ctx: ExecContext, args: string[]): Maybe<Reply> {
  const key = args[1]!;
  return guarded(ctx, [key], (g) => {
    const s = setAt(g, key, true);
    if (s === 'wrongtype') return WRONGTYPE;
    if (!s) return 0;
    const uniq = distinctFrom(args, 2);
    return map(s.hasMany(uniq), (present) => {
      const gone = uniq.filter((_, i) => present[i]);
      g.check();
      s.remove(gone);
      s.commit(ctx.keyspace);
      return gone.length;
    });
  });
}

async function smove(ctx: ExecContext, args: string[]): Promise<Reply> {
  const [, src, dst, member] = args as [string, string, string, string];
  return guarded(ctx, [src, dst], async (g) => {
    const from = setAt(g, src, true);
    const to = setAt(g, dst, true);
    if (!from) return 0;
    if (from === 'wrongtype' || to === 'wrongtype') return WRONGTYPE;
    if (src === dst) return (await from.has(member)) ? 1 : 0;
    if (!(await from.has(member))) return 0;
    const view = to ?? SetView.create(g, dst);
    const already = await view.has(member);
    g.check();
    from.remove([member]);
    from.commit(ctx.keyspace);
    if (!already) {
      view.add([member], ctx.keyspace);
      view.commit(ctx.keyspace);
    }
    return 1;
  });
}

function sismember(ctx: ExecContext, args: string[]): Maybe<Reply> {
  return guarded(ctx, [args[1]!], (g) => {
    const s = setAt(g, args[1]!, false);
    if (s === 'wrongtype') return WRONGTYPE;
    return s ? map(s.has(args[2]!), (b) => (b ? 1 : 0)) : 0;
  });
}

async function smismember(ctx: ExecContext, args: string[]): Promise<Reply> {
  return guarded(ctx, [args[1]!], async (g) => {
    const s = setAt(g, args[1]!, false);
    if (s === 'wrongtype') return WRONGTYPE;
    const members = args.slice(2);
    if (!s) return members.map(() => 0);
    return (await s.hasMany(members)).map((b) => (b ? 1 : 0));
  });
}

async function srandmember(ctx: ExecContext, args: string[]): Promise<Reply> {
  if (args.length > 3) return SYNTAX;
  const key = args[1]!;
  let count: bigint | undefined;
  if (args.length === 3) {
    const c = argRangeLong(args[2]!, -LONG_MAX, LONG_MAX);
    if (c instanceof ErrorReply) return c;
    count = c;
  }
  return guarded(ctx, [key], async (g) => {
    const s = setAt(g, key, false);
    if (s === 'wrongtype') return WRONGTYPE;
    if (count === undefined) return s ? ((await s.randomOne()) ?? null) : null;
    if (!s || count === 0n) return [];
    if (count < 0n) {
      if (-count > BigInt(MAX_RANDOM_COUNT)) return new ErrorReply('ERR value is out of range');
      return s.randomWithRepeats(Number(-count));
    }
    if (count >= BigInt(s.card)) return s.all();
    return s.randomDistinct(Number(count));
  });
}

function spop(ctx: ExecContext, args: string[]): Maybe<Reply> {
  if (args.length > 3) return SYNTAX;
  const key = args[1]!;
  let count: number | undefined;
  if (args.length === 3) {
    const c = argPositiveLong(args[2]!);
    if (c instanceof ErrorReply) return c;
    count = c > 1_000_000_000_000n ? 1e12 : Number(c);
  }
  if (count === undefined) {
    return guarded(ctx, [key], (g) => {
      const s = setAt(g, key, true);
      if (s === 'wrongtype') return WRONGTYPE;
      if (!s) return null;
      return map(s.randomOne(), (m) => {
        g.check();
        s.remove([m!]);
        s.commit(ctx.keyspace);
        return m!;
      });
    });
  }
  return guarded(ctx, [key], async (g) => {
    const s = setAt(g, key, true);
    if (s === 'wrongtype') return WRONGTYPE;
    if (!s || count === 0) return new SetReply([]);
    const size = s.card;
    if (count >= size) {
      // The whole set: reply with it and delete the key.
      const all = await s.all();
      g.check();
      ctx.keyspace.delete(ctx.db, key, ctx.now);
      return new SetReply(all);
    }
    const remaining = size - count;
    if (remaining * SPOP_MOVE_STRATEGY_MUL > count) {
      const popped = await s.randomDistinct(count);
      g.check();
      s.remove(popped);
      s.commit(ctx.keyspace);
      return new SetReply(popped);
    }
    // Most of the set goes: Redis builds a new set from the few that stay (so its encoding
    // is chosen afresh) and returns the rest.
    const all = await s.all();
    for (let i = 0; i < remaining; i++) {
      const j = i + Math.floor(Math.random() * (all.length - i));
      [all[i], all[j]] = [all[j]!, all[i]!];
    }
    g.check();
    const keep = SetValue.build(all.slice(0, remaining), ctx.keyspace);
    ctx.keyspace.set(ctx.db, key, keep, s.e!.expireAt);
    return new SetReply(all.slice(remaining));
  });
}

function scard(ctx: ExecContext, args: string[]): Maybe<Reply> {
  return guarded(ctx, [args[1]!], (g) => {
    const s = setAt(g, args[1]!, false);
    if (s === 'wrongtype') return WRONGTYPE;
    return s ? s.card : 0;
  });
}

async function smembers(ctx: ExecContext, args: string[]): Promise<Reply> {
  return guarded(ctx, [args[1]!], async (g) => {
    const s = setAt(g, args[1]!, false);
    if (s === 'wrongtype') return WRONGTYPE;
    return new SetReply(s ? await s.all() : []);
  });
}

/** The sets named by keys (undefined for missing ones), or WRONGTYPE if any is not a set. */
function setsAt(g: Guard, keys: string[]): (SetView | undefined)[] | ErrorReply {
  const out: (SetView | undefined)[] = [];
  for (const k of keys) {
    const s = setAt(g, k, false);
    if (s === 'wrongtype') return WRONGTYPE;
    out.push(s);
  }
  return out;
}

/** Members in every set: the smallest is streamed and checked against the others. */
async function intersect(sets: SetView[], limit = 0, count = false): Promise<{ members: string[]; n: number }> {
  const order = [...sets].sort((a, b) => a.card - b.card);
  const [first, ...rest] = order as [SetView, ...SetView[]];
  const members: string[] = [];
  let n = 0;
  for await (const page of first.pages()) {
    let keep = page;
    for (const other of rest) {
      if (other === first) continue;
      const has = await other.hasMany(keep);
      keep = keep.filter((_, i) => has[i]);
      if (keep.length === 0) break;
    }
    for (const m of keep) {
      n++;
      if (!count) members.push(m);
      if (limit && n >= limit) return { members, n };
    }
  }
  return { members, n };
}

async function union(sets: (SetView | undefined)[]): Promise<Set<string>> {
  const out = new Set<string>();
  for (const s of sets) if (s) for await (const page of s.pages()) for (const m of page) out.add(m);
  return out;
}

async function difference(sets: (SetView | undefined)[]): Promise<string[]> {
  const [first, ...rest] = sets;
  const out: string[] = [];
  if (!first) return out;
  const others = rest.filter((s): s is SetView => s !== undefined);
  for await (const page of first.pages()) {
    let keep = page;
    for (const other of others) {
      const has = await other.hasMany(keep);
      keep = keep.filter((_, i) => !has[i]);
      if (keep.length === 0) break;
    }
    for (const m of keep) out.push(m);
  }
  return out;
}

/** SINTER/SUNION/SDIFF and their STORE forms. */
function setOp(op: 'inter' | 'union' | 'diff', store: boolean) {
  return async (ctx: ExecContext, args: string[]): Promise<Reply> => {
    const dst = store ? args[1]! : undefined;
    const keys = args.slice(store ? 2 : 1);
    return guarded(ctx, dst === undefined ? keys : [dst, ...keys], async (g) => {
      const sets = setsAt(g, keys);
      if (sets instanceof ErrorReply) return sets;
      let result: string[];
      if (op === 'inter') {
        result = sets.some((s) => !s) ? [] : (await intersect(sets as SetView[])).members;
      } else if (op === 'union') {
        result = [...(await union(sets))];
      } else {
        result = await difference(sets);
      }
      if (dst === undefined) return new SetReply(result);
      g.write(dst);
      g.check();
      if (result.length === 0) {
        ctx.keyspace.delete(ctx.db, dst, ctx.now);
        return 0;
      }
      ctx.keyspace.set(ctx.db, dst, SetValue.build(result, ctx.keyspace));
      return result.length;
    });
  };
}

async function sintercard(ctx: ExecContext, args: string[]): Promise<Reply> {
  const numkeys = argRangeLong(args[1]!, 1n, LONG_MAX, 'numkeys should be greater than 0');
  if (numkeys instanceof ErrorReply) return numkeys;
  if (numkeys > BigInt(args.length - 2)) return new ErrorReply("ERR Number of keys can't be greater than number of args");
  const n = Number(numkeys);
  let limit = 0;
  for (let j = 2 + n; j < args.length; j++) {
    if (args[j]!.toLowerCase() === 'limit' && j + 1 < args.length) {
      const l = argPositiveLong(args[++j]!, "LIMIT can't be negative");
      if (l instanceof ErrorReply) return l;
      limit = l > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(l);
    } else {
      return SYNTAX;
    }
  }
  const keys = args.slice(2, 2 + n);
  return guarded(ctx, keys, async (g) => {
    const sets = setsAt(g, keys);
    if (sets instanceof ErrorReply) return sets;
    if (sets.some((s) => !s)) return 0;
    return (await intersect(sets as SetView[], limit, true)).n;
  });
}

async function sscan(ctx: ExecContext, args: string[]): Promise<Reply> {
  const cur = parseCursor(args[2]!);
  if (cur instanceof ErrorReply) return cur;
  const key = args[1]!;
  return guarded(ctx, [key], async (g) => {
    const s = setAt(g, key, false);
    if (s === 'wrongtype') return WRONGTYPE;
    if (!s) return ['0', []];
    const opts = parseScanOpts(args, 3);
    if (opts instanceof ErrorReply) return opts;
    const keep = (m: string) => opts.pattern === undefined || globMatch(opts.pattern, m);
    if (!s.v.split) return ['0', s.v.ordered().filter(keep)];
    // Split sets page through member order; the cursor stands for the last member returned.
    const after = cur === 0n ? undefined : ctx.keyspace.cursorPosition(cur.toString());
    const page = await s.page(after, opts.count);
    const next = page.length < opts.count ? '0' : ctx.keyspace.newCursor(page[page.length - 1]!);
    return [next, page.filter(keep)];
  });
}

export const commands: CommandModule = {
  sadd,
  srem,
  smove,
  sismember,
  smismember,
  srandmember,
  spop,
  scard,
  smembers,
  sinter: setOp('inter', false),
  sinterstore: setOp('inter', true),
  sunion: setOp('union', false),
  sunionstore: setOp('union', true),
  sdiff: setOp('diff', false),
  sdiffstore: setOp('diff', true),
  sintercard,
  sscan,
};
