/**
 * Corrupted or truncated objects (a flipped byte, a short file) are detected by checksums and
 * reported as CorruptionError, never returned as data.
 */
import { promises as fs, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { CorruptionError, Engine, type EngineOptions, LocalStore } from '../../src/engine/index.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const value = (i: number) => Buffer.from(`value-${i}-`.repeat(8));

/** A store with tables (from 2,000 keys) and a WAL tail (keys 2000..2099). */
async function makeStore(): Promise<{ dir: string; options: EngineOptions }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'shale-corrupt-'));
  dirs.push(dir);
  const options: EngineOptions = { store: new LocalStore(dir, { fsync: false }), workers: 'inline', gcIntervalMs: 0, autoCompact: false };
  const e = await Engine.open(options);
  for (let i = 0; i < 2000; i++) e.put(`key${String(i).padStart(5, '0')}`, value(i));
  await e.flushMemtable();
  let seq = 0;
  for (let i = 2000; i < 2100; i++) seq = e.put(`key${String(i).padStart(5, '0')}`, value(i));
  await e.awaitDurable(seq);
  await e.abandon(); // keep the WAL tail: no final flush
  return { dir, options };
}

async function files(dir: string, sub: string): Promise<string[]> {
  return (await fs.readdir(path.join(dir, sub))).filter((f) => !f.startsWith('.')).sort().map((f) => path.join(dir, sub, f));
}

async function flipByte(file: string, at: (size: number) => number): Promise<void> {
  const b = await fs.readFile(file);
  const i = at(b.length);
  b[i] = b[i]! ^ 0x5a;
  await fs.writeFile(file, b);
}

it('a flipped byte in a data block fails the read of that block', async () => {
  const { dir, options } = await makeStore();
  const [sst] = await files(dir, 'sst');
  await flipByte(sst!, () => 100); // inside the first data block
  const e = await Engine.open(options);
  await expect(e.get('key00000')).rejects.toBeInstanceOf(CorruptionError);
  // Other blocks are intact and still readable.
  expect(Buffer.from((await e.get('key01999'))!).equals(value(1999))).toBe(true);
  await expect(async () => {
    for await (const _ of e.scan({})) void _;
  }).rejects.toBeInstanceOf(CorruptionError);
  await e.close();
});

it('a truncated table is reported, not read', async () => {
  const { dir, options } = await makeStore();
  const [sst] = await files(dir, 'sst');
  const b = await fs.readFile(sst!);
  await fs.writeFile(sst!, b.subarray(0, b.length - 7));
  const e = await Engine.open(options);
  await expect(e.get('key00010')).rejects.toBeInstanceOf(CorruptionError);
  await e.close();
});

it('a flipped byte in the table index or filter is reported', async () => {
  const { dir, options } = await makeStore();
  const [sst] = await files(dir, 'sst');
  await flipByte(sst!, (n) => n - 60); // the tail: filter, index, props, footer
  const e = await Engine.open(options);
  await expect(e.get('key00010')).rejects.toBeInstanceOf(CorruptionError);
  await e.close();
});

it('a flipped byte in a WAL object of the tail stops recovery', async () => {
  const { dir, options } = await makeStore();
  const wal = await files(dir, 'wal');
  await flipByte(wal[wal.length - 1]!, (n) => Math.floor(n / 2));
  await expect(Engine.open(options)).rejects.toBeInstanceOf(CorruptionError);
});

it('a truncated WAL object stops recovery', async () => {
  const { dir, options } = await makeStore();
  const wal = await files(dir, 'wal');
  const last = wal[wal.length - 1]!;
  const b = await fs.readFile(last);
  await fs.writeFile(last, b.subarray(0, b.length - 10));
  await expect(Engine.open(options)).rejects.toBeInstanceOf(CorruptionError);
});

it('a flipped byte in the latest manifest stops open', async () => {
  const { dir, options } = await makeStore();
  const m = await files(dir, 'manifest');
  await flipByte(m[m.length - 1]!, (n) => n - 3);
  await expect(Engine.open(options)).rejects.toBeInstanceOf(CorruptionError);
});

it('compaction over a corrupt table fails loudly and leaves the data unread', async () => {
  const { dir, options } = await makeStore();
  const e1 = await Engine.open(options);
  await e1.flushMemtable();
  await e1.close();
  const [sst] = await files(dir, 'sst');
  await flipByte(sst!, () => 50);
  const e = await Engine.open(options);
  await expect(e.compact({ full: true })).rejects.toBeInstanceOf(CorruptionError);
  await e.close().catch(() => {});
});
