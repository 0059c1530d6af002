/**
 * List commands, blocking ones included (Redis 7.0 t_list.c semantics, replies and errors).
 * Values and their two encodings are in src/types/list*.ts; blocking in src/server/blocking.ts.
 * Handlers are synchronous on inline lists and return a promise when a split list must be read
 * from the engine (the dispatcher's key locks keep them atomic).
 */
import { ErrorReply, NullArray, OK, type Reply } from '../resp/reply.ts';
import { block, blockingOf, parseTimeout } from '../server/blocking.ts';
import { readKey, writeKey } from '../types/access.ts';
import { ListValue } from '../types/list.ts';
import * as ops from '../types/list-ops.ts';
import { parseInt64 } from '../types/numbers.ts';
import { NOT_INTEGER, SYNTAX, WRONGTYPE, wrongArgs } from '../types/replies.ts';
import { map } from '../util/maybe.ts';
import type { CommandModule, ExecContext } from './types.ts';

type Where = ops.Where;
type ListRef = ops.ListRef;

const OUT_OF_RANGE = new ErrorReply('ERR index out of range');
const NO_SUCH_KEY = new ErrorReply('ERR no such key');
const MUST_BE_POSITIVE = 'ERR value is out of range, must be positive';
const LONG_MAX = 9223372036854775807n;

/** The list at key: undefined when missing, WRONGTYPE for other types. */
function getList(ctx: ExecContext, key: string, write: boolean): ListRef | undefined | ErrorReply {
  const e = write ? writeKey(ctx, key) : readKey(ctx, key);
  if (!e) return undefined;
  if (!(e.value instanceof ListValue)) return WRONGTYPE;
  return ops.ref(ctx.keyspace, ctx.db, key, e);
}

/** getLongFromObjectOrReply as a JS number (exact enough: lists are far shorter than 2^53). */
function argLong(s: string): number | ErrorReply {
  const v = parseInt64(s);
  return v === undefined ? NOT_INTEGER : Number(v);
}

/** getRangeLongFromObjectOrReply(min, LONG_MAX, msg): msg also covers non-integers. */
function argRange(s: string, min: bigint, msg: string | undefined): number | ErrorReply {
  const v = parseInt64(s);
  if (v === undefined) return msg ? new ErrorReply(msg) : NOT_INTEGER;
  if (v < min || v > LONG_MAX) {
    return new ErrorReply(msg ?? `ERR value is out of range, value must between ${min} and ${LONG_MAX}`);
  }
  return Number(v);
}

/** getListPositionFromObjectOrReply: LEFT or RIGHT. */
function argWhere(s: string): Where | ErrorReply {
  const w = s.toLowerCase();
  if (w === 'left') return 'head';
  if (w === 'right') return 'tail';
  return SYNTAX;
}

// ----------------------------------------------------------------------------- push and pop

function pushGeneric(ctx: ExecContext, args: string[], where: Where, onlyIfExists: boolean): Reply | Promise<Reply> {
  const key = args[1]!;
  const got = getList(ctx, key, true);
  if (got instanceof ErrorReply) return got;
  const elems = args.slice(2);
  if (!got) {
    if (onlyIfExists) return 0;
    return ops.create(ctx.keyspace, ctx.db, key, where === 'head' ? elems.reverse() : elems);
  }
  return ops.push(got, elems, where);
}

function popGeneric(ctx: ExecContext, args: string[], where: Where): Reply | Promise<Reply> {
  if (args.length > 3) return wrongArgs(args[0]!.toLowerCase());
  const hasCount = args.length === 3;
  let count = 0;
  if (hasCount) {
    const c = argRange(args[2]!, 0n, MUST_BE_POSITIVE);
    if (c instanceof ErrorReply) return c;
    count = c;
  }
  const got = getList(ctx, args[1]!, true);
  if (got instanceof ErrorReply) return got;
  if (!got) return hasCount ? NullArray.instance : null;
  if (hasCount && count === 0) return [];
  if (!hasCount) return map(ops.pop(got, where, 1), (v) => v[0]!);
  return ops.pop(got, where, count);
}

/** Pops from the first non-empty list of keys: [key, [elements]] or undefined when none. */
function mpop(ctx: ExecContext, keys: string[], where: Where, count: number): Reply | Promise<Reply> | undefined {
  for (const key of keys) {
    const got = getList(ctx, key, true);
    if (got instanceof ErrorReply) return got;
    if (!got) continue;
    return map(ops.pop(got, where, count), (v) => [key, v]);
  }
  return undefined;
}

/**
 * LMOVE / RPOPLPUSH and the served side of BLMOVE: null when the source is missing.
 * The destination is type-checked before anything is popped.
 */
function lmoveGeneric(ctx: ExecContext, src: string, dst: string, from: Where, to: Where): Reply | Promise<Reply> {
  const s = getList(ctx, src, true);
  if (s instanceof ErrorReply) return s;
  if (!s) return null;
  const d = getList(ctx, dst, true);
  if (d instanceof ErrorReply) return d;
  if (src === dst && s.l.length === 1) {
    // Rotating a one-element list: the same list, its TTL kept (Redis pops and pushes back).
    return map(ops.index(s, 0), (v) => {
      ctx.server.touchKey(ctx.db, src);
      return v;
    });
  }
  const popped = ops.pop(s, from, 1);
  const pushTo = (v: string[]): Reply | Promise<Reply> => {
    const value = v[0]!;
    // Looked up again: popping the last element deleted the source, which may be dst.
    const again = getList(ctx, dst, true) as ListRef | undefined;
    if (!again) {
      ops.create(ctx.keyspace, ctx.db, dst, [value]);
      return value;
    }
    return map(ops.push(again, [value], to), () => value);
  };
  if (!(popped instanceof Promise)) return pushTo(popped);
  const release = ctx.keyspace.hold(ctx.db, [src, dst]);
  return popped.then(pushTo).finally(release);
}

// ---------------------------------------------------------------------------------- blocking

function blockingPop(ctx: ExecContext, keys: string[], where: Where, timeoutArg: string, count: number | undefined): Reply | Promise<Reply> {
  const timeout = parseTimeout(timeoutArg, ctx.now);
  if (timeout instanceof ErrorReply) return timeout;
  const served = popFirst(ctx, keys, where, count);
  if (served !== undefined) return served;
  return block(ctx, {
    keys,
    type: 'list',
    timeout,
    timeoutReply: NullArray.instance,
    serve: (sctx, key) => {
      const got = getList(sctx, key, true);
      if (!got || got instanceof ErrorReply) return undefined;
      return popReply(got, key, where, count);
    },
  });
}

/** BLPOP/BRPOP reply [key, element]; BLMPOP (count set) [key, [elements]]. */
function popReply(got: ListRef, key: string, where: Where, count: number | undefined): Reply | Promise<Reply> {
  if (count === undefined) return map(ops.pop(got, where, 1), (v) => [key, v[0]!]);
  return map(ops.pop(got, where, count), (v) => [key, v]);
}

function popFirst(ctx: ExecContext, keys: string[], where: Where, count: number | undefined): Reply | Promise<Reply> | undefined {
  for (const key of keys) {
    const got = getList(ctx, key, true);
    if (got instanceof ErrorReply) return got;
    if (got) return popReply(got, key, where, count);
  }
  return undefined;
}

function blmoveGeneric(ctx: ExecContext, src: string, dst: string, from: Where, to: Where, timeoutArg: string): Reply | Promise<Reply> {
  const timeout = parseTimeout(timeoutArg, ctx.now);
  if (timeout instanceof ErrorReply) return timeout;
  const s = getList(ctx, src, true);
  if (s instanceof ErrorReply) return s;
  if (s) return lmoveGeneric(ctx, src, dst, from, to);
  return block(ctx, {
    keys: [src],
    type: 'list',
    timeout,
    timeoutReply: NullArray.instance,
    denyReply: null,
    also: [dst],
    serve: (sctx, key) => {
      const got = getList(sctx, key, true);
      if (!got || got instanceof ErrorReply) return undefined;
      return lmoveGeneric(sctx, src, dst, from, to);
    },
  });
}

/** LMPOP / BLMPOP argument parsing (lmpopGenericCommand); numkeysAt is numkeys' index. */
function parseMpop(args: string[], numkeysAt: number): { keys: string[]; where: Where; count: number } | ErrorReply {
  const numkeys = argRange(args[numkeysAt]!, 1n, 'ERR numkeys should be greater than 0');
  if (numkeys instanceof ErrorReply) return numkeys;
  const whereAt = numkeysAt + numkeys + 1;
  if (whereAt >= args.length) return SYNTAX;
  const where = argWhere(args[whereAt]!);
  if (where instanceof ErrorReply) return where;
  let count = -1;
  for (let j = whereAt + 1; j < args.length; j++) {
    const more = args.length - 1 - j;
    if (count === -1 && args[j]!.toLowerCase() === 'count' && more > 0) {
      const c = argRange(args[++j]!, 1n, 'ERR count should be greater than 0');
      if (c instanceof ErrorReply) return c;
      count = c;
    } else {
      return SYNTAX;
    }
  }
  return { keys: args.slice(numkeysAt + 1, whereAt), where, count: count === -1 ? 1 : count };
}

// ---------------------------------------------------------------------------------- commands

export const commands: CommandModule = {
  lpush: (ctx, args) => pushGeneric(ctx, args, 'head', false),
  rpush: (ctx, args) => pushGeneric(ctx, args, 'tail', false),
  lpushx: (ctx, args) => pushGeneric(ctx, args, 'head', true),
  rpushx: (ctx, args) => pushGeneric(ctx, args, 'tail', true),
  lpop: (ctx, args) => popGeneric(ctx, args, 'head'),
  rpop: (ctx, args) => popGeneric(ctx, args, 'tail'),

  llen(ctx, args) {
    const got = getList(ctx, args[1]!, false);
    if (got instanceof ErrorReply) return got;
    return got ? got.l.length : 0;
  },

  lrange(ctx, args) {
    let start = argLong(args[2]!);
    if (start instanceof ErrorReply) return start;
    let end = argLong(args[3]!);
    if (end instanceof ErrorReply) return end;
    const got = getList(ctx, args[1]!, false);
    if (got instanceof ErrorReply) return got;
    if (!got) return [];
    const len = got.l.length;
    if (start < 0) start += len;
    if (end < 0) end += len;
    if (start < 0) start = 0;
    if (start > end || start >= len) return [];
    if (end >= len) end = len - 1;
    return ops.range(got, start, end);
  },

  lindex(ctx, args) {
    const got = getList(ctx, args[1]!, false);
    if (got instanceof ErrorReply) return got;
    if (!got) return null;
    let i = argLong(args[2]!);
    if (i instanceof ErrorReply) return i;
    const len = got.l.length;
    if (i < 0) i += len;
    if (i < 0 || i >= len) return null;
    return ops.index(got, i);
  },

  lset(ctx, args) {
    const got = getList(ctx, args[1]!, true);
    if (got instanceof ErrorReply) return got;
    if (!got) return NO_SUCH_KEY;
    let i = argLong(args[2]!);
    if (i instanceof ErrorReply) return i;
    const len = got.l.length;
    if (i < 0) i += len;
    if (i < 0 || i >= len) return OUT_OF_RANGE;
    return map(ops.setAt(got, i, args[3]!), () => OK);
  },

  linsert(ctx, args) {
    const w = args[2]!.toLowerCase();
    if (w !== 'before' && w !== 'after') return SYNTAX;
    const got = getList(ctx, args[1]!, true);
    if (got instanceof ErrorReply) return got;
    if (!got) return 0;
    return ops.insert(got, args[3]!, args[4]!, w === 'after');
  },

  lrem(ctx, args) {
    const count = argLong(args[2]!);
    if (count instanceof ErrorReply) return count;
    const got = getList(ctx, args[1]!, true);
    if (got instanceof ErrorReply) return got;
    if (!got) return 0;
    return ops.remove(got, count, args[3]!);
  },

  ltrim(ctx, args) {
    let start = argLong(args[2]!);
    if (start instanceof ErrorReply) return start;
    let end = argLong(args[3]!);
    if (end instanceof ErrorReply) return end;
    const got = getList(ctx, args[1]!, true);
    if (got instanceof ErrorReply) return got;
    if (!got) return OK;
    const len = got.l.length;
    if (start < 0) start += len;
    if (end < 0) end += len;
    if (start < 0) start = 0;
    // An empty range (start > end, or start past the end) empties the list.
    const r = start > end || start >= len ? ops.trim(got, 1, 0) : ops.trim(got, start, Math.min(end, len - 1));
    // Redis signals the key modified even when nothing was trimmed (WATCH sees it).
    ctx.server.touchKey(ctx.db, args[1]!);
    return map(r, () => OK);
  },

  lpos(ctx, args) {
    let rank = 1;
    let count = -1;
    let maxlen = 0;
    // RANK LLONG_MIN: Redis 7.0 negates it in C (it stays negative), so every match counts and
    // COUNT never stops the scan; reproduced as is.
    let minRank = false;
    for (let j = 3; j < args.length; j++) {
      const opt = args[j]!.toLowerCase();
      const more = args.length - 1 - j;
      if (opt === 'rank' && more > 0) {
        const raw = parseInt64(args[++j]!);
        if (raw === undefined) return NOT_INTEGER;
        minRank = raw === -LONG_MAX - 1n;
        const v = Number(raw);
        if (v === 0) {
          return new ErrorReply(
            "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
          );
        }
        rank = v;
      } else if (opt === 'count' && more > 0) {
        const v = argRange(args[++j]!, 0n, "ERR COUNT can't be negative");
        if (v instanceof ErrorReply) return v;
        count = v;
      } else if (opt === 'maxlen' && more > 0) {
        const v = argRange(args[++j]!, 0n, "ERR MAXLEN can't be negative");
        if (v instanceof ErrorReply) return v;
        maxlen = v;
      } else {
        return SYNTAX;
      }
    }
    const from: Where = rank < 0 ? 'tail' : 'head';
    rank = minRank ? 1 : Math.abs(rank);
    const got = getList(ctx, args[1]!, false);
    if (got instanceof ErrorReply) return got;
    if (!got) return count !== -1 ? [] : null;
    // Without COUNT only the first match (after RANK) matters.
    const want = count === -1 ? 1 : minRank ? 0 : count;
    const reply = (found: number[]): Reply => (count !== -1 ? found : (found[0] ?? null));
    if (!got.l.split) return reply(ops.positionsSync(got.l, args[2]!, from, rank, want, maxlen));
    return ops.positions(got, args[2]!, from, rank, want, maxlen).then(reply);
  },

  lmove(ctx, args) {
    const from = argWhere(args[3]!);
    if (from instanceof ErrorReply) return from;
    const to = argWhere(args[4]!);
    if (to instanceof ErrorReply) return to;
    return lmoveGeneric(ctx, args[1]!, args[2]!, from, to);
  },

  rpoplpush: (ctx, args) => lmoveGeneric(ctx, args[1]!, args[2]!, 'tail', 'head'),

  lmpop(ctx, args) {
    const p = parseMpop(args, 1);
    if (p instanceof ErrorReply) return p;
    return mpop(ctx, p.keys, p.where, p.count) ?? NullArray.instance;
  },

  blpop: (ctx, args) => blockingPop(ctx, args.slice(1, -1), 'head', args[args.length - 1]!, undefined),
  brpop: (ctx, args) => blockingPop(ctx, args.slice(1, -1), 'tail', args[args.length - 1]!, undefined),

  blmpop(ctx, args) {
    const p = parseMpop(args, 2);
    if (p instanceof ErrorReply) return p;
    return blockingPop(ctx, p.keys, p.where, args[1]!, p.count);
  },

  blmove(ctx, args) {
    const from = argWhere(args[3]!);
    if (from instanceof ErrorReply) return from;
    const to = argWhere(args[4]!);
    if (to instanceof ErrorReply) return to;
    return blmoveGeneric(ctx, args[1]!, args[2]!, from, to, args[5]!);
  },

  brpoplpush: (ctx, args) => blmoveGeneric(ctx, args[1]!, args[2]!, 'tail', 'head', args[3]!),

  /** CLIENT UNBLOCK lives with the blocking commands it ends. */
  'client|unblock'(ctx, args) {
    if (args.length > 4) return new ErrorReply("ERR unknown subcommand or wrong number of arguments for 'unblock'. Try CLIENT HELP.");
    let mode: 'timeout' | 'error' = 'timeout';
    if (args.length === 4) {
      const m = args[3]!.toLowerCase();
      if (m === 'error') mode = 'error';
      else if (m !== 'timeout') return new ErrorReply('ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR');
    }
    const id = parseInt64(args[2]!);
    if (id === undefined) return NOT_INTEGER;
    const target = ctx.server.clients.get(Number(id));
    return target ? blockingOf(ctx.server).unblock(target, mode) : 0;
  },
};
