/**
 * Geo: the math against references (correctly rounded sin/cos/asin, checked with 256-bit
 * fixed-point arithmetic), and a big point set searched on Shale and on a real redis-server,
 * where Shale keeps it split (element records) and every reply must be identical.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asin, cos, sin } from '../src/types/zset-geomath.ts';
import { decodeScore, encodeScore, formatFixed, standardGeohash } from '../src/types/zset-geohash.ts';
import { haveRedisServer, type Raw, RawClient, RedisReference } from './support/redis-reference.ts';
import { ShaleProcess } from './support/shale-server.ts';
import { rng } from './support/gen.ts';

// ------------------------------------------------------------------ fixed-point references

const BITS = 256n;
const ONE = 1n << BITS;

function atanInv(n: bigint): bigint {
  let sum = 0n;
  let term = ONE / n;
  const n2 = n * n;
  for (let k = 1n; term !== 0n; k += 2n) {
    sum += (k & 2n ? -term : term) / k;
    term /= n2;
  }
  return sum;
}

const PI = 16n * atanInv(5n) - 4n * atanInv(239n);

function toFixed(x: number): bigint {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const bits = view.getBigUint64(0);
  const e = Number((bits >> 52n) & 0x7ffn);
  let m = bits & ((1n << 52n) - 1n);
  if (e !== 0) m |= 1n << 52n;
  const exp = (e === 0 ? -1074 : e - 1075) + Number(BITS);
  const v = exp >= 0 ? m << BigInt(exp) : m >> BigInt(-exp);
  return bits >> 63n ? -v : v;
}

/** A fixed-point value rounded to the nearest double. */
function toDouble(v: bigint): number {
  return Number(v) / 2 ** Number(BITS);
}

function sinCosFixed(x: bigint): [bigint, bigint] {
  // Reduce to [-pi, pi] first (inputs here are small).
  const twoPi = 2n * PI;
  while (x > PI) x -= twoPi;
  while (x < -PI) x += twoPi;
  const x2 = (x * x) >> BITS;
  let term = x;
  let s = x;
  for (let n = 1n; term !== 0n; n++) {
    term = -((term * x2) >> BITS) / (2n * n * (2n * n + 1n));
    s += term;
  }
  term = ONE;
  let c = ONE;
  for (let n = 1n; term !== 0n; n++) {
    term = -((term * x2) >> BITS) / ((2n * n - 1n) * (2n * n));
    c += term;
  }
  return [s, c];
}

function asinFixed(y: number): bigint {
  const target = toFixed(y);
  let z = toFixed(Math.asin(y));
  for (let i = 0; i < 4; i++) {
    const [s, c] = sinCosFixed(z);
    z += ((target - s) << BITS) / c;
  }
  return z;
}

describe('geo math', () => {
  it('sin, cos and asin are correctly rounded over the ranges the distance formula uses', () => {
    const r = rng(7);
    let mathDiffers = 0;
    for (let i = 0; i < 400; i++) {
      // Half angles of longitude/latitude differences, latitudes in radians, tiny angles.
      const x = i % 3 === 0 ? (r() - 0.5) * Math.PI : i % 3 === 1 ? (r() - 0.5) * 0.02 : (r() - 0.5) * 3.2;
      const [s, c] = sinCosFixed(toFixed(x));
      expect(sin(x)).toBe(toDouble(s));
      expect(cos(x)).toBe(toDouble(c));
      const y = i % 2 === 0 ? r() * 0.999 : r() * 0.01;
      expect(asin(y)).toBe(toDouble(asinFixed(y)));
      if (Math.sin(x) !== toDouble(s) || Math.cos(x) !== toDouble(c) || Math.asin(y) !== toDouble(asinFixed(y))) mathDiffers++;
    }
    // V8's own functions miss the correctly rounded result now and then: that is the point.
    expect(mathDiffers).toBeGreaterThan(0);
  });

  it('encodes points as Redis does (scores, decoded coordinates, geohash strings)', () => {
    // Values from redis-server 7.0 (GEOADD Sicily 13.361389 38.115556 Palermo ...).
    expect(encodeScore(13.361389, 38.115556)).toBe(3479099956230698);
    expect(encodeScore(15.087269, 37.502669)).toBe(3479447370796909);
    const [lon, lat] = decodeScore(3479099956230698);
    expect(lon).toBe(13.361389338970184);
    expect(lat).toBe(38.1155563954963);
    expect(standardGeohash(3479099956230698)).toBe('sqc8b49rny0');
    expect(standardGeohash(3479447370796909)).toBe('sqdtr74hyu0');
    expect(encodeScore(200, 10)).toBeUndefined();
  });

  it('prints fixed-point numbers as glibc printf does (exact, ties to even)', () => {
    expect(formatFixed(0.0078125, 6)).toBe('0.007812');
    expect(formatFixed(0.0234375, 6)).toBe('0.023438');
    expect(formatFixed(166274.15156960033, 4)).toBe('166274.1516');
    expect(formatFixed(-0.5, 0)).toBe('-0');
    expect(formatFixed(1e21, 2)).toBe('1000000000000000000000.00');
  });
});

describe.skipIf(!haveRedisServer())('geo on a big point set, Shale vs redis-server', () => {
  const CONF = ['--zset-max-listpack-entries', '16'];
  let redis: RedisReference;
  let shale: ShaleProcess;
  let rc: RawClient;
  let sc: RawClient;

  beforeAll(async () => {
    [redis, shale] = await Promise.all([RedisReference.start(CONF), ShaleProcess.start({ args: CONF })]);
    rc = await RawClient.connect(redis.port);
    sc = await RawClient.connect(shale.port);
    const r = rng(42);
    const args = ['GEOADD', 'pts'];
    for (let i = 0; i < 1500; i++) args.push((10 + r() * 10).toFixed(6), (35 + r() * 10).toFixed(6), `p${i}`);
    for (const c of [rc, sc]) expect(await c.call(...args)).toBe(':1500');
  }, 60_000);

  afterAll(async () => {
    rc?.close();
    sc?.close();
    await Promise.all([redis?.stop(), shale?.cleanup()]);
  });

  const both = async (...cmd: string[]): Promise<[Raw, Raw]> => [await rc.call(...cmd), await sc.call(...cmd)];

  it('is split in Shale and answers every search exactly like Redis', async () => {
    expect(await sc.call('OBJECT', 'ENCODING', 'pts')).toBe('$skiplist');
    const queries: string[][] = [
      ['GEOSEARCH', 'pts', 'FROMLONLAT', '15', '40', 'BYRADIUS', '50', 'km', 'WITHDIST', 'WITHCOORD', 'WITHHASH'],
      ['GEOSEARCH', 'pts', 'FROMLONLAT', '15', '40', 'BYRADIUS', '300', 'km', 'ASC', 'WITHDIST'],
      ['GEOSEARCH', 'pts', 'FROMMEMBER', 'p7', 'BYBOX', '200', '100', 'km', 'DESC', 'COUNT', '25'],
      ['GEOSEARCH', 'pts', 'FROMMEMBER', 'p9', 'BYRADIUS', '2000', 'km', 'COUNT', '5', 'ANY'],
      ['GEORADIUS', 'pts', '12', '37', '150', 'mi', 'WITHDIST', 'ASC'],
      ['GEORADIUSBYMEMBER', 'pts', 'p100', '80', 'km', 'WITHCOORD'],
      ['GEOSEARCH', 'pts', 'FROMLONLAT', '10', '35', 'BYBOX', '150', '150', 'km'],
      ['GEOSEARCH', 'pts', 'FROMLONLAT', '-170', '80', 'BYRADIUS', '10000', 'km', 'COUNT', '3'],
    ];
    for (const q of queries) {
      const [want, got] = await both(...q);
      expect(got, q.join(' ')).toEqual(want);
      expect(Array.isArray(want) && want.length > 0, q.join(' ')).toBe(true);
    }
    const members = Array.from({ length: 1500 }, (_, i) => `p${i}`);
    const [pos1, pos2] = await both('GEOPOS', 'pts', ...members.slice(0, 300));
    expect(pos2).toEqual(pos1);
    const [h1, h2] = await both('GEOHASH', 'pts', ...members.slice(0, 300));
    expect(h2).toEqual(h1);
  });

  it('breaks ties among equal distances as Redis does, in whole and in COUNT-cut sorts', async () => {
    // Points in 6 spots only, so that most distances are shared by many members.
    const r = rng(9);
    const spots = Array.from({ length: 6 }, () => [(12 + r() * 3).toFixed(4), (37 + r() * 2).toFixed(4)]);
    const args = ['GEOADD', 'ties'];
    for (let i = 0; i < 300; i++) args.push(...spots[Math.floor(r() * spots.length)]!, `t${i}`);
    await both(...args);
    for (const count of ['1', '7', '40', '150', '299', '1000']) {
      for (const order of ['ASC', 'DESC']) {
        const q = ['GEOSEARCH', 'ties', 'FROMLONLAT', '13', '38', 'BYRADIUS', '500', 'km', order, 'COUNT', count];
        const [want, got] = await both(...q);
        expect(got, q.join(' ')).toEqual(want);
      }
    }
  });

  it('stores distances that agree with Redis to the last bit nearly always', async () => {
    const [n1, n2] = await both('GEOSEARCHSTORE', 'd', 'pts', 'FROMLONLAT', '15', '40', 'BYRADIUS', '400', 'km', 'STOREDIST');
    expect(n2).toEqual(n1);
    const [a, b] = (await both('ZRANGE', 'd', '0', '-1', 'WITHSCORES')) as [string[], string[]];
    let exact = 0;
    for (let i = 0; i < a.length; i += 2) {
      expect(b[i]).toBe(a[i]);
      const x = Number(a[i + 1]!.slice(1));
      const y = Number(b[i + 1]!.slice(1));
      expect(Math.abs(x - y)).toBeLessThanOrEqual(Math.abs(x) * 1e-15);
      if (x === y) exact++;
    }
    // Correctly rounded libm functions differ from glibc's rarely (see zset-geomath.ts).
    expect(exact / (a.length / 2)).toBeGreaterThan(0.97);
    const [d1, d2] = await both('GEODIST', 'pts', 'p1', 'p2', 'km');
    expect(d2).toEqual(d1);
  });
});
