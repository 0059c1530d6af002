/**
 * A real redis-server for differential tests, plus a minimal RESP2/RESP3 client that keeps
 * replies exactly as sent (type-tagged), so Shale and Redis replies can be compared literally.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** A port that was free a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address() as net.AddressInfo;
      srv.close(() => resolve(addr.port));
    });
  });
}

export function haveRedisServer(): boolean {
  return spawnSync('redis-server', ['--version']).status === 0;
}

/** Polls until a TCP connection to port succeeds and PING answers. */
export async function waitForPing(port: number, timeoutMs: number, proc?: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    if (proc && proc.exitCode !== null) throw new Error(`server exited with code ${proc.exitCode}`);
    try {
      const c = await RawClient.connect(port);
      const r = await c.call('PING');
      c.close();
      if (r === '+PONG') return;
    } catch (e) {
      lastErr = e;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`server on port ${port} did not answer PING: ${String(lastErr)}`);
}

export class RedisReference {
  readonly port: number;
  private readonly proc: ChildProcess;
  private readonly dir: string;

  private constructor(port: number, proc: ChildProcess, dir: string) {
    this.port = port;
    this.proc = proc;
    this.dir = dir;
  }

  static async start(extra: string[] = []): Promise<RedisReference> {
    const port = await freePort();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'shale-redis-ref-'));
    const proc = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...extra],
      { stdio: 'ignore' },
    );
    await waitForPing(port, 10_000, proc);
    return new RedisReference(port, proc, dir);
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode === null) {
      const exited = new Promise((r) => this.proc.once('exit', r));
      this.proc.kill('SIGKILL');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Replies as plain values: '+OK' simple, '-ERR ...' error, ':5' integer, a bulk string is
 * '$' + its bytes (latin1), null for nil, arrays as arrays, RESP3 maps as {map: [[k, v]...]},
 * sets as {set: [...]}, doubles ',1.5', booleans '#t', verbatim '=txt:...', push {push: [...]}.
 */
export type Raw = string | null | Raw[] | { map: [Raw, Raw][] } | { set: Raw[] } | { push: Raw[] };

class Parser {
  private buf: Buffer = Buffer.alloc(0);
  feed(b: Buffer): void {
    this.buf = this.buf.length === 0 ? b : Buffer.concat([this.buf, b]);
  }
  /** One complete reply, or undefined if more bytes are needed. */
  next(): Raw | undefined {
    const r = this.parse(0);
    if (!r) return undefined;
    this.buf = this.buf.subarray(r[1]);
    return r[0];
  }
  private line(at: number): [string, number] | undefined {
    const i = this.buf.indexOf('\r\n', at);
    if (i < 0) return undefined;
    return [this.buf.toString('latin1', at, i), i + 2];
  }
  private parse(at: number): [Raw, number] | undefined {
    if (at >= this.buf.length) return undefined;
    const t = String.fromCharCode(this.buf[at]!);
    const l = this.line(at + 1);
    if (!l) return undefined;
    const [s, next] = l;
    switch (t) {
      case '+':
      case '-':
      case ':':
      case ',':
      case '#':
      case '(':
        return [t + s, next];
      case '_':
        return [null, next];
      case '$':
      case '=':
      case '!': {
        const n = Number(s);
        if (n < 0) return [null, next];
        if (this.buf.length < next + n + 2) return undefined;
        const body = this.buf.toString('latin1', next, next + n);
        return [(t === '$' ? '$' : t === '!' ? '-' : '=') + body, next + n + 2];
      }
      case '*':
      case '~':
      case '>':
      case '%': {
        const n = Number(s);
        if (n < 0) return [null, next];
        const count = t === '%' ? n * 2 : n;
        const items: Raw[] = [];
        let p = next;
        for (let i = 0; i < count; i++) {
          const r = this.parse(p);
          if (!r) return undefined;
          items.push(r[0]);
          p = r[1];
        }
        if (t === '%') {
          const map: [Raw, Raw][] = [];
          for (let i = 0; i < items.length; i += 2) map.push([items[i]!, items[i + 1]!]);
          return [{ map }, p];
        }
        if (t === '~') return [{ set: items }, p];
        if (t === '>') return [{ push: items }, p];
        return [items, p];
      }
      default:
        throw new Error(`bad RESP type byte ${JSON.stringify(t)}`);
    }
  }
}

function encodeCommand(args: (string | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = typeof a === 'string' ? Buffer.from(a, 'latin1') : a;
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

export class RawClient {
  private readonly socket: net.Socket;
  private readonly parser = new Parser();
  private readonly waiting: { resolve: (r: Raw) => void; reject: (e: Error) => void }[] = [];
  private failure: Error | undefined;
  /** Out-of-band push messages (RESP3). */
  readonly pushes: Raw[] = [];

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (b) => {
      this.parser.feed(b);
      for (;;) {
        let r: Raw | undefined;
        try {
          r = this.parser.next();
        } catch (e) {
          this.fail(e as Error);
          return;
        }
        if (r === undefined) break;
        if (r !== null && typeof r === 'object' && !Array.isArray(r) && 'push' in r) {
          this.pushes.push(r);
          continue;
        }
        this.waiting.shift()?.resolve(r);
      }
    });
    socket.on('error', (e) => this.fail(e));
    socket.on('close', () => this.fail(new Error('connection closed')));
  }

  private fail(e: Error): void {
    this.failure ??= e;
    for (const w of this.waiting.splice(0)) w.reject(e);
  }

  static connect(port: number, host = '127.0.0.1'): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = net.createConnection({ port, host }, () => {
        s.off('error', reject);
        s.setNoDelay(true);
        resolve(new RawClient(s));
      });
      s.once('error', reject);
    });
  }

  call(...args: (string | Buffer)[]): Promise<Raw> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.socket.write(encodeCommand(args));
    });
  }

  close(): void {
    this.socket.destroy();
  }
}
