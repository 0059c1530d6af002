/**
 * Correctly rounded sin, cos and asin for the geo distance formula.
 *
 * Redis computes distances with glibc's libm; V8's Math.sin/cos/asin are within an ulp but
 * differ from glibc's last bit for about 2% of arguments, which shows in stored distances
 * (STOREDIST) and at the edge of a radius. These evaluate in double-double arithmetic (about
 * 100 bits) and round once. glibc's own results are not always correctly rounded either, so a
 * last-bit difference remains possible for about 0.1% of arguments (measured against glibc
 * 2.36); reply texts (WITHDIST, GEODIST: 4 decimals) are practically never affected.
 *
 * Method: x = k*pi/2 + r (double-double reduction with a 3-part pi/2), r = j/64 + b with
 * sin/cos(j/64) from a table computed at load time, and short Taylor series for b. All
 * arithmetic is straight-line on locals (no allocation): a few hundred nanoseconds a call.
 */

const SPLITTER = 134217729; // 2^27 + 1, for Veltkamp splitting

/** pi/2 as three doubles (about 160 bits). */
const PIO2_1 = 1.5707963267948966;
const PIO2_2 = 6.123233995736766e-17;
const PIO2_3 = -1.4973849048591698e-33;

// Results of the two-part helpers below. A typed array, not variables: writing a double to a
// module variable boxes it (one allocation per operation), writing to a Float64Array does not.
const R = new Float64Array(6);
const H_ = 0;
const L_ = 1;

/** (ah + al) * (bh + bl) -> R[H_] + R[L_]. */
function ddMul(ah: number, al: number, bh: number, bl: number): void {
  const p = ah * bh;
  let t = SPLITTER * ah;
  const ahh = t - (t - ah);
  const ahl = ah - ahh;
  t = SPLITTER * bh;
  const bhh = t - (t - bh);
  const bhl = bh - bhh;
  const e = ahh * bhh - p + ahh * bhl + ahl * bhh + ahl * bhl + (ah * bl + al * bh);
  R[H_] = p + e;
  R[L_] = e - (R[H_]! - p);
}

/** (ah + al) + (bh + bl) -> R[H_] + R[L_]. */
function ddAdd(ah: number, al: number, bh: number, bl: number): void {
  const s = ah + bh;
  const bb = s - ah;
  const e = ah - (s - bb) + (bh - bb) + (al + bl);
  R[H_] = s + e;
  R[L_] = e - (R[H_]! - s);
}

// ------------------------------------------------------------------ table of sin/cos(j/64)

const STEPS = 64;
const TABLE_MAX = 52; // |r| <= pi/4 < 52/64
const TAB = new Float64Array((2 * TABLE_MAX + 1) * 4); // sin hi, sin lo, cos hi, cos lo

/** The exact value of x as a big fraction, for the load-time table (x = m * 2^e). */
function bigOf(x: number): [bigint, number] {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const bits = view.getBigUint64(0);
  const e = Number((bits >> 52n) & 0x7ffn);
  let m = bits & ((1n << 52n) - 1n);
  if (e !== 0) m |= 1n << 52n;
  const sign = bits >> 63n ? -1n : 1n;
  return [sign * m, e === 0 ? -1074 : e - 1075];
}

const FRAC = 200n; // fixed-point bits for the table computation

/** sin and cos of x (|x| < 1) in fixed point with FRAC fractional bits. */
function fixedSinCos(x: number): [bigint, bigint] {
  const [m, e] = bigOf(x);
  const one = 1n << FRAC;
  const xf = e >= 0 ? (m << BigInt(e)) << FRAC : (m << FRAC) >> BigInt(-e);
  const x2 = (xf * xf) >> FRAC;
  let term = xf;
  let sin = xf;
  for (let n = 1n; n < 60n; n++) {
    term = -((term * x2) >> FRAC) / ((2n * n) * (2n * n + 1n));
    if (term === 0n) break;
    sin += term;
  }
  term = one;
  let cos = one;
  for (let n = 1n; n < 60n; n++) {
    term = -((term * x2) >> FRAC) / ((2n * n - 1n) * (2n * n));
    if (term === 0n) break;
    cos += term;
  }
  return [sin, cos];
}

/** A fixed-point value as a double-double. */
function fixedToDD(v: bigint): [number, number] {
  const hi = Number(v) / 2 ** Number(FRAC);
  // Subtract hi exactly in fixed point to get the remainder.
  const [m, e] = bigOf(hi);
  const hiFixed = e >= 0 ? (m << BigInt(e)) << FRAC : (m << FRAC) >> BigInt(-e);
  const lo = Number(v - hiFixed) / 2 ** Number(FRAC);
  return [hi, lo];
}

for (let j = -TABLE_MAX; j <= TABLE_MAX; j++) {
  const [s, c] = fixedSinCos(j / STEPS);
  const at = (j + TABLE_MAX) * 4;
  [TAB[at], TAB[at + 1]] = fixedToDD(s);
  [TAB[at + 2], TAB[at + 3]] = fixedToDD(c);
}

// ------------------------------------------------------------------ sin / cos

/** -1/6 as a double-double. */
const C6H = -1 / 6;
const C6L = -9.25185853854297e-18;
const SH_ = 2;
const SL_ = 3;
const CH_ = 4;
const CL_ = 5;

/** sin(x), cos(x) -> R[SH_] + R[SL_], R[CH_] + R[CL_]. */
function sinCos(x: number): void {
  const k = Math.round(x / PIO2_1);
  // r = x - k*pi/2
  const ph = k * PIO2_1;
  let t = SPLITTER * k;
  const kh = t - (t - k);
  const kl = k - kh;
  t = SPLITTER * PIO2_1;
  const p1h = t - (t - PIO2_1);
  const p1l = PIO2_1 - p1h;
  const pl = kh * p1h - ph + kh * p1l + kl * p1h + kl * p1l;
  const s = x - ph; // exact when x is near k*pi/2 (Sterbenz); else twoSum's error term below
  const bb = s - x;
  const e0 = x - (s - bb) + (-ph - bb);
  const lo = e0 - pl - k * PIO2_2 - k * PIO2_3;
  const rh = s + lo;
  const rl = lo - (rh - s);
  // r = a + b, a = j/64 from the table
  const j = Math.round(rh * STEPS);
  const bh = rh - j / STEPS; // exact
  const bl = rl;
  const at = (j + TABLE_MAX) * 4;
  const sah = TAB[at]!;
  const sal = TAB[at + 1]!;
  const cah = TAB[at + 2]!;
  const cal = TAB[at + 3]!;
  // b^2, b^3
  ddMul(bh, bl, bh, bl);
  const b2h = R[H_]!;
  const b2l = R[L_]!;
  ddMul(b2h, b2l, bh, bl);
  const b3h = R[H_]!;
  const b3l = R[L_]!;
  // sin b = b + b^3 * (-1/6 + b^2/120 - b^4/5040 + b^6/362880 - b^8/39916800)
  const p = b2h * (1 / 120 + b2h * (-1 / 5040 + b2h * (1 / 362880 - b2h / 39916800)));
  ddAdd(C6H, C6L, p, 0);
  ddMul(b3h, b3l, R[H_]!, R[L_]!);
  ddAdd(bh, bl, R[H_]!, R[L_]!);
  const sbh = R[H_]!;
  const sbl = R[L_]!;
  // cos b - 1 = -b^2/2 + b^4 * (1/24 - b^2/720 + b^4/40320 - b^6/3628800)
  const b4 = b2h * b2h;
  const q = b4 * (1 / 24 + b2h * (-1 / 720 + b2h * (1 / 40320 - b2h / 3628800)));
  ddAdd(-b2h / 2, -b2l / 2, q, 0);
  const cmh = R[H_]!;
  const cml = R[L_]!;
  // sin r = sa + sa*(cos b - 1) + ca*sin b;  cos r = ca + ca*(cos b - 1) - sa*sin b
  ddMul(sah, sal, cmh, cml);
  const t1h = R[H_]!;
  const t1l = R[L_]!;
  ddMul(cah, cal, sbh, sbl);
  ddAdd(t1h, t1l, R[H_]!, R[L_]!);
  ddAdd(sah, sal, R[H_]!, R[L_]!);
  const srh = R[H_]!;
  const srl = R[L_]!;
  ddMul(cah, cal, cmh, cml);
  const t2h = R[H_]!;
  const t2l = R[L_]!;
  ddMul(sah, sal, sbh, sbl);
  ddAdd(t2h, t2l, -R[H_]!, -R[L_]!);
  ddAdd(cah, cal, R[H_]!, R[L_]!);
  const crh = R[H_]!;
  const crl = R[L_]!;
  const quadrant = k & 3;
  if (quadrant === 0) {
    R[SH_] = srh;
    R[SL_] = srl;
    R[CH_] = crh;
    R[CL_] = crl;
  } else if (quadrant === 1) {
    R[SH_] = crh;
    R[SL_] = crl;
    R[CH_] = -srh;
    R[CL_] = -srl;
  } else if (quadrant === 2) {
    R[SH_] = -srh;
    R[SL_] = -srl;
    R[CH_] = -crh;
    R[CL_] = -crl;
  } else {
    R[SH_] = -crh;
    R[SL_] = -crl;
    R[CH_] = srh;
    R[CL_] = srl;
  }
}

/** Beyond this the simple reduction loses accuracy; geo math never gets there. */
const LARGE = 1e5;

export function sin(x: number): number {
  if (!(Math.abs(x) <= LARGE)) return Math.sin(x);
  if (x === 0) return x; // keeps -0
  sinCos(x);
  return R[SH_]! + R[SL_]!;
}

export function cos(x: number): number {
  if (!(Math.abs(x) <= LARGE)) return Math.cos(x);
  sinCos(x);
  return R[CH_]! + R[CL_]!;
}

// ------------------------------------------------------------------ asin

/** asin of sh + sl (0 <= value <= ~0.5) -> R[H_] + R[L_]: one Newton step on sin from Math.asin. */
function asinSmall(sh: number, sl: number): void {
  const z0 = Math.asin(sh + sl);
  sinCos(z0);
  const residual = sh - R[SH_]! - R[SL_]! + sl; // sh - sin(z0).hi is exact (Sterbenz)
  const corr = residual / R[CH_]!;
  R[H_] = z0 + corr;
  R[L_] = corr - (R[H_]! - z0);
}

export function asin(y: number): number {
  if (!(y >= -1 && y <= 1)) return NaN;
  if (y === 0) return y;
  const a = Math.abs(y);
  let v: number;
  if (a <= 0.5) {
    asinSmall(a, 0);
    v = R[H_]! + R[L_]!;
  } else {
    // asin(a) = pi/2 - 2 asin(sqrt((1 - a) / 2)); 1 - a and the halving are exact.
    const t = (1 - a) / 2;
    const sh = Math.sqrt(t);
    ddMul(sh, 0, sh, 0);
    const sl = sh === 0 ? 0 : (t - R[H_]! - R[L_]!) / (2 * sh);
    asinSmall(sh, sl);
    ddAdd(PIO2_1, PIO2_2, -2 * R[H_]!, -2 * R[L_]!);
    v = R[H_]! + (R[L_]! + PIO2_3);
  }
  return y < 0 ? -v : v;
}
