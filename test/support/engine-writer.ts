/**
 * A real writer process for crash and fencing tests. Opens the engine on a local directory
 * (or any store URL, e.g. s3://bucket/prefix?endpoint=..., credentials from the environment)
 * and writes unique keys (and deletes some of them), printing a line only after each write
 * is durable:  "ack put <key>" / "ack del <key>",
 * and "try del <key>" before a delete is issued (it may then be durable without an ack). A fenced writer prints "fenced <msg>" and
 * exits 3. Usage: node engine-writer.ts <dir|store-url> <prefix> <flushIntervalMs> <memtableBytes>
 */
import { Engine, FencedError, LocalStore } from '../../src/engine/index.ts';
import { openStore } from '../../src/engine/objectstore/url.ts';
import { valueFor } from './writer-process.ts';

const [dir, prefix, interval, memtable] = process.argv.slice(2);
if (!dir || !prefix) throw new Error('usage: engine-writer.ts <dir> <prefix> [interval] [memtableBytes]');

const engine = await Engine.open({
  store: /^[a-z][a-z0-9+.-]*:\/\//i.test(dir) ? openStore(dir) : new LocalStore(dir),
  flushIntervalMs: Number(interval ?? 10),
  memtableBytes: Number(memtable ?? 256 * 1024),
  l0CompactionTrigger: 3,
  minMergeWidth: 2,
  targetSstBytes: 128 * 1024,
  gcIntervalMs: 200,
  // A zombie writer's fresh tables must outlive its time to notice the fence: slow stores
  // (S3 under load) need a longer minimum age than 500 ms.
  gcMinAgeMs: Number(process.env.SHALE_WRITER_GC_MIN_AGE_MS ?? 500),
});
process.stdout.write('ready\n');

function onError(e: unknown): never {
  if (e instanceof FencedError) {
    process.stdout.write(`fenced ${e.message}\n`);
    process.exit(3);
  }
  process.stdout.write(`error ${(e as Error).stack}\n`);
  process.exit(2);
}

// Several concurrent writers, so group commit batches many writes per WAL object.
async function writer(lane: number): Promise<void> {
  for (let i = 0; ; i++) {
    if (engine.writeStalled) await engine.waitForCapacity();
    const key = `${prefix}-${lane}-${String(i).padStart(7, '0')}`;
    const seq = engine.put(key, Buffer.from(valueFor(key)));
    await engine.awaitDurable(seq);
    process.stdout.write(`ack put ${key}\n`);
    if (i % 5 === 4) {
      process.stdout.write(`try del ${key}\n`);
      const seqDel = engine.delete(key);
      await engine.awaitDurable(seqDel);
      process.stdout.write(`ack del ${key}\n`);
    }
  }
}

const LANES = 32;
await Promise.all(Array.from({ length: LANES }, (_, i) => i).map((lane) => writer(lane).catch(onError)));
