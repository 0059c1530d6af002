/**
 * Byte-level helpers shared by the WAL, SST and manifest formats. Keys are binary strings
 * (one char per byte) so they can be written with latin1 directly.
 */
import { crc32 } from 'node:zlib';
import { CorruptionError } from './errors.ts';
import { readLatin1, writeLatin1 } from '../util/latin1.ts';

export { crc32 };

/** Growable output buffer with little-endian primitives and LEB128 varints. */
export class Writer {
  buf: Buffer;
  pos = 0;

  constructor(initial = 4096) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32LE(v >>> 0, this.pos);
    this.pos += 4;
  }

  /** Integers up to 2^53, stored as 8 bytes. */
  u64(v: number): void {
    this.ensure(8);
    this.buf.writeUInt32LE(v % 0x100000000, this.pos);
    this.buf.writeUInt32LE(Math.floor(v / 0x100000000), this.pos + 4);
    this.pos += 8;
  }

  /** Unsigned LEB128 for integers up to 2^53 (uses arithmetic, not 32-bit bit ops). */
  varint(v: number): void {
    this.ensure(8);
    while (v >= 0x80) {
      this.buf[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.pos++] = v;
  }

  binary(s: string): void {
    this.ensure(s.length);
    this.pos = writeLatin1(this.buf, this.pos, s);
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** Appends the CRC-32 of bytes [from, pos). */
  crcFrom(from: number): void {
    const c = crc32(this.buf.subarray(from, this.pos));
    this.u32(c);
  }

  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

/** Bounds-checked reader: running past the end throws CorruptionError, never garbage. */
export class Reader {
  readonly buf: Buffer;
  pos: number;
  readonly end: number;
  readonly name: string;

  constructor(buf: Uint8Array, name: string, start = 0, end = buf.length) {
    this.buf = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
    this.pos = start;
    this.end = end;
    this.name = name;
  }

  private need(n: number): void {
    if (this.pos + n > this.end) throw new CorruptionError(this.name, 'truncated');
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  u64(): number {
    this.need(8);
    const lo = this.buf.readUInt32LE(this.pos);
    const hi = this.buf.readUInt32LE(this.pos + 4);
    this.pos += 8;
    if (hi >= 0x200000) throw new CorruptionError(this.name, 'integer beyond 2^53');
    return hi * 0x100000000 + lo;
  }

  varint(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 8; i++) {
      this.need(1);
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * mul;
      if (b < 0x80) return result;
      mul *= 0x80;
    }
    throw new CorruptionError(this.name, 'varint too long');
  }

  binary(n: number): string {
    this.need(n);
    const s = readLatin1(this.buf, this.pos, this.pos + n);
    this.pos += n;
    return s;
  }

  bytes(n: number): Buffer {
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
}

/** Verifies that the last 4 bytes of buf[start, end) are the CRC-32 of the rest. */
export function checkCrc(buf: Uint8Array, name: string, start = 0, end = buf.length): void {
  if (end - start < 4) throw new CorruptionError(name, 'truncated');
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const want = b.readUInt32LE(end - 4);
  const got = crc32(b.subarray(start, end - 4));
  if (want !== got) throw new CorruptionError(name, `checksum mismatch in bytes ${start}..${end}`);
}

/** 20-digit zero padding: lexical order of object names is numeric order. */
export function pad20(n: number): string {
  return String(n).padStart(20, '0');
}

export function toBinary(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).latin1Slice(0, b.byteLength);
}
