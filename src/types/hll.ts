/**
 * HyperLogLog in Redis's exact representation (hyperloglog.c), so HLL values are
 * byte-identical to Redis's: GET, DUMP/RESTORE and PFCOUNT agree across the two servers.
 *
 *   header (16 bytes): "HYLL" | encoding (0 dense, 1 sparse) | 3 unused | cached card (8, LE)
 *   dense:  16384 registers of 6 bits, LSB first across bytes (12288 bytes)
 *   sparse: run-length opcodes ZERO 00xxxxxx (1-64 zeros), XZERO 01xxxxxx yyyyyyyy
 *           (1-16384 zeros), VAL 1vvvvvxx (1-4 registers of value 1-32)
 *
 * The top bit of the last cached-cardinality byte marks the cache stale. Element hashes are
 * MurmurHash64A with seed 0xadc83b19; the estimator is Ertl's (Redis >= 5).
 *
 * A value being changed is an `Hll`: a Buffer with spare capacity and a used length, since
 * sparse updates grow and shrink it a few bytes at a time.
 */

export const HLL_P = 14;
export const HLL_Q = 64 - HLL_P;
export const HLL_REGISTERS = 1 << HLL_P;
const HLL_P_MASK = HLL_REGISTERS - 1;
export const HLL_HDR_SIZE = 16;
export const HLL_DENSE_SIZE = HLL_HDR_SIZE + Math.floor((HLL_REGISTERS * 6 + 7) / 8);
export const HLL_DENSE = 0;
export const HLL_SPARSE = 1;
const HLL_MAX_ENCODING = 1;
const SPARSE_VAL_MAX_VALUE = 32;
const SPARSE_VAL_MAX_LEN = 4;
const SPARSE_ZERO_MAX_LEN = 64;
const SPARSE_XZERO_MAX_LEN = 16384;
const ALPHA_INF = 0.721347520444481703680; // 0.5 / ln(2)
/** hll-sparse-max-bytes default. */
export const DEFAULT_SPARSE_MAX_BYTES = 3000;

/** A mutable HLL value: bytes [0, len) of b are the string. */
export interface Hll {
  b: Buffer;
  len: number;
}

export function hllFromString(s: string): Hll {
  // Room for the few bytes a sparse update may add without reallocating every time.
  const b = Buffer.alloc(s.length + 64);
  b.write(s, 0, 'latin1');
  return { b, len: s.length };
}

export function hllToString(h: Hll): string {
  return h.b.toString('latin1', 0, h.len);
}

/** isHLLObjectOrReply's checks on a string value (the caller checks the type). */
export function isValidHll(s: string): boolean {
  if (s.length < HLL_HDR_SIZE) return false;
  if (s.charCodeAt(0) !== 72 || s.charCodeAt(1) !== 89 || s.charCodeAt(2) !== 76 || s.charCodeAt(3) !== 76) return false;
  const enc = s.charCodeAt(4);
  if (enc > HLL_MAX_ENCODING) return false;
  if (enc === HLL_DENSE && s.length !== HLL_DENSE_SIZE) return false;
  return true;
}

export function encodingOf(h: Hll): number {
  return h.b[4]!;
}

/** createHLLObject: an empty sparse HLL (one XZERO opcode covering every register). */
export function createHll(): Hll {
  const b = Buffer.alloc(64);
  b.write('HYLL', 0, 'latin1');
  b[4] = HLL_SPARSE;
  xzeroSet(b, HLL_HDR_SIZE, HLL_REGISTERS);
  return { b, len: HLL_HDR_SIZE + 2 };
}

export function invalidateCache(h: Hll): void {
  h.b[15] = h.b[15]! | 0x80;
}

export function cacheValid(h: Hll): boolean {
  return (h.b[15]! & 0x80) === 0;
}

export function cachedCard(h: Hll): bigint {
  return h.b.readBigUInt64LE(8);
}

export function setCachedCard(h: Hll, card: number): void {
  h.b.writeBigUInt64LE(BigInt(card), 8);
}

// ------------------------------------------------------------------------------ hashing

const M_HI = 0xc6a4a793;
const M_LO = 0x5bd1e995;

/** (a * b) mod 2^64 on 32-bit halves, in 16-bit limbs so every product is exact. */
function mul64(ah: number, al: number, bh: number, bl: number): [number, number] {
  const a48 = ah >>> 16, a32 = ah & 0xffff, a16 = al >>> 16, a00 = al & 0xffff;
  const b48 = bh >>> 16, b32 = bh & 0xffff, b16 = bl >>> 16, b00 = bl & 0xffff;
  let c00 = a00 * b00;
  let c16 = c00 >>> 16;
  c00 &= 0xffff;
  c16 += a16 * b00;
  let c32 = Math.floor(c16 / 65536);
  c16 &= 0xffff;
  c16 += a00 * b16;
  c32 += Math.floor(c16 / 65536);
  c16 &= 0xffff;
  c32 += a32 * b00;
  let c48 = Math.floor(c32 / 65536);
  c32 &= 0xffff;
  c32 += a16 * b16;
  c48 += Math.floor(c32 / 65536);
  c32 &= 0xffff;
  c32 += a00 * b32;
  c48 += Math.floor(c32 / 65536);
  c32 &= 0xffff;
  c48 += a48 * b00 + a32 * b16 + a16 * b32 + a00 * b48;
  c48 %= 65536;
  return [((c48 << 16) | c32) >>> 0, ((c16 << 16) | c00) >>> 0];
}

/** MurmurHash64A(key, len, seed) as Redis computes it (little-endian blocks), as [hi, lo]. */
export function murmurHash64A(key: string, seed: number): [number, number] {
  const len = key.length;
  // h = seed ^ (len * m)
  let [hh, hl] = mul64(0, len >>> 0, M_HI, M_LO);
  hl = (hl ^ (seed >>> 0)) >>> 0;
  const blocks = len - (len & 7);
  let i = 0;
  for (; i < blocks; i += 8) {
    let kl = (key.charCodeAt(i) | (key.charCodeAt(i + 1) << 8) | (key.charCodeAt(i + 2) << 16) | (key.charCodeAt(i + 3) << 24)) >>> 0;
    let kh = (key.charCodeAt(i + 4) | (key.charCodeAt(i + 5) << 8) | (key.charCodeAt(i + 6) << 16) | (key.charCodeAt(i + 7) << 24)) >>> 0;
    [kh, kl] = mul64(kh, kl, M_HI, M_LO);
    kl = (kl ^ (kh >>> 15)) >>> 0; // k ^= k >> 47
    [kh, kl] = mul64(kh, kl, M_HI, M_LO);
    hh = (hh ^ kh) >>> 0;
    hl = (hl ^ kl) >>> 0;
    [hh, hl] = mul64(hh, hl, M_HI, M_LO);
  }
  const rest = len & 7;
  if (rest) {
    for (let j = rest - 1; j >= 0; j--) {
      const byte = key.charCodeAt(i + j);
      if (j >= 4) hh = (hh ^ (byte << (8 * (j - 4)))) >>> 0;
      else hl = (hl ^ (byte << (8 * j))) >>> 0;
    }
    [hh, hl] = mul64(hh, hl, M_HI, M_LO);
  }
  hl = (hl ^ (hh >>> 15)) >>> 0;
  [hh, hl] = mul64(hh, hl, M_HI, M_LO);
  hl = (hl ^ (hh >>> 15)) >>> 0;
  return [hh, hl];
}

function ctz32(x: number): number {
  return 31 - Math.clz32(x & -x);
}

/**
 * hllPatLen: the register an element maps to (low 14 hash bits) and the length of the
 * 000..1 pattern in the remaining 50 bits (1..51).
 */
export function patLen(ele: string): { index: number; count: number } {
  const [hi, lo] = murmurHash64A(ele, 0xadc83b19);
  const index = lo & HLL_P_MASK;
  const low18 = lo >>> HLL_P;
  let count: number;
  if (low18 !== 0) count = 1 + ctz32(low18);
  else if (hi !== 0) count = 1 + 18 + ctz32(hi);
  else count = HLL_Q + 1;
  return { index, count };
}

// ------------------------------------------------------------------------------ dense

/** HLL_DENSE_GET_REGISTER on the registers starting at byte `at` (bytes past the end read 0). */
export function denseGet(b: Uint8Array, at: number, reg: number): number {
  const byte = at + ((reg * 6) >> 3);
  const fb = (reg * 6) & 7;
  const b0 = b[byte]!;
  const b1 = b[byte + 1] ?? 0;
  return ((b0 >> fb) | (b1 << (8 - fb))) & 63;
}

export function denseSet(b: Uint8Array, at: number, reg: number, val: number): void {
  const byte = at + ((reg * 6) >> 3);
  const fb = (reg * 6) & 7;
  const fb8 = 8 - fb;
  b[byte] = (b[byte]! & ~(63 << fb)) | ((val << fb) & 255);
  if (byte + 1 < b.length) b[byte + 1] = (b[byte + 1]! & ~(63 >> fb8)) | (val >> fb8);
}

/** hllDenseSet: raise register `reg` to count; 1 if it changed. */
function denseSetMax(h: Hll, reg: number, count: number): number {
  if (count > denseGet(h.b, HLL_HDR_SIZE, reg)) {
    denseSet(h.b, HLL_HDR_SIZE, reg, count);
    return 1;
  }
  return 0;
}

// ------------------------------------------------------------------------------ sparse

const isZero = (op: number) => (op & 0xc0) === 0;
const isXzero = (op: number) => (op & 0xc0) === 0x40;
const isVal = (op: number) => (op & 0x80) !== 0;
const zeroLen = (op: number) => (op & 0x3f) + 1;
const xzeroLen = (op: number, next: number) => (((op & 0x3f) << 8) | next) + 1;
const valValue = (op: number) => ((op >> 2) & 0x1f) + 1;
const valLen = (op: number) => (op & 3) + 1;
const valOp = (val: number, len: number) => (((val - 1) << 2) | (len - 1) | 0x80) & 255;

function xzeroSet(b: Uint8Array, at: number, len: number): void {
  const l = len - 1;
  b[at] = ((l >> 8) | 0x40) & 255;
  b[at + 1] = l & 255;
}

/**
 * Byte i of the value where i may be one past its end: Redis reads the sds terminator there
 * (an XZERO opcode cut short by corruption), which is 0 unless a split in the same command
 * wrote past the new end (see sparseSet), as C's memcpy does.
 */
function byteAt(h: Hll, i: number): number {
  return h.b[i] ?? 0;
}

/** Walks the sparse opcodes: calls fn(value, runlen) per opcode; false = a run overflows. */
function walkSparse(h: Hll, fn: (value: number, run: number) => void): { ok: boolean; idx: number } {
  let idx = 0;
  let p = HLL_HDR_SIZE;
  while (p < h.len) {
    const op = h.b[p]!;
    let run: number;
    let value = 0;
    if (isZero(op)) {
      run = zeroLen(op);
      p++;
    } else if (isXzero(op)) {
      run = xzeroLen(op, byteAt(h, p + 1));
      p += 2;
    } else {
      run = valLen(op);
      value = valValue(op);
      p++;
    }
    if (run + idx > HLL_REGISTERS) return { ok: false, idx };
    fn(value, run);
    idx += run;
  }
  return { ok: idx === HLL_REGISTERS, idx };
}

/** hllSparseToDense; false when the sparse data is corrupt (the value is left unchanged). */
export function sparseToDense(h: Hll): boolean {
  if (h.b[4] === HLL_DENSE) return true;
  const d = Buffer.alloc(HLL_DENSE_SIZE);
  h.b.copy(d, 0, 0, HLL_HDR_SIZE); // magic and cached cardinality
  d[4] = HLL_DENSE;
  let idx = 0;
  const r = walkSparse(h, (value, run) => {
    if (value) for (let i = 0; i < run; i++) denseSet(d, HLL_HDR_SIZE, idx + i, value);
    idx += run;
  });
  if (!r.ok) return false;
  h.b = d;
  h.len = HLL_DENSE_SIZE;
  return true;
}

/** Makes room for `n` bytes (plus the terminator slot) without changing the value. */
function reserve(h: Hll, n: number): void {
  if (n + 1 <= h.b.length) return;
  const nb = Buffer.alloc(n + 64);
  h.b.copy(nb, 0, 0, Math.min(h.b.length, h.len + 1));
  h.b = nb;
}

/**
 * Inserts/removes bytes at position `at` (delta > 0 inserts, < 0 removes), then writes the
 * terminator after the new end, like memmove + sdsIncrLen.
 */
function shift(h: Hll, at: number, delta: number): void {
  reserve(h, h.len + delta);
  h.b.copyWithin(at + delta, at, h.len);
  h.len += delta;
  h.b[h.len] = 0;
}

/**
 * hllSparseSet: raise register `index` to `count` in a sparse HLL, splitting the opcode that
 * covers it and merging equal neighbouring VAL opcodes exactly as Redis does, promoting to
 * dense when a value exceeds 32 or the size would pass sparseMax. 1 = changed, 0 = not,
 * -1 = corrupt.
 */
export function sparseSet(h: Hll, index: number, count: number, sparseMax: number): number {
  if (count > SPARSE_VAL_MAX_VALUE) return promote(h, index, count);
  const sparse = HLL_HDR_SIZE;
  let end = h.len;
  let p = sparse;
  let first = 0;
  let prev = -1;
  let span = 0;
  while (p < end) {
    const op = h.b[p]!;
    let oplen = 1;
    if (isZero(op)) span = zeroLen(op);
    else if (isVal(op)) span = valLen(op);
    else {
      span = xzeroLen(op, byteAt(h, p + 1));
      oplen = 2;
    }
    if (index <= first + span - 1) break;
    prev = p;
    p += oplen;
    first += span;
  }
  if (span === 0 || p >= end) return -1;
  const op = h.b[p]!;
  let next: number = isXzero(op) ? p + 2 : p + 1;
  if (next >= end) next = -1;
  let runlen: number;
  const zero = isZero(op);
  const xzero = !zero && isXzero(op);
  const val = !zero && !xzero;
  if (zero) runlen = zeroLen(op);
  else if (xzero) runlen = xzeroLen(op, byteAt(h, p + 1));
  else runlen = valLen(op);

  updated: {
    if (val) {
      const old = valValue(op);
      if (old >= count) return 0; // Case A: no change.
      if (runlen === 1) {
        h.b[p] = valOp(count, 1); // Case B.
        break updated;
      }
    }
    if (zero && runlen === 1) {
      h.b[p] = valOp(count, 1); // Case C.
      break updated;
    }
    // Case D: split the opcode into up to three.
    const seq: number[] = [];
    const last = first + span - 1;
    const pushZeros = (len: number) => {
      if (len > SPARSE_ZERO_MAX_LEN) {
        const l = len - 1;
        seq.push(((l >> 8) | 0x40) & 255, l & 255);
      } else {
        seq.push((len - 1) & 255);
      }
    };
    if (zero || xzero) {
      if (index !== first) pushZeros(index - first);
      seq.push(valOp(count, 1));
      if (index !== last) pushZeros(last - index);
    } else {
      const curval = valValue(op);
      if (index !== first) seq.push(valOp(curval, index - first));
      seq.push(valOp(count, 1));
      if (index !== last) seq.push(valOp(curval, last - index));
    }
    const oldlen = xzero ? 2 : 1;
    const delta = seq.length - oldlen;
    if (delta > 0 && h.len + delta > sparseMax) return promote(h, index, count);
    if (delta && next >= 0) {
      shift(h, next, delta);
    } else if (delta) {
      // The opcode is the last one: only the length changes (sdsIncrLen writes the
      // terminator). A cut-short XZERO makes the sequence below run past the new end.
      reserve(h, Math.max(h.len + delta, p + seq.length));
      h.len += delta;
      h.b[h.len] = 0;
    }
    reserve(h, p + seq.length);
    for (let i = 0; i < seq.length; i++) h.b[p + i] = seq[i]!;
    end += delta;
  }

  // Step 4: merge adjacent VAL opcodes of equal value, scanning up to 5 opcodes from prev.
  p = prev >= 0 ? prev : sparse;
  let scan = 5;
  while (p < end && scan--) {
    const op2 = h.b[p]!;
    if (isXzero(op2)) {
      p += 2;
      continue;
    } else if (isZero(op2)) {
      p++;
      continue;
    }
    if (p + 1 < end && isVal(h.b[p + 1]!)) {
      const v1 = valValue(op2);
      const v2 = valValue(h.b[p + 1]!);
      if (v1 === v2) {
        const len = valLen(op2) + valLen(h.b[p + 1]!);
        if (len <= SPARSE_VAL_MAX_LEN) {
          h.b[p + 1] = valOp(v1, len);
          h.b.copyWithin(p, p + 1, end);
          h.len--;
          h.b[h.len] = 0;
          end--;
          continue;
        }
      }
    }
    p++;
  }
  invalidateCache(h);
  return 1;
}

function promote(h: Hll, index: number, count: number): number {
  if (!sparseToDense(h)) return -1;
  return denseSetMax(h, index, count);
}

/** hllAdd: 1 if a register changed, 0 if not, -1 for a corrupt sparse value. */
export function hllAdd(h: Hll, ele: string, sparseMax: number): number {
  const { index, count } = patLen(ele);
  switch (h.b[4]) {
    case HLL_DENSE:
      return denseSetMax(h, index, count);
    case HLL_SPARSE:
      return sparseSet(h, index, count, sparseMax);
    default:
      return -1;
  }
}

/** Raises register j to v in either encoding (PFMERGE's write-back). */
export function hllSetRegister(h: Hll, j: number, v: number, sparseMax: number): void {
  if (h.b[4] === HLL_DENSE) denseSetMax(h, j, v);
  else sparseSet(h, j, v, sparseMax);
}

/** hllMerge: max[i] = max(max[i], register i); false for a corrupt sparse value. */
export function hllMerge(max: Uint8Array, h: Hll): boolean {
  if (h.b[4] === HLL_DENSE) {
    for (let i = 0; i < HLL_REGISTERS; i++) {
      const v = denseGet(h.b, HLL_HDR_SIZE, i);
      if (v > max[i]!) max[i] = v;
    }
    return true;
  }
  let i = 0;
  return walkSparse(h, (value, run) => {
    if (value) for (let k = 0; k < run; k++) if (value > max[i + k]!) max[i + k] = value;
    i += run;
  }).ok;
}

// ------------------------------------------------------------------------------ counting

function sigma(x: number): number {
  if (x === 1) return Infinity;
  let zPrime: number;
  let y = 1;
  let z = x;
  do {
    x *= x;
    zPrime = z;
    z += x * y;
    y += y;
  } while (zPrime !== z);
  return z;
}

function tau(x: number): number {
  if (x === 0 || x === 1) return 0;
  let zPrime: number;
  let y = 1.0;
  let z = 1 - x;
  do {
    x = Math.sqrt(x);
    zPrime = z;
    y *= 0.5;
    const d = 1 - x;
    z -= d * d * y;
  } while (zPrime !== z);
  return z / 3;
}

/** The estimate from a register histogram (hllCount after the histogram). */
function estimate(reghisto: Int32Array): number {
  const m = HLL_REGISTERS;
  let z = m * tau((m - reghisto[HLL_Q + 1]!) / m);
  for (let j = HLL_Q; j >= 1; --j) {
    z += reghisto[j]!;
    z *= 0.5;
  }
  z += m * sigma(reghisto[0]! / m);
  return Math.round((ALPHA_INF * m * m) / z);
}

/** hllCount of a dense or sparse value; undefined when the sparse data is corrupt. */
export function hllCount(h: Hll): number | undefined {
  const reghisto = new Int32Array(64);
  if (h.b[4] === HLL_DENSE) {
    for (let i = 0; i < HLL_REGISTERS; i++) reghisto[denseGet(h.b, HLL_HDR_SIZE, i)]!++;
  } else {
    const r = walkSparse(h, (value, run) => {
      reghisto[value]! += run;
    });
    if (!r.ok) return undefined;
  }
  return estimate(reghisto);
}

/** hllCount of raw registers (one byte each), as PFCOUNT of several keys uses. */
export function rawCount(max: Uint8Array): number {
  const reghisto = new Int32Array(64);
  for (let i = 0; i < HLL_REGISTERS; i++) reghisto[max[i]!]!++;
  return estimate(reghisto);
}

/** PFDEBUG DECODE: the sparse opcodes as "z:len Z:len v:value,len". */
export function decodeSparse(h: Hll): string {
  const parts: string[] = [];
  let p = HLL_HDR_SIZE;
  while (p < h.len) {
    const op = h.b[p]!;
    if (isZero(op)) {
      parts.push(`z:${zeroLen(op)}`);
      p++;
    } else if (isXzero(op)) {
      parts.push(`Z:${xzeroLen(op, byteAt(h, p + 1))}`);
      p += 2;
    } else {
      parts.push(`v:${valValue(op)},${valLen(op)}`);
      p++;
    }
  }
  return parts.join(' ');
}
