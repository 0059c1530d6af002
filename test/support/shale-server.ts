/**
 * Starts a real Shale server process (`node bin/shale --port P --dir D`) for end-to-end tests,
 * waits until it answers PING, and can stop it gracefully (SIGTERM) or crash it (SIGKILL) and
 * start it again on the same directory.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, waitForPing } from './redis-reference.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface ShaleOptions {
  /** Data directory; a fresh temporary one when omitted (removed by cleanup()). */
  dir?: string;
  port?: number;
  /** Extra command-line options, e.g. ['--maxmemory', '1mb']. */
  args?: string[];
  env?: Record<string, string>;
}

export class ShaleProcess {
  readonly dir: string;
  port: number;
  private proc: ChildProcess | undefined;
  private readonly args: string[];
  private readonly env: Record<string, string>;
  private readonly ownsDir: boolean;
  /** stdout+stderr of the current process, for failure messages. */
  output = '';

  private constructor(dir: string, port: number, args: string[], env: Record<string, string>, ownsDir: boolean) {
    this.dir = dir;
    this.port = port;
    this.args = args;
    this.env = env;
    this.ownsDir = ownsDir;
  }

  static async start(opts: ShaleOptions = {}): Promise<ShaleProcess> {
    const dir = opts.dir ?? mkdtempSync(path.join(os.tmpdir(), 'shale-test-'));
    const port = opts.port ?? (await freePort());
    const p = new ShaleProcess(dir, port, opts.args ?? [], opts.env ?? {}, opts.dir === undefined);
    await p.launch();
    return p;
  }

  private async launch(): Promise<void> {
    this.output = '';
    const proc = spawn(
      process.execPath,
      [path.join(ROOT, 'bin/shale'), '--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, ...this.args],
      { cwd: ROOT, env: { ...process.env, SHALE_FROM_SOURCE: '1', ...this.env }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    proc.stdout!.on('data', (b: Buffer) => (this.output += b.toString()));
    proc.stderr!.on('data', (b: Buffer) => (this.output += b.toString()));
    this.proc = proc;
    try {
      await waitForPing(this.port, 30_000, proc);
    } catch (e) {
      proc.kill('SIGKILL');
      throw new Error(`${(e as Error).message}\n--- shale output ---\n${this.output}`);
    }
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** Graceful stop (SIGTERM: flush and exit 0) or crash (SIGKILL). Resolves with the exit code. */
  async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<number | null> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return proc?.exitCode ?? null;
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
    proc.kill(signal);
    const code = await exited;
    this.proc = undefined;
    return code;
  }

  /** Starts again on the same directory and port. */
  async restart(): Promise<void> {
    await this.stop();
    await this.launch();
  }

  async cleanup(): Promise<void> {
    await this.stop('SIGKILL');
    if (this.ownsDir) rmSync(this.dir, { recursive: true, force: true });
  }
}
