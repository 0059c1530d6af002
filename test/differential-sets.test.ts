/**
 * Differential test for sets, sorted sets and geo: the same long, seeded, random command
 * sequence goes to a real redis-server 7 and to a real Shale process, and every reply must be
 * identical, except unordered replies (SMEMBERS, SINTER...: sorted before comparing) and
 * random ones (SPOP, SRANDMEMBER, ZRANDMEMBER: checked by property against the set's content,
 * after which SPOP's key is rewritten identically on both sides).
 *
 * The encoding thresholds are lowered on both servers (CONFIG SET), so collections cross
 * between inline and split forms all the time, and OBJECT ENCODING is compared too.
 *
 *   SHALE_DIFF_SEED=1234 npx vitest run test/differential-sets.test.ts    # replay a seed
 *   SHALE_DIFF_STEPS=50000 ...                                             # longer run
 *   SHALE_DIFF_CHECK=1 ...                        # compare touched keys after every command
 */
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveRedisServer, type Raw, RawClient, RedisReference } from './support/redis-reference.ts';
import { ShaleProcess } from './support/shale-server.ts';
import { Gen } from './support/gen.ts';

const SEED = Number(process.env.SHALE_DIFF_SEED ?? Math.floor(Math.random() * 2 ** 31));
const STEPS = Number(process.env.SHALE_DIFF_STEPS ?? 9000);
/** SHALE_DIFF_CHECK=1: after each command, compare the content of the keys it named (slow). */
const CHECK = process.env.SHALE_DIFF_CHECK === '1';

/** Thresholds small enough that collections cross between inline and split forms often. */
const CONF = ['--set-max-intset-entries', '12', '--zset-max-listpack-entries', '10', '--zset-max-listpack-value', '12'];

const SETS = ['s0', 's1', 's2', 's3'];
const ZSETS = ['z0', 'z1', 'z2', 'z3'];
/** Sorted sets whose scores are all 0, for the lexicographic commands. */
const LEX = ['zl0', 'zl1'];
const GEOS = ['g0', 'g1'];
const DSTS = ['d0', 'd1'];
const OTHER = ['str', 'h', 'nokey'];
const ALL = [...SETS, ...ZSETS, ...LEX, ...GEOS, ...DSTS, ...OTHER];

const MEMBERS = [
  '0', '1', '2', '3', '10', '-5', '42', '007', '9223372036854775807', '-9223372036854775808', '18446744073709551616',
  'a', 'b', 'c', 'd', 'e', 'f', 'g', 'hello', 'x'.repeat(20), '\x00\xff', '', ' 1',
];
const SCORES = [
  '0', '1', '-1', '2', '2.5', '-0', 'inf', '-inf', '+inf', '1e300', '-1e300', '0.1', '0.2', '3', '10', '100', '-2.5',
  '1e-320', '0x10', '.5', '5.', '+5', '-.5', '12345678901234567890123', '0.30000000000000004',
];
const BAD_SCORES = ['abc', 'nan', '1e5000', ' 2', '', '1e-400', '0x', '--1', '.', '-', '+', '1.2.3', '2 '];
const SCORE_BOUNDS = [
  '-inf', '+inf', 'inf', '0', '1', '(1', '(0', '2.5', '(2.5', '-1', '(-1', '10', '(10', '1e300', '(inf', '(-inf', '-0', '(-0', '0.1',
];
const BAD_BOUNDS = ['abc', '(abc', 'nan', '((1', '1x'];
const LEX_BOUNDS = ['-', '+', '[a', '(a', '[b', '(c', '[m', '(z', '[', '(', '[x', '[\x00', '(m5', '[m17', '(m', '[m3'];
const BAD_LEX = ['a', '+x', '-x', '', '*'];
const INDEXES = ['0', '1', '2', '-1', '-2', '-3', '5', '10', '-100', '100', '3'];

function member(g: Gen): string {
  return g.chance(0.15) ? `m${g.int(0, 40)}` : g.pick(MEMBERS);
}

/** Any key but the equal-score ones (a random ZADD there would break ZRANGEBYLEX's premise). */
const ANY = ALL.filter((k) => !LEX.includes(k));

function familyKey(g: Gen, family: string[]): string {
  return g.chance(0.08) ? g.pick(ANY) : g.pick(family);
}

function score(g: Gen): string {
  return g.chance(0.04) ? g.pick(BAD_SCORES) : g.pick(SCORES);
}

function bound(g: Gen): string {
  return g.chance(0.04) ? g.pick(BAD_BOUNDS) : g.pick(SCORE_BOUNDS);
}

function lexBound(g: Gen): string {
  return g.chance(0.04) ? g.pick(BAD_LEX) : g.pick(LEX_BOUNDS);
}

type Cmd = string[];

/** Many members at once, all integers or not, so a set crosses the intset/inline limits. */
function bulkMembers(g: Gen): string[] {
  const base = g.int(0, 30);
  const n = g.int(8, 30);
  const ints = g.chance(0.5);
  return Array.from({ length: n }, (_, i) => (ints ? String(base + i) : `m${base + i}`));
}

function setCmd(g: Gen): Cmd {
  const k = familyKey(g, SETS);
  const keys = () => g.some([...SETS, ...(g.chance(0.1) ? OTHER : [])], 1, 3);
  switch (g.int(0, 24)) {
    case 0:
    case 1:
      return ['SADD', k, ...g.some(MEMBERS, 1, 4)];
    case 2:
      return ['SADD', k, ...bulkMembers(g)];
    case 3:
      return ['SREM', k, ...g.some(MEMBERS, 1, 4)];
    case 4:
      return ['SREM', k, ...bulkMembers(g)];
    case 5:
      return ['SMOVE', k, familyKey(g, SETS), member(g)];
    case 6:
      return ['SISMEMBER', k, member(g)];
    case 7:
      return ['SMISMEMBER', k, member(g), member(g), member(g)];
    case 8:
      return ['SCARD', k];
    case 9:
      return ['SMEMBERS', k];
    case 10: {
      const c = ['SRANDMEMBER', k];
      if (g.chance(0.8)) c.push(g.pick(['0', '1', '2', '5', '-3', '40', '-40', 'x', '-9223372036854775808']));
      if (g.chance(0.03)) c.push('extra');
      return c;
    }
    case 11: {
      const c = ['SPOP', k];
      if (g.chance(0.7)) c.push(g.pick(['0', '1', '2', '3', '10', '40', '-1', 'x']));
      return c;
    }
    case 12:
      return ['SINTER', ...keys()];
    case 13:
      return ['SUNION', ...keys()];
    case 14:
      return ['SDIFF', ...keys()];
    case 15:
      return [g.pick(['SINTERSTORE', 'SUNIONSTORE', 'SDIFFSTORE']), g.pick([...DSTS, ...SETS]), ...keys()];
    case 16: {
      const ks = keys();
      const c = ['SINTERCARD', g.chance(0.9) ? String(ks.length) : g.pick(['0', '-1', 'x', '9']), ...ks];
      if (g.chance(0.4)) c.push('LIMIT', g.pick(['0', '1', '2', '-1', 'x']));
      if (g.chance(0.03)) c.push('BAD');
      return c;
    }
    case 17: {
      const c = ['#SSCAN', k];
      if (g.chance(0.3)) c.push('MATCH', g.pick(['*', 'm*', '1*', '?', 'a']));
      if (g.chance(0.3)) c.push('COUNT', g.pick(['1', '3', '100', '0', 'x']));
      return c;
    }
    case 18:
      return ['OBJECT', 'ENCODING', k];
    case 19:
      return ['SADD', k, ...g.some(['1', '2', '3', '4', '5', '-7', '100'], 1, 5)];
    default:
      return ['SMEMBERS', k];
  }
}

function zaddOpts(g: Gen): string[] {
  const out: string[] = [];
  for (const o of g.some(['NX', 'XX', 'GT', 'LT', 'CH', 'INCR', 'ch'], 0, 2)) out.push(o);
  return out;
}

function rangeOpts(g: Gen, store: boolean): string[] {
  const out: string[] = [];
  if (!store && g.chance(0.4)) out.push('WITHSCORES');
  if (g.chance(0.3)) out.push('LIMIT', g.pick(['0', '1', '2', '-1', '5']), g.pick(['1', '2', '-1', '0', '10']));
  return out;
}

function zsetCmd(g: Gen): Cmd {
  const k = familyKey(g, ZSETS);
  const srcKeys = () => g.some([...ZSETS, ...SETS, ...LEX, ...(g.chance(0.1) ? OTHER : [])], 1, 3);
  switch (g.int(0, 44)) {
    case 0:
    case 1:
    case 2: {
      const c = ['ZADD', k, ...zaddOpts(g)];
      const n = g.int(1, 3);
      for (let i = 0; i < n; i++) c.push(score(g), member(g));
      if (g.chance(0.03)) c.push('dangling');
      return c;
    }
    case 3: {
      const c = ['ZADD', k];
      for (const m of bulkMembers(g)) c.push(g.pick(SCORES), m);
      return c;
    }
    case 4:
      return ['ZINCRBY', k, score(g), member(g)];
    case 5:
      return ['ZREM', k, ...g.some(MEMBERS, 1, 4)];
    case 6:
      return ['ZCARD', k];
    case 7:
      return ['ZSCORE', k, member(g)];
    case 8:
      return ['ZMSCORE', k, member(g), member(g)];
    case 9:
      return [g.pick(['ZRANK', 'ZREVRANK']), k, member(g)];
    case 10:
      return ['ZCOUNT', k, bound(g), bound(g)];
    case 11:
    case 12: {
      const c = ['ZRANGE', k, g.pick(INDEXES), g.pick(INDEXES)];
      if (g.chance(0.3)) c.push('REV');
      if (g.chance(0.4)) c.push('WITHSCORES');
      if (g.chance(0.05)) c.push('LIMIT', '0', '1');
      return c;
    }
    case 13:
    case 14: {
      const c = ['ZRANGE', k, bound(g), bound(g), 'BYSCORE'];
      if (g.chance(0.4)) c.push('REV');
      return [...c, ...rangeOpts(g, false)];
    }
    case 15:
      return [g.pick(['ZRANGEBYSCORE', 'ZREVRANGEBYSCORE']), k, bound(g), bound(g), ...rangeOpts(g, false)];
    case 16:
      return ['ZREVRANGE', k, g.pick(INDEXES), g.pick(INDEXES), ...(g.chance(0.5) ? ['WITHSCORES'] : [])];
    case 17: {
      const c = ['ZRANGESTORE', g.pick([...DSTS, ...ZSETS]), k];
      const kind = g.int(0, 2);
      if (kind === 0) c.push(g.pick(INDEXES), g.pick(INDEXES));
      else c.push(bound(g), bound(g), 'BYSCORE');
      if (g.chance(0.3)) c.push('REV');
      if (kind > 0 && g.chance(0.3)) c.push('LIMIT', g.pick(['0', '1']), g.pick(['1', '3', '-1']));
      return c;
    }
    case 18:
      return ['ZREMRANGEBYRANK', k, g.pick(INDEXES), g.pick(INDEXES)];
    case 19:
      return ['ZREMRANGEBYSCORE', k, bound(g), bound(g)];
    case 20: {
      const c = [g.pick(['ZPOPMIN', 'ZPOPMAX']), k];
      if (g.chance(0.6)) c.push(g.pick(['0', '1', '2', '5', '-1', 'x', '100']));
      return c;
    }
    case 21: {
      const ks = g.some([...ZSETS, 'nokey', ...(g.chance(0.1) ? ['str'] : [])], 1, 3);
      const c = ['ZMPOP', g.chance(0.9) ? String(ks.length) : g.pick(['0', 'x', '5']), ...ks, g.pick(['MIN', 'MAX', 'min', 'BAD'])];
      if (g.chance(0.5)) c.push('COUNT', g.pick(['1', '2', '10', '0', '-1']));
      return c;
    }
    case 22:
    case 23:
    case 24: {
      const op = g.pick(['ZUNION', 'ZINTER', 'ZDIFF']);
      const ks = srcKeys();
      const c = [op, g.chance(0.92) ? String(ks.length) : g.pick(['0', '-1', 'x', '9']), ...ks];
      if (op !== 'ZDIFF' && g.chance(0.4)) c.push('WEIGHTS', ...ks.map(() => g.pick(['1', '2', '0', '-1', '0.5', 'inf', '-inf', 'x'])));
      if (op !== 'ZDIFF' && g.chance(0.4)) c.push('AGGREGATE', g.pick(['SUM', 'MIN', 'MAX', 'max', 'BAD']));
      if (g.chance(0.5)) c.push('WITHSCORES');
      return c;
    }
    case 25:
    case 26: {
      const op = g.pick(['ZUNIONSTORE', 'ZINTERSTORE', 'ZDIFFSTORE']);
      const ks = srcKeys();
      const c = [op, g.pick([...DSTS, ...ZSETS]), g.chance(0.95) ? String(ks.length) : g.pick(['0', 'x']), ...ks];
      if (op !== 'ZDIFFSTORE' && g.chance(0.4)) c.push('WEIGHTS', ...ks.map(() => g.pick(['1', '2', '0', '-1', '0.5', 'inf'])));
      if (op !== 'ZDIFFSTORE' && g.chance(0.4)) c.push('AGGREGATE', g.pick(['SUM', 'MIN', 'MAX']));
      if (g.chance(0.03)) c.push('WITHSCORES');
      return c;
    }
    case 27: {
      const ks = srcKeys();
      const c = ['ZINTERCARD', g.chance(0.95) ? String(ks.length) : g.pick(['0', 'x']), ...ks];
      if (g.chance(0.4)) c.push('LIMIT', g.pick(['0', '1', '2', '-1']));
      return c;
    }
    case 28: {
      const c = ['ZRANDMEMBER', k];
      if (g.chance(0.8)) c.push(g.pick(['0', '1', '2', '5', '-3', '40', '-40', 'x']));
      if (c.length === 3 && g.chance(0.4)) c.push(g.pick(['WITHSCORES', 'withscores', 'BAD']));
      return c;
    }
    case 29: {
      const c = ['#ZSCAN', k];
      if (g.chance(0.3)) c.push('MATCH', g.pick(['*', 'm*', '1*', '?']));
      if (g.chance(0.3)) c.push('COUNT', g.pick(['1', '3', '100']));
      return c;
    }
    case 30:
      return ['OBJECT', 'ENCODING', k];
    case 31:
      return ['ZADD', k, 'GT', 'CH', score(g), member(g), score(g), member(g)];
    // Lexicographic commands, on sorted sets whose scores are all equal.
    case 32:
    case 33: {
      const lk = g.pick(LEX);
      return ['ZADD', lk, ...g.some(['a', 'b', 'c', 'm', 'x', 'z', 'm1', 'm22', '\x00'], 1, 3).flatMap((m) => ['0', m])];
    }
    case 34: {
      const lk = g.pick(LEX);
      const base = g.int(0, 20);
      return ['ZADD', lk, ...Array.from({ length: g.int(5, 15) }, (_, i) => ['0', `m${base + i}`]).flat()];
    }
    case 35:
    case 36: {
      const c = [g.pick(['ZRANGEBYLEX', 'ZREVRANGEBYLEX']), g.pick(LEX), lexBound(g), lexBound(g)];
      if (g.chance(0.3)) c.push('LIMIT', g.pick(['0', '1', '2', '-1']), g.pick(['1', '3', '-1', '0']));
      if (g.chance(0.03)) c.push('WITHSCORES');
      return c;
    }
    case 37: {
      const c = ['ZRANGE', g.pick(LEX), lexBound(g), lexBound(g), 'BYLEX'];
      if (g.chance(0.4)) c.push('REV');
      if (g.chance(0.3)) c.push('LIMIT', g.pick(['0', '1', '2']), g.pick(['1', '3', '-1']));
      return c;
    }
    case 38:
      return ['ZLEXCOUNT', g.pick(LEX), lexBound(g), lexBound(g)];
    case 39:
      return ['ZREMRANGEBYLEX', g.pick(LEX), lexBound(g), lexBound(g)];
    case 40:
      return ['ZRANGESTORE', g.pick(DSTS), g.pick(LEX), lexBound(g), lexBound(g), 'BYLEX', ...(g.chance(0.3) ? ['REV'] : [])];
    case 41:
      return [g.pick(['ZRANK', 'ZREVRANK', 'ZSCORE']), g.pick(LEX), g.pick(['a', 'm', 'm5', 'z', 'nope'])];
    case 42:
      return [g.pick(['ZPOPMIN', 'ZPOPMAX']), g.pick(LEX), g.pick(['1', '2'])];
    default:
      return ['ZRANGE', k, '0', '-1', 'WITHSCORES'];
  }
}

/** A coordinate near Sicily (so searches find things), sometimes anywhere or invalid. */
function lon(g: Gen): string {
  if (g.chance(0.03)) return g.pick(['180', '-180', '180.1', 'x', '0', '-179.999999']);
  return (12 + g.r() * 4).toFixed(g.int(1, 6));
}

function lat(g: Gen): string {
  if (g.chance(0.03)) return g.pick(['85.05112878', '-85.05112878', '85.06', '90', 'nan', '0']);
  return (36.5 + g.r() * 2.5).toFixed(g.int(1, 6));
}

function geoMember(g: Gen): string {
  return g.chance(0.9) ? `p${g.int(0, 30)}` : member(g);
}

function unit(g: Gen): string {
  return g.pick(['m', 'km', 'km', 'ft', 'mi', 'KM', 'yd']);
}

function radius(g: Gen): string {
  return g.chance(0.05) ? g.pick(['-1', 'x', '0']) : g.pick(['50', '100', '150', '300', '100000', '1']);
}

function geoOpts(g: Gen, store: boolean): string[] {
  const out: string[] = [];
  if (!store || g.chance(0.05)) for (const o of g.some(['WITHDIST', 'WITHCOORD', 'WITHHASH'], 0, 3)) out.push(o);
  if (g.chance(0.4)) out.push(g.pick(['ASC', 'DESC']));
  if (g.chance(0.4)) {
    out.push('COUNT', g.pick(['1', '2', '3', '5', '0', 'x']));
    if (g.chance(0.3)) out.push('ANY');
  } else if (g.chance(0.03)) {
    out.push('ANY');
  }
  return out;
}

/**
 * Where STOREDIST writes: distances are computed with sin/cos/asin, whose last bit can differ
 * from glibc's (src/types/zset-geomath.ts), so this key is compared with a tolerance and then
 * deleted, never read by other commands.
 */
const DIST_KEY = 'gdist';

function storeOpt(g: Gen): string[] {
  return g.chance(0.5) ? ['STORE', g.pick(DSTS)] : ['STOREDIST', DIST_KEY];
}

function geoCmd(g: Gen): Cmd {
  const k = familyKey(g, GEOS);
  switch (g.int(0, 14)) {
    case 0:
    case 1: {
      const c = ['GEOADD', k, ...g.some(['NX', 'XX', 'CH'], 0, 2)];
      const n = g.int(1, 3);
      for (let i = 0; i < n; i++) c.push(lon(g), lat(g), geoMember(g));
      if (g.chance(0.03)) c.push('1');
      return c;
    }
    case 2: {
      const c = ['GEOADD', k];
      const base = g.int(0, 20);
      for (let i = 0; i < g.int(5, 15); i++) c.push(lon(g), lat(g), `p${base + i}`);
      return c;
    }
    case 3:
      return ['GEOPOS', k, geoMember(g), geoMember(g)];
    case 4: {
      const c = ['GEODIST', k, geoMember(g), geoMember(g)];
      if (g.chance(0.6)) c.push(unit(g));
      return c;
    }
    case 5:
      return ['GEOHASH', k, geoMember(g), geoMember(g)];
    case 6:
    case 7: {
      const ro = g.chance(0.3);
      const c = [ro ? 'GEORADIUS_RO' : 'GEORADIUS', k, lon(g), lat(g), radius(g), unit(g), ...geoOpts(g, false)];
      if (!ro && g.chance(0.2)) c.push(...storeOpt(g));
      return c;
    }
    case 8: {
      const ro = g.chance(0.3);
      const c = [ro ? 'GEORADIUSBYMEMBER_RO' : 'GEORADIUSBYMEMBER', k, geoMember(g), radius(g), unit(g), ...geoOpts(g, false)];
      if (!ro && g.chance(0.2)) c.push(...storeOpt(g));
      return c;
    }
    case 9:
    case 10:
    case 11:
    case 12: {
      const store = g.chance(0.25);
      const storeDist = store && g.chance(0.3);
      const c = store ? ['GEOSEARCHSTORE', storeDist ? DIST_KEY : g.pick([...DSTS, ...GEOS]), k] : ['GEOSEARCH', k];
      const from = g.int(0, 9);
      if (from < 5) c.push('FROMMEMBER', geoMember(g));
      else if (from < 9) c.push('FROMLONLAT', lon(g), lat(g));
      const by = g.int(0, 9);
      if (by < 5) c.push('BYRADIUS', radius(g), unit(g));
      else if (by < 9) c.push('BYBOX', radius(g), radius(g), unit(g));
      c.push(...geoOpts(g, store));
      if (storeDist) c.push('STOREDIST');
      return c;
    }
    default:
      return ['ZRANGE', k, '0', '-1', 'WITHSCORES'];
  }
}

function keyCmd(g: Gen): Cmd {
  const k = g.pick(ALL);
  switch (g.int(0, 13)) {
    case 10:
      return [g.pick(['RENAME', 'RENAMENX']), g.pick(ANY), g.pick(ANY)];
    case 11:
      return ['COPY', g.pick(ANY), g.pick(ANY), ...(g.chance(0.5) ? ['REPLACE'] : [])];
    case 12:
      return ['#DUMPRESTORE', g.pick(ANY), g.pick(ANY)];
    case 0:
      return ['DEL', k];
    case 1:
      return ['TYPE', k];
    case 2:
      return ['EXPIRE', k, g.pick(['100000', '5000'])];
    case 3:
      return ['TTL', k];
    case 4:
      return ['EXISTS', k, g.pick(ALL)];
    case 5:
      return ['#SCAN', g.pick(['', 'set', 'zset', 'string'])];
    default:
      return ['OBJECT', 'ENCODING', k];
  }
}

function randomCmd(g: Gen): Cmd {
  const x = g.r();
  if (x < 0.33) return setCmd(g);
  if (x < 0.78) return zsetCmd(g);
  if (x < 0.94) return geoCmd(g);
  return keyCmd(g);
}

// --------------------------------------------------------------------------- comparison

const TTL_TOLERANCE: Record<string, number> = { TTL: 2, PTTL: 2000 };
const UNORDERED = new Set(['SMEMBERS', 'SINTER', 'SUNION', 'SDIFF']);
const RANDOM = new Set(['SPOP', 'SRANDMEMBER', 'ZRANDMEMBER']);

function sortRaw(xs: Raw[]): Raw[] {
  return [...xs].sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
}

function normalize(cmd: Cmd, r: Raw): Raw {
  if (typeof r === 'string' && r.startsWith('-')) return r;
  const name = cmd[0]!.toUpperCase();
  if (UNORDERED.has(name)) {
    if (Array.isArray(r)) return sortRaw(r);
    if (r && typeof r === 'object' && 'set' in r) return { set: sortRaw(r.set) };
  }
  return r;
}

function sameReply(cmd: Cmd, a: Raw, b: Raw): boolean {
  const tol = TTL_TOLERANCE[cmd[0]!.toUpperCase()];
  if (tol !== undefined && typeof a === 'string' && typeof b === 'string' && a.startsWith(':') && b.startsWith(':')) {
    const x = Number(a.slice(1));
    const y = Number(b.slice(1));
    if (x < 0 || y < 0) return x === y;
    return Math.abs(x - y) <= tol;
  }
  return JSON.stringify(normalize(cmd, a)) === JSON.stringify(normalize(cmd, b));
}

/** Items of an array or RESP3 set reply. */
function items(r: Raw): Raw[] | undefined {
  if (Array.isArray(r)) return r;
  if (r && typeof r === 'object' && 'set' in r) return r.set;
  return undefined;
}

/**
 * Whether a random reply is one Redis could have given for a collection with these members
 * (sorted set: member -> score reply text). Returns a reason when it is not.
 */
function checkRandom(cmd: Cmd, r: Raw, content: Map<string, string> | undefined, resp3: boolean): string | undefined {
  const name = cmd[0]!.toUpperCase();
  if (typeof r === 'string' && r.startsWith('-')) return undefined; // compared exactly instead
  const size = content?.size ?? 0;
  if (cmd.length === 2) {
    if (size === 0) return r === null ? undefined : 'expected nil';
    return typeof r === 'string' && content!.has(r.slice(1)) ? undefined : `not a member: ${JSON.stringify(r)}`;
  }
  const count = Number(cmd[2]);
  const withscores = cmd.length === 4;
  let list = items(r);
  if (!list) return `not a list: ${JSON.stringify(r)}`;
  // Flatten to [member, score?] entries.
  const entries: [string, string | undefined][] = [];
  if (withscores && resp3) {
    for (const p of list) entries.push([(p as string[])[0]!.slice(1), (p as string[])[1]!.slice(1)]);
  } else if (withscores) {
    for (let i = 0; i < list.length; i += 2) entries.push([(list[i] as string).slice(1), (list[i + 1] as string).slice(1)]);
  } else {
    list = list as string[];
    for (const m of list) entries.push([(m as string).slice(1), undefined]);
  }
  const want = count >= 0 ? Math.min(count, size) : size === 0 ? 0 : -count;
  if (entries.length !== want) return `expected ${want} elements, got ${entries.length}`;
  for (const [m, s] of entries) {
    if (!content!.has(m)) return `not a member: ${JSON.stringify(m)}`;
    if (s !== undefined && content!.get(m)!.slice(1) !== s) return `wrong score for ${m}: ${s}`;
  }
  if (count >= 0 && new Set(entries.map((e) => e[0])).size !== entries.length) return 'repeated members';
  if (name === 'SPOP' && cmd.length === 3 && resp3 && !(r && typeof r === 'object' && 'set' in r)) return 'SPOP count must reply a set';
  return undefined;
}

interface Side {
  name: string;
  a: RawClient;
  b: RawClient;
  /** Inspector connection (content snapshots, resyncs). */
  c: RawClient;
}

/** A collection's content as member -> reply text of its score ('' for sets). */
async function content(c: RawClient, key: string): Promise<Map<string, string> | undefined> {
  const t = await c.call('TYPE', key);
  if (t === '+set') return new Map(((await c.call('SMEMBERS', key)) as string[]).map((m) => [m.slice(1), '']));
  if (t === '+zset') {
    const r = (await c.call('ZRANGE', key, '0', '-1', 'WITHSCORES')) as string[];
    const out = new Map<string, string>();
    for (let i = 0; i < r.length; i += 2) out.set(r[i]!.slice(1), r[i + 1]!);
    return out;
  }
  return undefined;
}

async function run(client: RawClient, cmd: Cmd): Promise<Raw> {
  if (cmd[0] === '#SSCAN' || cmd[0] === '#ZSCAN') {
    const seen = new Map<string, Raw>();
    let cursor = '0';
    const pairs = cmd[0] === '#ZSCAN';
    for (let i = 0; i < 10_000; i++) {
      const r = await client.call(pairs ? 'ZSCAN' : 'SSCAN', cmd[1]!, cursor, ...cmd.slice(2));
      if (!Array.isArray(r)) return r;
      cursor = (r[0] as string).slice(1);
      const xs = r[1] as string[];
      if (pairs) for (let j = 0; j < xs.length; j += 2) seen.set(xs[j]!, xs[j + 1]!);
      else for (const x of xs) seen.set(x, '');
      if (cursor === '0') break;
    }
    return [...seen].sort((a, b) => (a[0] < b[0] ? -1 : 1));
  }
  if (cmd[0] === '#DUMPRESTORE') {
    const payload = await client.call('DUMP', cmd[1]!);
    if (typeof payload !== 'string' || !payload.startsWith('$')) return ['dump', payload];
    return ['restore', await client.call('RESTORE', cmd[2]!, '0', Buffer.from(payload.slice(1), 'latin1'), 'REPLACE')];
  }
  if (cmd[0] === '#SCAN') {
    const seen = new Set<string>();
    let cursor = '0';
    for (let i = 0; i < 10_000; i++) {
      const args = ['SCAN', cursor, 'COUNT', '7'];
      if (cmd[1]) args.push('TYPE', cmd[1]);
      const r = await client.call(...args);
      if (!Array.isArray(r)) return r;
      cursor = (r[0] as string).slice(1);
      for (const k of r[1] as string[]) seen.add(k);
      if (cursor === '0') break;
    }
    return [...seen].sort();
  }
  return client.call(...cmd);
}

describe.skipIf(!haveRedisServer())('differential: sets, sorted sets and geo vs redis-server 7', () => {
  let redis: RedisReference;
  let shale: ShaleProcess;
  const sides: Side[] = [];

  beforeAll(async () => {
    [redis, shale] = await Promise.all([RedisReference.start(CONF), ShaleProcess.start({ args: CONF })]);
    for (const [name, port] of [
      ['redis', redis.port],
      ['shale', shale.port],
    ] as const) {
      const side = { name, a: await RawClient.connect(port), b: await RawClient.connect(port), c: await RawClient.connect(port) };
      // The second client speaks RESP3, so doubles and nested pairs are compared too.
      await side.b.call('HELLO', '3');
      await side.a.call('SET', 'str', 'x');
      await side.a.call('HSET', 'h', 'f', 'v');
      sides.push(side);
    }
  }, 60_000);

  afterAll(async () => {
    for (const s of sides) {
      s.a.close();
      s.b.close();
      s.c.close();
    }
    await Promise.all([redis?.stop(), shale?.cleanup()]);
  });

  it(`matches replies over ${STEPS} random commands (seed ${SEED})`, async () => {
    console.log(`differential-sets seed: ${SEED} (replay with SHALE_DIFF_SEED=${SEED})`);
    const g = new Gen(SEED);
    const history: string[] = [];
    let commands = 0;
    const [R, S] = sides as [Side, Side];

    const full: string[] = [];
    const fail = (cmd: Cmd, r1: Raw, r2: Raw, why = 'replies differ'): never => {
      if (process.env.SHALE_DIFF_DUMP) writeFileSync(process.env.SHALE_DIFF_DUMP, full.join('\n'));
      throw new Error(
        `seed ${SEED}, command #${commands}: ${why} for ${JSON.stringify(cmd)}\n` +
          `  redis: ${JSON.stringify(r1)}\n  shale: ${JSON.stringify(r2)}\nrecent history:\n  ${history.join('\n  ')}`,
      );
    };

    const both = async (which: 'a' | 'b', cmd: Cmd): Promise<void> => {
      commands++;
      const name = cmd[0]!.toUpperCase();
      const random = RANDOM.has(name);
      const before = random ? await content(R.c, cmd[1]!) : undefined;
      const [r1, r2] = await Promise.all(
        sides.map((s) =>
          Promise.race([
            run(s[which], cmd),
            new Promise<Raw>((_, reject) =>
              setTimeout(() => reject(new Error(`${s.name} did not answer ${JSON.stringify(cmd)} (seed ${SEED}, #${commands})\n  ${history.join('\n  ')}`)), 10_000).unref(),
            ),
          ]),
        ),
      );
      history.push(`${which}: ${JSON.stringify(cmd)} -> ${JSON.stringify(r1).slice(0, 300)}`);
      full.push(history[history.length - 1]!);
      if (history.length > 30) history.shift();
      if (!random || (typeof r1 === 'string' && r1.startsWith('-')) || (typeof r2 === 'string' && r2.startsWith('-'))) {
        if (!sameReply(cmd, r1, r2)) fail(cmd, r1, r2);
        if (cmd.includes(DIST_KEY)) {
          const [d1, d2] = await Promise.all(sides.map((s) => content(s.c, DIST_KEY)));
          const close = (a: string, b: string) => Math.abs(Number(a.slice(1)) - Number(b.slice(1))) <= 1e-12 * Math.abs(Number(a.slice(1)));
          if ((d1?.size ?? 0) !== (d2?.size ?? 0) || [...(d1 ?? [])].some(([m, sc]) => !d2!.has(m) || !close(sc, d2!.get(m)!))) {
            fail(cmd, JSON.stringify([...(d1 ?? [])]), JSON.stringify([...(d2 ?? [])]), 'stored distances differ');
          }
          await Promise.all(sides.map((s) => s.c.call('DEL', DIST_KEY)));
        }
        if (CHECK) {
          // Debugging aid: the keys this command named must now hold the same data.
          for (const k of cmd.slice(1).filter((x) => ALL.includes(x))) {
            const [c1, c2] = await Promise.all(sides.map((s) => content(s.c, k)));
            const [e1, e2] = await Promise.all(sides.map((s) => s.c.call('OBJECT', 'ENCODING', k)));
            if (JSON.stringify([...(c1 ?? [])].sort()) !== JSON.stringify([...(c2 ?? [])].sort()) || e1 !== e2) {
              fail(cmd, JSON.stringify([e1, ...(c1 ?? [])]), JSON.stringify([e2, ...(c2 ?? [])]), `state of ${k} differs after`);
            }
          }
        }
        return;
      }
      for (const [side, r] of [['redis', r1], ['shale', r2]] as const) {
        const why = checkRandom(cmd, r, before, which === 'b');
        if (why) fail(cmd, r1, r2, `${side}: ${why}`);
      }
      if (name === 'SPOP') {
        // The two servers popped different members: make the key identical again on both.
        const after = await content(R.c, cmd[1]!);
        for (const s of sides) {
          await s.c.call('DEL', cmd[1]!);
          if (after && after.size) await s.c.call('SADD', cmd[1]!, ...[...after.keys()].sort());
        }
      }
    };

    while (commands < STEPS) {
      await both(g.chance(0.75) ? 'a' : 'b', randomCmd(g));
    }
    // Final state: every key the same, with the same encoding.
    for (const k of ALL) {
      await both('a', ['TYPE', k]);
      await both('a', ['OBJECT', 'ENCODING', k]);
      await both('a', ['SMEMBERS', k]);
      await both('a', ['ZRANGE', k, '0', '-1', 'WITHSCORES']);
    }
    expect(commands).toBeGreaterThanOrEqual(STEPS);
  }, 300_000);
});
