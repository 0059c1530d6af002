/**
 * Redis's number parsing and formatting rules, reproduced exactly: clients and test suites
 * depend on which strings are accepted as integers/floats and on the formatting of float results.
 */

const LLONG_MAX = 9223372036854775807n;
const LLONG_MIN = -9223372036854775808n;

/** Redis string2ll: no sign '+', no leading zeros, no spaces, length < 21, fits int64. */
export function parseInt64(s: string): bigint | undefined {
  const n = s.length;
  if (n === 0 || n >= 21) return undefined;
  if (n === 1 && s === '0') return 0n;
  let i = 0;
  if (s.charCodeAt(0) === 45 /* - */) {
    i = 1;
    if (n === 1) return undefined;
  }
  const c0 = s.charCodeAt(i);
  if (c0 < 49 || c0 > 57) return undefined;
  for (let j = i + 1; j < n; j++) {
    const c = s.charCodeAt(j);
    if (c < 48 || c > 57) return undefined;
  }
  const v = BigInt(s);
  if (v > LLONG_MAX || v < LLONG_MIN) return undefined;
  return v;
}

/** parseInt64 as a JS number when it is exactly representable, else undefined. */
export function parseSafeInt(s: string): number | undefined {
  if (s.length > 0 && s.length <= 15) {
    const v = parseInt64(s);
    return v === undefined ? undefined : Number(v);
  }
  const v = parseInt64(s);
  if (v === undefined || v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) return undefined;
  return Number(v);
}

export function inInt64(v: bigint): boolean {
  return v <= LLONG_MAX && v >= LLONG_MIN;
}

/** Integer reply value: a number when safe, else a bigint. */
export function intReply(v: bigint): number | bigint {
  return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v;
}

/** Redis string2l-style check used for OBJECT ENCODING int (value fits a C long). */
export function isIntEncodable(s: string): boolean {
  return s.length <= 20 && parseInt64(s) !== undefined;
}

// ---------------------------------------------------------------------------------------------
// x87 80-bit long double emulation. INCRBYFLOAT / HINCRBYFLOAT compute in long double and print
// with "%.17Lf", so 0.1 + 0.2 prints "0.3" in Redis; doing it in JS doubles would not match.
// A finite value is sign * mant * 2^exp with a 64-bit mantissa, rounded to nearest-even.

export interface LongDouble {
  /** 'f' finite, 'i' infinity, 'n' NaN. */
  kind: 'f' | 'i' | 'n';
  neg: boolean;
  /** Finite: |value| = mant * 2^exp; mant is 0 for zero. */
  mant: bigint;
  exp: number;
}

const MANT_BITS = 64;
/** Exponent of the least significant mantissa bit of the smallest subnormal. */
const MIN_LSB_EXP = -16445;
/** Largest finite value is below 2^16384. */
const MAX_EXP_LIMIT = 16384;

function bitLength(v: bigint): number {
  return v === 0n ? 0 : v.toString(2).length;
}

/** Rounds exact value (n + sticky fraction) * 2^e (n >= 0) to a long double. */
function roundLD(neg: boolean, n: bigint, e: number, sticky: boolean): LongDouble {
  if (n === 0n) return { kind: 'f', neg, mant: 0n, exp: 0 };
  const bl = bitLength(n);
  let shift = Math.max(bl - MANT_BITS, MIN_LSB_EXP - e, 0);
  if (shift > 0) {
    if (shift > bl + 1) {
      // Everything shifted out; value below half the smallest step rounds to zero.
      return { kind: 'f', neg, mant: 0n, exp: 0 };
    }
    const big = BigInt(shift);
    const kept = n >> big;
    const rem = n - (kept << big);
    const half = 1n << (big - 1n);
    let m = kept;
    if (rem > half || (rem === half && (sticky || (kept & 1n) === 1n))) m += 1n;
    n = m;
    e += shift;
    if (bitLength(n) > MANT_BITS) {
      n >>= 1n;
      e += 1;
    }
  } else {
    shift = 0;
  }
  if (n === 0n) return { kind: 'f', neg, mant: 0n, exp: 0 };
  if (e + bitLength(n) > MAX_EXP_LIMIT) return { kind: 'i', neg, mant: 0n, exp: 0 };
  return { kind: 'f', neg, mant: n, exp: e };
}

const DEC_RE = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;
const HEX_RE = /^([+-]?)0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?(?:[pP]([+-]?\d+))?$/;
const INF_RE = /^([+-]?)(inf|infinity)$/i;
const NAN_RE = /^([+-]?)nan(\([0-9a-zA-Z_]*\))?$/i;

/** MAX_LONG_DOUBLE_CHARS in Redis. */
const MAX_LD_CHARS = 5 * 1024;

/**
 * Redis string2ld: strtold over the whole string, no leading whitespace, rejecting NaN and
 * overflow/underflow-to-zero (ERANGE). Returns undefined when Redis would reject the string.
 */
export function parseLongDouble(s: string): LongDouble | undefined {
  if (s.length === 0 || s.length >= MAX_LD_CHARS) return undefined;
  let m = INF_RE.exec(s);
  if (m) return { kind: 'i', neg: m[1] === '-', mant: 0n, exp: 0 };
  if (NAN_RE.test(s)) return undefined;
  m = HEX_RE.exec(s);
  if (m) {
    const ip = m[2] ?? '';
    const fp = m[3] ?? '';
    if (ip.length === 0 && fp.length === 0) return undefined;
    const mant = BigInt('0x' + (ip + fp || '0'));
    const pexp = m[4] === undefined ? 0 : Number(m[4]);
    const e = pexp - 4 * fp.length;
    return checkRange(roundLD(m[1] === '-', mant, clampExp(e), false), mant);
  }
  m = DEC_RE.exec(s);
  if (!m) return undefined;
  const ip = m[2] ?? '';
  const fp = m[3] ?? '';
  if (ip.length === 0 && fp.length === 0) return undefined;
  const neg = m[1] === '-';
  let digits = (ip + fp).replace(/^0+/, '');
  let dexp = (m[4] === undefined ? 0 : Number(m[4])) - fp.length;
  if (digits.length === 0) return { kind: 'f', neg, mant: 0n, exp: 0 };
  // Trailing zeros carry no information; fold them into the exponent.
  const t = digits.length - digits.replace(/0+$/, '').length;
  if (t > 0) {
    digits = digits.slice(0, digits.length - t);
    dexp += t;
  }
  const magnitude = digits.length + dexp; // value is in [10^(magnitude-1), 10^magnitude)
  if (magnitude > 4940) return undefined; // overflow: ERANGE with HUGE_VAL
  if (magnitude < -4960) return undefined; // underflow to zero: ERANGE
  const d = BigInt(digits);
  if (dexp >= 0) return checkRange(roundLD(neg, d * 10n ** BigInt(dexp), 0, false), d);
  const den = 10n ** BigInt(-dexp);
  // Scale so the quotient has at least MANT_BITS + 2 bits, the remainder is the sticky bit.
  const shift = MANT_BITS + 2 - (bitLength(d) - bitLength(den));
  let q: bigint;
  let r: bigint;
  if (shift >= 0) {
    const num = d << BigInt(shift);
    q = num / den;
    r = num - q * den;
  } else {
    const dd = den << BigInt(-shift);
    q = d / dd;
    r = d - q * dd;
  }
  return checkRange(roundLD(neg, q, -shift, r !== 0n), d);
}

function clampExp(e: number): number {
  return Math.max(Math.min(e, 100000), -100000);
}

function checkRange(v: LongDouble, input: bigint): LongDouble | undefined {
  if (v.kind === 'i') return undefined; // ERANGE overflow
  if (v.kind === 'f' && v.mant === 0n && input !== 0n) return undefined; // ERANGE underflow
  return v;
}

export function ldFromBigInt(v: bigint): LongDouble {
  const neg = v < 0n;
  return roundLD(neg, neg ? -v : v, 0, false);
}

export function ldIsFinite(v: LongDouble): boolean {
  return v.kind === 'f';
}

/** a + b with one rounding, as the FPU does. */
export function ldAdd(a: LongDouble, b: LongDouble): LongDouble {
  if (a.kind === 'n' || b.kind === 'n') return { kind: 'n', neg: false, mant: 0n, exp: 0 };
  if (a.kind === 'i' || b.kind === 'i') {
    if (a.kind === 'i' && b.kind === 'i' && a.neg !== b.neg) return { kind: 'n', neg: false, mant: 0n, exp: 0 };
    return a.kind === 'i' ? a : b;
  }
  if (a.mant === 0n && b.mant === 0n) return { kind: 'f', neg: a.neg && b.neg, mant: 0n, exp: 0 };
  if (a.mant === 0n) return b;
  if (b.mant === 0n) return a;
  const e = Math.min(a.exp, b.exp);
  const av = (a.neg ? -a.mant : a.mant) << BigInt(a.exp - e);
  const bv = (b.neg ? -b.mant : b.mant) << BigInt(b.exp - e);
  const s = av + bv;
  if (s === 0n) return { kind: 'f', neg: false, mant: 0n, exp: 0 };
  return roundLD(s < 0n, s < 0n ? -s : s, e, false);
}

/** Redis ld2string(LD_STR_HUMAN): "%.17Lf" with trailing zeros (and '.') removed, "-0" -> "0". */
export function formatLongDoubleHuman(v: LongDouble): string {
  if (v.kind === 'i') return v.neg ? '-inf' : 'inf';
  if (v.kind === 'n') return 'nan';
  let out: string;
  if (v.mant === 0n) {
    out = '0';
  } else if (v.exp >= 0) {
    out = (v.mant << BigInt(v.exp)).toString();
  } else {
    // round(mant * 10^17 / 2^-exp) to nearest, ties to even (glibc printf is exact).
    const den = 1n << BigInt(-v.exp);
    const num = v.mant * 10n ** 17n;
    let q = num / den;
    const r = num - q * den;
    const twice = r * 2n;
    if (twice > den || (twice === den && (q & 1n) === 1n)) q += 1n;
    const digits = q.toString().padStart(18, '0');
    const ip = digits.slice(0, digits.length - 17);
    const fp = digits.slice(digits.length - 17).replace(/0+$/, '');
    out = fp.length > 0 ? `${ip}.${fp}` : ip;
  }
  if (v.neg && out !== '0') out = '-' + out;
  return out;
}
