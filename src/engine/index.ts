/** The engine's public surface; see api.md beside this file. */
export { Engine, EngineStats, type EngineOptions, type ScanEntry, type ScanOptions, type Snapshot } from './engine.ts';
export { CorruptionError, EngineClosedError, FencedError, WorkerFailedError } from './errors.ts';
export type { WriteOp } from './version.ts';
export { LocalStore } from './objectstore/local.ts';
export { MemoryStore } from './objectstore/memory.ts';
export { ResilientStore, StoreCounters } from './objectstore/resilient.ts';
export type { ObjectStore } from './objectstore/types.ts';
