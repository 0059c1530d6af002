/**
 * Background work of the keyspace, run `hz` times a second with bounded work per tick:
 *  - active expiry: the TTL index (t records) is sorted by expiry time, so each cycle reads
 *    exactly the keys that are due instead of sampling like Redis's activeExpireCycle;
 *  - cleanup: gives the engine the key ranges of deleted/overwritten big collections and of
 *    flushed namespaces to drop (Engine.dropRange: O(1), whatever they hold), or deletes their
 *    records one by one when the engine declines;
 *  - recount: rebuilds key counts after an unclean shutdown.
 */
import {
  decodeTtlValue,
  parseElemKey,
  metaKey,
  nsRange,
  parseTtlKey,
  prefixEnd,
  ttlKey,
  ttlPrefix,
} from './encoding.ts';

import type { Db, Keyspace } from './keyspace.ts';

interface CleanupJob {
  start: string;
  end: string;
  /** Set for the three ranges of a dead namespace. */
  ns?: number;
  /** The engine's last seq when a cycle first saw the job: the orphaning write is at or below. */
  seq?: number;
  /** The engine declined to drop the range: delete its records one by one. */
  byRecord?: boolean;
}

/** Records examined per tick by cleanup, and keys expired per db per tick. */
const CLEANUP_BUDGET = 2000;
const EXPIRE_BUDGET = 200;
/** Element records examined per tick by the orphan sweep, and the pause between passes. */
const SWEEP_BUDGET = 500;
const SWEEP_PAUSE_MS = 60_000;

export class Background {
  private readonly ks: Keyspace;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly jobs: CleanupJob[] = [];
  private readonly deadQueued = new Set<number>();
  /** Where the orphan sweep continues (an element key), or undefined between passes. */
  private sweepFrom: string | undefined = 'e';
  private sweepRestAt = 0;
  orphansFound = 0;
  /** Errors are remembered (for INFO/logs) rather than thrown from a timer. */
  lastError: unknown;
  expiredKeys = 0;

  constructor(ks: Keyspace) {
    this.ks = ks;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.tick(), Math.max(1, Math.floor(1000 / this.ks.hz)));
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Resolves when the current tick (if any) has finished. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  reset(): void {
    // Cleanup jobs stay valid across a reload (they name records on the same engine).
  }

  /** Runs one tick now (tests, DEBUG). */
  tick(): Promise<void> {
    if (this.running) return this.running;
    this.running = (async () => {
      try {
        if (this.ks.activeExpire) await this.expireCycle();
        if (!this.ks.engine.writeStalled) await this.cleanupCycle();
        if (!this.ks.engine.writeStalled && this.jobs.length === 0) await this.sweepCycle();
      } catch (e) {
        this.lastError = e;
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  cleanupPrefix(prefix: string): void {
    this.jobs.push({ start: prefix, end: prefixEnd(prefix) });
  }

  cleanupNamespace(ns: number): void {
    if (this.deadQueued.has(ns)) return;
    this.deadQueued.add(ns);
    for (const fam of ['m', 'e', 't']) this.jobs.push({ ...nsRange(fam, ns), ns });
  }

  get pendingCleanupJobs(): number {
    return this.jobs.length;
  }

  /** Deletes expired keys straight from the TTL index, at most EXPIRE_BUDGET per db per tick. */
  private async expireCycle(): Promise<void> {
    const ks = this.ks;
    for (const d of [...ks.dbs]) {
      if (d.expires <= 0 && !d.counting) continue;
      const now = ks.clock();
      ks.dirty = new Set();
      try {
        const found: { key: string; expireAt: number; version: number }[] = [];
        // Redis: expired when now > expireAt, i.e. expireAt < now (end is exclusive).
        for await (const e of ks.engine.scan({ start: ttlPrefix(d.ns), end: ttlKey(d.ns, now, ''), limit: EXPIRE_BUDGET })) {
          const t = parseTtlKey(e.key);
          found.push({ key: t.key, expireAt: t.expireAt, version: decodeTtlValue(e.value) });
        }
        if (found.length === 0) continue;
        const index = ks.dbs.indexOf(d);
        if (index < 0) continue;
        await ks.ensureLoaded(index, [...new Set(found.map((f) => f.key))]);
        if (!ks.dbs.includes(d) || !ks.activeExpire) continue;
        for (const f of found) {
          const pk = metaKey(d.ns, f.key);
          if (ks.dirty.has(pk)) continue; // changed since we read the index: next cycle
          ks.expireFromBackground(d, f.key, f.expireAt, f.version);
          this.expiredKeys++;
        }
      } finally {
        ks.dirty = undefined;
      }
    }
  }

  private async cleanupCycle(): Promise<void> {
    const engine = this.ks.engine;
    let budget = CLEANUP_BUDGET;
    while (budget > 0 && this.jobs.length > 0) {
      const job = this.jobs[0]!;
      // A cycle runs after the command that queued the job, so its write is done by now.
      job.seq ??= engine.lastSeq;
      if (!job.byRecord) {
        // Only once that write is durable: a crash before it would recover metadata that
        // still names the dropped records.
        if (engine.durableSeq < job.seq) return;
        if (await engine.dropRange(job.start, job.end)) {
          this.finish(job);
          budget--;
          continue;
        }
        job.byRecord = true;
      }
      const limit = budget;
      const dels: { key: string }[] = [];
      for await (const e of this.ks.engine.scan({ start: job.start, end: job.end, limit })) dels.push({ key: e.key });
      this.ks.writeRaw(dels);
      budget -= dels.length + 1;
      if (dels.length < limit) this.finish(job);
      else job.start = dels[dels.length - 1]!.key + '\0';
    }
  }

  /**
   * Finds element records no metadata refers to (left by a crash between an overwrite and its
   * cleanup) and queues their ranges for cleanup. A group (ns, key, version) is orphaned when
   * its key's metadata names another version or no longer exists; versions are never reused
   * and elements are written in the same batch as their metadata, so the check cannot race.
   */
  private async sweepCycle(): Promise<void> {
    const ks = this.ks;
    if (this.sweepFrom === undefined) {
      if (ks.clock() < this.sweepRestAt) return;
      this.sweepFrom = 'e';
    }
    const groups = new Map<string, { ns: number; key: string; version: number }>();
    let last: string | undefined;
    let n = 0;
    for await (const e of ks.engine.scan({ start: this.sweepFrom, end: 'f', limit: SWEEP_BUDGET })) {
      n++;
      last = e.key;
      const g = parseElemKey(e.key);
      if (g) groups.set(g.prefix, g);
    }
    this.sweepFrom = n < SWEEP_BUDGET || last === undefined ? undefined : last + '\0';
    if (this.sweepFrom === undefined) this.sweepRestAt = ks.clock() + SWEEP_PAUSE_MS;
    for (const [prefix, g] of groups) {
      if (ks.catalog.dead.includes(g.ns)) continue; // the namespace cleanup covers it
      if (ks.building.has(prefix)) continue; // streamed ahead of its metadata (big lists)
      if ((await ks.elementVersion(g.ns, g.key)) !== g.version) {
        this.orphansFound++;
        this.cleanupPrefix(prefix);
      }
    }
  }

  private finish(job: CleanupJob): void {
    this.jobs.shift();
    if (job.ns === undefined) return;
    if (this.jobs.some((j) => j.ns === job.ns)) return;
    const c = this.ks.catalog;
    c.dead = c.dead.filter((n) => n !== job.ns);
    this.deadQueued.delete(job.ns);
    this.ks.persistCatalog();
  }

  /**
   * Rebuilds a db's counts: counts records under an engine snapshot while mutations made after
   * the snapshot accumulate in d.keys/d.expires as deltas (writers always know the old state).
   * A TTL record whose time has passed stands for a key the engine already hides.
   */
  recount(d: Db): void {
    const ks = this.ks;
    d.keys = 0;
    d.expires = 0;
    d.ttlSum = 0;
    const engine = ks.engine;
    const snap = engine.snapshot();
    d.counting = (async () => {
      let keys = 0;
      let expires = 0;
      let ttlSum = 0;
      try {
        const m = nsRange('m', d.ns);
        for await (const _ of engine.scan({ start: m.start, end: m.end, snapshot: snap })) keys++;
        const now = ks.clock();
        const t = nsRange('t', d.ns);
        for await (const e of engine.scan({ start: t.start, end: t.end, snapshot: snap })) {
          const { expireAt } = parseTtlKey(e.key);
          expires++;
          ttlSum += expireAt;
          if (expireAt <= now) keys++;
        }
        d.keys += keys;
        d.expires += expires;
        d.ttlSum += ttlSum;
      } catch (e) {
        this.lastError = e;
      } finally {
        snap.release();
        d.counting = undefined;
      }
    })();
  }
}
