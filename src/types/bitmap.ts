/**
 * Bit-level helpers for the bitmap commands (Redis bitops.c semantics). Bitmaps are plain
 * strings: bit 0 is the most significant bit of byte 0. Values are binary JS strings (one char
 * per byte); these helpers read them with charCodeAt and build changed strings by slicing, so a
 * command that touches a few bytes does not copy the whole value in JS.
 */

const POPCOUNT = new Uint8Array(256);
for (let i = 1; i < 256; i++) POPCOUNT[i] = (i & 1) + POPCOUNT[i >> 1]!;

/** Number of set bits in bytes [start, end] (inclusive) of s. */
export function popcount(s: string, start: number, end: number): number {
  let n = 0;
  // Large ranges: one native copy into a Buffer, then a table walk over its bytes.
  if (end - start > 4096) {
    const b = Buffer.from(s.slice(start, end + 1), 'latin1');
    for (let i = 0; i < b.length; i++) n += POPCOUNT[b[i]!]!;
    return n;
  }
  for (let i = start; i <= end; i++) n += POPCOUNT[s.charCodeAt(i)]!;
  return n;
}

/** Set bits of one byte value. */
export function popcountByte(b: number): number {
  return POPCOUNT[b & 255]!;
}

/**
 * redisBitpos over bytes [start, start+count) of s: the position (relative to start, in bits)
 * of the first bit equal to `bit`. None found: -1 when looking for 1; count*8 when looking
 * for 0 (the string is taken as zero-padded on the right).
 */
export function bitposIn(s: string, start: number, count: number, bit: number): number {
  const skip = bit ? 0 : 255;
  for (let i = 0; i < count; i++) {
    const c = s.charCodeAt(start + i);
    if (c === skip) continue;
    for (let j = 0; j < 8; j++) {
      if (((c >> (7 - j)) & 1) === bit) return i * 8 + j;
    }
  }
  return bit ? -1 : count * 8;
}

/** redisBitpos on one byte value. */
export function bitposByte(c: number, bit: number): number {
  for (let j = 0; j < 8; j++) if (((c >> (7 - j)) & 1) === bit) return j;
  return bit ? -1 : 8;
}

/** s zero-padded to at least `len` bytes (sdsgrowzero). */
export function growZero(s: string, len: number): string {
  return s.length >= len ? s : s + '\0'.repeat(len - s.length);
}

/** s with byte i replaced (i < s.length). */
export function withByte(s: string, i: number, v: number): string {
  return s.slice(0, i) + String.fromCharCode(v & 255) + s.slice(i + 1);
}

// ---------------------------------------------------------------------------------------------
// BITFIELD integers: read and written bit by bit, most significant bit first, on a small
// window of bytes so a field anywhere in a big string costs O(field width).

/** Bytes [from, from+n) of s as an array, zero beyond the end of s. */
export function window(s: string, from: number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  const stop = Math.min(n, s.length - from);
  for (let i = 0; i < stop; i++) out[i] = s.charCodeAt(from + i);
  return out;
}

/** getUnsignedBitfield: `bits` bits starting at bit `offset` of p, as an unsigned integer. */
export function getUnsigned(p: Uint8Array, offset: number, bits: number): bigint {
  let v = 0n;
  for (let j = 0; j < bits; j++, offset++) {
    const bit = (p[Math.floor(offset / 8)]! >> (7 - (offset % 8))) & 1;
    v = (v << 1n) | BigInt(bit);
  }
  return v;
}

/** getSignedBitfield: two's complement of width `bits`. */
export function getSigned(p: Uint8Array, offset: number, bits: number): bigint {
  return BigInt.asIntN(bits, getUnsigned(p, offset, bits));
}

/** setUnsignedBitfield / setSignedBitfield: the low `bits` bits of value (two's complement). */
export function setBits(p: Uint8Array, offset: number, bits: number, value: bigint): void {
  const v = BigInt.asUintN(64, value);
  for (let j = 0; j < bits; j++, offset++) {
    const bitval = Number((v >> BigInt(bits - 1 - j)) & 1n);
    const byte = Math.floor(offset / 8);
    const mask = 1 << (7 - (offset % 8));
    p[byte] = bitval ? p[byte]! | mask : p[byte]! & ~mask;
  }
}

export const OVERFLOW_WRAP = 0;
export const OVERFLOW_SAT = 1;
export const OVERFLOW_FAIL = 2;

const U64 = (1n << 64n) - 1n;
const I64_MAX = (1n << 63n) - 1n;

/**
 * checkUnsignedBitfieldOverflow with C's uint64/int64 arithmetic: 0 when value+incr fits in
 * `bits` unsigned bits, else 1 (overflow) or -1 (underflow) and the value to store instead
 * (for WRAP and SAT; FAIL stores nothing).
 */
export function checkUnsignedOverflow(value: bigint, incr: bigint, bits: number, owtype: number): { dir: number; limit: bigint } {
  const max = (1n << BigInt(bits)) - 1n;
  const maxincr = BigInt.asIntN(64, max - value);
  const minincr = BigInt.asIntN(64, -value);
  const wrap = () => BigInt.asUintN(64, value + incr) & max;
  if (value > max || (incr > 0n && incr > maxincr)) {
    return { dir: 1, limit: owtype === OVERFLOW_WRAP ? wrap() : max };
  }
  if (incr < 0n && incr < minincr) {
    return { dir: -1, limit: owtype === OVERFLOW_WRAP ? wrap() : 0n };
  }
  return { dir: 0, limit: 0n };
}

/** checkSignedBitfieldOverflow, as above for `bits`-bit two's complement integers. */
export function checkSignedOverflow(value: bigint, incr: bigint, bits: number, owtype: number): { dir: number; limit: bigint } {
  const max = bits === 64 ? I64_MAX : (1n << BigInt(bits - 1)) - 1n;
  const min = -max - 1n;
  const maxincr = BigInt.asIntN(64, max - value);
  const minincr = BigInt.asIntN(64, min - value);
  const wrap = (): bigint => {
    let c = BigInt.asUintN(64, value + incr);
    if (bits < 64) {
      const mask = U64 ^ ((1n << BigInt(bits)) - 1n);
      c = c & (1n << BigInt(bits - 1)) ? c | mask : c & ~mask;
    }
    return BigInt.asIntN(64, c);
  };
  if (value > max || (bits !== 64 && incr > maxincr) || (value >= 0n && incr > 0n && incr > maxincr)) {
    return { dir: 1, limit: owtype === OVERFLOW_WRAP ? wrap() : max };
  }
  if (value < min || (bits !== 64 && incr < minincr) || (value < 0n && incr < 0n && incr < minincr)) {
    return { dir: -1, limit: owtype === OVERFLOW_WRAP ? wrap() : min };
  }
  return { dir: 0, limit: 0n };
}
