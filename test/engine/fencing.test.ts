/**
 * Fencing with two real writer processes on one store: the newer one wins, the older one gets
 * the fenced error, and no acknowledged write of either is lost.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, expect, it } from 'vitest';
import { Engine, FencedError, LocalStore, MemoryStore } from '../../src/engine/index.ts';
import { startWriter, valueFor } from '../support/writer-process.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

it('a second writer process fences the first; no acknowledged write is lost', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'shale-fence-'));
  dirs.push(dir);
  for (let round = 0; round < 3; round++) {
    const a = startWriter(dir, `a${round}`, 10, 64 * 1024);
    await a.ready;
    await sleep(300);
    const b = startWriter(dir, `b${round}`, 10, 64 * 1024);
    await b.ready;
    // The old writer must notice at its next WAL flush and stop by itself.
    const codeA = await Promise.race([a.exited, sleep(10_000).then(() => 'timeout')]);
    expect(codeA).toBe(3);
    expect(a.fenced).toBe(true);
    expect(a.fenceMessage).toMatch(/fenced: another writer took over/);
    expect(a.puts.length).toBeGreaterThan(0);
    await sleep(200);
    b.child.kill('SIGKILL');
    await b.exited;
    expect(b.fenced).toBe(false);
    expect(b.errors).toEqual([]);
    expect(b.puts.length).toBeGreaterThan(0);

    const engine = await Engine.open({ store: new LocalStore(dir), gcIntervalMs: 0 });
    try {
      for (const w of [a, b]) {
        const dels = new Set(w.dels);
        const tried = new Set(w.triedDels);
        for (const k of w.puts) {
          const v = await engine.get(k);
          if (dels.has(k)) expect(v, `acked delete ${k}`).toBeUndefined();
          else if (!(tried.has(k) && v === undefined)) {
            expect(v && Buffer.from(v).toString(), `acked put ${k}`).toBe(valueFor(k));
          }
        }
      }
    } finally {
      await engine.close();
    }
  }
}, 120_000);

it('a fenced engine refuses writes with a clear error, in one process too', async () => {
  const store = new MemoryStore();
  const old = await Engine.open({ store, flushIntervalMs: 1, workers: 'inline', gcIntervalMs: 0 });
  const seq = old.put('k', Buffer.from('v1'));
  await old.awaitDurable(seq);
  const next = await Engine.open({ store, flushIntervalMs: 1, workers: 'inline', gcIntervalMs: 0 });
  const lost = old.put('k', Buffer.from('zombie'));
  await expect(old.awaitDurable(lost)).rejects.toBeInstanceOf(FencedError);
  expect(() => old.put('k2', Buffer.from('x'))).toThrow(FencedError);
  expect(Buffer.from((await next.get('k'))!).toString()).toBe('v1');
  await next.close();
  await old.abandon();
});

it('a fenced engine whose tables the new writer collected reports FencedError, not a missing table', async () => {
  const store = new MemoryStore();
  const options = { store, flushIntervalMs: 1, workers: 'inline' as const, gcIntervalMs: 0, autoCompact: false };
  const old = await Engine.open(options);
  for (let i = 0; i < 200; i++) old.put(`k${i}`, Buffer.from(`v${i}`));
  await old.flushMemtable();
  // A newer writer merges the old tables into a run and deletes them (tiny GC minimum age).
  const next = await Engine.open(options);
  await next.compact({ full: true });
  expect(await next.gc(0)).toBeGreaterThan(0);
  // The old writer never read these tables, so it must fetch them now and finds them gone.
  await expect(old.get('k7')).rejects.toBeInstanceOf(FencedError);
  await expect(old.compact({ full: true })).rejects.toBeInstanceOf(FencedError);
  expect(() => old.put('k', Buffer.from('zombie'))).toThrow(FencedError);
  // Its own GC refuses to run on its stale manifest (it would delete the new writer's tables).
  expect(await old.gc(0)).toBe(0);
  expect(Buffer.from((await next.get('k7'))!).toString()).toBe('v7');
  await next.close();
  await old.abandon();
});

it('a compaction on a fenced engine reports FencedError when its inputs were collected', async () => {
  const store = new MemoryStore();
  const options = { store, flushIntervalMs: 1, workers: 'inline' as const, gcIntervalMs: 0, autoCompact: false };
  const old = await Engine.open(options);
  for (let i = 0; i < 50; i++) old.put(`k${i}`, Buffer.from(`v${i}`));
  await old.flushMemtable();
  const next = await Engine.open(options);
  await next.compact({ full: true });
  await next.gc(0);
  await expect(old.compact({ full: true })).rejects.toBeInstanceOf(FencedError);
  expect(() => old.put('k', Buffer.from('zombie'))).toThrow(FencedError);
  await next.close();
  await old.abandon();
});
