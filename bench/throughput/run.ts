/**
 * Throughput: redis-benchmark against Shale (durability relaxed) and redis-server (appendonly
 * yes, appendfsync everysec: the same "acknowledged from memory, on disk within about a
 * second" promise), for every common command Shale implements, at -c 50 with and without
 * -P 16. Each figure is Shale's requests/s as a ratio of Redis's.
 *
 *   node bench/throughput/run.ts [--size tiny|default|large] [--large]
 *
 * Writes bench/results/throughput.md and .json (other sizes: throughput-<size>).
 */
import { beginBench, finishBench, geomean, type HeadlineRow, row } from '../lib/headline.ts';
import { progress, section } from '../lib/progress.ts';
import { fmtCount, mdTable } from '../lib/report.ts';
import { haveTool, type RedisLike, redisBenchmarkTimed, startRedis, startShale, type TimedBenchmark } from '../lib/servers.ts';

interface Size {
  /** Each server runs each command for this long (redis-benchmark stopped on time, not on -n). */
  seconds: number;
  keyspace: number;
  clients: number;
  pipeline: number;
  dataSize: number;
  /** Warm-up per command and server before anything is measured (JIT tiering in Node). */
  warmupSeconds: number;
}

const ctx = await beginBench<Size>({
  name: 'throughput',
  title: 'Throughput: Shale vs Redis (redis-benchmark)',
  sizes: {
    tiny: { seconds: 0.8, keyspace: 10_000, clients: 50, pipeline: 16, dataSize: 3, warmupSeconds: 0.2 },
    default: { seconds: 1.5, keyspace: 100_000, clients: 50, pipeline: 16, dataSize: 3, warmupSeconds: 0.5 },
    large: { seconds: 6, keyspace: 1_000_000, clients: 50, pipeline: 16, dataSize: 3, warmupSeconds: 2 },
  },
});
const S = ctx.size;
/** -n for every run: more than any server gets through in S.seconds, so time ends each run. */
const N = 100_000_000;

type Family = 'connection' | 'strings' | 'hashes' | 'lists' | 'sets' | 'zsets';

interface Test {
  /** Name in the report (redis-benchmark's own test name where there is one). */
  name: string;
  family: Family;
  /** Commands Shale must implement (lower case). */
  needs: string[];
  /** redis-benchmark -t name, or a custom command line. */
  t?: string;
  custom?: string[];
  /** Run before the test, on both servers (e.g. make a list long enough for LRANGE 0 599). */
  setup?: (s: RedisLike) => Promise<void>;
}

const fillList = async (s: RedisLike): Promise<void> => {
  await s.control.call('DEL', 'mylist');
  await s.control.call('RPUSH', 'mylist', ...Array.from({ length: 600 }, (_, i) => `element:${i}`));
};

const TESTS: Test[] = [
  { name: 'PING_INLINE', family: 'connection', needs: ['ping'], t: 'ping_inline' },
  { name: 'PING_MBULK', family: 'connection', needs: ['ping'], t: 'ping_mbulk' },
  { name: 'SET', family: 'strings', needs: ['set'], t: 'set' },
  { name: 'GET', family: 'strings', needs: ['get'], t: 'get' },
  { name: 'INCR', family: 'strings', needs: ['incr'], t: 'incr' },
  { name: 'MSET (10 keys)', family: 'strings', needs: ['mset'], t: 'mset' },
  { name: 'HSET', family: 'hashes', needs: ['hset'], t: 'hset' },
  { name: 'HGET', family: 'hashes', needs: ['hget'], custom: ['HGET', 'myhash', 'element:__rand_int__'] },
  { name: 'LPUSH', family: 'lists', needs: ['lpush'], t: 'lpush' },
  { name: 'RPUSH', family: 'lists', needs: ['rpush'], t: 'rpush' },
  { name: 'LPOP', family: 'lists', needs: ['lpop'], t: 'lpop' },
  { name: 'RPOP', family: 'lists', needs: ['rpop'], t: 'rpop' },
  { name: 'LRANGE_100 (first 100 elements)', family: 'lists', needs: ['rpush', 'lrange'], custom: ['LRANGE', 'mylist', '0', '99'], setup: fillList },
  { name: 'LRANGE_300 (first 300 elements)', family: 'lists', needs: ['rpush', 'lrange'], custom: ['LRANGE', 'mylist', '0', '299'], setup: fillList },
  { name: 'LRANGE_600 (first 600 elements)', family: 'lists', needs: ['rpush', 'lrange'], custom: ['LRANGE', 'mylist', '0', '599'], setup: fillList },
  { name: 'SADD', family: 'sets', needs: ['sadd'], t: 'sadd' },
  { name: 'SISMEMBER', family: 'sets', needs: ['sismember'], custom: ['SISMEMBER', 'myset', 'element:__rand_int__'] },
  { name: 'SPOP', family: 'sets', needs: ['spop'], t: 'spop' },
  { name: 'ZADD', family: 'zsets', needs: ['zadd'], t: 'zadd' },
  { name: 'ZSCORE', family: 'zsets', needs: ['zscore'], custom: ['ZSCORE', 'myzset', 'element:__rand_int__'] },
  { name: 'ZPOPMIN', family: 'zsets', needs: ['zpopmin'], t: 'zpopmin' },
];

const TARGET_FAMILIES = new Set<Family>(['lists', 'sets', 'zsets']);
const TARGET_RATIO = 0.7;

if (!haveTool('redis-benchmark') || !haveTool('redis-server')) {
  console.error('redis-server and redis-benchmark are needed (apt-get install redis-server redis-tools)');
  process.exit(3);
}

section('starting Shale (relaxed) and redis-server (appendfsync everysec)');
const shale = await startShale({ durability: 'relaxed' });
const redis = await startRedis({ appendfsync: 'everysec' });
const shaleCommands = new Set(((await shale.control.call('COMMAND', 'LIST')) as Buffer[]).map((b) => b.toString().toLowerCase()));
progress(`Shale implements ${shaleCommands.size} commands; ${shale.commandLine}; ${redis.commandLine}`);

interface Result {
  test: string;
  family: Family;
  mode: 'P1' | 'P16';
  shaleRps: number | null;
  redisRps: number | null;
  shaleAvgMs: number | null;
  redisAvgMs: number | null;
  ratio: number | null;
  note?: string;
}

const results: Result[] = [];

function benchArgs(test: Test, pipeline: number): string[] {
  const args = ['-c', String(S.clients), '-n', String(N), '-r', String(S.keyspace), '-d', String(S.dataSize), '-P', String(pipeline)];
  if (test.t) args.push('-t', test.t);
  else args.push(...test.custom!);
  return args;
}

const modes: ['P1' | 'P16', number][] = [
  ['P1', 1],
  ['P16', S.pipeline],
];
// A long-running server is warm: give Node's JIT every command's code path first (Redis too,
// alike), then start from FLUSHALL as before.
section(`warm-up: every command for ${S.warmupSeconds} s on each server, not measured`);
for (const test of TESTS) {
  if (test.needs.some((c) => !shaleCommands.has(c))) continue;
  for (const srv of [shale, redis]) {
    if (test.setup) await test.setup(srv);
    await redisBenchmarkTimed(srv.port, benchArgs(test, 1), S.warmupSeconds * 1000).catch(() => undefined);
  }
}
let run = 0;
const totalRuns = modes.length * TESTS.length;
const empty = { shaleRps: null, redisRps: null, shaleAvgMs: null, redisAvgMs: null, ratio: null };
for (const [mode, pipeline] of modes) {
  section(`-c ${S.clients}${pipeline > 1 ? ` -P ${pipeline}` : ' (no pipelining)'}, ${S.seconds} s per command and server`);
  // Both servers start each mode from the same empty state.
  await shale.control.call('FLUSHALL');
  await redis.control.call('FLUSHALL');
  for (const test of TESTS) {
    run++;
    const missing = test.needs.filter((c) => !shaleCommands.has(c));
    if (missing.length > 0) {
      progress(`[${run}/${totalRuns}] ${test.name}: skipped, Shale does not implement ${missing.join(', ')}`);
      results.push({ test: test.name, family: test.family, mode, ...empty, note: `not implemented in Shale (${missing.join(', ')})` });
      continue;
    }
    try {
      if (test.setup) {
        await test.setup(shale);
        await test.setup(redis);
      }
      // Alternate which server goes first, so slow drifts in machine load hit both alike.
      const order: RedisLike[] = run % 2 === 0 ? [shale, redis] : [redis, shale];
      const got = new Map<RedisLike, TimedBenchmark>();
      for (const s of order) got.set(s, await redisBenchmarkTimed(s.port, benchArgs(test, pipeline), S.seconds * 1000));
      const a = got.get(shale)!;
      const b = got.get(redis)!;
      const ratio = b.rps > 0 ? a.rps / b.rps : null;
      results.push({ test: test.name, family: test.family, mode, shaleRps: a.rps, redisRps: b.rps, shaleAvgMs: a.avgMs, redisAvgMs: b.avgMs, ratio });
      progress(`[${run}/${totalRuns}] ${test.name} ${mode}: Shale ${fmtCount(a.rps)}/s, Redis ${fmtCount(b.rps)}/s, ratio ${ratio === null ? 'n/a' : ratio.toFixed(2)}`);
    } catch (e) {
      const msg = (e as Error).message.split('\n')[0]!.slice(0, 200);
      progress(`[${run}/${totalRuns}] ${test.name} ${mode}: failed: ${msg}`);
      results.push({ test: test.name, family: test.family, mode, ...empty, note: `failed: ${msg}` });
    }
  }
}

const shaleInfo = await shale.info();
await shale.stop();
await redis.stop();

// ------------------------------------------------------------------ report

const modeLabel = (m: 'P1' | 'P16') => (m === 'P1' ? `-c ${S.clients}` : `-c ${S.clients} -P ${S.pipeline}`);
const headline: HeadlineRow[] = [];
for (const m of ['P1', 'P16'] as const) {
  const rs = results.filter((r) => r.mode === m);
  const measured = rs.filter((r) => r.ratio !== null);
  const targeted = rs.filter((r) => TARGET_FAMILIES.has(r.family));
  const targetedMeasured = targeted.filter((r) => r.ratio !== null);
  const gm = geomean(measured.map((r) => r.ratio!));
  headline.push(
    row({
      metric: `throughput, geometric mean over ${measured.length} commands, ${modeLabel(m)}`,
      shale: geomean(measured.map((r) => r.shaleRps!)),
      peer: geomean(measured.map((r) => r.redisRps!)),
      peerName: 'Redis (appendfsync everysec)',
      unit: '/s',
      ratio: gm,
      better: 'higher',
      target: null,
      met: null,
      readme: true,
    }),
  );
  const worst = targetedMeasured.reduce<Result | undefined>((w, r) => (w === undefined || r.ratio! < w.ratio! ? r : w), undefined);
  const metCount = targetedMeasured.filter((r) => r.ratio! >= TARGET_RATIO).length;
  headline.push(
    row({
      metric: `lists/sets/zsets commands at >= ${TARGET_RATIO}x Redis, ${modeLabel(m)}: ${metCount} of ${targeted.length}${targeted.length > targetedMeasured.length ? ` (${targeted.length - targetedMeasured.length} not implemented or failed)` : ''}; lowest${worst ? ` (${worst.test})` : ''}`,
      shale: worst?.shaleRps ?? null,
      peer: worst?.redisRps ?? null,
      peerName: 'Redis (appendfsync everysec)',
      unit: '/s',
      better: 'higher',
      target: `every command >= ${TARGET_RATIO}x Redis`,
      met: targeted.length > 0 && metCount === targeted.length,
      readme: true,
    }),
  );
}
const detail = (m: 'P1' | 'P16') =>
  mdTable(
    ['command', 'family', 'Shale req/s', 'Redis req/s', 'Shale / Redis', 'Shale mean latency', 'Redis mean latency', 'target', 'met'],
    results
      .filter((r) => r.mode === m)
      .map((r) => [
        r.test,
        r.family,
        r.shaleRps === null ? (r.note ?? 'n/a') : fmtCount(r.shaleRps),
        r.redisRps === null ? '' : fmtCount(r.redisRps),
        r.ratio === null ? 'n/a' : `${r.ratio < 0.01 ? r.ratio.toPrecision(2) : r.ratio.toFixed(2)}x`,
        r.shaleAvgMs === null || !Number.isFinite(r.shaleAvgMs) ? '' : `${r.shaleAvgMs} ms`,
        r.redisAvgMs === null || !Number.isFinite(r.redisAvgMs) ? '' : `${r.redisAvgMs} ms`,
        TARGET_FAMILIES.has(r.family) ? `>= ${TARGET_RATIO}x` : '',
        TARGET_FAMILIES.has(r.family) ? (r.ratio !== null && r.ratio >= TARGET_RATIO ? 'met' : '**NOT met**') : '',
      ]),
  );

const body = `## Per command, ${modeLabel('P1')} (no pipelining)

${detail('P1')}

## Per command, ${modeLabel('P16')}

${detail('P16')}

## How it was measured

- **Servers.** Shale: \`${shale.commandLine}\` (durability relaxed: a write is acknowledged from memory
  and in the object store, here a local directory with fsync, within one 100 ms flush interval).
  Redis: \`${redis.commandLine}\` (AOF with fsync once a second, no RDB snapshots): the closest Redis setting to
  Shale's relaxed mode. Both listen on 127.0.0.1 and run at the same time; the idle one costs nothing.
- **Client.** \`redis-benchmark -q -c ${S.clients} -n ${fmtCount(N)} -r ${fmtCount(S.keyspace)} -d ${S.dataSize} -P 1|${S.pipeline}\`, one
  invocation per command and server (\`-t name\`, or the command line for HGET/SISMEMBER/ZSCORE/LRANGE), **stopped after
  ${S.seconds} s**: the figure is redis-benchmark's own running "overall" requests/s (and mean latency) at that moment, so a
  slow command costs ${S.seconds} s like a fast one and every figure covers the same time. Random keys and members come from a
  keyspace of ${fmtCount(S.keyspace)}; values are ${S.dataSize} bytes (redis-benchmark's default). LPUSH/RPUSH/LPOP/RPOP and the LRANGEs
  use one list \`mylist\` (the LRANGEs run after it is reset to 600 elements), SADD/SISMEMBER/SPOP one set, ZADD/ZSCORE/ZPOPMIN
  one sorted set, HSET/HGET one hash, as redis-benchmark's own tests do; so the collections grow to however many elements
  each server added in its ${S.seconds} s, which is more for the faster server.
- **Order.** The commands run in the order of the tables, the two servers taking turns on which goes first; each
  server starts each of the two passes (without / with pipelining) from FLUSHALL. Before both passes, every command ran
  for ${S.warmupSeconds} s on each server, unmeasured: a long-running Node process has its hot paths compiled, a fresh one not.
- **Figures.** The ratio is Shale / Redis requests/s. Mean latency is closed-loop (50 clients waiting on replies), not
  latency at a fixed rate: see \`bench/results/latency.md\` for that. Commands Shale does not implement (per \`COMMAND LIST\`)
  are listed as such.
- **Target.** List, set and sorted-set commands: at least ${TARGET_RATIO}x Redis's throughput. Others are informational.
- redis-benchmark is single-threaded: with -P ${S.pipeline} it can be the bottleneck for Redis, which would understate Redis's figure
  (and flatter the ratio); the machine has ${ctx.machine.cores} cores shared by client and server.`;

finishBench(ctx, {
  headline,
  body,
  summaryIntro: `Shale \`--durability relaxed\` vs \`redis-server --appendonly yes --appendfsync everysec\`, redis-benchmark at -c ${S.clients}, with and without -P ${S.pipeline}, ${S.seconds} s per command and server; ${results.filter((r) => r.ratio !== null).length} command runs measured (${TESTS.length} commands x 2 modes). Per-command figures are in the tables below the summary.`,
  json: {
    servers: { shale: shale.commandLine, redis: redis.commandLine },
    shaleCommands: shaleCommands.size,
    results,
    shaleStoreCounters: Object.fromEntries(Object.entries(shaleInfo).filter(([k]) => k.startsWith('shale_store_') || k.startsWith('shale_wal'))),
  },
});
process.exit(0);
