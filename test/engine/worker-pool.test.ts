/** The engine's worker threads: real workers, killed for real. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { Writer } from '../../src/engine/codec.ts';
import { WorkerFailedError } from '../../src/engine/errors.ts';
import { Chain } from '../../src/engine/memtable.ts';
import { writeEntry } from '../../src/engine/records.ts';
import { readAll } from '../../src/engine/sst.ts';
import { WorkerPool } from '../../src/engine/worker-pool.ts';

/** A build task of n entries, keys in reverse order (the worker sorts them), values as bytes and as strings. */
function buildTask(n: number) {
  const w = new Writer(1024);
  for (let i = n - 1; i >= 0; i--) writeEntry(w, `k${String(i).padStart(6, '0')}`, new Chain(i + 1, i % 2 ? `v${i}` : Buffer.from(`v${i}`), 0, undefined));
  return { kind: 'build' as const, entries: w.finish(), blockSize: 4096 };
}

let pool: WorkerPool | undefined;
afterEach(async () => {
  await pool?.close();
  pool = undefined;
});

describe('worker pool', () => {
  it('builds a sorted table off-thread', async () => {
    pool = new WorkerPool({ threads: 1 });
    const [sst] = await pool.run(buildTask(5000));
    const entries = [...readAll('t', sst!.bytes, sst!.meta)];
    const keys = entries.map((e) => e.key);
    expect(keys.length).toBe(5000);
    expect(keys).toEqual([...keys].sort());
    for (const e of entries) expect(Buffer.from(e.value!).toString()).toBe(`v${Number(e.key.slice(1))}`);
  });

  it('replaces a worker that dies: its task fails, later tasks run on the replacement', async () => {
    pool = new WorkerPool({ threads: 1 });
    await pool.run(buildTask(10));
    const task = pool.run(buildTask(200_000));
    await pool.threads[0]!.terminate();
    await expect(task).rejects.toThrow(/engine worker died running a task/);
    const [sst] = await pool.run(buildTask(100));
    expect([...readAll('t', sst!.bytes, sst!.meta)].length).toBe(100);
    expect(pool.threads.length).toBe(1);
  });

  it('fails every task, instead of queueing it forever, when workers cannot start', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'shale-worker-'));
    const bad = path.join(dir, 'worker.mjs');
    writeFileSync(bad, 'throw new Error("cannot load");\n');
    pool = new WorkerPool({ threads: 1, file: pathToFileURL(bad) });
    // Tasks handed to a worker that then dies fail (the caller may retry); once three workers
    // in a row died without finishing anything, the pool refuses work for good.
    let tries = 0;
    let last: unknown;
    while (!(last instanceof WorkerFailedError) && tries++ < 10) {
      last = await pool.run(buildTask(10)).then(() => undefined, (e: unknown) => e);
      expect(String(last)).toMatch(/cannot load/);
    }
    expect(last).toBeInstanceOf(WorkerFailedError);
    expect(tries).toBeLessThanOrEqual(4);
    await expect(pool.run(buildTask(10))).rejects.toBeInstanceOf(WorkerFailedError);
  });
});
