/**
 * Counters behind INFO stats/commandstats/errorstats, SLOWLOG and LATENCY. Kept apart from
 * the dispatcher so CONFIG RESETSTAT can reset them in one place.
 */

export interface CommandStat {
  calls: number;
  usec: number;
  rejected: number;
  failed: number;
}

export interface SlowlogEntry {
  id: number;
  time: number; // unix seconds
  usec: number;
  args: string[];
  addr: string;
  name: string;
}

export interface LatencySample {
  time: number; // unix seconds
  ms: number;
}

export class Stats {
  commands = new Map<string, CommandStat>();
  errors = new Map<string, number>();
  totalCommands = 0;
  totalConnections = 0;
  rejectedConnections = 0;
  totalErrorReplies = 0;
  netInput = 0;
  netOutput = 0;
  expiredKeys = 0;
  evictedKeys = 0;
  keyspaceHits = 0;
  keyspaceMisses = 0;
  /** Writes since the last SAVE (rdb_changes_since_last_save). */
  dirty = 0;
  /** Sliding window of command counts for instantaneous_ops_per_sec. */
  private opsSamples: number[] = [];
  private lastOpsTotal = 0;

  command(name: string): CommandStat {
    let s = this.commands.get(name);
    if (!s) this.commands.set(name, (s = { calls: 0, usec: 0, rejected: 0, failed: 0 }));
    return s;
  }

  /** Counts an error reply by its code word (ERR, WRONGTYPE, NOAUTH...). */
  error(message: string): void {
    const sp = message.indexOf(' ');
    const code = sp < 0 ? message : message.slice(0, sp);
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
    this.totalErrorReplies++;
  }

  /** Called about once a second by the server cron. */
  sampleOps(): void {
    this.opsSamples.push(this.totalCommands - this.lastOpsTotal);
    this.lastOpsTotal = this.totalCommands;
    if (this.opsSamples.length > 16) this.opsSamples.shift();
  }

  get opsPerSec(): number {
    if (this.opsSamples.length === 0) return 0;
    return Math.round(this.opsSamples.reduce((a, b) => a + b, 0) / this.opsSamples.length);
  }

  reset(): void {
    this.commands.clear();
    this.errors.clear();
    this.totalCommands = 0;
    this.totalConnections = 0;
    this.rejectedConnections = 0;
    this.totalErrorReplies = 0;
    this.netInput = 0;
    this.netOutput = 0;
    this.expiredKeys = 0;
    this.evictedKeys = 0;
    this.keyspaceHits = 0;
    this.keyspaceMisses = 0;
    this.opsSamples = [];
    this.lastOpsTotal = 0;
  }
}

const SLOWLOG_MAX_ARGS = 32;
const SLOWLOG_MAX_ARG_LEN = 128;

export class Slowlog {
  entries: SlowlogEntry[] = []; // newest first
  private nextId = 0;

  add(args: string[], usec: number, addr: string, name: string, maxLen: number): void {
    // Like Redis: at most 32 arguments and 128 bytes of each are kept.
    const n = Math.min(args.length, SLOWLOG_MAX_ARGS);
    const kept: string[] = [];
    for (let i = 0; i < n; i++) {
      if (i === n - 1 && n < args.length) {
        kept.push(`... (${args.length - SLOWLOG_MAX_ARGS + 1} more arguments)`);
        break;
      }
      const a = args[i]!;
      kept.push(a.length > SLOWLOG_MAX_ARG_LEN ? `${a.slice(0, SLOWLOG_MAX_ARG_LEN)}... (${a.length - SLOWLOG_MAX_ARG_LEN} more bytes)` : a);
    }
    this.entries.unshift({ id: this.nextId++, time: Math.floor(Date.now() / 1000), usec, args: kept, addr, name });
    if (this.entries.length > maxLen) this.entries.length = maxLen;
  }

  reset(): void {
    this.entries = [];
  }
}

const LATENCY_HISTORY = 160;

export class LatencyMonitor {
  events = new Map<string, { samples: LatencySample[]; max: number }>();

  add(event: string, ms: number): void {
    let e = this.events.get(event);
    if (!e) this.events.set(event, (e = { samples: [], max: 0 }));
    const time = Math.floor(Date.now() / 1000);
    const last = e.samples[e.samples.length - 1];
    // One sample per second per event, keeping the worst, as Redis does.
    if (last && last.time === time) last.ms = Math.max(last.ms, ms);
    else e.samples.push({ time, ms });
    if (e.samples.length > LATENCY_HISTORY) e.samples.shift();
    e.max = Math.max(e.max, ms);
  }

  reset(events: string[]): number {
    if (events.length === 0) {
      const n = this.events.size;
      this.events.clear();
      return n;
    }
    let n = 0;
    for (const ev of events) if (this.events.delete(ev)) n++;
    return n;
  }
}
