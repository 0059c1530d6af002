/**
 * The record encoding shared by WAL objects and the flat entry lists handed to SST-building
 * workers: flags, key, seq, optional expiry, optional value.
 */
import { type Reader, Writer } from './codec.ts';
import type { Chain } from './memtable.ts';
import type { Entry } from './version.ts';

const FLAG_TOMBSTONE = 1;
const FLAG_EXPIRES = 2;

export function writeEntry(w: Writer, key: string, v: Chain): void {
  const value = v.raw;
  w.u8((value === undefined ? FLAG_TOMBSTONE : 0) | (v.expireAt ? FLAG_EXPIRES : 0));
  w.varint(key.length);
  w.binary(key);
  w.varint(v.seq);
  if (v.expireAt) w.varint(v.expireAt);
  if (value instanceof Uint8Array) {
    w.varint(value.length);
    w.bytes(value);
  } else if (value !== undefined) {
    const s = typeof value === 'string' ? value : value.encode();
    w.varint(s.length);
    w.binary(s);
  }
}

/** Values are views of the reader's bytes: whoever keeps one copies it (the memtable does). */
export function readEntry(r: Reader): Entry {
  const flags = r.u8();
  const key = r.binary(r.varint());
  const seq = r.varint();
  const expireAt = flags & FLAG_EXPIRES ? r.varint() : 0;
  let value: Uint8Array | undefined;
  if (!(flags & FLAG_TOMBSTONE)) {
    value = r.bytes(r.varint());
  }
  return { key, seq, expireAt, value };
}

export { Writer };
