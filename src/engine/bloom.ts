/**
 * Bloom filter over binary-string keys, ~10 bits per key and 7 probes (about 1% false
 * positives), with LevelDB-style double hashing from one 32-bit hash.
 */

export const BITS_PER_KEY = 10;
const PROBES = 7;

/** 32-bit FNV-1a over the key's bytes, then a murmur3 finalizer to spread the bits. */
export function hashKey(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Builds the filter bytes: bit array followed by one byte holding the probe count. */
export function buildBloom(hashes: Uint32Array | number[], count = hashes.length): Uint8Array {
  const bits = Math.max(64, count * BITS_PER_KEY);
  const bytes = Math.ceil(bits / 8);
  const out = new Uint8Array(bytes + 1);
  const m = bytes * 8;
  for (let i = 0; i < count; i++) {
    let h = hashes[i]!;
    const delta = ((h >>> 17) | (h << 15)) >>> 0;
    for (let p = 0; p < PROBES; p++) {
      const bit = h % m;
      out[bit >>> 3]! |= 1 << (bit & 7);
      h = (h + delta) >>> 0;
    }
  }
  out[bytes] = PROBES;
  return out;
}

export function bloomMayContain(filter: Uint8Array, hash: number): boolean {
  const bytes = filter.length - 1;
  if (bytes <= 0) return true;
  const probes = filter[bytes]!;
  const m = bytes * 8;
  let h = hash;
  const delta = ((h >>> 17) | (h << 15)) >>> 0;
  for (let p = 0; p < probes; p++) {
    const bit = h % m;
    if ((filter[bit >>> 3]! & (1 << (bit & 7))) === 0) return false;
    h = (h + delta) >>> 0;
  }
  return true;
}
