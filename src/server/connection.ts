/**
 * One client connection: bytes in -> RequestParser -> dispatch, replies -> one socket write
 * per batch. Requests run strictly one after another (the next is parsed only when the
 * previous has finished), which gives pipelining with replies in request order.
 *
 * Limits: client-query-buffer-limit (unparsed input), client-output-buffer-limit (per client
 * class; pubsub 32mb hard by default), and backpressure: reading stops while the socket has
 * not drained what we wrote, or while a slow command leaves a lot of input queued.
 */
import type { Socket } from 'node:net';
import { ProtocolError, RequestParser } from '../resp/parser.ts';
import { ErrorReply } from '../resp/reply.ts';
import { execute } from './dispatch.ts';
import { isClientBlocked, removeBlockedClient } from './blocking.ts';
import { ClientState, type ClientIO, type ServerState } from './state.ts';
import { onReads } from './socket-reads.ts';

/** Stop reading a client whose unparsed input exceeds this while a command is running. */
const INPUT_PAUSE_BYTES = 4 * 1024 * 1024;

export class Connection implements ClientIO {
  readonly client: ClientState;
  private readonly socket: Socket;
  private readonly server: ServerState;
  private readonly parser: RequestParser;
  private running = false;
  private flushScheduled = false;
  private readPaused = false;
  private ended = false;

  constructor(server: ServerState, socket: Socket) {
    this.server = server;
    this.socket = socket;
    const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd ?? -1;
    this.client = new ClientState(
      server,
      this,
      `${socket.remoteAddress}:${socket.remotePort}`,
      `${socket.localAddress}:${socket.localPort}`,
      fd,
    );
    this.parser = new RequestParser(
      () => ({
        maxBulkLen: server.config.num('proto-max-bulk-len'),
        maxInline: 64 * 1024,
        maxArgs: 2147483647,
      }),
      () => !this.client.authenticated,
    );
    socket.setNoDelay(true);
    const keepalive = server.config.num('tcp-keepalive');
    if (keepalive > 0) socket.setKeepAlive(true, keepalive * 1000);
    onReads(socket, (chunk, borrowed) => this.onData(chunk, borrowed));
    socket.on('drain', () => this.onDrain());
    socket.on('error', (e) => server.log.debug({ err: e, client: this.client.id }, 'client socket error'));
    socket.on('close', () => this.onClosed());
  }

  /** A command of this client is running (or waiting for its keys / a pause). */
  get busy(): boolean {
    // A client blocked in BLPOP & co. is idle as far as shutdown is concerned.
    return this.running && !isClientBlocked(this.server, this.client);
  }

  get socketPending(): number {
    return this.socket.writableLength;
  }

  get queryBuffered(): number {
    return this.parser.buffered;
  }

  private onData(chunk: Buffer, borrowed: boolean): void {
    if (this.client.closing) return;
    this.server.stats.netInput += chunk.length;
    this.parser.feed(chunk, borrowed);
    if (this.parser.buffered > this.server.config.num('client-query-buffer-limit')) {
      this.server.log.warn({ client: this.client.id, addr: this.client.addr }, 'closing client that reached max query buffer length');
      this.destroy();
      return;
    }
    if (!this.running) this.pump();
    else if (this.parser.buffered > INPUT_PAUSE_BYTES) this.pauseReading();
    // What the commands run so far left unparsed outlives the chunk's memory.
    this.parser.keep();
  }

  /** Runs queued requests until one goes async, the input is exhausted, or the client closes. */
  private pump(): void {
    try {
      this.pumpLoop();
    } catch (e) {
      // A bug (e.g. a handler returning something that is not a reply) costs this client its
      // connection, never the server.
      this.server.log.error({ err: e, client: this.client.id }, 'internal error, closing client');
      this.destroy();
    }
  }

  private pumpLoop(): void {
    this.running = true;
    // Replies of commands that finish synchronously go out in the flush below, not in a tick each.
    this.flushScheduled = true;
    const c = this.client;
    while (!c.closing) {
      const argv = this.parser.next();
      if (argv === undefined) break;
      if (argv instanceof ProtocolError) {
        const message = `ERR ${argv.message}`;
        this.server.stats.error(message);
        c.skipThis = false;
        c.replyOff = false;
        c.reply(new ErrorReply(message));
        this.server.log.debug({ client: c.id, error: argv.message }, 'protocol error');
        this.close();
        break;
      }
      c.skipThis = c.skipNext;
      c.skipNext = false;
      const p = execute(this.server, c, argv);
      if (p) {
        // Most promises settle within this tick (engine reads served from memory), and the
        // pump then goes on and flushes once for the whole batch; replies queued so far go
        // out after this loop iteration's I/O at the latest.
        this.flushSoon();
        p.then(
          () => {
            if (this.afterCommand()) this.pump();
          },
          (e: unknown) => {
            this.server.log.error({ err: e }, 'unexpected dispatch failure');
            this.destroy();
          },
        );
        return;
      }
      if (!this.afterCommand()) break;
    }
    this.running = false;
    this.flush();
    if (this.readPaused && this.socket.writableLength === 0) this.resumeReading();
  }

  /** Per-command epilogue; false when the connection must stop processing. */
  private afterCommand(): boolean {
    const c = this.client;
    c.skipThis = false;
    if (c.closeAfterReply) {
      this.close();
      return false;
    }
    return !c.closing;
  }

  private flushImmediate: NodeJS.Immediate | undefined;

  private flushSoon(): void {
    if (this.flushImmediate || this.ended) return;
    this.flushImmediate = setImmediate(() => {
      this.flushImmediate = undefined;
      this.flush();
    });
  }

  scheduleFlush(): void {
    if (this.flushScheduled || this.ended) return;
    this.flushScheduled = true;
    process.nextTick(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.ended) return;
    const out = this.client.takeOutput();
    if (!out) return;
    this.server.stats.netOutput += out.length;
    const ok = this.socket.write(out);
    // Written whole at once (the usual case), the bytes can be overwritten by the next replies;
    // queued, they belong to the socket now.
    if (this.socket.writableLength > 0) this.client.outputRetained();
    if (!ok) this.pauseReading();
    this.checkOutputLimits();
  }

  /** client-output-buffer-limit for this client's class; over the limit = disconnect. */
  private checkOutputLimits(): void {
    const pending = this.socket.writableLength;
    if (pending === 0) {
      this.client.softLimitSince = 0;
      return;
    }
    const spec = this.server.config.str('client-output-buffer-limit').split(' ');
    const cls = this.client.kind === 'pubsub' ? 'pubsub' : 'normal';
    const i = spec.indexOf(cls);
    const hard = Number(spec[i + 1]);
    const soft = Number(spec[i + 2]);
    const secs = Number(spec[i + 3]);
    let over = hard > 0 && pending >= hard;
    if (!over && soft > 0 && pending >= soft) {
      const now = Date.now();
      if (this.client.softLimitSince === 0) this.client.softLimitSince = now;
      else if (now - this.client.softLimitSince >= secs * 1000) over = true;
    } else if (!over) {
      this.client.softLimitSince = 0;
    }
    if (over) {
      this.server.log.warn({ client: this.client.id, addr: this.client.addr, class: cls, pending },
        'client scheduled to be closed ASAP for overcoming of output buffer limits');
      this.destroy();
    }
  }

  private pauseReading(): void {
    if (this.readPaused) return;
    this.readPaused = true;
    this.socket.pause();
  }

  private resumeReading(): void {
    if (!this.readPaused || this.ended) return;
    this.readPaused = false;
    this.socket.resume();
  }

  private onDrain(): void {
    this.client.softLimitSince = 0;
    if (!this.running || this.parser.buffered < INPUT_PAUSE_BYTES) this.resumeReading();
  }

  /** Flushes what is queued, then closes (QUIT, protocol errors, CLIENT KILL). */
  close(): void {
    if (this.ended) return;
    this.client.closing = true;
    this.flush();
    this.ended = true;
    this.socket.end();
    this.detach();
  }

  /** Closes at once, dropping queued output (limits exceeded, shutdown of a stuck client). */
  destroy(): void {
    this.client.closing = true;
    this.ended = true;
    this.socket.destroy();
    this.detach();
  }

  private onClosed(): void {
    this.client.closing = true;
    this.ended = true;
    this.detach();
  }

  private detached = false;

  /** Removes the client from every server-wide registry, once. */
  private detach(): void {
    if (this.detached) return;
    this.detached = true;
    const s = this.server;
    s.clients.delete(this.client.id);
    s.pubsub.removeClient(this.client);
    s.unwatchAll(this.client);
    removeBlockedClient(s, this.client);
    s.monitors.delete(this.client);
    s.lastActivity = Date.now();
    s.log.debug({ client: this.client.id, addr: this.client.addr }, 'client closed');
  }
}
