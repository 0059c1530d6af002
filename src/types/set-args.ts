/**
 * Argument parsing shared by the set, sorted-set and geo commands, with Redis 7.0's wording
 * (getRangeLongFromObjectOrReply and friends, SCAN options).
 */
import { ErrorReply } from '../resp/reply.ts';
import { parseInt64 } from './numbers.ts';
import { NOT_INTEGER, SYNTAX } from './replies.ts';

export const LONG_MAX = 9223372036854775807n;

/** getLongFromObjectOrReply with an optional custom message. */
export function argLong(s: string, msg?: string): bigint | ErrorReply {
  const v = parseInt64(s);
  if (v === undefined) return msg ? new ErrorReply(`ERR ${msg}`) : NOT_INTEGER;
  return v;
}

/** getRangeLongFromObjectOrReply. */
export function argRangeLong(s: string, min: bigint, max: bigint, msg?: string): bigint | ErrorReply {
  const v = argLong(s, msg);
  if (v instanceof ErrorReply) return v;
  if (v < min || v > max) return new ErrorReply(msg ? `ERR ${msg}` : `ERR value is out of range, value must between ${min} and ${max}`);
  return v;
}

/** getPositiveLongFromObjectOrReply. */
export function argPositiveLong(s: string, msg = 'value is out of range, must be positive'): bigint | ErrorReply {
  return argRangeLong(s, 0n, LONG_MAX, msg);
}

/** A bigint count as a JS number (callers bound it by a collection size or a limit first). */
export function num(v: bigint): number {
  return Number(v);
}

/** Most elements a random-with-repetitions reply may hold (Redis has no bound; we keep one). */
export const MAX_RANDOM_COUNT = 100_000_000;

export interface ScanOpts {
  count: number;
  pattern: string | undefined;
}

/** SSCAN/ZSCAN options (scanGenericCommand): COUNT >= 1, MATCH. */
export function parseScanOpts(args: string[], from: number): ScanOpts | ErrorReply {
  let count = 10;
  let pattern: string | undefined;
  for (let i = from; i < args.length; ) {
    const opt = args[i]!.toLowerCase();
    const left = args.length - i;
    if (opt === 'count' && left >= 2) {
      const v = parseInt64(args[i + 1]!);
      if (v === undefined) return NOT_INTEGER;
      if (v < 1n) return SYNTAX;
      count = v > 1_000_000n ? 1_000_000 : Number(v);
      i += 2;
    } else if (opt === 'match' && left >= 2) {
      pattern = args[i + 1] === '*' ? undefined : args[i + 1];
      i += 2;
    } else {
      return SYNTAX;
    }
  }
  return { count, pattern };
}
