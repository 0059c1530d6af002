/**
 * Manifest versions: whole snapshots of the LSM shape, written create-only at
 * manifest/<20-digit id>. Bytes: magic "SMAN" | version u8 | crc32 of body u32 | msgpack body.
 */
import { Packr } from 'msgpackr';
import { crc32 } from 'node:zlib';
import { pad20 } from './codec.ts';
import { CorruptionError } from './errors.ts';
import type { DroppedRange } from './dropped.ts';
import type { SstMeta } from './sst.ts';

const MAGIC = 'SMAN';
const VERSION = 1;
const packr = new Packr({ useRecords: false, variableMapSize: true });

export interface SortedRun {
  id: number;
  /** Non-overlapping, ascending by key. */
  ssts: SstMeta[];
}

export interface ManifestData {
  /** Writer epoch: bumped by every writer that opens the store. */
  epoch: number;
  writerId: number;
  /** Every seq <= flushedSeq is in an SST. */
  flushedSeq: number;
  /** Replay starts at this WAL id (objects below hold only flushed seqs). */
  walReplayFrom: number;
  /** WAL ids holding fences: never garbage-collected. */
  fences: number[];
  nextSstId: number;
  nextRunId: number;
  /** Newest first. */
  l0: SstMeta[];
  /** Newest first; every run is older than every L0 table. */
  runs: SortedRun[];
  /** Key ranges given up by the caller whose records some table may still hold (dropped.ts). */
  dropped: DroppedRange[];
  nextDropGen: number;
}

export function emptyManifest(): ManifestData {
  return {
    epoch: 0,
    writerId: 0,
    flushedSeq: 0,
    walReplayFrom: 1,
    fences: [],
    nextSstId: 1,
    nextRunId: 1,
    l0: [],
    runs: [],
    dropped: [],
    nextDropGen: 1,
  };
}

export function manifestKey(id: number): string {
  return `manifest/${pad20(id)}`;
}

export function encodeManifest(m: ManifestData): Buffer {
  const body = packr.pack(m);
  const out = Buffer.allocUnsafe(9 + body.length);
  out.write(MAGIC, 0, 'latin1');
  out[4] = VERSION;
  out.writeUInt32LE(crc32(body), 5);
  body.copy(out, 9);
  return out;
}

export function decodeManifest(name: string, bytes: Uint8Array): ManifestData {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < 9 || b.latin1Slice(0, 4) !== MAGIC) throw new CorruptionError(name, 'bad manifest magic');
  if (b[4] !== VERSION) throw new CorruptionError(name, `unknown manifest version ${b[4]}`);
  const body = b.subarray(9);
  if (crc32(body) !== b.readUInt32LE(5)) throw new CorruptionError(name, 'manifest checksum mismatch');
  // Manifests written before dropped ranges existed lack those fields.
  return { ...emptyManifest(), ...(packr.unpack(body) as Partial<ManifestData>) } as ManifestData;
}
