/**
 * Redis's geohash (geohash.c, geohash_helper.c) ported operation for operation, so scores,
 * decoded coordinates, distances and the cells a search visits match Redis bit for bit: a
 * point is a 52-bit interleaved geohash (latitude in the even bits, longitude in the odd ones)
 * stored as the sorted-set score, and a radius or box search scans the score ranges of the
 * 3x3 cells around the centre at a step chosen from the radius. sin/cos/asin are the correctly
 * rounded ones of zset-geomath.ts, which match glibc's (what Redis uses) far more often than
 * V8's Math functions do.
 */
import { asin, cos, sin } from './zset-geomath.ts';

export const GEO_STEP_MAX = 26;
export const GEO_LAT_MIN = -85.05112878;
export const GEO_LAT_MAX = 85.05112878;
export const GEO_LONG_MIN = -180;
export const GEO_LONG_MAX = 180;
const EARTH_RADIUS_IN_METERS = 6372797.560856;
const MERCATOR_MAX = 20037726.37;
const D_R = Math.PI / 180.0;

export interface Range {
  min: number;
  max: number;
}

/** A geohash cell: `bits` holds step*2 interleaved bits; step 0 marks an unused neighbour. */
export interface HashBits {
  bits: bigint;
  step: number;
}

export interface Area {
  hash: HashBits;
  longitude: Range;
  latitude: Range;
}

const WGS84_LONG: Range = { min: GEO_LONG_MIN, max: GEO_LONG_MAX };
const WGS84_LAT: Range = { min: GEO_LAT_MIN, max: GEO_LAT_MAX };

const degRad = (ang: number) => ang * D_R;
const radDeg = (ang: number) => ang / D_R;

// ------------------------------------------------------------------ bit interleaving

/** The low 16 bits of v spread to the even bits of a 32-bit word. */
function spread16(v: number): number {
  v &= 0xffff;
  v = (v | (v << 8)) & 0x00ff00ff;
  v = (v | (v << 4)) & 0x0f0f0f0f;
  v = (v | (v << 2)) & 0x33333333;
  v = (v | (v << 1)) & 0x55555555;
  return v >>> 0;
}

/** The even bits of a 32-bit word gathered into 16 bits. */
function compact32(w: number): number {
  w &= 0x55555555;
  w = (w | (w >>> 1)) & 0x33333333;
  w = (w | (w >>> 2)) & 0x0f0f0f0f;
  w = (w | (w >>> 4)) & 0x00ff00ff;
  w = (w | (w >>> 8)) & 0x0000ffff;
  return w >>> 0;
}

/** interleave64: x (uint32) in the even bits, y in the odd bits. */
function interleave64(x: number, y: number): bigint {
  const lo = (spread16(x) | (spread16(y) << 1)) >>> 0;
  const hi = (spread16(x >>> 16) | (spread16(y >>> 16) << 1)) >>> 0;
  return (BigInt(hi) << 32n) | BigInt(lo);
}

/** deinterleave64: [even bits (x), odd bits (y)] as uint32s. */
function deinterleave64(v: bigint): [number, number] {
  const lo = Number(v & 0xffffffffn);
  const hi = Number(v >> 32n);
  const x = ((compact32(hi) << 16) | compact32(lo)) >>> 0;
  const y = ((compact32(hi >>> 1) << 16) | compact32(lo >>> 1)) >>> 0;
  return [x, y];
}

/** C's (uint32_t) of a double in [0, 2^32): truncation. */
function toU32(d: number): number {
  return Math.trunc(d) >>> 0;
}

/** What GCC's (uint64_t) conversion of a double gives on x86-64 (also for odd scores). */
export function toUint64(d: number): bigint {
  const TWO63 = 9223372036854775808;
  if (d < TWO63) {
    if (!Number.isFinite(d) || d <= -TWO63 - 1) return 1n << 63n; // cvttsd2si's "integer indefinite"
    return BigInt.asUintN(64, BigInt(Math.trunc(d)));
  }
  const x = d - TWO63;
  if (!(x < TWO63)) return 0n;
  return BigInt(Math.trunc(x)) ^ (1n << 63n);
}

// ------------------------------------------------------------------ encode / decode

/** geohashEncode; undefined where Redis returns 0 (coordinates out of range). */
export function geohashEncode(longRange: Range, latRange: Range, longitude: number, latitude: number, step: number): HashBits | undefined {
  if (step > 32 || step === 0) return undefined;
  if (longitude > GEO_LONG_MAX || longitude < GEO_LONG_MIN || latitude > GEO_LAT_MAX || latitude < GEO_LAT_MIN) return undefined;
  if (latitude < latRange.min || latitude > latRange.max || longitude < longRange.min || longitude > longRange.max) return undefined;
  let latOffset = (latitude - latRange.min) / (latRange.max - latRange.min);
  let longOffset = (longitude - longRange.min) / (longRange.max - longRange.min);
  latOffset *= 2 ** step;
  longOffset *= 2 ** step;
  return { bits: interleave64(toU32(latOffset), toU32(longOffset)), step };
}

export function geohashEncodeWGS84(longitude: number, latitude: number, step = GEO_STEP_MAX): HashBits | undefined {
  return geohashEncode(WGS84_LONG, WGS84_LAT, longitude, latitude, step);
}

export function geohashDecode(longRange: Range, latRange: Range, hash: HashBits): Area {
  const [ilato, ilono] = deinterleave64(hash.bits);
  const latScale = latRange.max - latRange.min;
  const longScale = longRange.max - longRange.min;
  const div = 2 ** hash.step;
  return {
    hash,
    latitude: {
      min: latRange.min + (ilato * 1.0 / div) * latScale,
      max: latRange.min + (((ilato + 1) >>> 0) * 1.0 / div) * latScale,
    },
    longitude: {
      min: longRange.min + (ilono * 1.0 / div) * longScale,
      max: longRange.min + (((ilono + 1) >>> 0) * 1.0 / div) * longScale,
    },
  };
}

/** geohashDecodeAreaToLongLat: the cell's centre, clamped to the valid range. */
function areaCenter(area: Area): [number, number] {
  let lon = (area.longitude.min + area.longitude.max) / 2;
  if (lon > GEO_LONG_MAX) lon = GEO_LONG_MAX;
  if (lon < GEO_LONG_MIN) lon = GEO_LONG_MIN;
  let lat = (area.latitude.min + area.latitude.max) / 2;
  if (lat > GEO_LAT_MAX) lat = GEO_LAT_MAX;
  if (lat < GEO_LAT_MIN) lat = GEO_LAT_MIN;
  return [lon, lat];
}

/** decodeGeohash: a sorted-set score to [longitude, latitude]. */
export function decodeScore(score: number): [number, number] {
  return areaCenter(geohashDecode(WGS84_LONG, WGS84_LAT, { bits: toUint64(score), step: GEO_STEP_MAX }));
}

/** The score GEOADD stores for a point (geohashAlign52Bits of the step-26 hash). */
export function encodeScore(longitude: number, latitude: number): number | undefined {
  const h = geohashEncodeWGS84(longitude, latitude);
  return h === undefined ? undefined : Number(h.bits);
}

const BASE32 = '0123456789bcdefghjkmnpqrstuvwxyz';

/** GEOHASH's 11-character standard geohash (re-encoded with latitude range -90..90). */
export function standardGeohash(score: number): string {
  const [lon, lat] = decodeScore(score);
  const h = geohashEncode({ min: -180, max: 180 }, { min: -90, max: 90 }, lon, lat, 26);
  const bits = h?.bits ?? 0n;
  let out = '';
  for (let i = 0; i < 11; i++) {
    const idx = i === 10 ? 0 : Number((bits >> BigInt(52 - (i + 1) * 5)) & 0x1fn);
    out += BASE32[idx];
  }
  return out;
}

// ------------------------------------------------------------------ distances

export function getLatDistance(lat1d: number, lat2d: number): number {
  return EARTH_RADIUS_IN_METERS * Math.abs(degRad(lat2d) - degRad(lat1d));
}

/** cos of the last argument asked again (a search's centre latitude, for every candidate). */
const cosMemo = new Float64Array([NaN, NaN]);
function cosCached(x: number): number {
  if (cosMemo[0] !== x) {
    cosMemo[0] = x;
    cosMemo[1] = cos(x);
  }
  return cosMemo[1]!;
}

/** Haversine great-circle distance in meters (geohashGetDistance). */
export function getDistance(lon1d: number, lat1d: number, lon2d: number, lat2d: number): number {
  const lon1r = degRad(lon1d);
  const lon2r = degRad(lon2d);
  const v = sin((lon2r - lon1r) / 2);
  // Same longitude: the latitude difference is the whole distance.
  if (v === 0.0) return getLatDistance(lat1d, lat2d);
  const lat1r = degRad(lat1d);
  const lat2r = degRad(lat2d);
  const u = sin((lat2r - lat1r) / 2);
  const a = u * u + cosCached(lat1r) * cos(lat2r) * v * v;
  return 2.0 * EARTH_RADIUS_IN_METERS * asin(Math.sqrt(a));
}

/** A search shape: a circle (radius) or an axis-aligned box (width x height), in its unit. */
export type Shape =
  | { type: 'circle'; xy: [number, number]; conversion: number; radius: number }
  | { type: 'box'; xy: [number, number]; conversion: number; width: number; height: number };

/** The distance in meters if the point is inside the shape, else undefined. */
export function distanceIfInShape(shape: Shape, x2: number, y2: number): number | undefined {
  const [x1, y1] = shape.xy;
  if (shape.type === 'circle') {
    const d = getDistance(x1, y1, x2, y2);
    return d > shape.radius * shape.conversion ? undefined : d;
  }
  const width = shape.width * shape.conversion;
  const height = shape.height * shape.conversion;
  if (getLatDistance(y2, y1) > height / 2) return undefined;
  if (getDistance(x2, y2, x1, y2) > width / 2) return undefined;
  return getDistance(x1, y1, x2, y2);
}

// ------------------------------------------------------------------ search areas

function estimateStepsByRadius(rangeMeters: number, lat: number): number {
  if (rangeMeters === 0) return 26;
  let step = 1;
  while (rangeMeters < MERCATOR_MAX) {
    rangeMeters *= 2;
    step++;
  }
  step -= 2;
  if (lat > 66 || lat < -66) {
    step--;
    if (lat > 80 || lat < -80) step--;
  }
  if (step < 1) step = 1;
  if (step > 26) step = 26;
  return step;
}

/** geohashBoundingBox: [min lon, min lat, max lon, max lat]. */
function boundingBox(shape: Shape): [number, number, number, number] {
  const [longitude, latitude] = shape.xy;
  const height = shape.conversion * (shape.type === 'circle' ? shape.radius : shape.height / 2);
  const width = shape.conversion * (shape.type === 'circle' ? shape.radius : shape.width / 2);
  const latDelta = radDeg(height / EARTH_RADIUS_IN_METERS);
  const longDeltaTop = radDeg(width / EARTH_RADIUS_IN_METERS / cos(degRad(latitude + latDelta)));
  const longDeltaBottom = radDeg(width / EARTH_RADIUS_IN_METERS / cos(degRad(latitude - latDelta)));
  const southern = latitude < 0;
  return [
    southern ? longitude - longDeltaBottom : longitude - longDeltaTop,
    latitude - latDelta,
    southern ? longitude + longDeltaBottom : longitude + longDeltaTop,
    latitude + latDelta,
  ];
}

const MASK64 = (1n << 64n) - 1n;
const EVEN = 0x5555555555555555n;
const ODD = 0xaaaaaaaaaaaaaaaan;

function moveX(h: HashBits, d: number): HashBits {
  if (d === 0) return h;
  let x = h.bits & ODD;
  const y = h.bits & EVEN;
  const zz = EVEN >> BigInt(64 - h.step * 2);
  if (d > 0) x = (x + (zz + 1n)) & MASK64;
  else x = ((x | zz) - (zz + 1n)) & MASK64;
  x &= ODD >> BigInt(64 - h.step * 2);
  return { bits: x | y, step: h.step };
}

function moveY(h: HashBits, d: number): HashBits {
  if (d === 0) return h;
  const x = h.bits & ODD;
  let y = h.bits & EVEN;
  const zz = ODD >> BigInt(64 - h.step * 2);
  if (d > 0) y = (y + (zz + 1n)) & MASK64;
  else y = ((y | zz) - (zz + 1n)) & MASK64;
  y &= EVEN >> BigInt(64 - h.step * 2);
  return { bits: x | y, step: h.step };
}

interface Neighbors {
  north: HashBits;
  south: HashBits;
  east: HashBits;
  west: HashBits;
  north_east: HashBits;
  north_west: HashBits;
  south_east: HashBits;
  south_west: HashBits;
}

function neighborsOf(h: HashBits): Neighbors {
  const at = (dx: number, dy: number) => moveY(moveX(h, dx), dy);
  return {
    east: at(1, 0),
    west: at(-1, 0),
    south: at(0, -1),
    north: at(0, 1),
    north_west: at(-1, 1),
    south_west: at(-1, -1),
    north_east: at(1, 1),
    south_east: at(1, -1),
  };
}

const ZERO: HashBits = { bits: 0n, step: 0 };

/**
 * geohashCalculateAreasByShapeWGS84 + membersOfAllNeighbors' order: the score ranges
 * [min, max) of the cells to scan, centre first, then N, S, E, W, NE, NW, SE, SW, with
 * unneeded cells dropped and a cell equal to the one scanned just before it skipped.
 */
export function searchRanges(shape: Shape): [number, number][] {
  const [minLon, minLat, maxLon, maxLat] = boundingBox(shape);
  const [longitude, latitude] = shape.xy;
  const radiusMeters =
    (shape.type === 'circle' ? shape.radius : Math.sqrt((shape.width / 2) * (shape.width / 2) + (shape.height / 2) * (shape.height / 2))) *
    shape.conversion;
  let steps = estimateStepsByRadius(radiusMeters, latitude);
  let hash = geohashEncode(WGS84_LONG, WGS84_LAT, longitude, latitude, steps) ?? { bits: 0n, step: steps };
  let nb = neighborsOf(hash);
  let area = geohashDecode(WGS84_LONG, WGS84_LAT, hash);
  const north = geohashDecode(WGS84_LONG, WGS84_LAT, nb.north);
  const south = geohashDecode(WGS84_LONG, WGS84_LAT, nb.south);
  const east = geohashDecode(WGS84_LONG, WGS84_LAT, nb.east);
  const west = geohashDecode(WGS84_LONG, WGS84_LAT, nb.west);
  const decrease = north.latitude.max < maxLat || south.latitude.min > minLat || east.longitude.max < maxLon || west.longitude.min > minLon;
  if (steps > 1 && decrease) {
    steps--;
    hash = geohashEncode(WGS84_LONG, WGS84_LAT, longitude, latitude, steps) ?? { bits: 0n, step: steps };
    nb = neighborsOf(hash);
    area = geohashDecode(WGS84_LONG, WGS84_LAT, hash);
  }
  if (steps >= 2) {
    if (area.latitude.min < minLat) nb.south = nb.south_west = nb.south_east = ZERO;
    if (area.latitude.max > maxLat) nb.north = nb.north_east = nb.north_west = ZERO;
    if (area.longitude.min < minLon) nb.west = nb.south_west = nb.north_west = ZERO;
    if (area.longitude.max > maxLon) nb.east = nb.south_east = nb.north_east = ZERO;
  }
  const cells = [hash, nb.north, nb.south, nb.east, nb.west, nb.north_east, nb.north_west, nb.south_east, nb.south_west];
  const out: [number, number][] = [];
  let last = 0;
  for (let i = 0; i < cells.length; i++) {
    const c = cells[i]!;
    if (c.bits === 0n && c.step === 0) continue;
    if (last && c.bits === cells[last]!.bits && c.step === cells[last]!.step) continue;
    const shift = BigInt(52 - c.step * 2);
    out.push([Number(c.bits << shift), Number(((c.bits + 1n) & MASK64) << shift)]);
    last = i;
  }
  return out;
}

// ------------------------------------------------------------------ number formatting

/** A finite double as an exact value mant * 2^exp. */
function exactParts(d: number): { neg: boolean; mant: bigint; exp: number } {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, d);
  const bits = view.getBigUint64(0);
  const neg = bits >> 63n === 1n;
  const e = Number((bits >> 52n) & 0x7ffn);
  const frac = bits & ((1n << 52n) - 1n);
  if (e === 0) return { neg, mant: frac, exp: -1074 };
  return { neg, mant: frac | (1n << 52n), exp: e - 1075 };
}

/** printf("%.<digits>f", d) as glibc prints it: exact, ties to even. */
export function formatFixed(d: number, digits: number): string {
  if (Number.isNaN(d)) return d < 0 ? '-nan' : 'nan';
  if (!Number.isFinite(d)) return d < 0 ? '-inf' : 'inf';
  const { neg, mant, exp } = exactParts(d);
  const scale = 10n ** BigInt(digits);
  let q: bigint;
  if (exp >= 0) {
    q = (mant << BigInt(exp)) * scale;
  } else {
    const den = 1n << BigInt(-exp);
    const num = mant * scale;
    q = num / den;
    const r2 = (num - q * den) * 2n;
    if (r2 > den || (r2 === den && (q & 1n) === 1n)) q += 1n;
  }
  let s = q.toString().padStart(digits + 1, '0');
  if (digits > 0) s = `${s.slice(0, s.length - digits)}.${s.slice(s.length - digits)}`;
  return neg ? `-${s}` : s;
}

/** A double as Redis's x87 long double (exactly the same value), for LD_STR_HUMAN printing. */
export function longDoubleOf(d: number): { kind: 'f'; neg: boolean; mant: bigint; exp: number } {
  const { neg, mant, exp } = exactParts(d);
  return { kind: 'f', neg, mant, exp: mant === 0n ? 0 : exp };
}
