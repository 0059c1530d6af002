/** Unsigned LEB128 varints: the lengths inside element and metadata encodings (exact up to 2^53). */
export function varintLen(n: number): number {
  let len = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}

export function writeVarint(b: Buffer, at: number, n: number): number {
  while (n >= 128) {
    b[at++] = (n % 128) | 128;
    n = Math.floor(n / 128);
  }
  b[at++] = n;
  return at;
}

export function readVarint(b: Buffer, at: number): [number, number] {
  let n = 0;
  let mul = 1;
  for (;;) {
    if (at >= b.length) throw new RangeError('truncated varint');
    const c = b[at++]!;
    n += (c & 127) * mul;
    if (c < 128) return [n, at];
    mul *= 128;
  }
}
