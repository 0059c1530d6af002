/**
 * Differential test: the same long, seeded, random command sequence goes to a real
 * redis-server 7 and to a real Shale process; every reply must be identical, except where the
 * reply is legitimately unordered (sorted before comparing), random (checked by property) or
 * time-dependent (TTLs compared approximately).
 *
 *   SHALE_DIFF_SEED=1234 npx vitest run test/differential.test.ts     # replay a seed
 *   SHALE_DIFF_STEPS=100000 ...                                         # longer run
 */
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveRedisServer, type Raw, RawClient, RedisReference } from './support/redis-reference.ts';
import { ShaleProcess } from './support/shale-server.ts';
import { Gen } from './support/gen.ts';

const SEED = Number(process.env.SHALE_DIFF_SEED ?? Math.floor(Math.random() * 2 ** 31));
const STEPS = Number(process.env.SHALE_DIFF_STEPS ?? 20_000);

const KEYS = ['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6', '\x00bin\xffkey', 'hbig', 'num'];
const FIELDS = ['f0', 'f1', 'f2', 'f3', 'f4', 'n', 'x'.repeat(70)];
const VALUES = [
  '', '0', '1', '-5', '10', '42', '9999', '10000', '3.5', '-0.25', '1e3', '0.1', 'abc', 'hello world',
  '9223372036854775807', '-9223372036854775808', '9223372036854775808', 'x'.repeat(50), 'y'.repeat(80),
  'nan', 'inf', ' 1', '0x10', '007', '\x00\xff\r\n',
];
const INCRS = ['1', '-1', '0', '5', '100', '-100', '9223372036854775807', '-9223372036854775808', 'abc', '1.5', ''];
const FLOATS = ['0.1', '0.2', '-0.3', '1', '1e2', '2.5e-3', '-1e20', 'abc', 'inf', '-inf', '0x1p3', '1e5000', ' 1', '.5', '5.'];

/** TTLs are long so timing never makes the two servers disagree. */
function ttlArg(g: Gen): string {
  return g.pick(['1000', '5000', '100000', '86400', '0', '-1', 'abc', '9223372036854775807', '1.5']);
}

function key(g: Gen): string {
  return g.pick(KEYS);
}

type Cmd = string[];

function stringCmd(g: Gen): Cmd {
  const k = key(g);
  const v = g.pick(VALUES);
  switch (g.int(0, 22)) {
    case 0:
      return ['GET', k];
    case 1: {
      const c = ['SET', k, v];
      const opts = ['NX', 'XX', 'GET', 'KEEPTTL', 'EX', 'PX', 'EXAT', 'PXAT', 'nx', 'get', 'FOO'];
      const n = g.int(0, 3);
      for (let i = 0; i < n; i++) {
        const o = g.pick(opts);
        c.push(o);
        if (/^ex$/i.test(o) && g.chance(0.9)) c.push(g.pick(['1000', '100000', '0', '-5', 'x', '9223372036854775807']));
        if (/^px$/i.test(o) && g.chance(0.9)) c.push(g.pick(['1000000', '100000000', '0', '-5', 'x', '9223372036854775807']));
        // Only future absolute times: a past one leaves an expired key whose removal time
        // (Redis's active expiry) is not deterministic.
        if (/^exat$/i.test(o) && g.chance(0.9)) c.push(g.pick(['9999999999', '0', 'x']));
        if (/^pxat$/i.test(o) && g.chance(0.9)) c.push(g.pick(['99999999999999', '0', 'x']));
      }
      return c;
    }
    case 2:
      return ['SETNX', k, v];
    case 3:
      return ['SETEX', k, ttlArg(g), v];
    case 4:
      return ['PSETEX', k, g.pick(['100000000', '0', '-1', 'abc']), v];
    case 5:
      return ['GETSET', k, v];
    case 6:
      return ['GETDEL', k];
    case 7: {
      const c = ['GETEX', k];
      const o = g.pick(['', 'EX', 'PX', 'EXAT', 'PXAT', 'PERSIST', 'BAD', 'EX+PERSIST']);
      if (o === 'EX+PERSIST') c.push('EX', '1000', 'PERSIST');
      else if (o === 'EXAT') c.push(o, g.pick(['9999999999', '1', 'x']));
      else if (o === 'PXAT') c.push(o, g.pick(['99999999999999', '1']));
      else if (o === 'EX' || o === 'PX') c.push(o, g.pick(['100000000', '0', 'y']));
      else if (o) c.push(o);
      return c;
    }
    case 8:
      return ['MGET', key(g), key(g), key(g)];
    case 9: {
      const c = ['MSET', key(g), g.pick(VALUES)];
      if (g.chance(0.7)) c.push(key(g), g.pick(VALUES));
      if (g.chance(0.1)) c.push(key(g));
      return c;
    }
    case 10:
      return g.chance(0.9) ? ['MSETNX', key(g), v, key(g), g.pick(VALUES)] : ['MSETNX', key(g), v, key(g)];
    case 11:
      return ['APPEND', k, v];
    case 12:
      return ['STRLEN', k];
    case 13:
      return [g.pick(['GETRANGE', 'SUBSTR']), k, String(g.int(-12, 12)), g.pick([String(g.int(-12, 12)), '-1', '100', 'x'])];
    case 14:
      return ['SETRANGE', k, g.pick([String(g.int(0, 20)), '-1', 'x', '536870912', '600000000']), g.pick(VALUES)];
    case 15:
      return ['INCR', k];
    case 16:
      return ['DECR', k];
    case 17:
      return ['INCRBY', k, g.pick(INCRS)];
    case 18:
      return ['DECRBY', k, g.pick(INCRS)];
    case 19:
      return ['INCRBYFLOAT', k, g.pick(FLOATS)];
    case 20: {
      const c = ['LCS', key(g), key(g)];
      const o = g.pick(['', 'LEN', 'IDX', 'IDX+', 'LEN+IDX', 'BAD']);
      if (o === 'IDX+') c.push('IDX', 'MINMATCHLEN', String(g.int(-1, 3)), 'WITHMATCHLEN');
      else if (o === 'LEN+IDX') c.push('LEN', 'IDX');
      else if (o) c.push(o);
      return c;
    }
    case 21:
      return ['SET', k, g.pick(['hello', 'world', 'ohmytext', 'mynewtext', 'abcdef'])];
    default:
      return ['GET', k];
  }
}

function hashCmd(g: Gen): Cmd {
  const k = g.chance(0.8) ? g.pick(['k0', 'k1', 'k2', 'hbig', 'k3']) : key(g);
  const f = g.pick(FIELDS);
  switch (g.int(0, 20)) {
    case 0:
    case 1: {
      const c = [g.pick(['HSET', 'HMSET']), k, f, g.pick(VALUES)];
      const n = g.int(0, 3);
      for (let i = 0; i < n; i++) c.push(g.pick(FIELDS), g.pick(VALUES));
      if (g.chance(0.05)) c.push('dangling');
      return c;
    }
    case 2: {
      // Grow a hash past the listpack limit.
      const c = ['HSET', k];
      const base = g.int(0, 50);
      for (let i = 0; i < 140; i++) c.push(`bf${base + i}`, String(i));
      return c;
    }
    case 3:
      return ['HSETNX', k, f, g.pick(VALUES)];
    case 4:
      return ['HGET', k, f];
    case 5:
      return ['HMGET', k, f, g.pick(FIELDS), g.pick(FIELDS)];
    case 6:
      return ['HDEL', k, f, g.pick(FIELDS)];
    case 7:
      return ['HLEN', k];
    case 8:
      return ['HSTRLEN', k, f];
    case 9:
      return ['HEXISTS', k, f];
    case 10:
      return ['HKEYS', k];
    case 11:
      return ['HVALS', k];
    case 12:
      return ['HGETALL', k];
    case 13:
      return ['HINCRBY', k, g.pick(['n', 'f0', f]), g.pick(INCRS)];
    case 14:
      return ['HINCRBYFLOAT', k, g.pick(['n', 'f1', f]), g.pick(FLOATS)];
    case 15: {
      const c = ['HRANDFIELD', k];
      if (g.chance(0.7)) c.push(g.pick(['0', '1', '2', '5', '-3', '200', '-200', 'x']));
      if (c.length === 3 && g.chance(0.5)) c.push(g.pick(['WITHVALUES', 'withvalues', 'BAD']));
      return c;
    }
    case 16: {
      const c = ['#HSCAN', k, '0'];
      if (g.chance(0.3)) c.push('MATCH', g.pick(['f*', '*', 'bf1*', 'n']));
      if (g.chance(0.3)) c.push('COUNT', g.pick(['1', '5', '1000', '0', 'x']));
      return c;
    }
    case 17:
      return ['HDEL', k, ...Array.from({ length: 30 }, (_, i) => `bf${i}`)];
    default:
      return ['HGETALL', k];
  }
}

function keyCmd(g: Gen): Cmd {
  const k = key(g);
  switch (g.int(0, 30)) {
    case 0:
      return ['DEL', k, g.chance(0.5) ? key(g) : k];
    case 1:
      return ['UNLINK', k];
    case 2:
      return ['EXISTS', k, key(g), k];
    case 3:
      return ['TYPE', k];
    case 4:
      return ['RENAME', k, g.chance(0.2) ? k : key(g)];
    case 5:
      return ['RENAMENX', k, key(g)];
    case 6: {
      const c = ['COPY', k, key(g)];
      if (g.chance(0.4)) c.push('DB', g.pick(['0', '1', '2', '16', '-1', 'x']));
      if (g.chance(0.4)) c.push('REPLACE');
      if (g.chance(0.03)) c.push('BAD');
      return c;
    }
    case 7:
      return ['MOVE', k, g.pick(['0', '1', '2', '16', 'x'])];
    case 8:
      return ['KEYS', g.pick(['*', 'k*', 'k[0-3]', '?', 'h*', '*bin*', 'nomatch'])];
    case 9:
      return ['#SCAN', g.pick(['*', 'k*', 'h?ig']), g.pick(['', 'string', 'hash', 'list']), g.pick(['1', '3', '10'])];
    case 10:
      return ['RANDOMKEY'];
    case 11:
      return ['TOUCH', k, key(g)];
    case 12:
      return ['OBJECT', 'ENCODING', k];
    case 13:
      return ['OBJECT', g.pick(['REFCOUNT', 'FREQ', 'HELP', 'NOPE']), k];
    case 14:
      return ['#DUMPRESTORE', k, key(g), g.pick(['', 'REPLACE', 'REPLACE ABSTTL', 'IDLETIME 10', 'FREQ 5', 'FREQ 300']), g.pick(['0', '100000000', '-1'])];
    case 15:
    case 16: {
      const c = [g.pick(['EXPIRE', 'PEXPIRE', 'EXPIREAT', 'PEXPIREAT']), k];
      const abs = c[0]!.endsWith('AT');
      const ms = c[0]!.startsWith('P');
      if (abs) c.push(g.pick([String(ms ? 1 : 1), String(Math.floor((Date.now() + 1e8) / (ms ? 1 : 1000))), '-1', 'x']));
      else c.push(g.pick(ms ? ['100000000', '5000000', '0', '-1', 'x'] : ['100000', '5000', '-1', '0', '9223372036854775', 'x']));
      if (g.chance(0.4)) c.push(g.pick(['NX', 'XX', 'GT', 'LT', 'nx', 'BAD']));
      if (g.chance(0.1)) c.push(g.pick(['NX', 'XX', 'GT', 'LT']));
      return c;
    }
    case 17:
      return [g.pick(['TTL', 'PTTL', 'EXPIRETIME', 'PEXPIRETIME']), k];
    case 18:
      return ['PERSIST', k];
    case 19:
      return ['DBSIZE'];
    case 20:
      return ['SELECT', g.pick(['0', '0', '0', '1', '2'])];
    case 21:
      return g.chance(0.1) ? ['FLUSHDB'] : ['DBSIZE'];
    case 22:
      return g.chance(0.2) ? ['SWAPDB', g.pick(['0', '1']), g.pick(['1', '2', 'x'])] : ['TYPE', k];
    case 23:
      return ['SET', k, g.pick(VALUES), 'EX', g.pick(['1000', '100000'])];
    default:
      return ['EXISTS', k];
  }
}

function randomCmd(g: Gen): Cmd {
  const x = g.r();
  if (x < 0.4) return stringCmd(g);
  if (x < 0.75) return hashCmd(g);
  return keyCmd(g);
}

// --------------------------------------------------------------------------- comparison

const TTL_TOLERANCE: Record<string, number> = { TTL: 2, PTTL: 2000, EXPIRETIME: 2, PEXPIRETIME: 2000 };

function sortRaw(xs: Raw[]): Raw[] {
  return [...xs].sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
}

function pairsOf(r: Raw): Raw[] {
  if (Array.isArray(r)) {
    const out: Raw[] = [];
    for (let i = 0; i < r.length; i += 2) out.push([r[i]!, r[i + 1]!]);
    return sortRaw(out);
  }
  if (r && typeof r === 'object' && 'map' in r) return sortRaw(r.map.map(([a, b]) => [a, b]));
  return [r];
}

/** Replaces what may legitimately differ by something comparable. */
function normalize(cmd: Cmd, r: Raw): Raw {
  if (typeof r === 'string' && r.startsWith('-')) return r;
  const name = cmd[0]!.toUpperCase();
  switch (name) {
    case 'KEYS':
    case 'HKEYS':
    case 'HVALS':
      return Array.isArray(r) ? sortRaw(r) : r;
    case 'HGETALL':
      return pairsOf(r);
    case 'RANDOMKEY':
      return r === null ? null : 'some key';
    case 'HRANDFIELD':
      if (cmd.length === 2 || !Array.isArray(r)) return r === null ? null : Array.isArray(r) ? r : 'some field';
      if (Number(cmd[2]) >= 0 && r.length >= 0) {
        // Distinct fields: only the count is deterministic unless the whole hash is returned.
        return `count:${r.length}`;
      }
      return `count:${r.length}`;
    case 'DUMP':
      return r === null ? null : 'payload';
    case 'HSCAN':
      if (Array.isArray(r) && Array.isArray(r[1])) return [r[0]!, pairsOf(r[1])];
      return r;
    case 'OBJECT':
      if (cmd[1]?.toUpperCase() === 'HELP' && Array.isArray(r)) return `lines:${r.length}`;
      return r;
    default:
      return r;
  }
}

function sameReply(cmd: Cmd, a: Raw, b: Raw): boolean {
  const tol = TTL_TOLERANCE[cmd[0]!.toUpperCase()];
  if (tol !== undefined && typeof a === 'string' && typeof b === 'string' && a.startsWith(':') && b.startsWith(':')) {
    const x = Number(a.slice(1));
    const y = Number(b.slice(1));
    if (x < 0 || y < 0) return x === y;
    return Math.abs(x - y) <= tol;
  }
  return JSON.stringify(normalize(cmd, a)) === JSON.stringify(normalize(cmd, b));
}

interface Side {
  name: string;
  a: RawClient;
  b: RawClient;
  /** Inspector connection for SHALE_DIFF_CHECK=1 (state comparison after every command). */
  c: RawClient;
}

const CHECK = process.env.SHALE_DIFF_CHECK === '1';

/** Cheap whole-state fingerprint of dbs 0-2: sizes and sorted key lists with types. */
async function fingerprint(c: RawClient): Promise<string> {
  const parts: string[] = [];
  for (const db of ['0', '1', '2']) {
    await c.call('SELECT', db);
    const keys = (await c.call('KEYS', '*')) as string[];
    const typed: string[] = [];
    for (const k of [...keys].sort()) typed.push(`${k}:${JSON.stringify(await c.call('TYPE', k.slice(1)))}`);
    parts.push(`${db}:${JSON.stringify(await c.call('DBSIZE'))}:${typed.join(',')}`);
  }
  return parts.join(' | ');
}

/** Runs a pseudo-command (#SCAN, #DUMPRESTORE) or a real one; returns a comparable reply. */
async function run(side: Side, client: RawClient, cmd: Cmd): Promise<Raw> {
  if (cmd[0] === '#SCAN') {
    const [, pattern, type, count] = cmd;
    const seen = new Set<string>();
    let cursor = '0';
    for (let i = 0; i < 10_000; i++) {
      const args = ['SCAN', cursor, 'MATCH', pattern!, 'COUNT', count!];
      if (type) args.push('TYPE', type);
      const r = await client.call(...args);
      if (!Array.isArray(r)) return r;
      cursor = (r[0] as string).slice(1);
      for (const k of r[1] as string[]) seen.add(k);
      if (cursor === '0') break;
    }
    return [...seen].sort();
  }
  if (cmd[0] === '#HSCAN') {
    // A whole iteration; the union of pages is what must agree.
    const seen = new Map<string, Raw>();
    let cursor = '0';
    for (let i = 0; i < 10_000; i++) {
      const r = await client.call('HSCAN', cmd[1]!, cursor, ...cmd.slice(3));
      if (!Array.isArray(r)) return r;
      cursor = (r[0] as string).slice(1);
      const items = r[1] as string[];
      for (let j = 0; j < items.length; j += 2) seen.set(items[j]!, items[j + 1]!);
      if (cursor === '0') break;
    }
    return [...seen].sort((a, b) => (a[0] < b[0] ? -1 : 1));
  }
  if (cmd[0] === '#DUMPRESTORE') {
    const [, src, dst, opts, ttl] = cmd;
    const payload = await client.call('DUMP', src!);
    if (payload === null || typeof payload !== 'string' || !payload.startsWith('$')) return ['dump', payload];
    const extra = opts ? opts.split(' ') : [];
    const r = await client.call('RESTORE', dst!, ttl!, Buffer.from(payload.slice(1), 'latin1'), ...extra);
    return ['restore', r];
  }
  return client.call(...cmd);
}

describe.skipIf(!haveRedisServer())('differential: Shale vs redis-server 7', () => {
  let redis: RedisReference;
  let shale: ShaleProcess;
  const sides: Side[] = [];

  beforeAll(async () => {
    // Explicit, so both agree whatever the defaults, and small enough that HSETs convert.
    const conf = ['--hash-max-listpack-entries', '128', '--hash-max-listpack-value', '64'];
    [redis, shale] = await Promise.all([RedisReference.start(conf), ShaleProcess.start({ args: conf })]);
    for (const [name, port] of [
      ['redis', redis.port],
      ['shale', shale.port],
    ] as const) {
      const side = { name, a: await RawClient.connect(port), b: await RawClient.connect(port), c: await RawClient.connect(port) };
      // The second client speaks RESP3, so maps, doubles and nested replies are compared too.
      await side.b.call('HELLO', '3');
      sides.push(side);
    }
  }, 60_000);

  afterAll(async () => {
    for (const s of sides) {
      s.a.close();
      s.b.close();
      s.c.close();
    }
    await Promise.all([redis?.stop(), shale?.cleanup()]);
  });

  it(`matches replies over ${STEPS} random commands (seed ${SEED})`, async () => {
    console.log(`differential seed: ${SEED} (replay with SHALE_DIFF_SEED=${SEED})`);
    const g = new Gen(SEED);
    const history: string[] = [];
    let multiOpen = false;
    const full: { cmd: Cmd; line: string }[] = [];
    let commands = 0;

    const both = async (which: 'a' | 'b', cmd: Cmd, queued?: Cmd[]): Promise<void> => {
      commands++;
      const [r1, r2] = await Promise.all(
        sides.map((s) =>
          Promise.race([
            run(s, s[which], cmd),
            new Promise<Raw>((_, reject) =>
              setTimeout(() => reject(new Error(`${s.name} did not answer ${JSON.stringify(cmd)} (seed ${SEED}, #${commands})\n  ${history.join('\n  ')}`)), 5000).unref(),
            ),
          ]),
        ),
      );
      history.push(`${which}: ${JSON.stringify(cmd)} -> ${JSON.stringify(r1).slice(0, 200)}`);
      full.push({ cmd, line: history[history.length - 1]! });
      if (history.length > 40) history.shift();
      let same: boolean;
      if (queued && Array.isArray(r1) && Array.isArray(r2)) {
        // EXEC: compare each queued command's reply by its own rules.
        same = r1.length === r2.length && queued.every((q, i) => sameReply(q, r1[i]!, r2[i]!));
      } else {
        same = sameReply(cmd, r1, r2);
      }
      if (same && CHECK && !multiOpen) {
        const [f1, f2] = await Promise.all(sides.map((s) => fingerprint(s.c)));
        if (f1 !== f2) {
          same = false;
          history.push(`state differs after this command:\n    redis: ${f1}\n    shale: ${f2}`);
        }
      }
      if (!same) {
        if (process.env.SHALE_DIFF_DUMP) writeFileSync(process.env.SHALE_DIFF_DUMP, full.map((h) => h.line).join('\n'));
        throw new Error(
          `seed ${SEED}, command #${commands}: replies differ for ${JSON.stringify(cmd)}\n` +
            `  redis: ${JSON.stringify(r1)}\n  shale: ${JSON.stringify(r2)}\n` +
            `recent history:\n  ${history.join('\n  ')}\n` +
            `earlier commands naming the same keys:\n  ${full
              .filter((h) => h.cmd.slice(1).some((a) => cmd.slice(1).includes(a) && KEYS.includes(a)) || ['SELECT', 'SWAPDB', 'FLUSHDB', 'MOVE', 'COPY', 'RENAME', 'RENAMENX', '#DUMPRESTORE'].includes(h.cmd[0]!))
              .slice(-40)
              .map((h) => h.line.slice(0, 300))
              .join('\n  ')}`,
        );
      }
    };

    while (commands < STEPS) {
      const x = g.r();
      if (x < 0.05) {
        // A transaction, sometimes with a WATCH that the other client may break.
        const watched = key(g);
        const useWatch = g.chance(0.6);
        if (useWatch) await both('a', ['WATCH', watched]);
        if (useWatch && g.chance(0.5)) await both('b', g.chance(0.5) ? ['SET', watched, 'changed'] : randomCmd(g));
        await both('a', ['MULTI']);
        multiOpen = true;
        const queued: Cmd[] = [];
        const n = g.int(1, 5);
        for (let i = 0; i < n; i++) {
          const c = randomCmd(g);
          // Not inside MULTI: pseudo-commands, and OBJECT (Redis's queued argv holds an extra
          // reference to values set in the transaction, so REFCOUNT says 2 there).
          if (c[0]!.startsWith('#') || ['SELECT', 'KEYS', 'RANDOMKEY', 'OBJECT'].includes(c[0]!)) continue;
          queued.push(c);
          await both('a', c);
        }
        if (g.chance(0.05)) await both('a', ['GET']); // queue-time error -> EXECABORT
        multiOpen = false;
        if (g.chance(0.1)) await both('a', ['DISCARD']);
        else await both('a', ['EXEC'], queued);
        if (useWatch) await both('a', ['UNWATCH']);
      } else {
        await both(g.chance(0.9) ? 'a' : 'b', randomCmd(g));
      }
    }
    // Final state: every key of every db the same.
    for (const db of ['0', '1', '2']) {
      await both('a', ['SELECT', db]);
      await both('a', ['DBSIZE']);
      await both('a', ['KEYS', '*']);
      for (const k of KEYS) {
        await both('a', ['TYPE', k]);
        await both('a', ['GET', k]);
        await both('a', ['HGETALL', k]);
        await both('a', ['OBJECT', 'ENCODING', k]);
        await both('a', ['TTL', k]);
      }
    }
    expect(commands).toBeGreaterThanOrEqual(STEPS);
  }, 120_000);
});
