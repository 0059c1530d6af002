/**
 * Measurement helpers: an op runner (sequential or with bounded concurrency, capped by count
 * and time), latency histograms (hdr-histogram-js), a seeded PRNG, and rate-window checks.
 */
import * as hdr from 'hdr-histogram-js';
import { setImmediate as yieldLoop, setTimeout as sleep } from 'node:timers/promises';

export { sleep, yieldLoop };

/** A promise that rejects if p has not settled after ms (p itself is left running). */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Wall-clock milliseconds with sub-millisecond precision (comparable with file mtimes). */
export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

export interface RunOptions {
  /** Concurrent loops; 1 = each op awaited before the next starts. */
  concurrency?: number;
  /** Stop early once this much time has passed (checked every few ops). */
  maxMs?: number;
  /** For synchronous ops (concurrency 1): yield to the event loop every this many ops. */
  yieldEvery?: number;
  /** Awaited before every yield point when it returns a promise (e.g. engine backpressure). */
  gate?: () => Promise<void> | undefined;
}

export interface RunResult {
  ops: number;
  ms: number;
  perSec: number;
  /** True if maxMs stopped the run before all ops were issued. */
  capped: boolean;
}

/**
 * Runs op(0..count-1) and times it. An op may be synchronous (returns anything but a promise)
 * or asynchronous; with concurrency 1 each promise is awaited before the next op.
 */
export async function runOps(count: number, op: (i: number) => unknown, options: RunOptions = {}): Promise<RunResult> {
  const concurrency = Math.max(1, options.concurrency ?? 1);
  const maxMs = options.maxMs ?? Infinity;
  const yieldEvery = options.yieldEvery ?? 1024;
  const gate = options.gate;
  const start = performance.now();
  const deadline = start + maxMs;
  let next = 0;
  let capped = false;
  if (concurrency === 1) {
    for (let i = 0; i < count; i++) {
      const r = op(i);
      if (r instanceof Promise) await r;
      next = i + 1;
      if (next % yieldEvery === 0) {
        const g = gate?.();
        if (g) await g;
        await yieldLoop();
        if (performance.now() >= deadline) {
          capped = next < count;
          break;
        }
      } else if ((next & 63) === 0 && performance.now() >= deadline) {
        capped = next < count;
        break;
      }
    }
  } else {
    let stop = false;
    const loop = async () => {
      while (!stop && next < count) {
        const i = next++;
        const g = gate?.();
        if (g) await g;
        await op(i);
        if ((i & 63) === 0 && performance.now() >= deadline) stop = true;
      }
    };
    await Promise.all(Array.from({ length: concurrency }, loop));
    capped = next < count;
  }
  const ms = performance.now() - start;
  return { ops: next, ms, perSec: (next / ms) * 1000, capped };
}

/** Latency histogram in microseconds, reported in milliseconds. */
export class Latency {
  private readonly h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });

  recordMs(ms: number): void {
    this.h.recordValue(Math.max(1, Math.round(ms * 1000)));
  }

  get count(): number {
    return this.h.totalCount;
  }

  percentileMs(p: number): number {
    return this.h.getValueAtPercentile(p) / 1000;
  }

  summary(): LatencySummary {
    return {
      count: this.h.totalCount,
      meanMs: this.h.mean / 1000,
      p50Ms: this.percentileMs(50),
      p90Ms: this.percentileMs(90),
      p99Ms: this.percentileMs(99),
      maxMs: this.h.maxValue / 1000,
    };
  }
}

export interface LatencySummary {
  count: number;
  meanMs: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** mulberry32, shared with the tests (seeded: a run can be replayed). */
export { rng } from '../../test/support/gen.ts';

/** A random permutation of 0..n-1. */
export function permutation(n: number, random: () => number): Uint32Array {
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}

/** The most events that fall in any window of windowMs (times in ms, any order). */
export function maxInWindow(times: number[], windowMs: number): number {
  const t = [...times].sort((a, b) => a - b);
  let best = 0;
  let lo = 0;
  for (let hi = 0; hi < t.length; hi++) {
    while (t[hi]! - t[lo]! >= windowMs) lo++;
    best = Math.max(best, hi - lo + 1);
  }
  return best;
}

/** The smallest gap between consecutive events (ms), or undefined for fewer than two. */
export function minGap(times: number[]): number | undefined {
  const t = [...times].sort((a, b) => a - b);
  let best: number | undefined;
  for (let i = 1; i < t.length; i++) {
    const g = t[i]! - t[i - 1]!;
    if (best === undefined || g < best) best = g;
  }
  return best;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
