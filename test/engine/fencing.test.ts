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
