/**
 * Keys and values for the engine benchmark: 16-byte keys "key:000000000123" (sorted order =
 * numeric order, so a range of n keys from index i ends at key i+n) and 100-byte values cut
 * from a random pool at a per-key offset, so every value can be checked.
 */

export const KEY_BYTES = 16;
export const VALUE_BYTES = 100;
const POOL_BYTES = 1 << 20;

export function keyString(i: number): string {
  return `key:${String(i).padStart(KEY_BYTES - 4, '0')}`;
}

/** Pre-generated keys 0..count-1 in both forms (latin1 string for Shale, Buffer for SlateDB). */
export class Keys {
  readonly count: number;
  private readonly strs: string[];
  private readonly bufs: Buffer[];

  constructor(count: number) {
    this.count = count;
    this.strs = new Array<string>(count);
    this.bufs = new Array<Buffer>(count);
    for (let i = 0; i < count; i++) {
      const s = keyString(i);
      this.strs[i] = s;
      this.bufs[i] = Buffer.from(s, 'latin1');
    }
  }

  str(i: number): string {
    return i < this.count ? this.strs[i]! : keyString(i);
  }

  buf(i: number): Buffer {
    return i < this.count ? this.bufs[i]! : Buffer.from(keyString(i), 'latin1');
  }
}

export class Values {
  private readonly pool: Uint8Array;

  constructor(seed = 12345) {
    this.pool = new Uint8Array(POOL_BYTES);
    let x = seed >>> 0 || 1;
    for (let i = 0; i < POOL_BYTES; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      this.pool[i] = x & 0xff;
    }
  }

  /** The value of key i (a view into the pool; engines that keep it must not mutate it). */
  get(i: number, bytes = VALUE_BYTES): Uint8Array {
    const off = (i * 97) % (POOL_BYTES - bytes);
    return this.pool.subarray(off, off + bytes);
  }

  matches(i: number, v: Uint8Array | undefined): boolean {
    if (!v || v.length !== VALUE_BYTES) return false;
    const want = this.get(i);
    for (let j = 0; j < VALUE_BYTES; j++) if (v[j] !== want[j]) return false;
    return true;
  }
}
