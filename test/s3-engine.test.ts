/**
 * The engine's process-level tests on the S3 backend: writer processes talk real HTTP (the real
 * SDK) to the S3 test server running in this test process. A SIGKILLed writer loses no
 * acknowledged write; a second writer fences the first; GC deletes in DeleteObjects batches.
 * (The model test runs on S3 in test/engine/model.test.ts.)
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine, ResilientStore } from '../src/engine/index.ts';
import { S3Store } from '../src/engine/objectstore/s3.ts';
import { listAll } from '../src/engine/objectstore/types.ts';
import { type S3TestServer, startS3Server } from './support/s3-server.ts';
import { startWriter, valueFor, type WriterProcess } from './support/writer-process.ts';

const BUCKET = 'engine';
const KEY_ID = 'engine-test-key';
const CREDS = { AWS_ACCESS_KEY_ID: KEY_ID, AWS_SECRET_ACCESS_KEY: 'engine-test-secret' };

let s3: S3TestServer;
beforeAll(async () => {
  s3 = await startS3Server({ buckets: [BUCKET], accessKeys: [KEY_ID] });
});
afterAll(async () => {
  await s3.close();
});

const storeUrl = (prefix: string) => `s3://${BUCKET}/${prefix}?endpoint=${encodeURIComponent(s3.endpoint)}&region=us-east-1`;
const openS3 = (prefix: string) =>
  new S3Store({
    bucket: BUCKET,
    prefix,
    endpoint: s3.endpoint,
    forcePathStyle: true,
    region: 'us-east-1',
    accessKeyId: CREDS.AWS_ACCESS_KEY_ID,
    secretAccessKey: CREDS.AWS_SECRET_ACCESS_KEY,
  });

/** Waits (bounded) until the writer has acknowledged n puts: a loaded machine may be slow. */
async function acked(w: WriterProcess, n: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (w.puts.length < n && w.child.exitCode === null && Date.now() < deadline) await sleep(20);
}

/** Every acknowledged put is there with its value, every acknowledged delete is gone. */
async function checkAcks(engine: Engine, writers: WriterProcess[]): Promise<number> {
  let checked = 0;
  for (const w of writers) {
    const dels = new Set(w.dels);
    const tried = new Set(w.triedDels);
    for (const k of w.puts) {
      const v = await engine.get(k);
      if (dels.has(k)) expect(v, `acked delete of ${k}`).toBeUndefined();
      else if (tried.has(k) && v === undefined) continue; // an unacknowledged delete may land
      else expect(v === undefined ? undefined : Buffer.from(v).toString(), `acked put of ${k}`).toBe(valueFor(k));
      checked++;
    }
  }
  return checked;
}

describe('engine processes on the S3 backend', () => {
  it('keeps every acknowledged write across SIGKILLs of a writer on S3', async () => {
    // Small random latency, so kills land while requests are in flight.
    s3.setFaults({ latencyMs: () => Math.floor(Math.random() * 8) });
    const prefix = 'crash';
    const writers: WriterProcess[] = [];
    const cycles = 5;
    try {
      for (let cycle = 0; cycle < cycles; cycle++) {
        const w = startWriter(storeUrl(prefix), `c${cycle}`, 5 + (cycle % 3) * 10, 64 * 1024, CREDS);
        await w.ready;
        await acked(w, 1);
        await sleep(200 + Math.random() * 400);
        w.child.kill('SIGKILL');
        await w.exited;
        expect(w.fenced).toBe(false);
        expect(w.errors).toEqual([]);
        expect(w.puts.length).toBeGreaterThan(0);
        writers.push(w);

        const engine = await Engine.open({ store: openS3(prefix), gcIntervalMs: 0 });
        try {
          await checkAcks(engine, writers);
          // Whatever is present, acknowledged or not, is exactly what was written.
          for await (const e of engine.scan({})) expect(Buffer.from(e.value).toString()).toBe(valueFor(e.key));
        } finally {
          await engine.close();
        }
      }
    } finally {
      s3.clearFaults();
    }
    const acks = writers.reduce((n, w) => n + w.puts.length + w.dels.length, 0);
    // The writers' tables and WAL objects really went through the S3 server.
    const keys = [...s3.objects(BUCKET).keys()].filter((k) => k.startsWith(`${prefix}/`));
    expect(keys.some((k) => k.startsWith(`${prefix}/sst/`))).toBe(true);
    expect(keys.some((k) => k.startsWith(`${prefix}/wal/`))).toBe(true);
    console.log(`s3 crash test: ${cycles} kills, ${acks} acknowledged writes, all present`);
  }, 120_000);

  it('a second writer process on S3 fences the first; no acknowledged write is lost', async () => {
    const prefix = 'fence';
    // The new writer's GC must not collect tables the old one wrote before it noticed the
    // fence (it would then die of a missing table instead of reporting fenced).
    const env = { ...CREDS, SHALE_WRITER_GC_MIN_AGE_MS: '10000' };
    for (let round = 0; round < 2; round++) {
      const a = startWriter(storeUrl(prefix), `a${round}`, 10, 64 * 1024, env);
      await a.ready;
      await acked(a, 20);
      const b = startWriter(storeUrl(prefix), `b${round}`, 10, 64 * 1024, env);
      await b.ready;
      // The old writer notices at its next WAL or manifest put and stops by itself.
      const codeA = await Promise.race([a.exited, sleep(15_000).then(() => 'timeout')]);
      expect(codeA, a.errors.join('\n')).toBe(3);
      expect(a.fenced).toBe(true);
      expect(a.fenceMessage).toMatch(/fenced: another writer took over/);
      expect(a.puts.length).toBeGreaterThan(0);
      await acked(b, 20);
      b.child.kill('SIGKILL');
      await b.exited;
      expect(b.fenced).toBe(false);
      expect(b.errors).toEqual([]);
      expect(b.puts.length).toBeGreaterThan(0);

      const engine = await Engine.open({ store: openS3(prefix), gcIntervalMs: 0 });
      try {
        expect(await checkAcks(engine, [a, b])).toBeGreaterThan(0);
      } finally {
        await engine.close();
      }
    }
  }, 120_000);

  it('an applied write whose retries all failed is recognised as its own, not taken for a fence', async () => {
    // Two attempts per call, so an ambiguous failure (applied, connection dropped) followed
    // by another failure exhausts a call; the engine's next call then meets 412 on its own object.
    const store = new ResilientStore(openS3('ambiguous'), { attempts: 2, baseDelayMs: 1, maxDelayMs: 2 });
    const engine = await Engine.open({ store, gcIntervalMs: 0, workers: 'inline', flushIntervalMs: 1 });
    try {
      s3.setFaults({ ops: ['PUT'], keyPrefix: 'ambiguous/wal/', applyThenDropRate: 1, limit: 2 });
      const seq = engine.put('wal-key', Buffer.from('w'));
      await engine.awaitDurable(seq);
      expect(s3.counts.injected.applyThenDrop).toBe(2);
      const manifestBefore = engine.shape.manifestId;
      s3.setFaults({ ops: ['PUT'], keyPrefix: 'ambiguous/manifest/', applyThenDropRate: 1, limit: 2 });
      await engine.flushMemtable();
      expect(s3.counts.injected.applyThenDrop).toBe(4);
      // The ambiguous manifest was adopted, then the flush committed on top of it.
      expect(engine.shape.manifestId).toBe(manifestBefore + 2);
      engine.put('after', Buffer.from('a'));
      await engine.flush();
    } finally {
      s3.clearFaults();
      await engine.close();
    }
    const again = await Engine.open({ store: openS3('ambiguous'), gcIntervalMs: 0, workers: 'inline' });
    try {
      expect(Buffer.from((await again.get('wal-key'))!).toString()).toBe('w');
      expect(Buffer.from((await again.get('after'))!).toString()).toBe('a');
    } finally {
      await again.close();
    }
  });

  it('a memtable flush that outlasts the store retries waits for the store instead of failing the engine', async () => {
    const store = new ResilientStore(openS3('l0-outage'), { attempts: 2, baseDelayMs: 1, maxDelayMs: 2 });
    const engine = await Engine.open({ store, gcIntervalMs: 0, workers: 'inline', flushIntervalMs: 1 });
    try {
      await engine.awaitDurable(engine.put('k1', Buffer.from('v1')));
      s3.setFaults({ ops: ['PUT'], keyPrefix: 'l0-outage/sst/', errorRate: 1 });
      const flushed = engine.flushMemtable();
      // Several whole rounds of retries fail...
      const deadline = Date.now() + 10_000;
      while (s3.counts.injected.error < 6 && Date.now() < deadline) await sleep(20);
      expect(s3.counts.injected.error).toBeGreaterThanOrEqual(6);
      expect(engine.storeError?.message).toMatch(/S3 PUT .*l0-outage\/sst\/.* failed: InternalError/);
      // ...and the engine still takes writes (the WAL still works) and serves reads.
      await engine.awaitDurable(engine.put('k2', Buffer.from('v2')));
      expect(Buffer.from((await engine.get('k1'))!).toString()).toBe('v1');
      s3.clearFaults();
      await flushed;
      expect(engine.shape.l0).toBeGreaterThan(0);
      expect(engine.storeError).toBeUndefined();
    } finally {
      s3.clearFaults();
      await engine.close();
    }
    const again = await Engine.open({ store: openS3('l0-outage'), gcIntervalMs: 0, workers: 'inline' });
    try {
      for (const k of ['k1', 'k2']) expect(Buffer.from((await again.get(k))!).toString()).toBe(`v${k[1]}`);
    } finally {
      await again.close();
    }
  });

  it('GC deletes garbage with one DeleteObjects request per 1000 keys', async () => {
    const prefix = 'gc';
    const store = openS3(prefix);
    // 1500 orphaned tables (no manifest names them), as left by crashed writers.
    for (let i = 0; i < 1500; i++) s3.putObject(BUCKET, `${prefix}/sst/orphan-${String(i).padStart(5, '0')}`, new Uint8Array([i & 0xff]));
    const engine = await Engine.open({ store, gcIntervalMs: 0, workers: 'inline' });
    try {
      const seq = engine.put('live', Buffer.from('value'));
      await engine.awaitDurable(seq);
      await engine.flushMemtable();
      s3.resetCounts();
      const deleted = await engine.gc(0);
      expect(deleted).toBeGreaterThanOrEqual(1500);
      // DeleteObjects (POST ?delete) counts as DELETE: two batches, not ~1500 single deletes.
      expect(s3.counts.DELETE).toBe(Math.ceil(deleted / 1000));
      const left: string[] = [];
      for await (const o of listAll(store, 'sst/')) left.push(o.key);
      expect(left.filter((k) => k.includes('orphan'))).toEqual([]);
      expect(left.length).toBeGreaterThan(0); // the live table stays
      expect(Buffer.from((await engine.get('live'))!).toString()).toBe('value');
    } finally {
      await engine.close();
    }
  });
});
