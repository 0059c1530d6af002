/**
 * The Docker files, checked without a Docker engine: docker/Dockerfile lints clean
 * (dockerfile-utils) and every COPY source exists and is not filtered out of the build
 * context; the build stage's compile (the same tsc command) produces a server that runs;
 * docker/compose.yml wires Shale to MinIO (bucket, endpoint, credentials, healthchecks);
 * docker/healthcheck.mjs answers for a real server. Building and running the image needs an
 * engine: that test runs where `docker info` succeeds and is reported skipped otherwise.
 */
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { validate } from 'dockerfile-utils';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { NODE_ENV, NODE_FLAGS } from '../src/server/node-options.ts';
import { freePort, waitForPing } from './support/redis-reference.ts';
import { ShaleProcess } from './support/shale-server.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DOCKER = path.join(ROOT, 'docker');
const dockerfileText = readFileSync(path.join(DOCKER, 'Dockerfile'), 'utf8');
const run = promisify(execFile);
const tmp = mkdtempSync(path.join(os.tmpdir(), 'shale-docker-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

/** Dockerfile instructions with continuation lines joined and comments dropped. */
function instructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = '';
  let start = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) return;
    if (pending === '') start = i + 1;
    if (line.endsWith('\\')) {
      pending += line.slice(0, -1) + ' ';
      return;
    }
    const full = (pending + line).trim();
    pending = '';
    const m = /^(\S+)\s*(.*)$/.exec(full)!;
    out.push({ keyword: m[1]!.toUpperCase(), args: m[2]!, line: start });
  });
  return out;
}

/** Arguments of an instruction in shell or JSON form, flags (--from=..., --chown=...) apart. */
function splitArgs(args: string): { flags: string[]; words: string[] } {
  const words = args.startsWith('[') ? (JSON.parse(args) as string[]) : args.split(/\s+/).filter(Boolean);
  return { flags: words.filter((w) => w.startsWith('--')), words: words.filter((w) => !w.startsWith('--')) };
}

/** .dockerignore patterns (root-anchored, `*`, `?`, `**`) as one predicate over paths. */
function ignoreMatcher(text: string): (p: string) => boolean {
  const res = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((p) => {
      const body = p
        .replace(/^\/+|\/+$/g, '')
        .split('')
        .map((c) => (c === '*' ? '\u0000' : c === '?' ? '[^/]' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
        .join('')
        .replace(/\u0000\u0000/g, '.*')
        .replace(/\u0000/g, '[^/]*');
      // A pattern excludes what it names and everything below it.
      return new RegExp(`^${body}(/.*)?$`);
    });
  return (p) => res.some((r) => r.test(p.replace(/^\.\/|\/+$/g, '')));
}

describe('docker/Dockerfile', () => {
  const ins = instructions(dockerfileText);

  it('passes dockerfile-utils validation with no problems', () => {
    const problems = validate(dockerfileText);
    expect(problems.map((p) => `line ${p.range.start.line + 1}: ${p.message}`)).toEqual([]);
    // The linter does flag a broken file (so an empty result above means something).
    expect(validate('FROM node:24-slim\nCOPY\nEXPOSE port\n').length).toBeGreaterThanOrEqual(2);
  });

  it('every COPY source from the context exists and survives Dockerfile.dockerignore', () => {
    const ignored = ignoreMatcher(readFileSync(path.join(DOCKER, 'Dockerfile.dockerignore'), 'utf8'));
    const stages = ins.filter((i) => i.keyword === 'FROM').map((i) => / AS (\S+)$/i.exec(i.args)?.[1]);
    expect(stages).toEqual(['build', undefined]);
    const copies = ins.filter((i) => i.keyword === 'COPY' || i.keyword === 'ADD');
    const fromContext = copies.filter((i) => !splitArgs(i.args).flags.some((f) => f.startsWith('--from=')));
    expect(fromContext.length).toBeGreaterThanOrEqual(4);
    for (const c of fromContext) {
      const sources = splitArgs(c.args).words.slice(0, -1);
      expect(sources.length, `COPY on line ${c.line}`).toBeGreaterThan(0);
      for (const s of sources) {
        expect(existsSync(path.join(ROOT, s)), `${s} (line ${c.line}) exists in the repository`).toBe(true);
        expect(ignored(s), `${s} (line ${c.line}) is not excluded from the build context`).toBe(false);
      }
    }
    // And what the ignore file is for: the big local folders stay out of the context.
    for (const p of ['node_modules', 'node_modules/x/y.js', 'dist', '.git', 'test/foo.test.ts']) expect(ignored(p), p).toBe(true);
    // Copies from the build stage name what that stage produces.
    const staged = copies.filter((i) => splitArgs(i.args).flags.includes('--from=build')).map((i) => splitArgs(i.args).words[0]);
    expect(staged.sort()).toEqual(['/app/dist', '/app/node_modules']);
  });

  it('runs bin/shale as a non-root user on 0.0.0.0:6379 with a healthcheck and a data volume', () => {
    const last = (k: string) => ins.filter((i) => i.keyword === k).at(-1)?.args;
    expect(last('USER')).toBe('node');
    expect(last('EXPOSE')).toBe('6379');
    // Started with the launch settings of src/server/node-options.ts.
    expect(JSON.parse(last('ENTRYPOINT')!)).toEqual(['node', ...NODE_FLAGS, 'bin/shale']);
    expect(last('HEALTHCHECK')).toMatch(/CMD \["node", "docker\/healthcheck\.mjs"\]$/);
    expect(last('VOLUME')).toBe('["/data"]');
    const env = ins.filter((i) => i.keyword === 'ENV').map((i) => i.args).join(' ');
    expect(env).toMatch(/SHALE_BIND=0\.0\.0\.0/);
    expect(env).toMatch(/SHALE_PORT=6379/);
    expect(env).toMatch(/SHALE_DIR=\/data/);
    for (const [k, v] of Object.entries(NODE_ENV)) expect(env).toContain(`${k}=${v}`);
    // The build compiles with the same command the next test runs.
    expect(ins.some((i) => i.keyword === 'RUN' && i.args.includes('npx tsc -p tsconfig.build.json'))).toBe(true);
  });

  it("the build stage's compile output, laid out like the image, serves and passes the healthcheck", async () => {
    // /app in the image: dist (compiled here), bin, package.json, node_modules, the healthcheck.
    // --noCheck: emit only (type errors are the typecheck's business); the output is kept
    // under node_modules/.cache, so later runs recompile only what changed.
    const app = path.join(tmp, 'app');
    const cache = path.join(ROOT, 'node_modules/.cache/shale-docker-test');
    const tsc = path.join(ROOT, 'node_modules/typescript/bin/tsc');
    const outDir = ['--outDir', path.join(cache, 'dist'), '--tsBuildInfoFile', path.join(cache, 'tsbuildinfo')];
    await run(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--noCheck', ...outDir], { cwd: ROOT });
    cpSync(path.join(cache, 'dist'), path.join(app, 'dist'), { recursive: true });
    cpSync(path.join(ROOT, 'bin'), path.join(app, 'bin'), { recursive: true });
    cpSync(path.join(ROOT, 'package.json'), path.join(app, 'package.json'));
    mkdirSync(path.join(app, 'docker'));
    cpSync(path.join(DOCKER, 'healthcheck.mjs'), path.join(app, 'docker/healthcheck.mjs'));
    symlinkSync(path.join(ROOT, 'node_modules'), path.join(app, 'node_modules'));
    const port = await freePort();
    // Without SHALE_FROM_SOURCE, bin/shale runs the compiled dist/ as in the image.
    const env = { ...withoutShaleEnv(), ...NODE_ENV, SHALE_BIND: '127.0.0.1', SHALE_PORT: String(port), SHALE_STORE: 'memory://' };
    const server = spawn(process.execPath, [...NODE_FLAGS, 'bin/shale'], { cwd: app, env, stdio: 'ignore' });
    try {
      await waitForPing(port, 30_000, server);
      expect(healthcheck({ SHALE_PORT: String(port) }, app).status).toBe(0);
    } finally {
      await stop(server);
    }
    expect(existsSync(path.join(app, 'dist/server/main.js'))).toBe(true);
  }, 180_000);
});

describe('docker/compose.yml', () => {
  const compose = parseYaml(readFileSync(path.join(DOCKER, 'compose.yml'), 'utf8')) as {
    services: Record<string, Record<string, unknown>>;
    volumes?: Record<string, unknown>;
  };
  const svc = compose.services;
  const env = (name: string) => svc[name]!.environment as Record<string, string>;

  it('has Shale built from the repository beside MinIO and a bucket-creating init job', () => {
    expect(Object.keys(svc).sort()).toEqual(['minio', 'minio-init', 'shale']);
    const build = svc.shale!.build as { context: string; dockerfile: string };
    // The context is relative to the compose file; the Dockerfile path to the context.
    const context = path.resolve(DOCKER, build.context);
    expect(context).toBe(ROOT);
    expect(existsSync(path.join(context, build.dockerfile))).toBe(true);
    expect(path.join(context, build.dockerfile)).toBe(path.join(DOCKER, 'Dockerfile'));
    expect(svc.shale!.depends_on).toEqual({ 'minio-init': { condition: 'service_completed_successfully' } });
    expect(svc['minio-init']!.depends_on).toEqual({ minio: { condition: 'service_healthy' } });
    expect(String(svc.minio!.image)).toMatch(/^minio\/minio:RELEASE\./);
    expect(Object.keys(compose.volumes ?? {})).toContain('minio-data');
  });

  it('points SHALE_STORE at the MinIO service and bucket, with MinIO root credentials', () => {
    const store = new URL(env('shale').SHALE_STORE!);
    expect(store.protocol).toBe('s3:');
    const bucket = store.hostname;
    const endpoint = new URL(store.searchParams.get('endpoint')!);
    expect(endpoint.hostname).toBe('minio');
    // MinIO listens on 9000: the port of its `server` command and of its published port.
    expect(endpoint.port).toBe('9000');
    expect(svc.minio!.ports as string[]).toContain('127.0.0.1:9000:9000');
    expect(store.searchParams.get('forcePathStyle')).toBe('true');
    expect(store.searchParams.get('region')).toBeTruthy();
    // The init job creates exactly that bucket, logging in with the same credentials.
    const init = (svc['minio-init']!.command as string[]).join(' ');
    expect(init).toContain(`mc mb --ignore-existing local/${bucket}`);
    const { MINIO_ROOT_USER: user, MINIO_ROOT_PASSWORD: pass } = env('minio');
    expect(init).toContain(`mc alias set local http://minio:9000 ${user} ${pass}`);
    expect(env('shale').AWS_ACCESS_KEY_ID).toBe(user);
    expect(env('shale').AWS_SECRET_ACCESS_KEY).toBe(pass);
    // Every SHALE_* variable names a real option (a typo would stop start-up).
    const help = spawnSync(process.execPath, [path.join(ROOT, 'bin/shale'), '--help'], { env: { ...process.env, SHALE_FROM_SOURCE: '1' } }).stdout.toString();
    for (const k of Object.keys(env('shale')).filter((k) => k.startsWith('SHALE_'))) {
      expect(help, k).toContain(`--${k.slice(6).toLowerCase().replace(/_/g, '-')} `);
    }
  });

  it('has healthchecks: MinIO ready, Shale through docker/healthcheck.mjs; a grace period to flush on stop', () => {
    expect((svc.minio!.healthcheck as { test: string[] }).test).toEqual(['CMD', 'mc', 'ready', 'local']);
    expect((svc.shale!.healthcheck as { test: string[] }).test).toEqual(['CMD', 'node', 'docker/healthcheck.mjs']);
    expect(svc.shale!.ports).toEqual(['127.0.0.1:6379:6379']);
    expect(svc.shale!.stop_grace_period).toBe('30s');
  });
});

function withoutShaleEnv(): Record<string, string> {
  return Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => !e[0].startsWith('SHALE_') && e[1] !== undefined));
}

function healthcheck(env: Record<string, string>, cwd = ROOT): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [path.join(cwd, 'docker/healthcheck.mjs')], { env: { ...withoutShaleEnv(), ...env }, timeout: 10_000 });
  return { status: r.status, stderr: r.stderr.toString() };
}

async function stop(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGKILL');
  await exited;
}

describe('docker/healthcheck.mjs against a real Shale server', () => {
  it('exits 0 while the server is up and 1 once it is down', async () => {
    const shale = await ShaleProcess.start();
    try {
      expect(healthcheck({ SHALE_PORT: String(shale.port) }).status).toBe(0);
      expect(healthcheck({ SHALE_PORT: String(shale.port), SHALE_BIND: '0.0.0.0' }).status).toBe(0);
      expect(healthcheck({ SHALE_PORT: String(shale.port), SHALE_BIND: '127.0.0.1 ::1' }).status).toBe(0);
      await shale.stop();
      const down = healthcheck({ SHALE_PORT: String(shale.port) });
      expect(down.status).toBe(1);
      expect(down.stderr).toMatch(/^unhealthy: .*ECONNREFUSED/);
    } finally {
      await shale.cleanup();
    }
  });

  it('sends AUTH with SHALE_REQUIREPASS: 0 with the password, 1 without it or with a wrong one', async () => {
    const shale = await ShaleProcess.start();
    try {
      const port = String(shale.port);
      // Set after start: the harness waits for an unauthenticated PING.
      const admin = new Redis({ port: shale.port, retryStrategy: () => null });
      await admin.config('SET', 'requirepass', 'hc-pass');
      admin.disconnect();
      expect(healthcheck({ SHALE_PORT: port, SHALE_REQUIREPASS: 'hc-pass' }).status).toBe(0);
      const none = healthcheck({ SHALE_PORT: port });
      expect(none.status).toBe(1);
      expect(none.stderr).toMatch(/NOAUTH/);
      const wrong = healthcheck({ SHALE_PORT: port, SHALE_REQUIREPASS: 'nope' });
      expect(wrong.status).toBe(1);
      expect(wrong.stderr).toMatch(/WRONGPASS/);
    } finally {
      await shale.cleanup();
    }
  });

  it('exits 1 on a timeout: something listening that never answers', async () => {
    const net = await import('node:net');
    const silent = net.createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const port = (silent.address() as import('node:net').AddressInfo).port;
      const t0 = performance.now();
      const r = healthcheck({ SHALE_PORT: String(port) });
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/unhealthy: timeout/);
      expect(performance.now() - t0).toBeLessThan(9_000);
    } finally {
      silent.close();
    }
  });
});

// ------------------------------------------------------------------ the image, with an engine

const dockerInfo = spawnSync('docker', ['info', '--format', '{{.ServerVersion}}'], { timeout: 15_000 });
const dockerSkip =
  dockerInfo.error !== undefined
    ? `docker CLI not usable: ${dockerInfo.error.message}`
    : dockerInfo.status !== 0
      ? `docker info failed: ${(dockerInfo.stderr.toString().trim().split('\n').at(-1) ?? '').slice(0, 160)}`
      : undefined;

describe('docker image', () => {
  it.skipIf(dockerSkip !== undefined)(
    dockerSkip === undefined ? 'builds, starts and turns healthy; answers PING on the published port' : `builds and runs (skipped: ${dockerSkip})`,
    async () => {
      const tag = `shale-test:${process.pid}`;
      await run('docker', ['build', '-f', 'docker/Dockerfile', '-t', tag, '.'], { cwd: ROOT, maxBuffer: 64 << 20 });
      const { stdout: id } = await run('docker', ['run', '-d', '-p', '127.0.0.1::6379', '-e', 'SHALE_STORE=memory://', tag]);
      const container = id.trim();
      try {
        let health = '';
        for (let i = 0; i < 90 && health !== 'healthy'; i++) {
          health = (await run('docker', ['inspect', '--format', '{{.State.Health.Status}}', container])).stdout.trim();
          if (health !== 'healthy') await new Promise((r) => setTimeout(r, 1000));
        }
        expect(health).toBe('healthy');
        const mapped = (await run('docker', ['port', container, '6379/tcp'])).stdout.trim().split('\n')[0]!;
        const c = new Redis({ port: Number(mapped.split(':').at(-1)), host: '127.0.0.1', retryStrategy: () => null });
        expect(await c.ping()).toBe('PONG');
        c.disconnect();
        // docker stop sends SIGTERM: Shale shuts down cleanly with status 0.
        await run('docker', ['stop', '-t', '30', container]);
        expect((await run('docker', ['inspect', '--format', '{{.State.ExitCode}}', container])).stdout.trim()).toBe('0');
      } finally {
        await run('docker', ['rm', '-f', container]).catch(() => {});
        await run('docker', ['rmi', '-f', tag]).catch(() => {});
      }
    },
    600_000,
  );
});
