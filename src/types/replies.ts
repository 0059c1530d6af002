/**
 * Error replies and argument parsing shared by the data command families, worded exactly as
 * Redis 7.0 words them.
 */
import { ErrorReply } from '../resp/reply.ts';
import { parseInt64 } from './numbers.ts';

export const WRONGTYPE = new ErrorReply('WRONGTYPE Operation against a key holding the wrong kind of value');
export const NOT_INTEGER = new ErrorReply('ERR value is not an integer or out of range');
export const NOT_FLOAT = new ErrorReply('ERR value is not a valid float');
export const SYNTAX = new ErrorReply('ERR syntax error');
export const OVERFLOW = new ErrorReply('ERR increment or decrement would overflow');
export const NAN_OR_INF = new ErrorReply('ERR increment would produce NaN or Infinity');
export const NO_SUCH_KEY = new ErrorReply('ERR no such key');
export const SAME_OBJECT = new ErrorReply('ERR source and destination objects are the same');
export const DB_OUT_OF_RANGE = new ErrorReply('ERR DB index is out of range');
export const INVALID_CURSOR = new ErrorReply('ERR invalid cursor');
export const TOO_BIG = new ErrorReply('ERR string exceeds maximum allowed size (proto-max-bulk-len)');

export function wrongArgs(name: string): ErrorReply {
  return new ErrorReply(`ERR wrong number of arguments for '${name}' command`);
}

export function invalidExpire(name: string): ErrorReply {
  return new ErrorReply(`ERR invalid expire time in '${name}' command`);
}

export const LLONG_MAX = 9223372036854775807n;
export const LLONG_MIN = -9223372036854775808n;
/** Largest expiry we keep exactly (the engine's varints stop at 2^53). */
export const MAX_EXPIRE_MS = Number.MAX_SAFE_INTEGER;

/** getLongLongFromObjectOrReply: a bigint, or the error reply. */
export function argInt(s: string): bigint | ErrorReply {
  const v = parseInt64(s);
  return v === undefined ? NOT_INTEGER : v;
}

/** getIntFromObjectOrReply (32-bit). */
export function argInt32(s: string, msg?: string): number | ErrorReply {
  const v = parseInt64(s);
  if (v === undefined || v > 2147483647n || v < -2147483648n) return msg ? new ErrorReply(`ERR ${msg}`) : NOT_INTEGER;
  return Number(v);
}

/** Clamp a bigint ms timestamp into the range we store. */
export function toExpireMs(v: bigint): number {
  if (v > BigInt(MAX_EXPIRE_MS)) return MAX_EXPIRE_MS;
  return Number(v);
}

/** Redis's parseScanCursorOrReply (strtoul, no leading space, must consume everything). */
export function parseCursor(s: string): bigint | ErrorReply {
  if (!/^[+-]?[0-9]+$/.test(s)) return INVALID_CURSOR;
  let v = BigInt(s);
  if (v < 0n) {
    if (-v > 18446744073709551615n) return INVALID_CURSOR;
    v = 18446744073709551616n + v; // strtoul negates in unsigned arithmetic
  }
  if (v > 18446744073709551615n) return INVALID_CURSOR;
  return v;
}

/** V8's longest string; strings are held as JS strings, so this caps every value. */
const MAX_JS_STRING = 536_870_888;

/** The configured proto-max-bulk-len (or Redis's default), capped by MAX_JS_STRING. */
export function protoMaxBulkLen(server: unknown): number {
  let v = 512 * 1024 * 1024;
  try {
    const cfg = (server as { config?: { num(n: string): number } }).config;
    const c = cfg?.num('proto-max-bulk-len');
    if (c !== undefined && Number.isFinite(c) && c > 0) v = c;
  } catch {
    // keep the default
  }
  return Math.min(v, MAX_JS_STRING);
}
