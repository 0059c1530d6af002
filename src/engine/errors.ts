/** Another writer opened the store with a newer epoch; this engine must stop writing. */
export class FencedError extends Error {
  constructor(detail: string) {
    super(`fenced: another writer took over this store (${detail})`);
    this.name = 'FencedError';
  }
}

/** Stored bytes failed their checksum or framing: never returned as data. */
export class CorruptionError extends Error {
  readonly object: string;
  constructor(object: string, detail: string) {
    super(`corrupt object ${object}: ${detail}`);
    this.name = 'CorruptionError';
    this.object = object;
  }
}

/** The engine is closed or failed and refuses the operation. */
export class EngineClosedError extends Error {
  constructor(detail = 'engine is closed') {
    super(detail);
    this.name = 'EngineClosedError';
  }
}

/** Invariant check: a failure is a bug in the engine, not bad input. */
export function assert(cond: unknown, what: string): asserts cond {
  if (!cond) throw new Error(`engine invariant violated: ${what}`);
}

/** The engine's worker threads cannot run (they die before finishing any task). */
export class WorkerFailedError extends Error {
  constructor(detail: string) {
    super(`engine worker failed: ${detail}`);
    this.name = 'WorkerFailedError';
  }
}
