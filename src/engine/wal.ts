/**
 * WAL objects: one per group-commit flush, written create-only at wal/<20-digit id>.
 *
 *   magic "SWAL" | version u8 | kind u8 (0 data, 1 fence) | epoch u64 | writer id u64
 *   | entries (records.ts encoding; each carries its own seq) | crc32 of all before it
 *
 * A fence is an object with kind 1 and no entries: it occupies the next WAL id when a new
 * writer takes over, so the previous writer's next create-only put there fails.
 */
import { checkCrc, Reader, Writer } from './codec.ts';
import { CorruptionError } from './errors.ts';
import { readEntry } from './records.ts';
import type { Entry } from './version.ts';

const MAGIC = 'SWAL';
const VERSION = 1;
export const WAL_HEADER_SIZE = 4 + 1 + 1 + 8 + 8;
export const KIND_DATA = 0;
export const KIND_FENCE = 1;

/** Starts a WAL buffer with room for the header, which is filled in at seal time. */
export function newWalBuffer(): Writer {
  const w = new Writer(1 << 16);
  w.pos = WAL_HEADER_SIZE;
  return w;
}

/** Writes the header and checksum in place and returns the object bytes. */
export function sealWal(w: Writer, kind: number, epoch: number, writerId: number): Buffer {
  const end = w.pos;
  w.pos = 0;
  w.binary(MAGIC);
  w.u8(VERSION);
  w.u8(kind);
  w.u64(epoch);
  w.u64(writerId);
  w.pos = end;
  w.crcFrom(0);
  return w.finish();
}

export function fenceObject(epoch: number, writerId: number): Buffer {
  return sealWal(newWalBuffer(), KIND_FENCE, epoch, writerId);
}

export interface WalObject {
  kind: number;
  epoch: number;
  writerId: number;
  entries: Entry[];
}

export function decodeWal(name: string, bytes: Uint8Array): WalObject {
  checkCrc(bytes, name);
  const r = new Reader(bytes, name, 0, bytes.length - 4);
  if (r.binary(4) !== MAGIC) throw new CorruptionError(name, 'bad WAL magic');
  const version = r.u8();
  if (version !== VERSION) throw new CorruptionError(name, `unknown WAL version ${version}`);
  const kind = r.u8();
  const epoch = r.u64();
  const writerId = r.u64();
  const entries: Entry[] = [];
  while (!r.done) entries.push(readEntry(r));
  return { kind, epoch, writerId, entries };
}
