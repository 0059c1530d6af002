/**
 * The store-timeout bound: how long a command may wait for the object store (durability in
 * strict mode, write backpressure in any mode) before it gets `-ERR store unavailable: ...`
 * instead of hanging while the store is down.
 *
 * A strict-mode write that timed out is *in doubt*: it is in memory and may still reach the
 * store once it is back (or be lost in a crash before). Its client was told; later replies do
 * not wait for it again, so reads of in-memory data keep working during an outage.
 */
import type { Engine } from '../engine/index.ts';
import { ErrorReply } from '../resp/reply.ts';

/** Per engine (DEBUG RELOAD opens a new one): the highest seq already reported in doubt. */
const inDoubt = new WeakMap<Engine, number>();

/** The seq a strict reply must wait for, or undefined when nothing is pending (or in doubt). */
export function pendingSeq(engine: Engine): number | undefined {
  const seq = engine.lastSeq;
  return seq > engine.durableSeq && seq > (inDoubt.get(engine) ?? 0) ? seq : undefined;
}

export function storeUnavailable(engine: Engine | undefined, waitedMs: number): ErrorReply {
  const cause = engine?.storeError?.message;
  const text = `ERR store unavailable: waited ${waitedMs} ms for the object store${cause ? `; last error: ${cause}` : ''}`;
  return new ErrorReply(text.replace(/\s+/g, ' '));
}

/**
 * Resolves or rejects like `wait`, or rejects with the store-unavailable reply after ms
 * (0 = no bound). With `seq`, a timeout marks the writes up to seq in doubt.
 */
export function boundStoreWait(wait: Promise<void>, ms: number, engine: Engine | undefined, seq?: number): Promise<void> {
  if (ms <= 0) return wait;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      if (engine && seq !== undefined && seq > (inDoubt.get(engine) ?? 0)) inDoubt.set(engine, seq);
      reject(storeUnavailable(engine, ms));
    }, ms);
    wait.then(
      () => {
        clearTimeout(timer);
        resolve();
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

/** Whether wait settles within ms (0: practically only if already settled); rejections pass through. */
export async function settlesWithin(wait: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([wait.then(() => true), expired]);
  } finally {
    clearTimeout(timer);
  }
}
