/**
 * Geo commands (Redis 7.0 geo.c): points are sorted-set members scored by their 52-bit
 * geohash (src/types/zset-geohash.ts), so GEOADD is ZADD and a search scans the score ranges
 * of nine cells, which on a big (split) sorted set are engine range scans.
 */
import { DoubleReply, ErrorReply, NullArray, type Reply } from '../resp/reply.ts';
import { formatLongDoubleHuman } from '../types/numbers.ts';
import { NOT_FLOAT, SYNTAX, WRONGTYPE } from '../types/replies.ts';
import { argLong } from '../types/set-args.ts';
import { type Guard, guarded } from '../types/set-collection.ts';
import {
  decodeScore,
  distanceIfInShape,
  encodeScore,
  formatFixed,
  GEO_LAT_MAX,
  GEO_LAT_MIN,
  GEO_LONG_MAX,
  GEO_LONG_MIN,
  getDistance,
  longDoubleOf,
  searchRanges,
  type Shape,
  standardGeohash,
} from '../types/zset-geohash.ts';
import { type ZSetView, zsetAt } from '../types/zset-ops.ts';
import { parseFloatArg } from '../types/zset-range.ts';
import { ZSetValue } from '../types/zset-value.ts';
import { partialSort } from '../util/partial-sort.ts';
import { zaddGeneric } from './sortedsets.ts';
import type { Maybe } from '../util/maybe.ts';
import type { CommandModule, ExecContext } from './types.ts';

/** getDoubleFromObjectOrReply with an optional message. */
function argFloat(s: string, msg?: string): number | ErrorReply {
  const v = parseFloatArg(s);
  if (v === undefined) return msg ? new ErrorReply(`ERR ${msg}`) : NOT_FLOAT;
  return v;
}

/** extractLongLatOrReply. */
function longLat(args: string[], at: number): [number, number] | ErrorReply {
  const lon = argFloat(args[at]!);
  if (lon instanceof ErrorReply) return lon;
  const lat = argFloat(args[at + 1]!);
  if (lat instanceof ErrorReply) return lat;
  if (lon < GEO_LONG_MIN || lon > GEO_LONG_MAX || lat < GEO_LAT_MIN || lat > GEO_LAT_MAX) {
    return new ErrorReply(`ERR invalid longitude,latitude pair ${formatFixed(lon, 6)},${formatFixed(lat, 6)}`);
  }
  return [lon, lat];
}

/** extractUnitOrReply: meters per unit. */
function unit(s: string): number | ErrorReply {
  switch (s.toLowerCase()) {
    case 'm':
      return 1;
    case 'km':
      return 1000;
    case 'ft':
      return 0.3048;
    case 'mi':
      return 1609.34;
    default:
      return new ErrorReply('ERR unsupported unit provided. please use M, KM, FT, MI');
  }
}

/** extractDistanceOrReply: [radius, conversion]. */
function distanceArg(args: string[], at: number): [number, number] | ErrorReply {
  const d = argFloat(args[at]!, 'need numeric radius');
  if (d instanceof ErrorReply) return d;
  if (d < 0) return new ErrorReply('ERR radius cannot be negative');
  const u = unit(args[at + 1]!);
  if (u instanceof ErrorReply) return u;
  return [d, u];
}

/** A coordinate as Redis prints it (addReplyHumanLongDouble). */
function coord(v: number): DoubleReply {
  return new DoubleReply(v, formatLongDoubleHuman(longDoubleOf(v)));
}

async function geoadd(ctx: ExecContext, args: string[]): Promise<Reply> {
  let nx = false;
  let xx = false;
  let longIdx = 2;
  for (; longIdx < args.length; longIdx++) {
    const o = args[longIdx]!.toLowerCase();
    if (o === 'nx') nx = true;
    else if (o === 'xx') xx = true;
    else if (o !== 'ch') break;
  }
  if ((args.length - longIdx) % 3 !== 0 || (xx && nx)) return SYNTAX;
  // ZADD key [options] score member ... with each point's geohash as its score.
  const zargs = ['zadd', ...args.slice(1, longIdx)];
  for (let i = longIdx; i < args.length; i += 3) {
    const xy = longLat(args, i);
    if (xy instanceof ErrorReply) return xy;
    zargs.push(String(encodeScore(xy[0], xy[1])), args[i + 2]!);
  }
  return zaddGeneric(ctx, zargs, false);
}

async function geopos(ctx: ExecContext, args: string[]): Promise<Reply> {
  return guarded(ctx, [args[1]!], async (g) => {
    const z = zsetAt(g, args[1]!, false);
    if (z === 'wrongtype') return WRONGTYPE;
    const members = args.slice(2);
    const scores = z ? await z.scores(members) : members.map(() => undefined);
    return scores.map((s) => {
      if (s === undefined) return NullArray.instance;
      const [lon, lat] = decodeScore(s);
      return [coord(lon), coord(lat)];
    });
  });
}

async function geodist(ctx: ExecContext, args: string[]): Promise<Reply> {
  let toMeter = 1;
  if (args.length === 5) {
    const u = unit(args[4]!);
    if (u instanceof ErrorReply) return u;
    toMeter = u;
  } else if (args.length > 5) {
    return SYNTAX;
  }
  return guarded(ctx, [args[1]!], async (g) => {
    const z = zsetAt(g, args[1]!, false);
    if (z === 'wrongtype') return WRONGTYPE;
    if (!z) return null;
    const [s1, s2] = await z.scores([args[2]!, args[3]!]);
    if (s1 === undefined || s2 === undefined) return null;
    const [x1, y1] = decodeScore(s1);
    const [x2, y2] = decodeScore(s2);
    return formatFixed(getDistance(x1, y1, x2, y2) / toMeter, 4);
  });
}

async function geohash(ctx: ExecContext, args: string[]): Promise<Reply> {
  return guarded(ctx, [args[1]!], async (g) => {
    const z = zsetAt(g, args[1]!, false);
    if (z === 'wrongtype') return WRONGTYPE;
    const members = args.slice(2);
    const scores = z ? await z.scores(members) : members.map(() => undefined);
    return scores.map((s) => (s === undefined ? null : standardGeohash(s)));
  });
}

// ------------------------------------------------------------------ searches

const RADIUS_COORDS = 1;
const RADIUS_MEMBER = 2;
const RADIUS_NOSTORE = 4;
const GEOSEARCH = 8;
const GEOSEARCHSTORE = 16;

interface Point {
  member: string;
  score: number;
  lon: number;
  lat: number;
  dist: number;
}

/** longLatFromMember. */
async function memberLongLat(z: ZSetView, member: string): Promise<[number, number] | undefined> {
  const s = await z.score(member);
  return s === undefined ? undefined : decodeScore(s);
}

/** The points inside the shape, in Redis's visiting order, stopping at `limit` (0: none). */
async function pointsIn(z: ZSetView, shape: Shape, limit: number): Promise<Point[]> {
  const out: Point[] = [];
  for (const [min, max] of searchRanges(shape)) {
    if (out.length && limit && out.length >= limit) break;
    for (const [member, score] of await z.byScore({ min, max, minex: false, maxex: true }, false)) {
      const [lon, lat] = decodeScore(score);
      const dist = distanceIfInShape(shape, lon, lat);
      if (dist === undefined) continue;
      out.push({ member, score, lon, lat, dist });
      if (limit && out.length >= limit) break;
    }
  }
  return out;
}

/** georadiusGeneric: GEORADIUS[_RO], GEORADIUSBYMEMBER[_RO], GEOSEARCH, GEOSEARCHSTORE. */
function georadius(srcIdx: number, flags: number) {
  return (ctx: ExecContext, args: string[]): Maybe<Reply> => {
    // Redis names the command as the client typed it in these errors.
    const name = args[0]!;
    // Every key the command may name (the STORE target is found while parsing).
    const keys = [args[srcIdx]!];
    if (flags & GEOSEARCHSTORE) keys.push(args[1]!);
    for (let i = 2; i < args.length - 1; i++) if (/^store(dist)?$/i.test(args[i]!)) keys.push(args[i + 1]!);
    return guarded(ctx, keys, (g) => georadiusRun(ctx, g, args, name, srcIdx, flags));
  };
}

async function georadiusRun(ctx: ExecContext, g: Guard, args: string[], name: string, srcIdx: number, flags: number): Promise<Reply> {
  const found = zsetAt(g, args[srcIdx]!, false);
  if (found === 'wrongtype') return WRONGTYPE;
  const z = found;
  let storeKey: string | undefined;
  let storeDist = false;
  let baseArgs: number;
  let xy: [number, number] = [0, 0];
  let conversion = 1;
  let radius = 0;
  let width = 0;
  let height = 0;
  let type: 'circle' | 'box' = 'circle';
  if (flags & RADIUS_COORDS) {
    baseArgs = 6;
    const ll = longLat(args, 2);
    if (ll instanceof ErrorReply) return ll;
    xy = ll;
    const d = distanceArg(args, baseArgs - 2);
    if (d instanceof ErrorReply) return d;
    [radius, conversion] = d;
  } else if (flags & RADIUS_MEMBER && !z) {
    // No source key: parse the rest anyway, to know which reply to give.
    baseArgs = 5;
  } else if (flags & RADIUS_MEMBER) {
    baseArgs = 5;
    const ll = await memberLongLat(z!, args[2]!);
    if (!ll) return new ErrorReply('ERR could not decode requested zset member');
    xy = ll;
    const d = distanceArg(args, baseArgs - 2);
    if (d instanceof ErrorReply) return d;
    [radius, conversion] = d;
  } else {
    baseArgs = 2;
    if (flags & GEOSEARCHSTORE) {
      baseArgs = 3;
      storeKey = args[1]!;
    }
  }
  let withdist = false;
  let withhash = false;
  let withcoords = false;
  let frommember = false;
  let fromloc = false;
  let byradius = false;
  let bybox = false;
  let sort: 'none' | 'asc' | 'desc' = 'none';
  let any = false;
  let count = 0n;
  const remaining = args.length - baseArgs;
  for (let i = 0; i < remaining; i++) {
    const a = args[baseArgs + i]!.toLowerCase();
    const at = baseArgs + i;
    if (a === 'withdist') withdist = true;
    else if (a === 'withhash') withhash = true;
    else if (a === 'withcoord') withcoords = true;
    else if (a === 'any') any = true;
    else if (a === 'asc') sort = 'asc';
    else if (a === 'desc') sort = 'desc';
    else if (a === 'count' && i + 1 < remaining) {
      const c = argLong(args[at + 1]!);
      if (c instanceof ErrorReply) return c;
      if (c <= 0n) return new ErrorReply('ERR COUNT must be > 0');
      count = c;
      i++;
    } else if (a === 'store' && i + 1 < remaining && !(flags & RADIUS_NOSTORE) && !(flags & GEOSEARCH)) {
      storeKey = args[at + 1]!;
      storeDist = false;
      i++;
    } else if (a === 'storedist' && i + 1 < remaining && !(flags & RADIUS_NOSTORE) && !(flags & GEOSEARCH)) {
      storeKey = args[at + 1]!;
      storeDist = true;
      i++;
    } else if (a === 'storedist' && flags & GEOSEARCH && flags & GEOSEARCHSTORE) {
      storeDist = true;
    } else if (a === 'frommember' && i + 1 < remaining && flags & GEOSEARCH && !fromloc) {
      if (z) {
        const ll = await memberLongLat(z, args[at + 1]!);
        if (!ll) return new ErrorReply('ERR could not decode requested zset member');
        xy = ll;
      }
      frommember = true;
      i++;
    } else if (a === 'fromlonlat' && i + 2 < remaining && flags & GEOSEARCH && !frommember) {
      const ll = longLat(args, at + 1);
      if (ll instanceof ErrorReply) return ll;
      xy = ll;
      fromloc = true;
      i += 2;
    } else if (a === 'byradius' && i + 2 < remaining && flags & GEOSEARCH && !bybox) {
      const d = distanceArg(args, at + 1);
      if (d instanceof ErrorReply) return d;
      [radius, conversion] = d;
      type = 'circle';
      byradius = true;
      i += 2;
    } else if (a === 'bybox' && i + 3 < remaining && flags & GEOSEARCH && !byradius) {
      const w = argFloat(args[at + 1]!, 'need numeric width');
      if (w instanceof ErrorReply) return w;
      const h = argFloat(args[at + 2]!, 'need numeric height');
      if (h instanceof ErrorReply) return h;
      if (h < 0 || w < 0) return new ErrorReply('ERR height or width cannot be negative');
      const u = unit(args[at + 3]!);
      if (u instanceof ErrorReply) return u;
      [width, height, conversion] = [w, h, u];
      type = 'box';
      bybox = true;
      i += 3;
    } else {
      return SYNTAX;
    }
  }
  if (storeKey !== undefined && (withdist || withhash || withcoords)) {
    const what = flags & GEOSEARCHSTORE ? 'GEOSEARCHSTORE' : 'STORE option in GEORADIUS';
    return new ErrorReply(`ERR ${what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options`);
  }
  if (flags & GEOSEARCH && !(frommember || fromloc)) {
    return new ErrorReply(`ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for ${name}`);
  }
  if (flags & GEOSEARCH && !(byradius || bybox)) {
    return new ErrorReply(`ERR exactly one of BYRADIUS and BYBOX can be specified for ${name}`);
  }
  if (any && count === 0n) return new ErrorReply('ERR the ANY argument requires COUNT argument');
  if (!z) {
    if (storeKey === undefined) return [];
    g.write(storeKey);
    g.check();
    ctx.keyspace.delete(ctx.db, storeKey, ctx.now);
    return 0;
  }
  if (count !== 0n && sort === 'none' && !any) sort = 'asc';
  const shape: Shape = type === 'circle' ? { type, xy, conversion, radius } : { type, xy, conversion, width, height };
  const limit = any ? (count > 1_000_000_000n ? 1e9 : Number(count)) : 0;
  const points = await pointsIn(z, shape, limit);
  if (points.length === 0 && storeKey === undefined) return [];
  const returned = count === 0n || BigInt(points.length) < count ? points.length : Number(count);
  if (sort !== 'none') {
    const sign = sort === 'asc' ? 1 : -1;
    const cmp = (a: Point, b: Point): number => (a.dist === b.dist ? 0 : a.dist > b.dist ? sign : -sign);
    // As Redis: a whole sort is glibc's qsort (a stable merge sort), a COUNT cut its pqsort.
    if (returned === points.length) points.sort(cmp);
    else partialSort(points, cmp, 0, returned - 1);
  }
  const chosen = points.slice(0, returned);
  if (storeKey === undefined) {
    const options = (withdist ? 1 : 0) + (withhash ? 1 : 0) + (withcoords ? 1 : 0);
    return chosen.map((p) => {
      if (!options) return p.member;
      const item: Reply[] = [p.member];
      if (withdist) item.push(formatFixed(p.dist / conversion, 4));
      if (withhash) item.push(scoreAsInteger(p.score));
      if (withcoords) item.push([coord(p.lon), coord(p.lat)]);
      return item;
    });
  }
  g.write(storeKey);
  g.check();
  if (chosen.length === 0) {
    ctx.keyspace.delete(ctx.db, storeKey, ctx.now);
    return 0;
  }
  // A sorted set built as a skiplist, then made a listpack if it fits (so -0 never arises).
  const value = ZSetValue.build(
    chosen.map((p): [string, number] => [p.member, storeDist ? p.dist / conversion : p.score]),
    ctx.keyspace,
  );
  ctx.keyspace.set(ctx.db, storeKey, value);
  return chosen.length;
}

/** addReplyLongLong of a double score: C's truncating conversion. */
function scoreAsInteger(s: number): number | bigint {
  const t = Math.trunc(s);
  return Number.isSafeInteger(t) ? t : BigInt(t);
}

export const commands: CommandModule = {
  geoadd,
  geopos,
  geodist,
  geohash,
  georadius: georadius(1, RADIUS_COORDS),
  georadius_ro: georadius(1, RADIUS_COORDS | RADIUS_NOSTORE),
  georadiusbymember: georadius(1, RADIUS_MEMBER),
  georadiusbymember_ro: georadius(1, RADIUS_MEMBER | RADIUS_NOSTORE),
  geosearch: georadius(1, GEOSEARCH),
  geosearchstore: georadius(2, GEOSEARCH | GEOSEARCHSTORE),
};
