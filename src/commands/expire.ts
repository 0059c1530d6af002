/** Expiry commands (Redis expire.c semantics, replies and errors). */
import { ErrorReply, type Reply } from '../resp/reply.ts';
import { writeKey } from '../types/access.ts';
import { intReply, parseInt64 } from '../types/numbers.ts';
import { invalidExpire, LLONG_MAX, LLONG_MIN, NOT_INTEGER, toExpireMs } from '../types/replies.ts';
import type { CommandModule, ExecContext, Handler } from './types.ts';

const NX = 1;
const XX = 2;
const GT = 4;
const LT = 8;

function parseFlags(args: string[]): number | ErrorReply {
  let flags = 0;
  for (let j = 3; j < args.length; j++) {
    const opt = args[j]!.toLowerCase();
    if (opt === 'nx') flags |= NX;
    else if (opt === 'xx') flags |= XX;
    else if (opt === 'gt') flags |= GT;
    else if (opt === 'lt') flags |= LT;
    else return new ErrorReply(`ERR Unsupported option ${args[j]!}`);
  }
  if (flags & NX && flags & (XX | GT | LT)) {
    return new ErrorReply('ERR NX and XX, GT or LT options at the same time are not compatible');
  }
  if (flags & GT && flags & LT) return new ErrorReply('ERR GT and LT options at the same time are not compatible');
  return flags;
}

/** expireGenericCommand: basetime is now (relative) or 0 (absolute). */
function expireGeneric(name: string, relative: boolean, seconds: boolean): Handler {
  return (ctx: ExecContext, args: string[]): Reply => {
    const flags = parseFlags(args);
    if (flags instanceof ErrorReply) return flags;
    const raw = parseInt64(args[2]!);
    if (raw === undefined) return NOT_INTEGER;
    let when = raw;
    if (seconds) {
      if (when > LLONG_MAX / 1000n || when < LLONG_MIN / 1000n) return invalidExpire(name);
      when *= 1000n;
    }
    const base = relative ? BigInt(ctx.now) : 0n;
    if (when > LLONG_MAX - base) return invalidExpire(name);
    when += base;
    const key = args[1]!;
    const e = writeKey(ctx, key);
    if (!e) return 0;
    if (flags) {
      const current = e.expireAt === 0 ? -1n : BigInt(e.expireAt);
      if (flags & NX && current !== -1n) return 0;
      if (flags & XX && current === -1n) return 0;
      if (flags & GT && (when <= current || current === -1n)) return 0;
      if (flags & LT && current !== -1n && when >= current) return 0;
    }
    if (when <= BigInt(ctx.now)) {
      ctx.keyspace.delete(ctx.db, key, ctx.now);
      return 1;
    }
    ctx.keyspace.setExpire(ctx.db, key, toExpireMs(when));
    return 1;
  };
}

/** ttlGenericCommand. */
function ttlGeneric(ms: boolean, absolute: boolean): Handler {
  return (ctx: ExecContext, args: string[]): Reply => {
    const e = ctx.keyspace.lookup(ctx.db, args[1]!, ctx.now, false);
    if (!e) return -2;
    if (e.expireAt === 0) return -1;
    let ttl = absolute ? e.expireAt : e.expireAt - ctx.now;
    if (ttl < 0) ttl = 0;
    return intReply(BigInt(ms ? ttl : Math.floor((ttl + 500) / 1000)));
  };
}

export const commands: CommandModule = {
  expire: expireGeneric('expire', true, true),
  pexpire: expireGeneric('pexpire', true, false),
  expireat: expireGeneric('expireat', false, true),
  pexpireat: expireGeneric('pexpireat', false, false),
  ttl: ttlGeneric(false, false),
  pttl: ttlGeneric(true, false),
  expiretime: ttlGeneric(false, true),
  pexpiretime: ttlGeneric(true, true),

  persist(ctx, args) {
    const e = writeKey(ctx, args[1]!);
    if (!e || e.expireAt === 0) return 0;
    ctx.keyspace.setExpire(ctx.db, args[1]!, 0);
    return 1;
  },
};
