/**
 * Property test: random put/delete/expire/get/scan sequences with random flush, compaction,
 * snapshot, range drop, close and reopen points, checked against a plain in-memory model, on
 * the memory, local-directory and S3 backends.
 */
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine, type EngineOptions, LocalStore, MemoryStore, type ObjectStore } from '../../src/engine/index.ts';
import { S3Store } from '../../src/engine/objectstore/s3.ts';
import { type S3TestServer, startS3Server } from '../support/s3-server.ts';

type Op =
  | { t: 'put'; k: number; v: string; ttl: number }
  | { t: 'del'; k: number }
  | { t: 'batch'; puts: [number, string][] }
  | { t: 'get'; k: number }
  | { t: 'scan'; a: number; b: number; reverse: boolean; limit: number }
  | { t: 'tick'; ms: number }
  | { t: 'flush' }
  | { t: 'compact'; full: boolean }
  | { t: 'snap' }
  | { t: 'snapcheck'; i: number; reverse: boolean }
  | { t: 'drop'; a: number; b: number }
  | { t: 'reopen' };

const KEYS = 40;
const keyOf = (k: number) => `k${String(k).padStart(3, '0')}${k % 7 === 0 ? '\u00ff\u0000' : ''}`;

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 30, arbitrary: fc.record({ t: fc.constant('put' as const), k: fc.nat(KEYS - 1), v: fc.string({ maxLength: 40 }), ttl: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 50 })) }) },
  { weight: 8, arbitrary: fc.record({ t: fc.constant('del' as const), k: fc.nat(KEYS - 1) }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('batch' as const), puts: fc.array(fc.tuple(fc.nat(KEYS - 1), fc.string({ maxLength: 10 })), { maxLength: 6 }) }) },
  { weight: 15, arbitrary: fc.record({ t: fc.constant('get' as const), k: fc.nat(KEYS - 1) }) },
  { weight: 6, arbitrary: fc.record({ t: fc.constant('scan' as const), a: fc.nat(KEYS), b: fc.nat(KEYS), reverse: fc.boolean(), limit: fc.integer({ min: 1, max: 50 }) }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 40 }) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('flush' as const) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('compact' as const), full: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('snap' as const) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('snapcheck' as const), i: fc.nat(2), reverse: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('drop' as const), a: fc.nat(KEYS), b: fc.nat(KEYS) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('reopen' as const) }) },
);

interface ModelValue {
  v: string;
  expireAt: number;
}

async function runSequence(makeStore: () => ObjectStore, ops: Op[], extra: Partial<EngineOptions>): Promise<void> {
  const store = makeStore();
  let clock = 1_000_000;
  const options: EngineOptions = {
    store,
    flushIntervalMs: 1,
    memtableBytes: 2048,
    blockSize: 128,
    targetSstBytes: 1024,
    // Compactions of more than a few tables run in several key-range parts.
    compactionChunkBytes: 3000,
    l0CompactionTrigger: 3,
    minMergeWidth: 2,
    maxRuns: 3,
    gcIntervalMs: 0,
    now: () => clock,
    ...extra,
  };
  let engine = await Engine.open(options);
  const model = new Map<string, ModelValue>();
  // Keys in dropped ranges: never written again (the dropRange contract).
  const dropped = new Set<string>();
  const live = (m: ModelValue | undefined) => (m && (m.expireAt === 0 || m.expireAt > clock) ? m.v : undefined);
  // Snapshots taken along the way, with the model as it was then.
  const snaps: { snap: ReturnType<Engine['snapshot']>; model: Map<string, ModelValue>; at: number }[] = [];
  try {
    for (const op of ops) {
      switch (op.t) {
        case 'put': {
          if (dropped.has(keyOf(op.k))) break;
          const expireAt = op.ttl ? clock + op.ttl : 0;
          engine.put(keyOf(op.k), Buffer.from(op.v), expireAt);
          model.set(keyOf(op.k), { v: op.v, expireAt });
          break;
        }
        case 'del':
          if (dropped.has(keyOf(op.k))) break;
          engine.delete(keyOf(op.k));
          model.delete(keyOf(op.k));
          break;
        case 'batch': {
          const puts = op.puts.filter(([k]) => !dropped.has(keyOf(k)));
          engine.write(puts.map(([k, v]) => ({ key: keyOf(k), value: Buffer.from(v) })));
          for (const [k, v] of puts) model.set(keyOf(k), { v, expireAt: 0 });
          break;
        }
        case 'drop': {
          const [lo, hi] = op.a <= op.b ? [op.a, op.b] : [op.b, op.a];
          if (!(await engine.dropRange(keyOf(lo), hi >= KEYS ? 'l' : keyOf(hi)))) break;
          for (let k = lo; k < hi; k++) {
            dropped.add(keyOf(k));
            model.delete(keyOf(k));
            // Snapshots stop seeing the range too.
            for (const sn of snaps) sn.model.delete(keyOf(k));
          }
          break;
        }
        case 'get': {
          const got = await engine.get(keyOf(op.k));
          expect(got === undefined ? undefined : Buffer.from(got).toString()).toBe(live(model.get(keyOf(op.k))));
          break;
        }
        case 'scan': {
          const [lo, hi] = op.a <= op.b ? [op.a, op.b] : [op.b, op.a];
          const start = keyOf(lo);
          const end = hi >= KEYS ? undefined : keyOf(hi);
          const got: [string, string][] = [];
          // Odd limits read through the generator, even ones through scanAll: both must agree.
          const scan = { start, end, reverse: op.reverse, limit: op.limit };
          const entries = op.limit % 2 ? engine.scan(scan) : await engine.scanAll(scan);
          for await (const e of entries) got.push([e.key, Buffer.from(e.value).toString()]);
          let want = [...model.entries()]
            .filter(([k, m]) => k >= start && (end === undefined || k < end) && live(m) !== undefined)
            .map(([k, m]) => [k, m.v] as [string, string])
            .sort((x, y) => (x[0] < y[0] ? -1 : 1));
          if (op.reverse) want.reverse();
          want = want.slice(0, op.limit);
          expect(got).toEqual(want);
          break;
        }
        case 'tick':
          clock += op.ms;
          break;
        case 'flush':
          await engine.flushMemtable();
          break;
        case 'compact':
          await engine.compact({ full: op.full });
          break;
        case 'snap':
          if (snaps.length < 3) snaps.push({ snap: engine.snapshot(), model: new Map(model), at: clock });
          break;
        case 'snapcheck': {
          const s = snaps[op.i % Math.max(1, snaps.length)];
          if (s) await checkSnapshot(engine, s, clock, op.reverse);
          break;
        }
        case 'reopen':
          for (const s of snaps.splice(0)) s.snap.release();
          await engine.close();
          engine = await Engine.open(options);
          break;
      }
    }
    // Snapshots still see exactly what was there when they were taken.
    for (const s of snaps) {
      await checkSnapshot(engine, s, clock, false);
      s.snap.release();
    }
    // Finally everything agrees after a full compaction and a reopen.
    await engine.compact();
    await engine.close();
    engine = await Engine.open(options);
    for (let k = 0; k < KEYS; k++) {
      const got = await engine.get(keyOf(k));
      expect(got === undefined ? undefined : Buffer.from(got).toString()).toBe(live(model.get(keyOf(k))));
    }
  } finally {
    await engine.close().catch(() => {});
    await store.close();
  }
}

/** A snapshot sees its model (less what has expired since), by point reads and by scan. */
async function checkSnapshot(
  engine: Engine,
  s: { snap: ReturnType<Engine['snapshot']>; model: Map<string, ModelValue> },
  clock: number,
  reverse: boolean,
): Promise<void> {
  const want: [string, string][] = [];
  for (let k = 0; k < KEYS; k++) {
    const got = await engine.get(keyOf(k), { snapshot: s.snap });
    const m = s.model.get(keyOf(k));
    const v = m && (m.expireAt === 0 || m.expireAt > clock) ? m.v : undefined;
    expect(got === undefined ? undefined : Buffer.from(got).toString()).toBe(v);
    if (v !== undefined) want.push([keyOf(k), v]);
  }
  want.sort((x, y) => (x[0] < y[0] ? -1 : 1));
  if (reverse) want.reverse();
  const got: [string, string][] = [];
  for await (const e of engine.scan({ snapshot: s.snap, reverse })) got.push([e.key, Buffer.from(e.value).toString()]);
  expect(got).toEqual(want);
}

const dirs: string[] = [];
let s3: S3TestServer;
beforeAll(async () => {
  s3 = await startS3Server({ buckets: ['model'] });
});
afterAll(async () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  await s3.close();
});

describe('engine agrees with a plain map model', () => {
  it('on the memory backend (inline workers)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 20, maxLength: 300 }), (ops) =>
        runSequence(() => new MemoryStore(), ops, { workers: 'inline' }),
      ),
      { numRuns: 200 },
    );
  });

  it('on the local-directory backend (worker threads)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 20, maxLength: 200 }), async (ops) => {
        const dir = mkdtempSync(path.join(tmpdir(), 'shale-model-'));
        dirs.push(dir);
        await runSequence(() => new LocalStore(dir, { fsync: false }), ops, {});
      }),
      { numRuns: 20 },
    );
  });

  it('on the S3 backend (the S3 test server, real HTTP and SDK)', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 20, maxLength: 150 }), async (ops) => {
        const prefix = `run${run++}`;
        const make = () =>
          new S3Store({ bucket: 'model', prefix, endpoint: s3.endpoint, forcePathStyle: true, region: 'us-east-1', accessKeyId: 'k', secretAccessKey: 's' });
        await runSequence(make, ops, {});
      }),
      { numRuns: 12 },
    );
  });
});
