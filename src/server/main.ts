/**
 * Process entry point (bin/shale): configuration -> object store -> engine -> keyspace ->
 * listener. Any failure before the server is ready prints one line to stderr and exits 1.
 * SIGTERM/SIGINT shut down gracefully (finish in-flight commands, flush, exit 0).
 */
import { Engine, type EngineOptions } from '../engine/index.ts';
import { ResilientStore } from '../engine/objectstore/resilient.ts';
import { checkStoreAccess, openStore } from '../engine/objectstore/url.ts';
import { Keyspace, type MaxmemoryPolicy } from '../types/keyspace.ts';
import { REDIS_VERSION } from '../commands/connection.ts';
import { Config, ConfigError, HELP, loadConfig } from './config.ts';
import { createLogger } from './log.ts';
import { ShaleServer } from './server.ts';

const VERSION = '0.1.0';

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
    const raw = openStore(storeSpec);
    await checkStoreAccess(raw);
    const engineOptions: EngineOptions = {
      store: new ResilientStore(raw),
      flushIntervalMs: config.num('flush-interval'),
      wal: config.str('durability') !== 'off',
    };
    let engine = await Engine.open(engineOptions);
    const keyspace = await Keyspace.open(engine, {
      databases: config.num('databases'),
      maxmemory: config.num('maxmemory'),
      maxmemoryPolicy: config.str('maxmemory-policy') as MaxmemoryPolicy,
      hz: config.num('hz'),
      hashMaxListpackEntries: config.num('hash-max-listpack-entries'),
      hashMaxListpackValue: config.num('hash-max-listpack-value'),
      // DEBUG RELOAD: close the engine and open it again from the store.
      reopen: async (old) => {
        await old.close();
        engine = await Engine.open(engineOptions);
        if (server) server.state.engine = engine;
        return engine;
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
  const onSignal = (sig: string) => {
    log.info(`Received ${sig} scheduling shutdown...`);
    srv.stop({ save: true }).then(
      () => process.exit(0),
      (e: unknown) => {
        log.error({ err: e }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  process.once('SIGINT', () => onSignal('SIGINT'));
  return srv;
}

await main();
