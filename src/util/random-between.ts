/**
 * A random string in [lo, hi], for random picks over sorted keys (SPOP, SRANDMEMBER,
 * ZRANDMEMBER, RANDOMKEY on big collections): seek to it and take the next key.
 *
 * After the common prefix, each byte is drawn from the range of byte values lo and hi use
 * (digits for numeric members, letters for words). Drawing from all 256 values would put the
 * point past every key of its group most of the time ("m3\xa7" sorts after all of m3000-m3999),
 * so picks would pile up on the first key of each group, and repeated pops would then skip
 * ever more deleted keys there.
 */
export function randomBetween(lo: string, hi: string): string {
  let i = 0;
  while (i < lo.length && i < hi.length && lo[i] === hi[i]) i++;
  let min = 255;
  let max = 0;
  for (const s of [lo, hi]) {
    for (let j = i; j < s.length; j++) {
      const c = s.charCodeAt(j);
      if (c < min) min = c;
      if (c > max) max = c;
    }
  }
  if (min > max) return lo;
  let out = lo.slice(0, i);
  let onLo = true;
  let onHi = true;
  for (let j = i; j < i + 8; j++) {
    // Still equal to hi's prefix and hi ends here: any more would sort after hi.
    if (onHi && j >= hi.length) break;
    const a: number = onLo && j < lo.length ? lo.charCodeAt(j) : min;
    const b: number = onHi ? hi.charCodeAt(j) : max;
    if (b < a) break;
    const c: number = a + Math.floor(Math.random() * (b - a + 1));
    out += String.fromCharCode(c);
    onLo &&= j < lo.length && c === a;
    onHi &&= c === b;
  }
  return out < lo ? lo : out > hi ? hi : out;
}
