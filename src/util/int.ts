/** Redis's string2ll: strict decimal integer in the signed 64-bit range (as a JS number). */
export function parseInteger(s: string): number | undefined {
  if (s.length === 0 || s.length > 20 || !/^(?:0|-?[1-9][0-9]*)$/.test(s)) return undefined;
  const b = BigInt(s);
  if (b > 9223372036854775807n || b < -9223372036854775808n) return undefined;
  return Number(b);
}
