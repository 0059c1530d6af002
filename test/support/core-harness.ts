/**
 * Test helpers for the server-core tests (server/pubsub/transactions/cli): start a real Shale
 * process (bin/shale, temp data dir, --port 0) and read the bound port from its ready line;
 * start a reference redis-server when one is installed; send raw bytes and collect the raw
 * reply.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = path.join(ROOT, 'bin/shale');

export interface Proc {
  port: number;
  proc: ChildProcess;
  dir: string;
  output: () => string;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

function waitForPort(proc: ChildProcess, re: RegExp, what: string, timeoutMs = 20000): Promise<{ port: number; output: () => string }> {
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setInterval(() => {
      const m = re.exec(out);
      if (m) {
        clearInterval(timer);
        resolve({ port: Number(m[1]), output: () => out });
      } else if (Date.now() > deadline || proc.exitCode !== null) {
        clearInterval(timer);
        reject(new Error(`${what} did not start (exit ${proc.exitCode}): ${out}`));
      }
    }, 20);
    const deadline = Date.now() + timeoutMs;
  });
}

export interface StartOptions {
  /** Config file passed as the first positional argument. */
  configFile?: string;
  env?: Record<string, string>;
  /** Run bin/shale as an executable: its first line picks node, its flags and environment. */
  direct?: boolean;
}

/** Starts bin/shale with a fresh data directory (unless --dir/--store is given) on a free port. */
export async function startShale(args: string[] = [], opts: StartOptions = {}): Promise<Proc> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'shale-core-'));
  const hasStore = args.includes('--dir') || args.includes('--store');
  const argv = [BIN, ...(opts.configFile ? [opts.configFile] : []), '--port', '0', ...(hasStore ? [] : ['--dir', dir]), ...args];
  // Direct: the node that runs the tests comes first on PATH, for `#!/usr/bin/env`.
  const pathEnv = opts.direct ? { PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ''}` } : {};
  const proc = spawn(opts.direct ? BIN : process.execPath, opts.direct ? argv.slice(1) : argv, {
    env: { ...process.env, SHALE_FROM_SOURCE: '1', ...pathEnv, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  const { port, output } = await waitForPort(proc, /Ready to accept connections tcp port=(\d+)/, 'shale');
  return {
    port,
    proc,
    dir,
    output,
    exited,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const haveRedis = spawnSync('redis-server', ['--version']).status === 0;

/** A reference redis-server on a free port (tests compare Shale's bytes with it). */
export async function startRedis(): Promise<Proc> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'redis-ref-'));
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--enable-debug-command', 'yes', '--dir', dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  await waitForPort(proc, new RegExp(`(${port})[\\s\\S]*Ready to accept connections`), 'redis-server');
  return {
    port, proc, dir, exited, output: () => '',
    async stop() {
      proc.kill('SIGKILL');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address() as net.AddressInfo;
      s.close(() => resolve(a.port));
    });
    s.on('error', reject);
  });
}

/**
 * Sends bytes and returns everything received until the server closes the connection or
 * nothing arrives for quietMs. `closed` tells whether the server closed it.
 */
export function raw(port: number, data: string | Buffer, quietMs = 150): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    const done = (closed: boolean) => {
      clearTimeout(timer);
      s.destroy();
      resolve({ text: Buffer.concat(chunks).toString('latin1'), closed });
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => done(false), quietMs);
    };
    s.on('data', (d) => {
      chunks.push(d);
      arm();
    });
    s.on('end', () => done(true));
    s.on('error', (e) => ((e as NodeJS.ErrnoException).code === 'ECONNRESET' ? done(true) : reject(e)));
    s.on('connect', () => {
      s.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
      arm();
    });
  });
}

/** Encodes a command as a RESP multibulk request. */
export function cmd(...args: string[]): string {
  return `*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a, 'latin1')}\r\n${a}\r\n`).join('');
}
