/**
 * Process entry point (bin/shale): configuration -> object store -> engine -> keyspace ->
 * listener. Any failure before the server is ready prints one line to stderr and exits 1.
 * SIGTERM/SIGINT shut down gracefully (finish in-flight commands, flush, exit 0).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine, type EngineOptions, LocalStore, MemoryStore, type ObjectStore } from '../engine/index.ts';
import { ResilientStore } from '../engine/objectstore/resilient.ts';
import { Keyspace, type MaxmemoryPolicy } from '../types/keyspace.ts';
import { REDIS_VERSION } from '../commands/connection.ts';
import { Config, ConfigError, HELP, loadConfig } from './config.ts';
import { DurableLag } from './durable-lag.ts';
import { createLogger } from './log.ts';
import { ShaleServer, ShutdownIncompleteError } from './server.ts';

const VERSION = '0.1.0';

/**
 * Opens the store. The AWS SDK takes longer to load than the rest of Shale together, so plain
 * paths, file:// and memory:// are opened here directly and only other URLs (s3://, and
 * anything url.ts should reject with its message) load url.ts and the SDK.
 */
async function openRawStore(spec: string): Promise<ObjectStore> {
  const s = spec.trim();
  if (/^memory:(\/\/)?$/i.test(s)) return new MemoryStore();
  if (/^file:\/\//i.test(s)) return new LocalStore(fileURLToPath(s));
  // No scheme (a one-letter one is a Windows drive): a path.
  if (s !== '' && !/^[a-z][a-z0-9+.-]+:/i.test(s)) return new LocalStore(path.resolve(s));
  const { checkStoreAccess, openStore } = await import('../engine/objectstore/url.ts');
  const store = openStore(s);
  await checkStoreAccess(store);
  return store;
}

function fail(message: string): never {
  process.stderr.write(`shale: ${message}\n`);
  process.exit(1);
}

export async function main(argv: string[] = process.argv.slice(2), env: Record<string, string | undefined> = process.env): Promise<ShaleServer> {
  let loaded: Config | 'help' | 'version';
  try {
    loaded = loadConfig({ argv, env });
  } catch (e) {
    if (e instanceof ConfigError) fail(e.message);
    throw e;
  }
  if (loaded === 'help') {
    process.stdout.write(HELP + '\n');
    process.exit(0);
  }
  if (loaded === 'version') {
    process.stdout.write(`Shale v=${VERSION} (Redis ${REDIS_VERSION} compatible) node=${process.versions.node}\n`);
    process.exit(0);
  }
  const config = loaded;
  const log = createLogger(config.str('loglevel'));
  const storeSpec = config.str('store') || config.str('dir');
  let server: ShaleServer | undefined;
  try {
    const raw = await openRawStore(storeSpec);
    const store = new ResilientStore(raw);
    // Read at each open: CONFIG SET may have changed them before a DEBUG RELOAD.
    const engineOptions = (): EngineOptions => ({
      store,
      flushIntervalMs: config.num('flush-interval'),
      wal: config.str('durability') !== 'off',
      ...engineBuffers(config.num('maxmemory')),
    });
    const engine = await Engine.open(engineOptions());
    const tracked = new DurableLag(engine, () => config.num('store-timeout'));
    const keyspace = await Keyspace.open(tracked, {
      databases: config.num('databases'),
      maxmemory: config.num('maxmemory'),
      maxmemoryPolicy: config.str('maxmemory-policy') as MaxmemoryPolicy,
      hz: config.num('hz'),
      hashMaxListpackEntries: config.num('hash-max-listpack-entries'),
      hashMaxListpackValue: config.num('hash-max-listpack-value'),
      // DEBUG RELOAD: close the engine and open it again from the store.
      reopen: async (old) => {
        await old.close();
        const fresh = await Engine.open(engineOptions());
        tracked.replace(fresh);
        if (server) server.state.engine = fresh;
        return tracked;
      },
    });
    server = await ShaleServer.start({
      config,
      log,
      keyspace,
      engine,
      onExit: (code) => process.exit(code),
    });
  } catch (e) {
    const msg = e instanceof Error ? e.message.split('\n')[0] : String(e);
    fail(`cannot start with store ${JSON.stringify(storeSpec.replace(/\?.*$/, ''))}: ${msg}`);
  }
  const srv = server;
  log.info({ version: VERSION, store: storeSpec.replace(/\?.*$/, ''), durability: config.str('durability') }, 'Shale started');
  let signalled = false;
  const onSignal = (sig: string) => {
    // As in Redis: a second signal during a slow shutdown exits at once (and loses what the
    // durability mode allows a crash to lose).
    if (signalled || srv.stopping) {
      log.warn(`Received ${sig} during shutdown: exiting now`);
      process.exit(1);
    }
    signalled = true;
    log.info(`Received ${sig} scheduling shutdown...`);
    srv.stop({ save: true }).then(
      () => process.exit(0),
      (e: unknown) => {
        // A shutdown that gave up flushing has logged its one line already.
        if (!(e instanceof ShutdownIncompleteError)) log.error({ err: e }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  return srv;
}

await main();

/**
 * The engine's memory, sized from maxmemory (as set at start) so that a small instance stays
 * small: the unflushed WAL and the block cache a 16th of it, each memtable (up to three are in
 * memory, and their keys and version objects take V8 heap beyond the bytes counted) a 32nd but
 * at least 16 MiB (8 MiB ones, at maxmemory 256mb, halved the 1M-element ZADD load rate), a
 * compaction part (its input and its output are in memory together) a 64th, within the
 * engine's defaults, and the table-metadata cache (filters and block indexes) a 32nd, at least
 * its default 16 MiB. In the 10M-element scale run under maxmemory 1gb, memtables at a 16th and
 * parts at a 32nd peaked at 1039 MiB RSS; at these sizes, 832 MiB. The bigger metadata cache
 * holds the filters and indexes of more of a big set's tables: there it took ZRANGE BYSCORE
 * from 3.8 to 1.4 ms and the ZADD load from 15.7k to 19.9k members/s.
 */
function engineBuffers(maxmemory: number): Partial<EngineOptions> {
  if (maxmemory <= 0) return {};
  const part = (div: number, min: number, max: number) => Math.min(max, Math.max(min, Math.floor(maxmemory / div)));
  return {
    memtableBytes: part(32, 16 << 20, 64 << 20),
    maxUnflushedWalBytes: part(16, 8 << 20, 64 << 20),
    compactionChunkBytes: part(64, 16 << 20, 64 << 20),
    blockCacheBytes: part(16, 8 << 20, 64 << 20),
    metaCacheBytes: part(32, 16 << 20, 64 << 20),
  };
}
