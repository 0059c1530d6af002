/**
 * Per-client and server-wide state that command handlers see through ExecContext
 * (src/commands/types.ts). Sockets stay in connection.ts: a ClientState only knows how to
 * queue reply bytes and ask its connection to flush or close.
 */
import { KeyLocks } from './key-locks.ts';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { encodeReply, Writer, type Protocol } from '../resp/encode.ts';
import type { Reply } from '../resp/reply.ts';
import type { Keyspace } from '../types/keyspace.ts';
import type { Engine } from '../engine/index.ts';
import type { Config } from './config.ts';
import type { CommandDef, CommandTable } from './command-table.ts';
import { PubSub } from './pubsub.ts';
import { LatencyMonitor, Slowlog, Stats } from './stats.ts';

/** What a ClientState needs from its transport (a socket in connection.ts). */
export interface ClientIO {
  /** Arrange for queued output to be written soon (coalesces a pipeline into one write). */
  scheduleFlush(): void;
  /** Flush queued output, then close. */
  close(): void;
  /** Bytes waiting in the socket (not yet taken by the kernel). */
  readonly socketPending: number;
  /** Bytes received and not yet parsed into commands. */
  readonly queryBuffered: number;
}

export interface QueuedCommand {
  def: CommandDef;
  argv: string[];
}

export type ClientKind = 'normal' | 'pubsub' | 'master' | 'replica';

export class ClientState {
  readonly id: number;
  readonly server: ServerState;
  readonly io: ClientIO;
  readonly createdAt = Date.now();
  readonly addr: string;
  readonly laddr: string;
  readonly fd: number;
  lastInteraction = Date.now();
  name = '';
  libName = '';
  libVer = '';
  db = 0;
  resp: Protocol = 2;
  authenticated: boolean;
  user = 'default';
  /** Commands queued by MULTI, or undefined when not in a transaction. */
  multi: QueuedCommand[] | undefined;
  /** A queue-time error happened: EXEC must answer EXECABORT. */
  multiDirty = false;
  /** WATCHed keys as "db\0key"; watchDirty once any of them changed. */
  readonly watched = new Set<string>();
  watchDirty = false;
  readonly channels = new Set<string>();
  readonly patterns = new Set<string>();
  readonly shardChannels = new Set<string>();
  monitor = false;
  /** CLIENT REPLY OFF. */
  replyOff = false;
  /** CLIENT REPLY SKIP was run: the next command's reply is dropped. */
  skipNext = false;
  /** The current command's replies are dropped (set by the connection per command). */
  skipThis = false;
  /** QUIT: close once this command's reply is written. */
  closeAfterReply = false;
  noEvict = false;
  noTouch = false;
  /** Full name of the last command run (CLIENT LIST cmd=). */
  lastCommand = 'NULL';
  /** When set, replies are collected here instead of sent (EXEC builds its array). */
  capture: Reply[] | undefined;
  /** Closed or being closed: replies are dropped, the pipeline stops. */
  closing = false;
  /** Time a pubsub client first went over the soft output limit (0 = not over). */
  softLimitSince = 0;
  /** Engine seq after this client's last write command (Redis's c->woff, for WAITAOF). */
  woff = 0;
  private readonly out = new Writer(4096);

  constructor(server: ServerState, io: ClientIO, addr: string, laddr: string, fd: number) {
    this.server = server;
    this.io = io;
    this.addr = addr;
    this.laddr = laddr;
    this.fd = fd;
    this.id = server.nextClientId++;
    this.authenticated = server.config.str('requirepass') === '';
  }

  /** In RESP2 subscribed mode only (P|S)SUBSCRIBE, PING, QUIT, RESET are allowed. */
  get subscriptions(): number {
    return this.channels.size + this.patterns.size + this.shardChannels.size;
  }

  get kind(): ClientKind {
    return this.channels.size + this.patterns.size > 0 ? 'pubsub' : 'normal';
  }

  /** The reply to the command being run (goes to EXEC's array while capturing). */
  reply(r: Reply): void {
    if (this.capture) this.capture.push(r);
    else this.push(r);
  }

  /** Out-of-band data: pub/sub messages, MONITOR lines, invalidations. */
  push(r: Reply): void {
    if (this.closing || this.replyOff || this.skipThis) return;
    encodeReply(this.out, r, this.resp);
    this.io.scheduleFlush();
  }

  /**
   * Takes the encoded output queued so far (the connection writes it to the socket). It is a
   * view that the next reply overwrites, unless outputRetained() is called first.
   */
  takeOutput(): Buffer | undefined {
    return this.out.length === 0 ? undefined : this.out.take();
  }

  /** The socket kept the last output (it could not write it all at once). */
  outputRetained(): void {
    this.out.handOver();
  }

  get outputPending(): number {
    return this.out.length + this.io.socketPending;
  }

  close(): void {
    this.io.close();
  }
}

export type PauseMode = 'write' | 'all';

export class ServerState {
  readonly config: Config;
  readonly log: Logger;
  readonly table: CommandTable;
  keyspace!: Keyspace;
  engine: Engine | undefined;
  readonly clients = new Map<number, ClientState>();
  nextClientId = 1;
  readonly pubsub = new PubSub();
  readonly stats = new Stats();
  readonly slowlog = new Slowlog();
  readonly latency = new LatencyMonitor();
  readonly monitors = new Set<ClientState>();
  /** Keys of commands in flight ("db\0key"): see key-locks.ts. */
  readonly keyLocks = new KeyLocks();
  /** "db\0key" -> clients WATCHing it. */
  readonly watchers = new Map<string, Set<ClientState>>();
  readonly startedAt = Date.now();
  readonly runId = randomBytes(20).toString('hex');
  readonly replId = randomBytes(20).toString('hex');
  lastSave = Math.floor(Date.now() / 1000);
  lastSaveOk = true;
  saves = 0;
  /** Bound TCP port (differs from the port option when it is 0). */
  port = 0;
  /** Time of the last command or connection, for idle-shutdown. */
  lastActivity = Date.now();
  pause: { mode: PauseMode; until: number } | undefined;
  private pauseWaiters: (() => void)[] = [];
  private pauseTimer: NodeJS.Timeout | undefined;
  /** Set by the lifecycle (server.ts): graceful shutdown. */
  shutdown: (opts: { save: boolean; caller?: ClientState }) => Promise<void> = async () => {};
  /** Set by the lifecycle: reopen the data layer (DEBUG RELOAD). */
  reload: () => Promise<void> = async () => {};

  /** durability strict: replies wait for the store (CONFIG SET durability changes it). */
  strict: boolean;

  constructor(config: Config, log: Logger, table: CommandTable) {
    this.config = config;
    this.strict = config.str('durability') === 'strict';
    this.log = log;
    this.table = table;
  }

  // ---- WATCH bookkeeping (src/commands/transactions.ts) ----

  watch(c: ClientState, db: number, key: string): void {
    const k = `${db}\0${key}`;
    if (c.watched.has(k)) return;
    c.watched.add(k);
    let s = this.watchers.get(k);
    if (!s) this.watchers.set(k, (s = new Set()));
    s.add(c);
  }

  unwatchAll(c: ClientState): void {
    for (const k of c.watched) {
      const s = this.watchers.get(k);
      s?.delete(c);
      if (s?.size === 0) this.watchers.delete(k);
    }
    c.watched.clear();
    c.watchDirty = false;
  }

  /** A key changed (write, delete, expiry, eviction): abort transactions watching it. */
  touchKey(db: number, key: string): void {
    if (this.watchers.size === 0) return;
    const s = this.watchers.get(`${db}\0${key}`);
    if (s) for (const c of s) c.watchDirty = true;
  }

  /** Keys of db that some client WATCHes. */
  watchedKeys(db: number): string[] {
    const prefix = `${db}\0`;
    const out: string[] = [];
    for (const k of this.watchers.keys()) if (k.startsWith(prefix)) out.push(k.slice(prefix.length));
    return out;
  }

  // ---- CLIENT PAUSE ----

  isPausedFor(def: CommandDef, queuedWrite: boolean): boolean {
    if (!this.pause) return false;
    if (Date.now() >= this.pause.until) {
      this.unpause();
      return false;
    }
    if (this.pause.mode === 'all') return true;
    return queuedWrite || def.flags.has('write') || def.flags.has('may_replicate');
  }

  pauseClients(mode: PauseMode, ms: number): void {
    const until = Date.now() + ms;
    // A new pause never shortens or weakens one in force (Redis keeps the later end and ALL).
    if (this.pause && this.pause.until > Date.now()) {
      this.pause = { mode: this.pause.mode === 'all' ? 'all' : mode, until: Math.max(until, this.pause.until) };
    } else {
      this.pause = { mode, until };
    }
    clearTimeout(this.pauseTimer);
    this.pauseTimer = setTimeout(() => this.unpause(), this.pause.until - Date.now());
    this.pauseTimer.unref();
  }

  unpause(): void {
    this.pause = undefined;
    clearTimeout(this.pauseTimer);
    const w = this.pauseWaiters;
    this.pauseWaiters = [];
    for (const fn of w) fn();
  }

  waitUnpause(): Promise<void> {
    return new Promise((resolve) => this.pauseWaiters.push(resolve));
  }
}
