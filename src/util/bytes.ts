/** A copy of b[start, end) with memory of its own (a Buffer's own slice is a view, not a copy). */
export function copyBytes(b: Uint8Array, start = 0, end = b.length): Uint8Array {
  return Uint8Array.prototype.slice.call(b, start, end);
}

/** b itself when it owns its whole ArrayBuffer (so it pins nothing more and can be transferred to a worker), else a copy. */
export function ownBytes(b: Uint8Array): Uint8Array {
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? b : copyBytes(b);
}
