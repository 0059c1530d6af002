/**
 * A small, fast RESP2 client for benchmark drivers: pipelined, callback-based (no promise per
 * request on the hot path), writes of one event-loop turn batched into one socket write.
 *
 *   const c = await RespClient.connect(port);
 *   c.send(encode(['GET', 'k']), (reply) => ...);   // hot path
 *   await c.call('INFO', 'memory');                  // convenience, rejects on -ERR
 *   c.close();
 */
import net from 'node:net';

/** An error reply (-ERR ...) as a value; call() turns it into a rejection. */
export class ReplyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReplyError';
  }
}

export type Reply = string | number | Buffer | null | ReplyError | Reply[];
export type ReplyCallback = (reply: Reply) => void;

const CRLF = Buffer.from('\r\n');
const NEED_MORE = Symbol('need more');

/** Encodes one command as a RESP array of bulk strings. */
export function encode(args: readonly (string | number | Buffer | Uint8Array)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = typeof a === 'string' ? Buffer.from(a) : typeof a === 'number' ? Buffer.from(String(a)) : Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    parts.push(Buffer.from(`$${b.length}\r\n`), b, CRLF);
  }
  return Buffer.concat(parts);
}

/** Finds the CRLF ending the line that starts at pos; -1 if not there yet. */
function lineEnd(buf: Buffer, pos: number): number {
  const i = buf.indexOf(13, pos);
  return i < 0 || i + 1 >= buf.length ? -1 : i;
}

function parseIntAscii(buf: Buffer, start: number, end: number): number {
  let neg = false;
  let i = start;
  if (buf[i] === 45) {
    neg = true;
    i++;
  }
  let n = 0;
  for (; i < end; i++) n = n * 10 + (buf[i]! - 48);
  return neg ? -n : n;
}

/** Parses one reply at pos: [value, next position] or NEED_MORE. */
function parseReply(buf: Buffer, pos: number): [Reply, number] | typeof NEED_MORE {
  if (pos >= buf.length) return NEED_MORE;
  const type = buf[pos]!;
  const e = lineEnd(buf, pos + 1);
  if (e < 0) return NEED_MORE;
  switch (type) {
    case 43: // +
      return [buf.toString('latin1', pos + 1, e), e + 2];
    case 45: // -
      return [new ReplyError(buf.toString('utf8', pos + 1, e)), e + 2];
    case 58: // :
      return [parseIntAscii(buf, pos + 1, e), e + 2];
    case 36: {
      // $
      const len = parseIntAscii(buf, pos + 1, e);
      if (len < 0) return [null, e + 2];
      const start = e + 2;
      if (start + len + 2 > buf.length) return NEED_MORE;
      return [buf.subarray(start, start + len), start + len + 2];
    }
    case 42: {
      // *
      const n = parseIntAscii(buf, pos + 1, e);
      if (n < 0) return [null, e + 2];
      const out: Reply[] = new Array(n);
      let p = e + 2;
      for (let i = 0; i < n; i++) {
        const r = parseReply(buf, p);
        if (r === NEED_MORE) return NEED_MORE;
        out[i] = r[0];
        p = r[1];
      }
      return [out, p];
    }
    default:
      throw new Error(`unexpected RESP type byte ${type} (${String.fromCharCode(type)})`);
  }
}

export class RespClient {
  private readonly socket: net.Socket;
  private readonly callbacks: (ReplyCallback | undefined)[] = [];
  private head = 0;
  private pending: Buffer[] = [];
  private flushScheduled = false;
  private buf: Buffer = Buffer.alloc(0);
  private closed = false;
  private failure: Error | undefined;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (e) => this.fail(e));
    socket.on('close', () => this.fail(new Error('connection closed')));
  }

  static connect(port: number, host = '127.0.0.1'): Promise<RespClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host });
      s.once('connect', () => {
        s.removeListener('error', reject);
        resolve(new RespClient(s));
      });
      s.once('error', reject);
    });
  }

  /** Requests sent whose replies have not arrived. */
  get inFlight(): number {
    return this.callbacks.length - this.head;
  }

  /** Queues an encoded command (or several: then give one callback per command via sendMany). */
  send(command: Buffer, cb?: ReplyCallback): void {
    if (this.failure) throw this.failure;
    this.callbacks.push(cb);
    this.pending.push(command);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  /** Writes queued commands now (send() otherwise writes at the end of the current microtask). */
  flush(): void {
    this.flushScheduled = false;
    if (this.pending.length === 0 || this.closed) return;
    const data = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
    this.pending = [];
    this.socket.write(data);
  }

  call(...args: (string | number | Buffer)[]): Promise<Reply> {
    return new Promise((resolve, reject) => {
      try {
        this.send(encode(args), (r) => (r instanceof ReplyError ? reject(r) : resolve(r)));
      } catch (e) {
        reject(e);
      }
    });
  }

  /** call() returning a string (bulk replies decoded as UTF-8). */
  async callString(...args: (string | number | Buffer)[]): Promise<string> {
    const r = await this.call(...args);
    return Buffer.isBuffer(r) ? r.toString('utf8') : String(r);
  }

  private onData(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    let pos = 0;
    const buf = this.buf;
    for (;;) {
      const r = parseReply(buf, pos);
      if (r === NEED_MORE) break;
      pos = r[1];
      const cb = this.callbacks[this.head];
      this.callbacks[this.head++] = undefined;
      if (this.head > 4096 && this.head * 2 > this.callbacks.length) {
        this.callbacks.splice(0, this.head);
        this.head = 0;
      }
      if (cb) cb(r[0]);
    }
    this.buf = pos >= buf.length ? Buffer.alloc(0) : buf.subarray(pos);
  }

  private fail(e: Error): void {
    if (this.failure) return;
    this.failure = e;
    const err = new ReplyError(`connection failed: ${e.message}`);
    while (this.head < this.callbacks.length) {
      const cb = this.callbacks[this.head];
      this.callbacks[this.head++] = undefined;
      if (cb && !this.closed) cb(err);
    }
  }

  close(): void {
    this.closed = true;
    this.socket.destroy();
  }
}

/** Parses INFO text into name -> value (all sections flattened). */
export function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const l = line.trim();
    if (!l || l.startsWith('#')) continue;
    const i = l.indexOf(':');
    if (i > 0) out[l.slice(0, i)] = l.slice(i + 1);
  }
  return out;
}

export function infoNumber(info: Record<string, string>, name: string): number {
  const v = info[name];
  return v === undefined ? NaN : Number(v);
}
