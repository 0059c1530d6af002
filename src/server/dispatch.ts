/**
 * Runs one request for one client, in the order Redis's processCommand checks things:
 * lookup -> arity -> auth -> transaction rules -> RESP2 subscribed-mode rule -> CLIENT PAUSE
 * -> MULTI queueing -> call (prefetch keys, run handler, stats, slowlog, MONITOR).
 *
 * The connection awaits the returned promise (if any) before parsing its next request, so a
 * client's commands run one at a time in arrival order. A handler runs synchronously right
 * after its keys are prefetched, so no other command interleaves with it.
 */
import { ErrorReply, SimpleString, type Reply } from '../resp/reply.ts';
import type { ExecContext } from '../commands/types.ts';
import { arityOk, type CommandDef } from './command-table.ts';
import { extractKeys } from './keys.ts';
import type { ClientState, ServerState } from './state.ts';
import { monitorLine } from './monitor.ts';
import { BLOCKED, blockingOf, serveReady } from './blocking.ts';
import { boundStoreWait, pendingSeq } from './store-timeout.ts';

/** Returned by handlers that already sent their replies themselves (SUBSCRIBE, MONITOR...). */
export const NO_REPLY: Reply = Object.freeze([]) as unknown as Reply;

const QUEUED = new SimpleString('QUEUED');
/** Commands that run immediately inside MULTI instead of being queued. */
const MULTI_IMMEDIATE = new Set(['exec', 'discard', 'multi', 'watch', 'quit', 'reset']);
/** Commands allowed in RESP2 subscribed mode. */
const SUBSCRIBED_OK = new Set(['ping', 'subscribe', 'ssubscribe', 'unsubscribe', 'sunsubscribe', 'psubscribe', 'punsubscribe', 'quit', 'reset']);

function truncate(s: string, n: number): string {
  return s.length > n ? s.slice(0, n) : s;
}

/** Redis's error for an unknown command, arguments cut to 128 bytes in all. */
export function unknownCommandError(argv: string[]): string {
  let args = '';
  for (let i = 1; i < argv.length && args.length < 128; i++) args += `'${truncate(argv[i]!, 128 - args.length)}' `;
  return `ERR unknown command '${truncate(argv[0]!, 128)}', with args beginning with: ${args}`;
}

/** An error that happened before the command ran: counts as rejected and dirties MULTI. */
function reject(server: ServerState, client: ClientState, def: CommandDef | undefined, message: string): void {
  if (client.multi) client.multiDirty = true;
  if (def) server.stats.command(def.fullname).rejected++;
  server.stats.error(message);
  client.reply(new ErrorReply(message));
}

export function execute(server: ServerState, client: ClientState, argv: string[]): void | Promise<void> {
  const now = Date.now();
  client.lastInteraction = now;
  server.lastActivity = now;
  const found = server.table.lookup(argv);
  if (found === undefined) return reject(server, client, undefined, unknownCommandError(argv));
  if (found === 'unknown-sub') {
    return reject(server, client, undefined,
      `ERR unknown subcommand '${truncate(argv[1]!, 128)}'. Try ${argv[0]!.toUpperCase()} HELP.`);
  }
  const def = found;
  if (!arityOk(def, argv.length)) {
    return reject(server, client, def, `ERR wrong number of arguments for '${def.fullname}' command`);
  }
  if (!client.authenticated && !def.flags.has('no_auth')) {
    return reject(server, client, def, 'NOAUTH Authentication required.');
  }
  if (client.multi && def.flags.has('no_multi')) {
    return reject(server, client, def, 'ERR Command not allowed inside a transaction');
  }
  if (client.resp === 2 && client.subscriptions > 0 && !SUBSCRIBED_OK.has(def.parent?.name ?? def.name)) {
    return reject(server, client, def,
      `ERR Can't execute '${def.fullname}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context`);
  }
  const top = def.parent?.name ?? def.name;
  // Redis's performEvictions before every command when maxmemory is set; commands that may
  // grow memory are refused when nothing more can be evicted.
  if (server.config.num('maxmemory') > 0 && !server.keyspace.freeMemoryIfNeeded() &&
      (def.flags.has('denyoom') || (top === 'exec' && queuedDenyoom(client)))) {
    return reject(server, client, def, "OOM command not allowed when used memory > 'maxmemory'.");
  }
  if (client.multi && !MULTI_IMMEDIATE.has(top)) {
    client.multi.push({ def, argv });
    client.reply(QUEUED);
    return;
  }
  if (server.pause && server.isPausedFor(def, top === 'exec' && queuedWrites(client))) {
    // Postponed like Redis's blockPostponeClient: re-checked once the pause ends.
    return server.waitUnpause().then(() => execute(server, client, argv));
  }
  const r = call(server, client, def, argv, false, now);
  // Redis's handleClientsBlockedOnKeys: clients blocked on keys this command wrote are served now.
  if (r) return r.then(() => serveReady(server));
  serveReady(server);
}

function queuedDenyoom(client: ClientState): boolean {
  return client.multi?.some((q) => q.def.flags.has('denyoom')) ?? false;
}

function queuedWrites(client: ClientState): boolean {
  return client.multi?.some((q) => q.def.write || q.def.flags.has('may_replicate')) ?? false;
}

/**
 * Runs a command that passed all checks: prefetch, handler, bookkeeping. With prefetched=true
 * the caller (EXEC) already loaded the keys and the handler runs at once.
 */
export function call(server: ServerState, client: ClientState, def: CommandDef, argv: string[], prefetched = false, now?: number): void | Promise<void> {
  client.lastCommand = def.fullname;
  const keys = extractKeys(def, argv);
  if (keys.length === 0) return run(server, client, def, argv, keys, prefetched, undefined, now);
  const locks = server.keyLocks;
  if (locks.idle) {
    // Nothing is locked: run at once and take the keys only if the command goes async. Nothing
    // else has run by then, so that is the same as taking them first, and a command that
    // finishes at once (most do) costs no lock at all.
    let held: string[] | undefined;
    let released = false;
    const release = () => {
      if (held) locks.release(held);
      held = undefined;
      released = true;
    };
    const r = run(server, client, def, argv, keys, prefetched, release, now);
    if (!r || released) return r;
    held = lockNames(client.db, keys);
    locks.take(held);
    return r.finally(release);
  }
  // Held from prefetch to reply, so a handler that awaits the engine stays atomic per key.
  const locked = lockNames(client.db, keys);
  let held = true;
  // Idempotent: a command that blocks its client releases early (see blocked()).
  const release = () => {
    if (held) locks.release(locked);
    held = false;
  };
  const runLocked = (): void | Promise<void> => {
    let r: void | Promise<void>;
    try {
      r = run(server, client, def, argv, keys, prefetched, release);
    } catch (e) {
      release();
      throw e;
    }
    if (r) return r.finally(release);
    release();
  };
  const wait = locks.acquire(locked);
  return wait ? wait.then(runLocked) : runLocked();
}

function lockNames(db: number, keys: string[]): string[] {
  return keys.map((k) => `${db}\0${k}`);
}

/** now: the dispatcher's clock reading when the command runs at once (one read per command). */
function run(server: ServerState, client: ClientState, def: CommandDef, argv: string[], keys: string[], prefetched: boolean, unlock?: () => void, now?: number): void | Promise<void> {
  if (!prefetched) {
    let p = keys.length > 0 ? server.keyspace.prefetch(client.db, keys) : undefined;
    // Engine backpressure: writers wait while the engine is over a limit.
    if (def.write) {
      // Bounded: with the store down, a stalled write fails instead of hanging.
      let w = server.keyspace.waitForCapacity();
      if (w) w = boundStoreWait(w, server.config.num('store-timeout'), server.engine);
      if (w) p = p ? Promise.all([p, w]).then(() => {}) : w;
    }
    if (p) {
      return p.then(
        () => run(server, client, def, argv, keys, true, unlock),
        (e: unknown) => finish(server, client, def, argv, internalError(server, def, e), 0),
      );
    }
  }
  const ctx: ExecContext = { client, server, keyspace: server.keyspace, db: client.db, now: now ?? Date.now() };
  const start = performance.now();
  let result: Reply | Promise<Reply>;
  try {
    result = def.handler!(ctx, argv);
  } catch (e) {
    result = internalError(server, def, e);
  }
  if (result instanceof Promise) {
    return result.then(
      (r) => (r === BLOCKED ? blocked(server, client, def, argv, start, unlock) : durable(server, client, def, argv, r, start)),
      (e: unknown) => finish(server, client, def, argv, internalError(server, def, e), Math.round((performance.now() - start) * 1000)),
    );
  }
  if (result === BLOCKED) return blocked(server, client, def, argv, start, unlock);
  return durable(server, client, def, argv, result, start);
}

/**
 * The handler blocked its client (src/server/blocking.ts): its keys are freed at once so
 * writers can reach them, and the reply goes out when the wait ends. Stats count the handler's
 * run time, not the time spent blocked (Redis's updateStatsOnUnblock).
 */
function blocked(server: ServerState, client: ClientState, def: CommandDef, argv: string[], start: number, unlock?: () => void): Promise<void> {
  unlock?.();
  const ran = performance.now() - start;
  return blockingOf(server).wait(client).then((r) => durable(server, client, def, argv, r, performance.now() - ran));
}

/**
 * durability strict: no reply (to a write, or to a read that may show a write) leaves before
 * every write made so far is in the store. Idle servers pay about one PUT; busy ones share it.
 */
function durable(server: ServerState, client: ClientState, def: CommandDef, argv: string[], r: Reply, start: number): void | Promise<void> {
  const usec = Math.round((performance.now() - start) * 1000);
  const e = server.engine;
  if (e && def.write) client.woff = e.lastSeq;
  // Inside EXEC the transaction waits once, at its end.
  const seq = e && !client.capture && server.strict ? pendingSeq(e) : undefined;
  if (e && seq !== undefined) {
    return boundStoreWait(e.awaitDurable(seq), server.config.num('store-timeout'), e, seq).then(
      () => finish(server, client, def, argv, r, usec),
      (err: unknown) => finish(server, client, def, argv, internalError(server, def, err), usec),
    );
  }
  finish(server, client, def, argv, r, usec);
}

function internalError(server: ServerState, def: CommandDef, e: unknown): ErrorReply {
  if (e instanceof ErrorReply) return e;
  server.log.error({ err: e, command: def.fullname }, 'command failed');
  const msg = e instanceof Error ? e.message : String(e);
  return new ErrorReply(msg.startsWith('ERR ') ? msg : `ERR ${msg.split('\n')[0]}`);
}

/** Bookkeeping after a command ran (usec = its run time, -1 when it never started). */
function finish(server: ServerState, client: ClientState, def: CommandDef, argv: string[], r: Reply, runUsec: number): void {
  const usec = Math.max(0, runUsec);
  const stat = server.stats.command(def.fullname);
  stat.calls++;
  stat.usec += usec;
  server.stats.totalCommands++;
  if (r instanceof ErrorReply) {
    stat.failed++;
    server.stats.error(r.message);
  } else if (def.write) {
    server.stats.dirty++;
  }
  if (r !== NO_REPLY) client.reply(r);
  if (def.timed) {
    const threshold = server.config.num('slowlog-log-slower-than');
    if (threshold >= 0 && usec >= threshold) {
      server.slowlog.add(redact(def, argv), usec, client.addr, client.name, server.config.num('slowlog-max-len'));
    }
    const lat = server.config.num('latency-monitor-threshold');
    if (lat > 0 && usec / 1000 >= lat) server.latency.add(def.flags.has('fast') ? 'fast-command' : 'command', Math.round(usec / 1000));
  }
  if (server.monitors.size > 0 && def.monitored) {
    const line = new SimpleString(monitorLine(client, redact(def, argv)));
    for (const m of server.monitors) if (m !== client) m.push(line);
  }
}

/** AUTH/HELLO passwords never reach MONITOR or SLOWLOG. */
export function redact(def: CommandDef, argv: string[]): string[] {
  if (def.name === 'auth') return [argv[0]!, ...argv.slice(1).map(() => '(redacted)')];
  if (def.name === 'hello') {
    const out = [...argv];
    for (let i = 2; i < out.length; i++) {
      if (out[i]!.toLowerCase() === 'auth') {
        if (i + 1 < out.length) out[i + 1] = '(redacted)';
        if (i + 2 < out.length) out[i + 2] = '(redacted)';
        i += 2;
      }
    }
    return out;
  }
  return argv;
}

