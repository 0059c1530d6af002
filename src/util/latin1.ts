/**
 * Binary strings (one char per byte) to and from buffers. Keys, fields and members are mostly
 * short, and for a few bytes a native latin1 slice or write costs several times what building
 * or copying the characters in JS does; long ones still take the native path.
 */

// Buffer's latin1 fast paths exist at run time but are missing from @types/node.
declare global {
  interface Buffer {
    latin1Write(s: string, offset: number): number;
    latin1Slice(start: number, end: number): string;
  }
}

/** Beyond this many bytes the native calls win. */
const SHORT_WRITE = 48;

/** Bytes [s, e) of b. */
export function readLatin1(b: Buffer, s: number, e: number): string {
  switch (e - s) {
    case 0: return '';
    case 1: return String.fromCharCode(b[s]!);
    case 2: return String.fromCharCode(b[s]!, b[s + 1]!);
    case 3: return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!);
    case 4: return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!);
    case 5: return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!);
    case 6: return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!);
    case 7: return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!, b[s + 6]!);
    case 8: return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!, b[s + 6]!, b[s + 7]!);
    default: return b.latin1Slice(s, e);
  }
}

/** Writes s into b at `at` (room is the caller's business); returns the position after it. */
export function writeLatin1(b: Buffer, at: number, s: string): number {
  const n = s.length;
  if (n > SHORT_WRITE) return at + b.latin1Write(s, at);
  for (let i = 0; i < n; i++) b[at + i] = s.charCodeAt(i);
  return at + n;
}

/**
 * Room for a short record header (a split collection's metadata) while it is encoded, then
 * read out as a binary string with headerString: no Buffer per header.
 */
export const headerScratch = Buffer.allocUnsafeSlow(64);

/** Bytes [0, end) of headerScratch. */
export function headerString(end: number): string {
  return readLatin1(headerScratch, 0, end);
}

/** b as a binary string. */
export function latin1String(b: Uint8Array): string {
  if (b.length <= 8) return readLatin1(b as Buffer, 0, b.length);
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).latin1Slice(0, b.byteLength);
}
