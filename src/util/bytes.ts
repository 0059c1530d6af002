/** A copy of b[start, end) with memory of its own (a Buffer's own slice is a view, not a copy). */
export function copyBytes(b: Uint8Array, start = 0, end = b.length): Uint8Array {
  return Uint8Array.prototype.slice.call(b, start, end);
}
