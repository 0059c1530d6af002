/**
 * The serverless lifecycle with real processes: graceful stop on SIGTERM (stop accepting,
 * finish in-flight commands, flush, exit 0) and a forced exit on a second signal; SHUTDOWN
 * NOSAVE; scale to zero with systemd socket activation and idle-shutdown; and a cold start
 * that reads only the manifest, the WAL tail and the catalog record, however big the store.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, startShale, type Proc } from './support/core-harness.ts';
import { freePort } from './support/redis-reference.ts';

const cleanups: (() => Promise<unknown> | void)[] = [];
afterAll(async () => {
  for (const f of cleanups.reverse()) await f();
});

function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'shale-life-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function shale(args: string[]): Promise<Proc> {
  const s = await startShale(args);
  cleanups.push(() => s.stop());
  return s;
}

function connect(port: number): Redis {
  const c = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 0, enableReadyCheck: false, retryStrategy: () => null });
  c.on('error', () => {});
  cleanups.push(() => c.disconnect());
  return c;
}

/** Resolves true if a TCP connection is accepted, false if refused. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    sock.once('connect', () => (sock.destroy(), resolve(true)));
    sock.once('error', () => resolve(false));
  });
}

function persistence(text: string): Record<string, number> {
  return Object.fromEntries(text.split('\r\n').filter((l) => l.includes(':')).map((l) => [l.split(':')[0]!, Number(l.split(':')[1])]));
}

describe('graceful stop', () => {
  it('SIGTERM: an in-flight strict write completes at once, the process exits 0, the write is there', async () => {
    const dir = tempDir();
    const s = await shale(['--dir', dir, '--durability', 'strict', '--flush-interval', '60000']);
    const c = connect(s.port);
    await c.set('warm', 'v'); // flushed at once; the next write waits for the 60 s interval
    const pending = c.set('k', 'in-flight');
    await new Promise((r) => setTimeout(r, 200));
    const t0 = Date.now();
    s.proc.kill('SIGTERM');
    // The shutdown flushes the WAL now instead of waiting out the interval.
    expect(await pending).toBe('OK');
    expect(await s.exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(30_000);
    const again = await shale(['--dir', dir]);
    expect(await connect(again.port).mget('warm', 'k')).toEqual(['v', 'in-flight']);
  });

  it('SIGTERM stops accepting at once; a second signal during the shutdown exits 1 at once', async () => {
    const s = await shale(['--flush-interval', '20']);
    const c = connect(s.port);
    await c.set('k', 'v');
    // No replica will ever acknowledge: this command stays in flight for the shutdown's grace.
    void c.call('WAITAOF', '0', '1', '0').catch(() => {});
    await new Promise((r) => setTimeout(r, 100));
    s.proc.kill('SIGTERM');
    let refused = false;
    for (const deadline = Date.now() + 4000; !refused && Date.now() < deadline; ) {
      refused = !(await accepts(s.port));
      if (!refused) await new Promise((r) => setTimeout(r, 20));
    }
    expect(refused).toBe(true);
    expect(s.proc.exitCode).toBeNull(); // still within the 5 s grace for the in-flight command
    s.proc.kill('SIGINT');
    expect(await s.exited).toBe(1);
    expect(s.output()).toContain('Received SIGINT during shutdown: exiting now');
  });

  it('SHUTDOWN NOSAVE still writes what the durability mode promised (and here, everything)', async () => {
    const dir = tempDir();
    const s = await shale(['--dir', dir, '--flush-interval', '60000']);
    const c = connect(s.port);
    await c.set('a', '1');
    await c.set('b', '2'); // waits for the interval: not yet in the store
    await c.call('SHUTDOWN', 'NOSAVE').catch(() => {}); // no reply: the connection closes
    expect(await s.exited).toBe(0);
    const again = await shale(['--dir', dir]);
    expect(await connect(again.port).mget('a', 'b')).toEqual(['1', '2']);
  });
});

const haveSocketActivate = spawnSync('systemd-socket-activate', ['--version']).status === 0;
if (!haveSocketActivate) console.warn('scale-to-zero test skipped: systemd-socket-activate is not installed (Debian package systemd)');

describe('scale to zero', () => {
  /** systemd-socket-activate listening on port; resolves once the socket is bound. */
  async function activator(port: number, dir: string): Promise<{ proc: ChildProcess; exited: Promise<number | null>; output: () => string }> {
    const proc = spawn(
      'systemd-socket-activate',
      ['-l', `127.0.0.1:${port}`, '-E', 'SHALE_FROM_SOURCE=1', process.execPath, BIN, '--dir', dir, '--idle-shutdown', '1'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
    cleanups.push(() => void proc.kill('SIGKILL'));
    for (const deadline = Date.now() + 10_000; !out.includes('Listening on'); ) {
      if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`systemd-socket-activate did not listen: ${out}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    return { proc, exited, output: () => out };
  }

  /** The command line a pid runs now (systemd-socket-activate execs Shale in place, same pid). */
  const cmdline = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0')[0]!;

  it.skipIf(!haveSocketActivate)('the first connection starts Shale, idle-shutdown stops it, the next connection starts it again', async () => {
    const port = await freePort();
    const dir = tempDir();
    const first = await activator(port, dir);
    // Nothing runs until someone connects: the OS holds the port.
    expect(cmdline(first.proc.pid!)).toBe('systemd-socket-activate');
    const c = connect(port);
    expect(await c.set('survives', 'scale-to-zero')).toBe('OK');
    expect(cmdline(first.proc.pid!)).toBe(process.execPath);
    expect(first.output()).toContain('(socket activation)');
    c.disconnect();
    // No clients, no commands for a second: flush and exit 0.
    expect(await first.exited).toBe(0);
    expect(first.output()).toContain('idle-shutdown');

    const second = await activator(port, dir);
    expect(cmdline(second.proc.pid!)).toBe('systemd-socket-activate');
    const c2 = connect(port);
    expect(await c2.get('survives')).toBe('scale-to-zero');
    c2.disconnect();
    expect(await second.exited).toBe(0);
  });
});

describe('cold start', () => {
  /** Fills a store with n keys (pipelined), stops it cleanly; returns the store's size. */
  async function build(n: number): Promise<{ dir: string; bytes: number }> {
    const dir = tempDir();
    const s = await startShale(['--dir', dir]);
    const c = connect(s.port);
    for (let i = 0; i < n; i += 1000) {
      const p = c.pipeline();
      for (let j = i; j < Math.min(n, i + 1000); j++) p.set(`key:${j}`, `value:${j}`);
      await p.exec();
    }
    c.disconnect();
    await s.stop();
    const walk = (d: string): number =>
      readdirSync(d, { withFileTypes: true }).reduce((sum, e) => sum + (e.isDirectory() ? walk(path.join(d, e.name)) : statSync(path.join(d, e.name)).size), 0);
    return { dir, bytes: walk(dir) };
  }

  /** Store requests a fresh process made before (and for) its first GET reply. */
  async function firstReply(dir: string, key: string): Promise<Record<string, number>> {
    const s = await shale(['--dir', dir]);
    const c = connect(s.port);
    expect(await c.get(key)).toBe(key.replace('key', 'value'));
    return persistence(await c.info('persistence'));
  }

  it('reads only the manifest, the WAL tail, the catalog record and the key: a bounded number of requests for 2k or 60k keys', async () => {
    const small = await build(2_000);
    const big = await build(60_000);
    const a = await firstReply(small.dir, 'key:1500');
    const b = await firstReply(big.dir, 'key:45000');
    const reads = (r: Record<string, number>) => [r.shale_store_lists, r.shale_store_gets, r.shale_store_heads];
    for (const r of [a, b]) {
      // LIST manifest/ and wal/ ...
      expect(r.shale_store_lists).toBe(2);
      // ...GET the newest manifest, the WAL tail (empty after a clean stop), the index and one
      // block of the table holding the catalog record, and of the table holding the key.
      expect(r.shale_store_gets! + r.shale_store_heads!).toBeLessThanOrEqual(6);
    }
    // What is read grows with the tables' indexes and bloom filters, not with the data: a few
    // per cent of the store at most.
    expect(b.shale_store_bytes_read).toBeLessThan(big.bytes * 0.05);
    console.log(
      `cold start: ${reads(a).join('/')} and ${reads(b).join('/')} LIST/GET/HEAD before the first GET reply for 2k and 60k keys; ` +
        `bytes read ${a.shale_store_bytes_read} of ${small.bytes} and ${b.shale_store_bytes_read} of ${big.bytes}`,
    );
  });
});
