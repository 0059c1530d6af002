/**
 * Crash test with real processes: a child writes with durable acknowledgements and is killed
 * with SIGKILL at random moments, over and over on one store. After each kill the store is
 * reopened: every acknowledged write is there, and nothing that is there is corrupt.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, expect, it } from 'vitest';
import { Engine, LocalStore } from '../../src/engine/index.ts';
import { startWriter, valueFor } from '../support/writer-process.ts';

const CYCLES = Number(process.env.SHALE_CRASH_CYCLES ?? 12);
const dir = mkdtempSync(path.join(tmpdir(), 'shale-crash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it(`keeps every acknowledged write across ${CYCLES} SIGKILLs`, { timeout: 240_000 }, async () => {
  const puts = new Set<string>();
  const dels = new Set<string>();
  const triedDels = new Set<string>();
  let totalAcks = 0;
  for (let cycle = 0; cycle < CYCLES; cycle++) {
    const w = startWriter(dir, `c${cycle}`, 5 + (cycle % 4) * 10, 64 * 1024);
    await w.ready;
    await sleep(150 + Math.random() * 500);
    w.child.kill('SIGKILL');
    await w.exited;
    expect(w.fenced).toBe(false);
    expect(w.errors).toEqual([]);
    for (const k of w.puts) puts.add(k);
    for (const k of w.dels) dels.add(k);
    for (const k of w.triedDels) triedDels.add(k);
    totalAcks += w.puts.length + w.dels.length;
    expect(w.puts.length).toBeGreaterThan(0);

    const engine = await Engine.open({ store: new LocalStore(dir), gcIntervalMs: 0 });
    try {
      for (const k of puts) {
        const v = await engine.get(k);
        if (dels.has(k)) expect(v, `acked delete of ${k}`).toBeUndefined();
        else if (triedDels.has(k) && v === undefined) continue; // an unacknowledged delete may land
        else expect(v === undefined ? undefined : Buffer.from(v).toString(), `acked put of ${k}`).toBe(valueFor(k));
      }
      // Whatever is present (acknowledged or not) is exactly what was written.
      let present = 0;
      for await (const e of engine.scan({})) {
        expect(Buffer.from(e.value).toString()).toBe(valueFor(e.key));
        present++;
      }
      expect(present).toBeGreaterThanOrEqual(puts.size - triedDels.size);
    } finally {
      await engine.close();
    }
  }
  console.log(`crash test: ${CYCLES} kills, ${totalAcks} acknowledged writes, all present`);
});
