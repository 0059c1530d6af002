/**
 * Prometheus metrics (prom-client) served on 127.0.0.1:<metrics-port>/metrics when that option
 * is set. Every value is read from the server, engine and store counters when scraped, so
 * nothing is counted twice and the hot path pays nothing. prom-client is imported only when
 * metrics are on, to keep it off the cold-start path.
 */
import http from 'node:http';
import type { Registry } from 'prom-client';
import { BILLED_OPS, monthlyCost, requests } from './cost.ts';
import { durableLag } from './durable-lag.ts';
import type { ServerState } from './state.ts';

type Labels = Record<string, string>;
/** A metric as [labels, value] samples, read at scrape time. */
type Read = (s: ServerState) => [Labels, number][];

const one = (f: (s: ServerState) => number): Read => (s) => [[{}, f(s)]];

const COUNTERS: [string, string, Read][] = [
  ['shale_commands_processed_total', 'Commands run.', one((s) => s.stats.totalCommands)],
  ['shale_connections_received_total', 'Connections accepted.', one((s) => s.stats.totalConnections)],
  ['shale_error_replies_total', 'Error replies sent.', one((s) => s.stats.totalErrorReplies)],
  ['shale_net_input_bytes_total', 'Bytes read from clients.', one((s) => s.stats.netInput)],
  ['shale_net_output_bytes_total', 'Bytes written to clients.', one((s) => s.stats.netOutput)],
  ['shale_keyspace_hits_total', 'Key lookups that found the key.', one((s) => s.stats.keyspaceHits)],
  ['shale_keyspace_misses_total', 'Key lookups that did not.', one((s) => s.stats.keyspaceMisses)],
  [
    'shale_store_requests_total', 'Requests to the object store by operation (HEAD counts as get).',
    (s) => BILLED_OPS.map((op) => [{ op }, requests(s.engine?.store.counters, op)]),
  ],
  [
    'shale_store_bytes_total', 'Bytes moved to and from the object store.',
    (s) => [[{ direction: 'written' }, s.engine?.store.counters.bytesWritten ?? 0], [{ direction: 'read' }, s.engine?.store.counters.bytesRead ?? 0]],
  ],
  ['shale_store_retries_total', 'Store requests retried after a transient error.', one((s) => s.engine?.store.counters.retries ?? 0)],
  ['shale_store_failures_total', 'Store requests that failed for good.', one((s) => s.engine?.store.counters.failures ?? 0)],
  ['shale_wal_flushes_total', 'WAL objects written (group commits).', one((s) => s.engine?.stats.walFlushes ?? 0)],
  ['shale_wal_bytes_total', 'Bytes of WAL objects written.', one((s) => s.engine?.stats.walBytes ?? 0)],
  ['shale_l0_flushes_total', 'Memtables written as L0 tables.', one((s) => s.engine?.stats.l0Flushes ?? 0)],
  ['shale_compactions_total', 'Compactions run.', one((s) => s.engine?.stats.compactions ?? 0)],
  ['shale_write_stalls_total', 'Times writers had to wait for engine capacity.', one((s) => s.engine?.stats.stalls ?? 0)],
];

const GAUGES: [string, string, Read][] = [
  ['shale_connected_clients', 'Clients connected.', one((s) => s.clients.size)],
  ['shale_hotset_bytes', 'Bytes of decoded keys held in memory.', one((s) => s.keyspace.usedMemory())],
  ['shale_flush_interval_seconds', 'Group-commit interval (flush-interval).', one((s) => s.config.num('flush-interval') / 1000)],
  [
    'shale_durability', 'Durability mode in force (1 for the current one).',
    (s) => ['strict', 'relaxed', 'off'].map((m) => [{ mode: m }, s.config.str('durability') === m ? 1 : 0]),
  ],
  ['shale_durable_lag_seconds', 'Age of the oldest write not yet in the store.', one((s) => durableLag(s.keyspace.engine).ms / 1000)],
  ['shale_durable_lag_bytes', 'Bytes of writes not yet in the store.', one((s) => durableLag(s.keyspace.engine).bytes)],
  ['shale_durable_lag_writes', 'Write batches (sequence numbers) not yet in the store.', one((s) => (s.engine ? s.engine.lastSeq - s.engine.durableSeq : 0))],
  ['shale_write_stalled', '1 while writers wait for engine capacity.', one((s) => (s.engine?.writeStalled ? 1 : 0))],
  [
    'shale_store_cost_usd_per_month', 'Estimated monthly request cost at the request rate since start-up and the store-price-* options.',
    (s) => {
      const c = monthlyCost(s.engine?.store.counters, (Date.now() - s.startedAt) / 1000, s.config);
      return BILLED_OPS.map((op) => [{ op }, c[op]]);
    },
  ],
];

async function buildRegistry(s: ServerState): Promise<Registry> {
  const prom = await import('prom-client');
  const registry = new prom.Registry();
  prom.collectDefaultMetrics({ register: registry });
  const labelNames = (read: Read) => Object.keys(read(s)[0]?.[0] ?? {});
  for (const [name, help, read] of COUNTERS) {
    new prom.Counter({
      name, help, labelNames: labelNames(read), registers: [registry],
      // The sources are monotonic counters of their own: report their current value.
      collect() {
        this.reset();
        for (const [labels, v] of read(s)) this.inc(labels, v);
      },
    });
  }
  for (const [name, help, read] of GAUGES) {
    new prom.Gauge({
      name, help, labelNames: labelNames(read), registers: [registry],
      collect() {
        for (const [labels, v] of read(s)) this.set(labels, v);
      },
    });
  }
  return registry;
}

/** Starts the /metrics listener; resolves once it is bound. */
export async function startMetricsServer(s: ServerState, port: number, host: string): Promise<http.Server> {
  const registry = await buildRegistry(s);
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Not found: try /metrics\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (e: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${(e as Error).message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}
