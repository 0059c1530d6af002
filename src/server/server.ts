/**
 * The server's lifecycle: listeners (TCP, or a socket handed over by systemd), the connection
 * registry, the once-a-tick cron (ops/sec, idle client timeouts, idle-shutdown), the optional
 * /metrics endpoint, and graceful shutdown (stop accepting, let in-flight commands finish,
 * close clients, flush the data layer).
 */
import type http from 'node:http';
import net from 'node:net';
import type { Logger } from 'pino';
import type { Engine } from '../engine/index.ts';
import type { Keyspace, MaxmemoryPolicy } from '../types/keyspace.ts';
import { allHandlers } from '../commands/registry.ts';
import { CommandTable } from './command-table.ts';
import type { Config } from './config.ts';
import { Connection } from './connection.ts';
import { isClientBlocked } from './blocking.ts';
import { pinoLevel } from './log.ts';
import { startMetricsServer } from './metrics.ts';
import { type ClientState, ServerState } from './state.ts';
import { settlesWithin } from './store-timeout.ts';

export interface StartOptions {
  config: Config;
  log: Logger;
  keyspace: Keyspace;
  engine?: Engine;
  /** Called once shutdown has finished (SHUTDOWN, idle-shutdown); main exits the process. */
  onExit?: (code: number) => void;
}

const SHUTDOWN_GRACE_MS = 5000;

/** A shutdown gave up flushing to the store; the reason is logged already. Exit status 1. */
export class ShutdownIncompleteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ShutdownIncompleteError';
  }
}

export class ShaleServer {
  readonly state: ServerState;
  private readonly listeners: net.Server[] = [];
  private readonly connections = new Set<Connection>();
  private metrics: http.Server | undefined;
  private cron: NodeJS.Timeout | undefined;
  private stoppingPromise: Promise<void> | undefined;
  private readonly onExit: (code: number) => void;

  private constructor(opts: StartOptions) {
    this.state = new ServerState(opts.config, opts.log, new CommandTable(allHandlers()));
    this.state.keyspace = opts.keyspace;
    this.state.engine = opts.engine;
    this.onExit = opts.onExit ?? (() => {});
  }

  static async start(opts: StartOptions): Promise<ShaleServer> {
    const srv = new ShaleServer(opts);
    srv.wire();
    await srv.listen();
    srv.startCron();
    await srv.startMetrics();
    return srv;
  }

  get port(): number {
    return this.state.port;
  }

  /** A shutdown (signal, SHUTDOWN, idle-shutdown) has begun. */
  get stopping(): boolean {
    return this.stoppingPromise !== undefined;
  }

  /** Hooks between the data layer, the configuration and the server state. */
  private wire(): void {
    const s = this.state;
    const ks = s.keyspace;
    ks.onKeyModified((db, key, cause) => {
      s.touchKey(db, key);
      if (cause === 'expire') s.stats.expiredKeys++;
      else if (cause === 'evict') s.stats.evictedKeys++;
    });
    const c = s.config;
    c.onChange('loglevel', (v) => (s.log.level = pinoLevel(v)));
    const memory = () => ks.setMaxmemory(c.num('maxmemory'), c.str('maxmemory-policy') as MaxmemoryPolicy);
    c.onChange('maxmemory', memory);
    c.onChange('maxmemory-policy', memory);
    c.onChange('hash-max-listpack-entries', (v) => (ks.hashMaxListpackEntries = Number(v)));
    c.onChange('hash-max-listpack-value', (v) => (ks.hashMaxListpackValue = Number(v)));
    ks.listMaxListpackSize = c.num('list-max-listpack-size');
    c.onChange('list-max-listpack-size', (v) => (ks.listMaxListpackSize = Number(v)));
    for (const [name, field] of [['set-max-intset-entries', 'setMaxIntsetEntries'], ['zset-max-listpack-entries', 'zsetMaxListpackEntries'], ['zset-max-listpack-value', 'zsetMaxListpackValue']] as const) {
      ks[field] = c.num(name);
      c.onChange(name, (v) => (ks[field] = Number(v)));
    }
    // Durability changes apply at once: the gate in dispatch.ts reads s.strict per reply.
    s.strict = c.str('durability') === 'strict';
    c.onChange('durability', (v) => {
      s.strict = v === 'strict';
      s.engine?.setWal(v !== 'off');
      s.log.info(`durability set to ${v}`);
    });
    c.onChange('flush-interval', (v) => s.engine?.setFlushInterval(Number(v)));
    s.shutdown = (o) => this.shutdownFromCommand(o);
    s.reload = () => ks.reload();
  }

  private async listen(): Promise<void> {
    const s = this.state;
    const onConnection = (socket: net.Socket) => this.accept(socket);
    // systemd socket activation: the listening socket is fd 3.
    if (process.env.LISTEN_FDS && Number(process.env.LISTEN_PID) === process.pid) {
      const srv = net.createServer({ noDelay: true }, onConnection);
      await new Promise<void>((resolve, reject) => {
        srv.once('error', reject);
        srv.listen({ fd: 3 }, () => resolve());
      });
      this.listeners.push(srv);
      const addr = srv.address();
      s.port = typeof addr === 'object' && addr ? addr.port : s.config.num('port');
      s.log.info(`Ready to accept connections tcp port=${s.port} (socket activation)`);
      return;
    }
    let port = s.config.num('port');
    for (const host of s.config.str('bind').split(/\s+/).filter(Boolean)) {
      const srv = net.createServer({ noDelay: true }, onConnection);
      await new Promise<void>((resolve, reject) => {
        srv.once('error', reject);
        srv.listen({ host, port, backlog: 511 }, () => resolve());
      });
      const addr = srv.address();
      if (typeof addr === 'object' && addr) port = addr.port;
      this.listeners.push(srv);
    }
    s.port = port;
    s.log.info(`Ready to accept connections tcp port=${port}`);
  }

  private accept(socket: net.Socket): void {
    const s = this.state;
    if (this.stoppingPromise) {
      socket.destroy();
      return;
    }
    s.lastActivity = Date.now();
    if (s.clients.size >= s.config.num('maxclients')) {
      s.stats.rejectedConnections++;
      socket.end('-ERR max number of clients reached\r\n');
      return;
    }
    s.stats.totalConnections++;
    const conn = new Connection(s, socket);
    s.clients.set(conn.client.id, conn.client);
    this.connections.add(conn);
    socket.on('close', () => this.connections.delete(conn));
    s.log.debug({ client: conn.client.id, addr: conn.client.addr }, 'accepted');
  }

  private startCron(): void {
    let ticks = 0;
    this.cron = setInterval(() => {
      const s = this.state;
      const now = Date.now();
      if (++ticks % 10 === 0) s.stats.sampleOps();
      const timeout = s.config.num('timeout');
      if (timeout > 0) {
        for (const c of s.clients.values()) {
          // Blocked clients (BLPOP...) are not idle: their own timeout applies, as in Redis.
          if (c.subscriptions === 0 && !c.monitor && !isClientBlocked(s, c) && now - c.lastInteraction > timeout * 1000) {
            s.log.debug({ client: c.id }, 'closing idle client');
            c.close();
          }
        }
      }
      const idle = s.config.num('idle-shutdown');
      if (idle > 0 && s.clients.size === 0 && now - s.lastActivity >= idle * 1000 && !this.stoppingPromise) {
        s.log.info(`No clients or commands for ${idle}s: shutting down (idle-shutdown)`);
        void this.stop({ save: true }).then(() => this.onExit(0), () => this.onExit(1));
      }
    }, 100);
    this.cron.unref();
  }

  /** Prometheus metrics on <first bind address>:<metrics-port>/metrics (metrics.ts). */
  private async startMetrics(): Promise<void> {
    const port = this.state.config.num('metrics-port');
    if (port === 0) return;
    const host = this.state.config.str('bind').split(/\s+/).find(Boolean) ?? '127.0.0.1';
    this.metrics = await startMetricsServer(this.state, port, host);
    this.state.log.info(`Metrics on http://${host}:${port}/metrics`);
  }

  /** SHUTDOWN: the caller's own command is in flight, so it is not waited for. */
  private async shutdownFromCommand(o: { save: boolean; caller?: ClientState }): Promise<void> {
    if (o.save && !this.stoppingPromise) await this.saveBeforeShutdown();
    let code = 0;
    await this.stop(o).catch(() => (code = 1));
    this.onExit(code);
    // The SHUTDOWN caller gets no reply: its connection is already closed.
    await new Promise(() => {});
  }

  /**
   * SHUTDOWN [SAVE] saves while still serving, as Redis does: if the store cannot take the
   * data within store-timeout, the server stays up and the caller gets an error (SHUTDOWN
   * NOSAVE exits all the same).
   */
  private async saveBeforeShutdown(): Promise<void> {
    const s = this.state;
    const bound = s.config.num('store-timeout');
    if (bound <= 0) return;
    if (await settlesWithin(s.keyspace.save(), bound).catch(() => false)) return;
    const pending = s.engine ? s.engine.lastSeq - s.engine.durableSeq : 0;
    const msg = `SHUTDOWN: the object store did not take the data within store-timeout (${bound} ms); not shutting down (SHUTDOWN NOSAVE exits and loses ${pending} writes not yet in the store)${lastStoreError(s)}`;
    s.log.error(msg);
    throw new ShutdownIncompleteError(msg);
  }

  /**
   * Graceful stop: no new connections, in-flight commands finish (up to a grace period), then
   * clients are closed and the data layer is flushed and closed. Idempotent.
   */
  stop(o: { save: boolean; caller?: ClientState } = { save: true }): Promise<void> {
    this.stoppingPromise ??= this.doStop(o);
    return this.stoppingPromise;
  }

  private async doStop(o: { save: boolean; caller?: ClientState }): Promise<void> {
    const s = this.state;
    s.log.info('User requested shutdown...');
    clearInterval(this.cron);
    for (const l of this.listeners) l.close();
    this.metrics?.close();
    const deadline = Date.now() + SHUTDOWN_GRACE_MS;
    s.unpause();
    // Strict replies waiting for the next group commit need not wait out the interval.
    s.engine?.flush().catch(() => {});
    while (Date.now() < deadline && [...this.connections].some((c) => c.busy && c.client !== o.caller)) {
      await new Promise((r) => setTimeout(r, 10));
    }
    for (const c of this.connections) c.close();
    await this.closeData(o.save);
    s.log.info('Shale is now ready to exit, bye bye...');
  }

  /**
   * Saves (if asked) and closes the data layer within store-timeout in all: with the store
   * down a flush never finishes, so past the bound the engine is abandoned, what it had not
   * written is lost, and one log line says so. NOSAVE does not wait for a failing store.
   */
  private async closeData(save: boolean): Promise<void> {
    const s = this.state;
    const engine = s.engine;
    const bound = s.config.num('store-timeout');
    if (!engine || bound <= 0) {
      try {
        if (save) await s.keyspace.save();
      } finally {
        await s.keyspace.close();
      }
      return;
    }
    const deadline = Date.now() + bound;
    const saved = !save || (await settlesWithin(s.keyspace.save(), bound).catch(() => false));
    const wait = saved && !engine.storeError ? Math.max(0, deadline - Date.now()) : 0;
    const closed = await settlesWithin(s.keyspace.close(), wait);
    if (saved && closed) return;
    const lost = engine.lastSeq - engine.durableSeq;
    await engine.abandon();
    const msg = `Gave up flushing to the object store after store-timeout (${bound} ms): ${lost} writes not yet in the store were lost${lastStoreError(s)}`;
    s.log.error(msg);
    throw new ShutdownIncompleteError(msg);
  }
}

/** The store's last error for a log line (S3 error text names no credentials). */
function lastStoreError(s: ServerState): string {
  const e = s.engine?.storeError;
  return e ? `; last store error: ${e.message.split('\n')[0]}` : '';
}
