/**
 * Typed key access for command handlers: Redis's lookupKeyRead/Write plus checkType, with the
 * keyspace hit/miss counters INFO reports.
 */
import type { ExecContext } from '../commands/types.ts';
import type { ErrorReply } from '../resp/reply.ts';
import { WRONGTYPE } from './replies.ts';
import { type Entry, HashValue } from './values.ts';

function countHit(ctx: ExecContext, hit: boolean): void {
  const stats = (ctx.server as { stats?: { keyspaceHits: number; keyspaceMisses: number } } | undefined)?.stats;
  if (!stats) return;
  if (hit) stats.keyspaceHits++;
  else stats.keyspaceMisses++;
}

/** lookupKeyRead: touches the key and counts a hit or miss. */
export function readKey(ctx: ExecContext, key: string): Entry | undefined {
  const e = ctx.keyspace.lookup(ctx.db, key, ctx.now);
  countHit(ctx, e !== undefined);
  return e;
}

/** lookupKeyWrite: touches the key, no hit/miss accounting. */
export function writeKey(ctx: ExecContext, key: string): Entry | undefined {
  return ctx.keyspace.lookup(ctx.db, key, ctx.now);
}

/** A string value for reading: undefined when missing, WRONGTYPE for other types. */
export function readString(ctx: ExecContext, key: string): { e: Entry; v: string } | undefined | ErrorReply {
  const e = readKey(ctx, key);
  if (!e) return undefined;
  if (typeof e.value !== 'string') return WRONGTYPE;
  return { e, v: e.value };
}

export function readHash(ctx: ExecContext, key: string): { e: Entry; h: HashValue } | undefined | ErrorReply {
  const e = readKey(ctx, key);
  if (!e) return undefined;
  if (!(e.value instanceof HashValue)) return WRONGTYPE;
  return { e, h: e.value };
}

export function writeHash(ctx: ExecContext, key: string): { e: Entry; h: HashValue } | undefined | ErrorReply {
  const e = writeKey(ctx, key);
  if (!e) return undefined;
  if (!(e.value instanceof HashValue)) return WRONGTYPE;
  return { e, h: e.value };
}
