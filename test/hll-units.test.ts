/**
 * Unit checks of the HLL building blocks that the Redis comparison cannot isolate: the 32-bit
 * limb MurmurHash64A against a plain BigInt transcription of Redis's C code, and the sparse
 * encoding against the dense one (same registers, same estimate) for the same elements.
 */
import { describe, expect, it } from 'vitest';
import {
  createHll,
  type Hll,
  HLL_DENSE,
  HLL_DENSE_SIZE,
  HLL_REGISTERS,
  HLL_SPARSE,
  hllAdd,
  hllCount,
  hllMerge,
  murmurHash64A,
  patLen,
} from '../src/types/hll.ts';

const M = 0xc6a4a7935bd1e995n;
const U64 = (1n << 64n) - 1n;

/** MurmurHash64A exactly as in hyperloglog.c, in BigInt. */
function reference(key: Buffer, seed: bigint): bigint {
  const len = BigInt(key.length);
  let h = (seed ^ (len * M)) & U64;
  const blocks = key.length - (key.length & 7);
  for (let i = 0; i < blocks; i += 8) {
    let k = key.readBigUInt64LE(i);
    k = (k * M) & U64;
    k ^= k >> 47n;
    k = (k * M) & U64;
    h ^= k;
    h = (h * M) & U64;
  }
  const rest = key.length & 7;
  if (rest) {
    for (let j = rest - 1; j >= 0; j--) h ^= BigInt(key[blocks + j]!) << BigInt(8 * j);
    h = (h * M) & U64;
  }
  h ^= h >> 47n;
  h = (h * M) & U64;
  h ^= h >> 47n;
  return h;
}

function random(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

describe('HLL internals', () => {
  it('MurmurHash64A matches a BigInt transcription for every tail length', () => {
    for (let len = 0; len <= 70; len++) {
      for (let t = 0; t < 20; t++) {
        const key = random(len, len * 1000 + t);
        const [hi, lo] = murmurHash64A(key.toString('latin1'), 0xadc83b19);
        const got = (BigInt(hi) << 32n) | BigInt(lo);
        expect(got, `len ${len} trial ${t}`).toBe(reference(key, 0xadc83b19n));
      }
    }
  });

  it('pattern lengths stay within 1..51 and registers within 0..16383', () => {
    let lo = Infinity;
    let hi = -Infinity;
    let maxCount = 0;
    let minCount = Infinity;
    for (let i = 0; i < 20_000; i++) {
      const { index, count } = patLen(`e${i}`);
      lo = Math.min(lo, index);
      hi = Math.max(hi, index);
      minCount = Math.min(minCount, count);
      maxCount = Math.max(maxCount, count);
    }
    expect(lo).toBeGreaterThanOrEqual(0);
    expect(hi).toBeLessThan(HLL_REGISTERS);
    expect(minCount).toBe(1);
    expect(maxCount).toBeLessThanOrEqual(51);
  });

  it('sparse and dense encodings hold the same registers for the same elements', () => {
    const sparse = createHll();
    const dense: Hll = { b: Buffer.alloc(HLL_DENSE_SIZE), len: HLL_DENSE_SIZE };
    dense.b.write('HYLL', 0, 'latin1');
    dense.b[4] = HLL_DENSE;
    for (let i = 0; i < 1500; i++) {
      // A huge sparse limit keeps the sparse encoding unless a register passes 32.
      const a = hllAdd(sparse, `k${i}`, 1 << 30);
      const b = hllAdd(dense, `k${i}`, 1 << 30);
      expect(a).toBe(b);
    }
    expect(sparse.b[4]).toBe(HLL_SPARSE);
    const rs = new Uint8Array(HLL_REGISTERS);
    const rd = new Uint8Array(HLL_REGISTERS);
    expect(hllMerge(rs, sparse)).toBe(true);
    expect(hllMerge(rd, dense)).toBe(true);
    expect(Buffer.from(rs).equals(Buffer.from(rd))).toBe(true);
    expect(hllCount(sparse)).toBe(hllCount(dense));
    expect(Math.abs(hllCount(dense)! - 1500)).toBeLessThan(1500 * 0.05);
  });
});
