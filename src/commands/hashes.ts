/** Hash commands (Redis t_hash.c semantics, replies and errors). */
import { globMatch } from '../util/glob.ts';
import { ErrorReply, MapReply, OK, type Reply } from '../resp/reply.ts';
import { readHash, writeHash } from '../types/access.ts';
import { formatLongDoubleHuman, intReply, ldAdd, ldFromBigInt, parseInt64, parseLongDouble } from '../types/numbers.ts';
import {
  argInt,
  LLONG_MAX,
  LLONG_MIN,
  NAN_OR_INF,
  OVERFLOW,
  parseCursor,
  SYNTAX,
  wrongArgs,
} from '../types/replies.ts';
import { type Entry, HashValue } from '../types/values.ts';
import { parseScanOpts } from '../types/set-args.ts';
import type { CommandModule, ExecContext } from './types.ts';

const LONG_MAX = 9223372036854775807n;

/** Sets pairs from args[from..] on a hash (creating it); returns the number of new fields. */
function setPairs(ctx: ExecContext, key: string, args: string[], from: number): number | ErrorReply {
  const got = writeHash(ctx, key);
  if (got instanceof ErrorReply) return got;
  // hashTypeTryConversion: any long argument converts, even if a later pair overwrites it.
  const max = ctx.keyspace.hashMaxListpackValue;
  let long = false;
  for (let i = from; i < args.length; i++) if (args[i]!.length > max) long = true;
  let added = 0;
  if (!got) {
    const h = new HashValue();
    for (let i = from; i < args.length; i += 2) if (h.set(args[i]!, args[i + 1]!)) added++;
    ctx.keyspace.set(ctx.db, key, h, 0, { split: long });
    return added;
  }
  const changed: string[] = [];
  for (let i = from; i < args.length; i += 2) {
    if (got.h.set(args[i]!, args[i + 1]!)) added++;
    changed.push(args[i]!);
  }
  ctx.keyspace.hashChanged(ctx.db, key, got.e, changed, long);
  return added;
}

/** Sets one field (HSETNX, HINCRBY*), creating the hash if needed. */
function setField(ctx: ExecContext, key: string, got: { e: Entry; h: HashValue } | undefined, field: string, value: string): void {
  if (!got) {
    const nh = new HashValue();
    nh.set(field, value);
    ctx.keyspace.set(ctx.db, key, nh);
    return;
  }
  got.h.set(field, value);
  ctx.keyspace.hashChanged(ctx.db, key, got.e, [field]);
}

function pairsReply(ctx: ExecContext, pairs: [string, string][], withvalues: boolean): Reply {
  if (!withvalues) return pairs.map((p) => p[0]);
  if (ctx.client.resp === 3) return pairs.map((p) => [p[0], p[1]]);
  return pairs.flat();
}

function hrandfield(ctx: ExecContext, args: string[]): Reply {
  if (args.length === 2) {
    const got = readHash(ctx, args[1]!);
    if (got instanceof ErrorReply) return got;
    if (!got) return null;
    const keys = [...got.h.map.keys()];
    return keys[Math.floor(Math.random() * keys.length)]!;
  }
  const l = parseInt64(args[2]!);
  if (l === undefined) return new ErrorReply('ERR value is not an integer or out of range');
  if (l < -LONG_MAX) {
    return new ErrorReply('ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807');
  }
  let withvalues = false;
  if (args.length === 4 && args[3]!.toLowerCase() === 'withvalues') withvalues = true;
  else if (args.length >= 4) return SYNTAX;
  if (withvalues && l < -LONG_MAX / 2n) return new ErrorReply('ERR value is out of range');
  const got = readHash(ctx, args[1]!);
  if (got instanceof ErrorReply) return got;
  if (!got) return [];
  const entries = [...got.h.map.entries()];
  const size = entries.length;
  if (l === 0n) return [];
  if (l < 0n) {
    // Repetitions allowed: count independent picks.
    const count = Number(-l);
    if (count > 100_000_000) return new ErrorReply('ERR value is out of range');
    const out: [string, string][] = [];
    for (let i = 0; i < count; i++) out.push(entries[Math.floor(Math.random() * size)]!);
    return pairsReply(ctx, out, withvalues);
  }
  if (l >= BigInt(size)) return pairsReply(ctx, entries, withvalues);
  // Distinct fields: partial Fisher-Yates shuffle.
  const count = Number(l);
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(Math.random() * (size - i));
    [entries[i], entries[j]] = [entries[j]!, entries[i]!];
  }
  return pairsReply(ctx, entries.slice(0, count), withvalues);
}

async function hscan(ctx: ExecContext, args: string[]): Promise<Reply> {
  const cur = parseCursor(args[2]!);
  if (cur instanceof ErrorReply) return cur;
  const key = args[1]!;
  const got = readHash(ctx, key);
  if (got instanceof ErrorReply) return got;
  if (!got) return ['0', []];
  const opts = parseScanOpts(args, 3);
  if (opts instanceof ErrorReply) return opts;
  const { count, pattern } = opts;
  const h = got.h;
  const keep = (f: string) => pattern === undefined || globMatch(pattern, f);
  if (h.version === 0) {
    // Small (listpack) hashes are returned whole, like Redis.
    const out: string[] = [];
    for (const [f, v] of h.map) if (keep(f)) out.push(f, v);
    return ['0', out];
  }
  const after = cur === 0n ? undefined : ctx.keyspace.cursorPosition(cur.toString());
  const page = await ctx.keyspace.scanElements(ctx.db, key, h.version, after, count);
  const out: string[] = [];
  for (const [f, v] of page.items) if (keep(f)) out.push(f, v);
  const next = page.done ? '0' : ctx.keyspace.newCursor(page.items[page.items.length - 1]![0]);
  return [next, out];
}

export const commands: CommandModule = {
  hset(ctx, args) {
    if (args.length % 2 === 1) return wrongArgs('hset');
    return setPairs(ctx, args[1]!, args, 2);
  },

  hmset(ctx, args) {
    if (args.length % 2 === 1) return wrongArgs('hmset');
    const r = setPairs(ctx, args[1]!, args, 2);
    return r instanceof ErrorReply ? r : OK;
  },

  hsetnx(ctx, args) {
    const got = writeHash(ctx, args[1]!);
    if (got instanceof ErrorReply) return got;
    if (got && got.h.get(args[2]!) !== undefined) return 0;
    setField(ctx, args[1]!, got, args[2]!, args[3]!);
    return 1;
  },

  hget(ctx, args) {
    const got = readHash(ctx, args[1]!);
    if (got instanceof ErrorReply) return got;
    return got?.h.get(args[2]!) ?? null;
  },

  hmget(ctx, args) {
    const got = readHash(ctx, args[1]!);
    if (got instanceof ErrorReply) return got;
    const out: Reply[] = [];
    for (let i = 2; i < args.length; i++) out.push(got?.h.get(args[i]!) ?? null);
    return out;
  },

  hdel(ctx, args) {
    const got = writeHash(ctx, args[1]!);
    if (got instanceof ErrorReply) return got;
    if (!got) return 0;
    const changed: string[] = [];
    for (let i = 2; i < args.length; i++) if (got.h.delete(args[i]!)) changed.push(args[i]!);
    if (changed.length > 0) ctx.keyspace.hashChanged(ctx.db, args[1]!, got.e, changed);
    return changed.length;
  },

  hlen(ctx, args) {
    const got = readHash(ctx, args[1]!);
    if (got instanceof ErrorReply) return got;
    return got ? got.h.size : 0;
  },

  hstrlen(ctx, args) {
    const got = readHash(ctx, args[1]!);
    if (got instanceof ErrorReply) return got;
    return got?.h.get(args[2]!)?.length ?? 0;
  },

  hexists(ctx, args) {
    const got = readHash(ctx, args[1]!);
    if (got instanceof ErrorReply) return got;
    return got && got.h.get(args[2]!) !== undefined ? 1 : 0;
  },

  hkeys(ctx, args) {
    const got = readHash(ctx, args[1]!);
    if (got instanceof ErrorReply) return got;
    return got ? [...got.h.map.keys()] : [];
  },

  hvals(ctx, args) {
    const got = readHash(ctx, args[1]!);
    if (got instanceof ErrorReply) return got;
    return got ? [...got.h.map.values()] : [];
  },

  hgetall(ctx, args) {
    const got = readHash(ctx, args[1]!);
    if (got instanceof ErrorReply) return got;
    return new MapReply(got ? [...got.h.map.entries()] : []);
  },

  hincrby(ctx, args) {
    const incr = argInt(args[3]!);
    if (incr instanceof ErrorReply) return incr;
    const got = writeHash(ctx, args[1]!);
    if (got instanceof ErrorReply) return got;
    const cur = got?.h.get(args[2]!);
    let value = 0n;
    if (cur !== undefined) {
      const v = parseInt64(cur);
      if (v === undefined) return new ErrorReply('ERR hash value is not an integer');
      value = v;
    }
    const next = value + incr;
    if (next > LLONG_MAX || next < LLONG_MIN) return OVERFLOW;
    setField(ctx, args[1]!, got, args[2]!, next.toString());
    return intReply(next);
  },

  hincrbyfloat(ctx, args) {
    const incr = parseLongDouble(args[3]!);
    if (!incr) return new ErrorReply('ERR value is not a valid float');
    if (incr.kind !== 'f') return new ErrorReply('ERR value is NaN or Infinity');
    const got = writeHash(ctx, args[1]!);
    if (got instanceof ErrorReply) return got;
    const cur = got?.h.get(args[2]!);
    let value = ldFromBigInt(0n);
    if (cur !== undefined) {
      const v = parseLongDouble(cur);
      if (!v) return new ErrorReply('ERR hash value is not a float');
      value = v;
    }
    const next = ldAdd(value, incr);
    if (next.kind !== 'f') return NAN_OR_INF;
    const s = formatLongDoubleHuman(next);
    setField(ctx, args[1]!, got, args[2]!, s);
    return s;
  },

  hrandfield,
  hscan,
};
