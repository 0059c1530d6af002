/** The part of the engine (src/engine/api.md) the data layer uses. */
import type { Engine, ScanEntry, ScanOptions, WriteOp } from '../engine/index.ts';

export type EngineWrite = WriteOp;
export type EngineEntry = ScanEntry;
export type EngineScanOptions = ScanOptions;
export type EngineLike = Pick<
  Engine,
  | 'write'
  | 'writeStalled'
  | 'waitForCapacity'
  | 'get'
  | 'getMaybe'
  | 'getEntry'
  | 'getEntryMaybe'
  | 'scan'
  | 'scanAll'
  | 'scanAllMaybe'
  | 'snapshot'
  | 'flushMemtable'
  | 'close'
  | 'lastSeq'
  | 'durableSeq'
  | 'dropRange'
>;
