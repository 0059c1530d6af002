/**
 * The command line and process lifecycle: options from flags, SHALE_* variables and a config
 * file, CONFIG REWRITE, start-up errors, AUTH with requirepass, SHUTDOWN, SIGTERM and
 * idle-shutdown, and data surviving a restart.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, cmd, raw, ROOT, startShale } from './support/core-harness.ts';
import { NODE_ENV, NODE_FLAGS } from '../src/server/node-options.ts';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'shale-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function run(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [BIN, ...args], { env: { ...process.env, SHALE_FROM_SOURCE: '1', ...env }, timeout: 20000 });
}

describe('start-up errors', () => {
  it.each([
    [['--port', 'abc'], /^shale: option --port: invalid value for 'port': argument couldn't be parsed into an integer\n$/],
    [['--nosuch', '1'], /^shale: option --nosuch: unknown option 'nosuch'\n$/],
    [['--maxmemory', '1.5gb'], /^shale: option --maxmemory: invalid value for 'maxmemory': argument must be a memory value\n$/],
    [['--durability', 'sometimes'], /^shale: option --durability: invalid value for 'durability': argument\(s\) must be one of the following: strict, relaxed, off\n$/],
    [[path.join(tmp, 'missing.conf')], /^shale: can't open config file '.*missing\.conf': ENOENT\n$/],
    [['--store', 'ftp://x'], /^shale: cannot start with store "ftp:\/\/x": unsupported store URL scheme "ftp:".*\n$/],
  ])('%j exits 1 with one line', (args, message) => {
    const r = run(args as string[]);
    expect(r.status).toBe(1);
    expect(r.stderr.toString()).toMatch(message);
  });

  it('reports a bad environment variable', () => {
    const r = run([], { SHALE_DATABASES: 'many' });
    expect(r.status).toBe(1);
    expect(r.stderr.toString()).toMatch(/^shale: environment SHALE_DATABASES: invalid value for 'databases'/);
  });

  it('prints --version and --help', () => {
    expect(run(['--version']).stdout.toString()).toMatch(/^Shale v=0\.1\.0 \(Redis 7\.0\.15 compatible\)/);
    const help = run(['--help']).stdout.toString();
    expect(help).toContain('--flush-interval (default: 100)');
    expect(help).toContain('--maxmemory-policy (default: noeviction)');
  });
});

describe('launch settings', () => {
  it('bin/shale run as a program starts node with the flags and environment of node-options.ts', async () => {
    const p = await startShale([], { direct: true });
    try {
      const argv = readFileSync(`/proc/${p.proc.pid}/cmdline`, 'latin1').split('\0');
      const env = readFileSync(`/proc/${p.proc.pid}/environ`, 'latin1').split('\0');
      expect(path.basename(argv[0]!)).toBe('node');
      expect(argv.slice(1, 1 + NODE_FLAGS.length)).toEqual(NODE_FLAGS);
      for (const [k, v] of Object.entries(NODE_ENV)) expect(env).toContain(`${k}=${v}`);
      const c = new Redis({ port: p.port });
      expect(await c.ping()).toBe('PONG');
      c.disconnect();
    } finally {
      await p.stop();
    }
  });

  it('npm start and the Docker image use the same settings', () => {
    const start = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts.start!;
    const docker = readFileSync(path.join(ROOT, 'docker/Dockerfile'), 'utf8');
    const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(docker)![1]!;
    expect(JSON.parse(entrypoint)).toEqual(['node', ...NODE_FLAGS, 'bin/shale']);
    expect(start).toContain(`${Object.entries(NODE_ENV).map(([k, v]) => `${k}=${v}`).join(' ')} node ${NODE_FLAGS.join(' ')} bin/shale`);
    // A line of the image's ENV instruction.
    for (const [k, v] of Object.entries(NODE_ENV)) expect(docker).toMatch(new RegExp(`^\\s+${k}=${v} \\\\$`, 'm'));
  });
});

describe('configuration sources', () => {
  it('takes a config file, then SHALE_* variables, then flags; CONFIG REWRITE updates the file', async () => {
    const conf = path.join(tmp, 'shale.conf');
    writeFileSync(conf, '# my config\nmaxmemory 10mb\nslowlog-max-len 5\ntimeout 7\nnotify-keyspace-events ""\n');
    const s = await startShale(['--timeout', '9'], { configFile: conf, env: { SHALE_SLOWLOG_MAX_LEN: '6' } });
    try {
      const c = new Redis({ port: s.port });
      expect(await c.config('GET', 'maxmemory')).toEqual(['maxmemory', String(10 * 1024 * 1024)]);
      expect(await c.config('GET', 'slowlog-max-len')).toEqual(['slowlog-max-len', '6']);
      expect(await c.config('GET', 'timeout')).toEqual(['timeout', '9']);
      expect(await c.config('SET', 'maxmemory-policy', 'allkeys-lru', 'slowlog-log-slower-than', '5000')).toBe('OK');
      expect(await c.config('REWRITE')).toBe('OK');
      const text = readFileSync(conf, 'latin1');
      expect(text).toBe(
        '# my config\nmaxmemory 10mb\nslowlog-max-len 6\ntimeout 9\nnotify-keyspace-events ""\n' +
          '# Generated by CONFIG REWRITE\n' +
          `port 0\ndir "${s.dir}"\nmaxmemory-policy allkeys-lru\nslowlog-log-slower-than 5000\n`,
      );
      expect((await c.info('server')).match(/config_file:(.*)\r\n/)![1]).toBe(conf);
      c.disconnect();
    } finally {
      await s.stop();
    }
  });

  it('CONFIG REWRITE without a config file fails like Redis', async () => {
    const s = await startShale();
    try {
      expect((await raw(s.port, cmd('CONFIG', 'REWRITE'))).text).toBe('-ERR The server is running without a config file\r\n');
    } finally {
      await s.stop();
    }
  });
});

describe('requirepass', () => {
  it('requires AUTH, with Redis error texts', async () => {
    const s = await startShale(['--requirepass', 's3cret']);
    try {
      const r = await raw(
        s.port,
        cmd('GET', 'x') + cmd('PING') + cmd('AUTH', 'wrong') + cmd('AUTH', 'bob', 's3cret') + cmd('HELLO', '3') +
          cmd('AUTH', 's3cret') + cmd('PING'),
      );
      expect(r.text).toBe(
        '-NOAUTH Authentication required.\r\n-NOAUTH Authentication required.\r\n' +
          '-WRONGPASS invalid username-password pair or user is disabled.\r\n' +
          '-WRONGPASS invalid username-password pair or user is disabled.\r\n' +
          '-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time\r\n' +
          '+OK\r\n+PONG\r\n',
      );
      const hello = await raw(s.port, cmd('HELLO', '2', 'AUTH', 'default', 's3cret') + cmd('PING'));
      expect(hello.text).toMatch(/^\*14\r\n\$6\r\nserver\r\n[\s\S]*\+PONG\r\n$/);
      // Unauthenticated clients may not announce big requests.
      const big = await raw(s.port, '*20\r\n');
      expect(big).toEqual({ text: '-ERR Protocol error: unauthenticated multibulk length\r\n', closed: true });
      const c = new Redis({ port: s.port, password: 's3cret' });
      expect(await c.ping()).toBe('PONG');
      c.disconnect();
      expect(s.output()).not.toContain('s3cret');
    } finally {
      await s.stop();
    }
  });
});

describe('lifecycle', () => {
  it('SHUTDOWN flushes and exits 0; data is there after a restart', async () => {
    const dir = mkdtempSync(path.join(tmp, 'data-'));
    const s = await startShale(['--dir', dir]);
    const c = new Redis({ port: s.port, retryStrategy: () => null });
    await c.set('kept', 'value');
    await c.hset('h', 'f', 'v');
    await c.call('SHUTDOWN').catch(() => {});
    expect(await s.exited).toBe(0);
    c.disconnect();
    const s2 = await startShale(['--dir', dir]);
    try {
      const c2 = new Redis({ port: s2.port });
      expect(await c2.get('kept')).toBe('value');
      expect(await c2.hget('h', 'f')).toBe('v');
      c2.disconnect();
    } finally {
      await s2.stop();
    }
  });

  it('SIGTERM finishes in-flight work and exits 0', async () => {
    const s = await startShale();
    const c = new Redis({ port: s.port, retryStrategy: () => null });
    await c.set('a', '1');
    s.proc.kill('SIGTERM');
    expect(await s.exited).toBe(0);
    expect(s.output()).toContain('ready to exit');
    c.disconnect();
    await s.stop();
  });

  it('idle-shutdown exits once there are no clients for that long', async () => {
    const s = await startShale(['--idle-shutdown', '1']);
    const t = Date.now();
    const c = new Redis({ port: s.port });
    await c.ping();
    c.disconnect();
    expect(await s.exited).toBe(0);
    expect(Date.now() - t).toBeGreaterThanOrEqual(900);
    await s.stop();
  });
});
