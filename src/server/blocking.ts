/**
 * Blocked clients (Redis blocked.c): BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP here in lists,
 * and BZPOPMIN, BZPOPMAX, BZMPOP in sorted sets use the same machinery.
 *
 * How a blocking command uses it (the whole interface):
 *
 *   import { block, parseTimeout } from '../server/blocking.ts';
 *
 *   const timeout = parseTimeout(args[i], ctx.now);   // absolute ms, 0 = forever, or ErrorReply
 *   if (timeout instanceof ErrorReply) return timeout;
 *   ...try to serve at once with the normal handler code; if nothing can be served:
 *   return block(ctx, {
 *     keys,                     // keys of ctx.db to wait on (duplicates are ignored)
 *     type: 'zset',             // the type that can serve this waiter ('list', 'zset', ...)
 *     timeout,                  // from parseTimeout
 *     timeoutReply: NullArray.instance,   // sent when the timeout passes (CLIENT UNBLOCK TIMEOUT too)
 *     denyReply: null,          // optional: sent at once when blocking is not allowed
 *                               //   (inside MULTI/EXEC); defaults to timeoutReply
 *     also: [dst],              // optional: more keys of ctx.db locked while serving (BLMOVE)
 *     serve(ctx, key) {...},    // `key` got a write: pop from it and return the reply, or
 *                               //   return undefined to stay blocked (empty, or a wrong type)
 *   });
 *
 * block() registers a waiter and returns the BLOCKED marker, which the handler returns as its
 * reply. The dispatcher then releases the command's key locks (a blocked client holds none, so
 * LPUSH on its key can run) and keeps the client's pipeline stopped until the waiter ends;
 * the final reply goes through the normal reply path (stats, durability wait, MONITOR).
 *
 * Wake-up: every write the keyspace reports (Keyspace.onKeyModified, cause 'write': LPUSH,
 * ZADD, RENAME, RESTORE, MOVE, ...) marks the key ready if someone waits on it, and SWAPDB/
 * FLUSHDB mark every waited key of the database ready. After each top-level command the
 * dispatcher calls serveReady() (Redis's handleClientsBlockedOnKeys): ready keys are taken in
 * the order they became ready, and each key's waiters are offered the key in the order they
 * blocked, one at a time, each under the key locks of (key, ...also) with those keys
 * prefetched. serve() checks the type itself; like Redis 7.0, a waiter whose key now holds
 * another type stays blocked. A served waiter leaves every queue, so a pushed element reaches
 * exactly one client. serve() may return a promise (big collections read the engine); waiters
 * are served strictly one after another.
 *
 * A client that disconnects is removed (removeClient, from the connection); CLIENT UNBLOCK
 * ends a wait with the timeout reply or an UNBLOCKED error.
 */
import { ErrorReply, type Reply } from '../resp/reply.ts';
import { parseLongDouble, type LongDouble } from '../types/numbers.ts';
import type { ExecContext } from '../commands/types.ts';
import type { ClientState, ServerState } from './state.ts';

/** Returned by a handler that blocked its client: the reply comes later. */
export const BLOCKED: Reply = Object.freeze(['<blocked>']) as unknown as Reply;

export interface BlockSpec {
  keys: readonly string[];
  /** The value type that can serve this waiter; used to skip waiters that cannot be served. */
  type: string;
  /** Absolute deadline in ms since the epoch; 0 = wait forever. */
  timeout: number;
  timeoutReply: Reply;
  /** Reply when the client may not block (inside MULTI/EXEC); defaults to timeoutReply. */
  denyReply?: Reply;
  /** Keys besides the ready one that serve() writes (BLMOVE's destination). */
  also?: readonly string[];
  serve(ctx: ExecContext, key: string): Reply | undefined | Promise<Reply | undefined>;
}

interface Waiter {
  client: ClientState;
  db: number;
  keys: string[];
  spec: BlockSpec;
  state: 'blocked' | 'serving' | 'done';
  /** The deadline passed while a serve attempt was running. */
  timedOut: boolean;
  timer: NodeJS.Timeout | undefined;
  resolve: (r: Reply) => void;
  done: Promise<Reply>;
}

type Attempt = boolean | undefined;

/** setTimeout's longest delay; longer waits re-arm. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const UNBLOCKED = new ErrorReply('UNBLOCKED client unblocked via CLIENT UNBLOCK');

const TWO_63 = 2 ** 63;

/**
 * getTimeoutFromObjectOrReply (UNIT_SECONDS): a long double number of seconds, truncated to
 * whole milliseconds; 0 (also anything under 1 ms) waits forever. Infinite and out-of-range
 * values become LLONG_MIN in C's conversion, hence "negative".
 */
export function parseTimeout(arg: string, now: number): number | ErrorReply {
  const ld = parseLongDouble(arg);
  if (!ld) return new ErrorReply('ERR timeout is not a float or out of range');
  const ms = Math.trunc(ldToNumber(ld) * 1000);
  if (!Number.isFinite(ms) || ms >= TWO_63 || ms < -TWO_63 || ms < 0) return new ErrorReply('ERR timeout is negative');
  return ms === 0 ? 0 : now + ms;
}

function ldToNumber(ld: LongDouble): number {
  if (ld.kind !== 'f') return ld.neg ? -Infinity : Infinity;
  const v = Number(ld.mant) * 2 ** ld.exp;
  return ld.neg ? -v : v;
}

export class Blocking {
  private readonly server: ServerState;
  /** "db\0key" -> waiters in the order they blocked (a Set keeps insertion order). */
  private readonly byKey = new Map<string, Set<Waiter>>();
  private readonly byClient = new Map<ClientState, Waiter>();
  /** Keys that got a write while someone waits on them, in order. */
  private readonly ready = new Set<string>();
  private serving = false;

  constructor(server: ServerState) {
    this.server = server;
    server.keyspace.onKeyModified((db, key, cause) => {
      if (cause === 'write' && this.byKey.size > 0) this.signal(db, key);
    });
    server.keyspace.onFlush((db) => {
      for (const k of this.byKey.keys()) {
        if (db === undefined || k.startsWith(`${db}\0`)) this.ready.add(k);
      }
    });
  }

  /** Clients currently blocked (INFO blocked_clients). */
  get count(): number {
    return this.byClient.size;
  }

  isBlocked(c: ClientState): boolean {
    return this.byClient.has(c);
  }

  /** A key got a write: its waiters are offered it after the current command. */
  signal(db: number, key: string): void {
    const k = `${db}\0${key}`;
    if (this.byKey.has(k)) this.ready.add(k);
  }

  block(ctx: ExecContext, spec: BlockSpec): Reply {
    const c = ctx.client;
    // CLIENT_DENY_BLOCKING: inside EXEC a blocking command acts as if it timed out at once.
    if (c.capture !== undefined) return spec.denyReply === undefined ? spec.timeoutReply : spec.denyReply;
    if (this.byClient.has(c)) throw new Error('client is already blocked');
    let resolve!: (r: Reply) => void;
    const done = new Promise<Reply>((r) => (resolve = r));
    const w: Waiter = {
      client: c,
      db: ctx.db,
      keys: [...new Set(spec.keys)],
      spec,
      state: 'blocked',
      timedOut: false,
      timer: undefined,
      resolve,
      done,
    };
    for (const key of w.keys) {
      const k = `${w.db}\0${key}`;
      let s = this.byKey.get(k);
      if (!s) this.byKey.set(k, (s = new Set()));
      s.add(w);
    }
    this.byClient.set(c, w);
    if (spec.timeout > 0) this.arm(w);
    return BLOCKED;
  }

  private arm(w: Waiter): void {
    const left = w.spec.timeout - Date.now();
    if (left <= 0) {
      this.expire(w);
      return;
    }
    w.timer = setTimeout(() => this.arm(w), Math.min(left, MAX_TIMER_MS));
    w.timer.unref();
  }

  private expire(w: Waiter): void {
    if (w.state === 'blocked') this.end(w, w.spec.timeoutReply);
    else if (w.state === 'serving') w.timedOut = true;
  }

  /** The final reply of a client's blocked command (the dispatcher awaits it). */
  wait(c: ClientState): Promise<Reply> {
    const w = this.byClient.get(c);
    if (!w) throw new Error('client is not blocked');
    return w.done;
  }

  private end(w: Waiter, r: Reply): void {
    if (w.state === 'done') return;
    w.state = 'done';
    clearTimeout(w.timer);
    for (const key of w.keys) {
      const k = `${w.db}\0${key}`;
      const s = this.byKey.get(k);
      s?.delete(w);
      if (s?.size === 0) this.byKey.delete(k);
    }
    this.byClient.delete(w.client);
    w.resolve(r);
  }

  /** The client disconnected: it leaves every queue (a serve in progress finishes). */
  removeClient(c: ClientState): void {
    const w = this.byClient.get(c);
    if (w && w.state === 'blocked') this.end(w, null);
  }

  /** CLIENT UNBLOCK: 1 if the client was blocked and is now released. */
  unblock(c: ClientState, mode: 'timeout' | 'error'): number {
    const w = this.byClient.get(c);
    if (!w || w.state !== 'blocked') return 0;
    this.end(w, mode === 'error' ? UNBLOCKED : w.spec.timeoutReply);
    return 1;
  }

  /**
   * Serves waiters of ready keys (handleClientsBlockedOnKeys). Runs synchronously while
   * locks are free and keys are in memory; otherwise continues asynchronously. Re-entrant
   * calls while a pass runs return at once: the running pass picks up new ready keys.
   */
  serveReady(): void {
    if (this.serving || this.ready.size === 0) return;
    this.serving = true;
    const loop = (): void => {
      try {
        while (this.ready.size > 0) {
          const k = this.ready.values().next().value!;
          this.ready.delete(k);
          const p = this.serveKey(k);
          if (p) {
            p.then(loop, (e: unknown) => {
              this.server.log.error({ err: e }, 'serving blocked clients failed');
              loop();
            });
            return;
          }
        }
        this.serving = false;
      } catch (e) {
        // Never the fault of the command that triggered the pass: log, and let the next pass run.
        this.serving = false;
        this.server.log.error({ err: e }, 'serving blocked clients failed');
      }
    };
    loop();
  }

  /** Offers one ready key to its waiters in blocking order. */
  private serveKey(k: string, from?: Iterator<Waiter>, failed = new Set<string>()): Promise<void> | undefined {
    const s = this.byKey.get(k);
    if (!s) return undefined;
    const it = from ?? s.values();
    const sep = k.indexOf('\0');
    const key = k.slice(sep + 1);
    for (let n = it.next(); !n.done; n = it.next()) {
      const w = n.value;
      if (w.state !== 'blocked' || failed.has(w.spec.type)) continue;
      const r = this.serveOne(w, key);
      if (r instanceof Promise) {
        return r.then((ok) => {
          if (ok === false) failed.add(w.spec.type);
          return this.serveKey(k, it, failed);
        });
      }
      if (r === false) failed.add(w.spec.type);
    }
    return undefined;
  }

  /**
   * One attempt to serve w from key, under its locks: true if w was served, false if the key
   * could not serve it (so it cannot serve later waiters of that type either), undefined if w
   * ended or went away meanwhile.
   */
  private serveOne(w: Waiter, key: string): Attempt | Promise<Attempt> {
    const keys = [...new Set([key, ...(w.spec.also ?? [])])];
    const locked = keys.map((x) => `${w.db}\0${x}`);
    const locks = this.server.keyLocks;
    const run = (): Attempt | Promise<Attempt> => {
      let r: Attempt | Promise<Attempt>;
      try {
        r = this.serveLocked(w, key, keys);
      } catch (e) {
        locks.release(locked);
        throw e;
      }
      if (r instanceof Promise) return r.finally(() => locks.release(locked));
      locks.release(locked);
      return r;
    };
    const wait = locks.acquire(locked);
    return wait ? wait.then(run) : run();
  }

  private serveLocked(w: Waiter, key: string, keys: string[]): Attempt | Promise<Attempt> {
    const p = this.server.keyspace.prefetch(w.db, keys);
    if (p) return p.then(() => this.attempt(w, key));
    return this.attempt(w, key);
  }

  private attempt(w: Waiter, key: string): Attempt | Promise<Attempt> {
    if (w.state !== 'blocked' || w.client.closing) return undefined;
    w.state = 'serving';
    const ctx: ExecContext = { client: w.client, server: this.server, keyspace: this.server.keyspace, db: w.db, now: Date.now() };
    let r: Reply | undefined | Promise<Reply | undefined>;
    try {
      r = w.spec.serve(ctx, key);
    } catch (e) {
      r = errorReply(e);
    }
    if (r instanceof Promise) return r.then((v) => this.settle(w, v), (e: unknown) => this.settle(w, errorReply(e)));
    return this.settle(w, r);
  }

  private settle(w: Waiter, r: Reply | undefined): boolean {
    w.state = 'blocked';
    if (r === undefined) {
      // Stays blocked, unless its deadline passed or it went away during the attempt.
      if (w.timedOut || w.client.closing) this.end(w, w.spec.timeoutReply);
      return false;
    }
    this.end(w, r);
    return true;
  }
}

function errorReply(e: unknown): ErrorReply {
  if (e instanceof ErrorReply) return e;
  const msg = e instanceof Error ? e.message : String(e);
  return new ErrorReply(msg.startsWith('ERR ') ? msg : `ERR ${msg.split('\n')[0]}`);
}

const instances = new WeakMap<ServerState, Blocking>();

/** The server's blocked-client registry (created on first use). */
export function blockingOf(server: ServerState): Blocking {
  let b = instances.get(server);
  if (!b) instances.set(server, (b = new Blocking(server)));
  return b;
}

/** For handlers: block the client (see the header comment). */
export function block(ctx: ExecContext, spec: BlockSpec): Reply {
  return blockingOf(ctx.server).block(ctx, spec);
}

/** For the dispatcher: after each top-level command. */
export function serveReady(server: ServerState): void {
  instances.get(server)?.serveReady();
}

/** For the connection: a closed client leaves the queues. */
export function removeBlockedClient(server: ServerState, c: ClientState): void {
  instances.get(server)?.removeClient(c);
}

export function isClientBlocked(server: ServerState, c: ClientState): boolean {
  return instances.get(server)?.isBlocked(c) ?? false;
}

export function blockedClients(server: ServerState): number {
  return instances.get(server)?.count ?? 0;
}
