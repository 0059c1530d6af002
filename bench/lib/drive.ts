/**
 * Load drivers over RespClient connections:
 *
 * - closedLoop: every connection keeps `depth` requests in flight and sends the next one when a
 *   reply arrives (like redis-benchmark -c N -P depth), for a count or a duration.
 * - openLoop: requests are scheduled at a fixed rate, whatever the server does, and latency is
 *   measured from each request's scheduled time (so a stalled server is charged for the requests
 *   that queued up behind the stall: no coordinated omission), as wrk2 does.
 */
import { Latency } from './measure.ts';
import { type Reply, ReplyError, RespClient } from './resp.ts';

export async function connectMany(port: number, n: number): Promise<RespClient[]> {
  return Promise.all(Array.from({ length: n }, () => RespClient.connect(port)));
}

export function closeAll(clients: RespClient[]): void {
  for (const c of clients) c.close();
}

export interface LoopResult {
  ops: number;
  ms: number;
  perSec: number;
  errors: number;
  firstError?: string;
  latency: Latency;
}

export interface ClosedLoopOptions {
  /** Stop after this many requests... */
  count?: number;
  /** ...or after this long, whichever comes first. */
  durationMs?: number;
  /** Requests in flight per connection. */
  depth?: number;
  /** Sees every reply (i = the request's index). */
  onReply?: (reply: Reply, i: number) => void;
}

export function closedLoop(clients: RespClient[], makeCommand: (i: number) => Buffer, o: ClosedLoopOptions): Promise<LoopResult> {
  const depth = o.depth ?? 1;
  const count = o.count ?? Infinity;
  const latency = new Latency();
  const start = performance.now();
  const deadline = o.durationMs === undefined ? Infinity : start + o.durationMs;
  let issued = 0;
  let done = 0;
  let errors = 0;
  let firstError: string | undefined;
  let stopped = false;
  return new Promise((resolve) => {
    const finish = () => {
      const ms = performance.now() - start;
      resolve({ ops: done, ms, perSec: (done / ms) * 1000, errors, firstError, latency });
    };
    const issue = (c: RespClient) => {
      if (stopped || issued >= count) return;
      const i = issued++;
      const t0 = performance.now();
      c.send(makeCommand(i), (r) => {
        const t = performance.now();
        latency.recordMs(t - t0);
        if (r instanceof ReplyError) {
          errors++;
          firstError ??= r.message;
        }
        o.onReply?.(r, i);
        done++;
        if (t >= deadline) stopped = true;
        if (done === issued && (stopped || issued >= count)) return finish();
        issue(c);
      });
    };
    if (count === 0) return finish();
    for (const c of clients) for (let d = 0; d < depth; d++) issue(c);
  });
}

export interface OpenLoopResult {
  /** Requests scheduled / answered / left unanswered when the drain timeout ended the run. */
  scheduled: number;
  answered: number;
  unanswered: number;
  errors: number;
  firstError?: string;
  /** Latency from each request's scheduled send time (the figure to report). */
  fromScheduled: Latency;
  /** Latency from when the request was actually written (service time). */
  fromSent: Latency;
  /** How late requests were written relative to their schedule (the driver's own lag). */
  sendLag: Latency;
  /** Answered requests per second over the run. */
  perSec: number;
  ms: number;
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
/** Longest blocking sleep between event-loop turns: bounds how late a reply can be timestamped. */
const SLEEP_SLICE_MS = 0.1;

/**
 * Sends rate requests/s for durationMs, round-robin over the connections, and waits up to
 * drainMs for the last replies. Between sends the driver waits on a timer for gaps over 2 ms and
 * otherwise sleeps in slices of at most 0.1 ms (Atomics.wait) between event-loop turns, so it
 * does not spin a core flat out; a reply that arrives during a slice is timestamped when the
 * slice ends, at most 0.1 ms late.
 */
export function openLoop(clients: RespClient[], rate: number, durationMs: number, makeCommand: (i: number) => Buffer, drainMs = 30_000): Promise<OpenLoopResult> {
  const fromScheduled = new Latency();
  const fromSent = new Latency();
  const sendLag = new Latency();
  const gap = 1000 / rate;
  const total = Math.max(1, Math.round((rate * durationMs) / 1000));
  const start = performance.now() + 5;
  let i = 0;
  let answered = 0;
  let errors = 0;
  let firstError: string | undefined;
  return new Promise((resolve) => {
    let finished = false;
    let drainTimer: NodeJS.Timeout | undefined;
    const finish = () => {
      if (finished) return;
      finished = true;
      if (drainTimer) clearTimeout(drainTimer);
      const ms = performance.now() - start;
      resolve({ scheduled: total, answered, unanswered: total - answered, errors, firstError, fromScheduled, fromSent, sendLag, perSec: (answered / ms) * 1000, ms });
    };
    const tick = () => {
      if (finished) return;
      const now = performance.now();
      while (i < total) {
        const sched = start + i * gap;
        if (sched > now) break;
        const c = clients[i % clients.length]!;
        sendLag.recordMs(now - sched);
        const sent = now;
        c.send(makeCommand(i), (r) => {
          const t = performance.now();
          fromScheduled.recordMs(t - sched);
          fromSent.recordMs(t - sent);
          if (r instanceof ReplyError) {
            errors++;
            firstError ??= r.message;
          }
          if (++answered === total) finish();
        });
        i++;
      }
      if (i >= total) {
        drainTimer = setTimeout(finish, drainMs);
        return;
      }
      const wait = start + i * gap - performance.now();
      if (wait > 2) {
        setTimeout(tick, wait - 1);
      } else {
        if (wait > 0.01) Atomics.wait(sleeper, 0, 0, Math.min(wait, SLEEP_SLICE_MS));
        setImmediate(tick);
      }
    };
    setTimeout(tick, 1);
  });
}

/** Zipfian ranks over [0, n) with exponent theta (YCSB's generator, Gray et al. 1994). */
export class Zipfian {
  private readonly n: number;
  private readonly theta: number;
  private readonly alpha: number;
  private readonly zetan: number;
  private readonly eta: number;
  private readonly random: () => number;

  constructor(n: number, theta: number, random: () => number) {
    this.n = n;
    this.theta = theta;
    this.random = random;
    let zetan = 0;
    for (let i = 1; i <= n; i++) zetan += 1 / i ** theta;
    const zeta2 = 1 + 1 / 2 ** theta;
    this.zetan = zetan;
    this.alpha = 1 / (1 - theta);
    this.eta = (1 - (2 / n) ** (1 - theta)) / (1 - zeta2 / zetan);
  }

  /** Rank 0 is the most popular. */
  next(): number {
    const u = this.random();
    const uz = u * this.zetan;
    if (uz < 1) return 0;
    if (uz < 1 + 0.5 ** this.theta) return 1;
    return Math.min(this.n - 1, Math.floor(this.n * (this.eta * u - this.eta + 1) ** this.alpha));
  }

  /** Probability mass of the k most popular ranks. */
  topMass(k: number): number {
    let s = 0;
    for (let i = 1; i <= Math.min(k, this.n); i++) s += 1 / i ** this.theta;
    return s / this.zetan;
  }
}
