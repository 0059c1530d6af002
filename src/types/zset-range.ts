/**
 * Score and lexicographic ranges of sorted-set commands, parsed exactly as Redis 7.0 parses
 * them (zslParseRange, zslParseLexRange), with C's strtod underneath (hex floats, "inf",
 * leading spaces...), and Redis's float argument rule (getDoubleFromObject).
 */

const SPACE = new Set([' ', '\t', '\n', '\v', '\f', '\r']);
const DEC = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/;
const HEX = /^([+-]?)0[xX]((?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+))(?:[pP]([+-]?\d+))?/;
const INF = /^[+-]?(?:infinity|inf)/i;
const NAN = /^[+-]?nan(?:\([0-9a-zA-Z_]*\))?/i;

export interface Strtod {
  value: number;
  /** Index just past what was parsed (0 when nothing was: strtod's endptr == nptr). */
  end: number;
  /** errno == ERANGE: overflow to infinity, or underflow to zero, of a finite literal. */
  erange: boolean;
}

/** glibc strtod over a binary string. */
export function strtod(s: string): Strtod {
  const plain = plainDecimal(s);
  if (plain !== undefined) return { value: plain, end: s.length, erange: false };
  let i = 0;
  while (i < s.length && SPACE.has(s[i]!)) i++;
  const rest = s.slice(i);
  let m = INF.exec(rest);
  if (m) return { value: m[0].startsWith('-') ? -Infinity : Infinity, end: i + m[0].length, erange: false };
  m = NAN.exec(rest);
  if (m) return { value: NaN, end: i + m[0].length, erange: false };
  m = HEX.exec(rest);
  if (m) {
    const v = hexValue(m[2]!, m[3] === undefined ? 0 : Number(m[3]));
    const zero = !/[1-9a-fA-F]/.test(m[2]!);
    const value = m[1] === '-' ? -v : v;
    return { value, end: i + m[0].length, erange: (!Number.isFinite(v) || (v === 0 && !zero)) };
  }
  m = DEC.exec(rest);
  if (m) {
    const v = Number(m[0]);
    const zero = !/[1-9]/.test(m[0].replace(/[eE].*$/, ''));
    return { value: v, end: i + m[0].length, erange: !Number.isFinite(v) || (v === 0 && !zero) };
  }
  // "0x" without hex digits parses as "0" (strtod's longest valid prefix).
  if (/^[+-]?0[xX]/.test(rest)) return { value: rest.startsWith('-') ? -0 : 0, end: i + rest.indexOf('0') + 1, erange: false };
  return { value: 0, end: 0, erange: false };
}

/**
 * The common case without the regexes (a score like "0" or "-1.5"): an optional sign, digits
 * with at most one dot, at least one digit, at most 20 characters (so never out of range).
 * Number() then rounds exactly as strtod does.
 */
function plainDecimal(s: string): number | undefined {
  const n = s.length;
  if (n === 0 || n > 20) return undefined;
  let i = s.charCodeAt(0) === 45 || s.charCodeAt(0) === 43 ? 1 : 0;
  let digits = 0;
  let dot = false;
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) digits++;
    else if (c === 46 && !dot) dot = true;
    else return undefined;
  }
  return digits > 0 ? Number(s) : undefined;
}

/** A hex mantissa with its binary exponent, correctly rounded to a double. */
function hexValue(digits: string, pexp: number): number {
  const dot = digits.indexOf('.');
  const frac = dot < 0 ? 0 : digits.length - dot - 1;
  let mant = BigInt('0x' + (digits.replace('.', '') || '0'));
  let e = pexp - 4 * frac;
  if (mant === 0n) return 0;
  // Keep 64 significant bits plus a sticky bit, then let the double conversion round once.
  const bits = mant.toString(2).length;
  if (bits > 64) {
    const drop = BigInt(bits - 64);
    const sticky = mant & ((1n << drop) - 1n) ? 1n : 0n;
    mant = (mant >> drop) | sticky;
    e += bits - 64;
  }
  return scale2(mant, e);
}

/** mant * 2^e rounded to nearest-even as a double. */
function scale2(mant: bigint, e: number): number {
  const bits = mant.toString(2).length;
  if (bits > 53) {
    const drop = bits - 53;
    const rem = mant & ((1n << BigInt(drop)) - 1n);
    const half = 1n << BigInt(drop - 1);
    mant >>= BigInt(drop);
    if (rem > half || (rem === half && (mant & 1n) === 1n)) mant += 1n;
    e += drop;
  }
  let x = Number(mant);
  // x * 2^e in steps, so 2^e itself never overflows or underflows.
  while (e > 1000 && Number.isFinite(x)) {
    x *= 2 ** 1000;
    e -= 1000;
  }
  while (e < -1000 && x !== 0) {
    x *= 2 ** -1000;
    e += 1000;
  }
  return x * 2 ** e;
}

/**
 * getDoubleFromObject: the whole string must be a number, no leading space, not NaN, and not
 * an overflow or underflow to zero.
 */
export function parseFloatArg(s: string): number | undefined {
  if (s.length === 0 || SPACE.has(s[0]!)) return undefined;
  const r = strtod(s);
  if (r.end !== s.length || Number.isNaN(r.value) || r.erange) return undefined;
  return r.value;
}

// ------------------------------------------------------------------ score ranges

export interface ScoreRange {
  min: number;
  max: number;
  minex: boolean;
  maxex: boolean;
}

/** One zslParseRange bound: strtod, '(' for exclusive, stopping at the end or a NUL byte. */
function parseBound(s: string): { v: number; ex: boolean } | undefined {
  const ex = s.startsWith('(');
  const body = ex ? s.slice(1) : s;
  const r = strtod(body);
  if ((r.end !== body.length && body[r.end] !== '\0') || Number.isNaN(r.value)) return undefined;
  return { v: r.value, ex };
}

export function parseScoreRange(min: string, max: string): ScoreRange | undefined {
  const a = parseBound(min);
  const b = parseBound(max);
  if (!a || !b) return undefined;
  return { min: a.v, max: b.v, minex: a.ex, maxex: b.ex };
}

export function scoreGteMin(v: number, r: ScoreRange): boolean {
  return r.minex ? v > r.min : v >= r.min;
}

export function scoreLteMax(v: number, r: ScoreRange): boolean {
  return r.maxex ? v < r.max : v <= r.max;
}

/** A range that can never hold anything (zslIsInRange's first test). */
export function scoreRangeEmpty(r: ScoreRange): boolean {
  return r.min > r.max || (r.min === r.max && (r.minex || r.maxex));
}

// ------------------------------------------------------------------ lex ranges

/** '-' and '+' are the smallest and largest strings; others compare bytewise. */
export type LexBound = { kind: 'min' } | { kind: 'max' } | { kind: 'str'; s: string; ex: boolean };

export interface LexRange {
  min: LexBound;
  max: LexBound;
}

function parseLexItem(s: string): LexBound | undefined {
  switch (s[0]) {
    case '+':
      return s.length === 1 || s[1] === '\0' ? { kind: 'max' } : undefined;
    case '-':
      return s.length === 1 || s[1] === '\0' ? { kind: 'min' } : undefined;
    case '(':
      return { kind: 'str', s: s.slice(1), ex: true };
    case '[':
      return { kind: 'str', s: s.slice(1), ex: false };
    default:
      return undefined;
  }
}

export function parseLexRange(min: string, max: string): LexRange | undefined {
  const a = parseLexItem(min);
  const b = parseLexItem(max);
  if (!a || !b) return undefined;
  return { min: a, max: b };
}

/** sdscmplex of a member against a bound. */
function cmpLex(v: string, b: LexBound): number {
  if (b.kind === 'min') return 1;
  if (b.kind === 'max') return -1;
  return v < b.s ? -1 : v > b.s ? 1 : 0;
}

/** Whether a bound is exclusive ('-' and '+' count as exclusive, as in Redis). */
function lexEx(b: LexBound): boolean {
  return b.kind !== 'str' || b.ex;
}

export function lexGteMin(v: string, r: LexRange): boolean {
  const c = cmpLex(v, r.min);
  return lexEx(r.min) ? c > 0 : c >= 0;
}

export function lexLteMax(v: string, r: LexRange): boolean {
  const c = cmpLex(v, r.max);
  return lexEx(r.max) ? c < 0 : c <= 0;
}

/** zslIsInLexRange's first test: a range that can never hold anything. */
export function lexRangeEmpty(r: LexRange): boolean {
  const { min, max } = r;
  let cmp: number;
  if (min.kind === max.kind && min.kind !== 'str') cmp = 0;
  else if (min.kind === 'min' || max.kind === 'max') cmp = -1;
  else if (min.kind === 'max' || max.kind === 'min') cmp = 1;
  else cmp = min.s < max.s ? -1 : min.s > max.s ? 1 : 0;
  return cmp > 0 || (cmp === 0 && (lexEx(min) || lexEx(max)));
}
