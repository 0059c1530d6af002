/**
 * INFO with Redis 7.0's section and field names, so monitoring tools and client libraries
 * (ioredis's ready check reads `loading`, Sidekiq reads `redis_version`) work unchanged.
 * Shale-specific facts (store, durability, flush lag, store requests and their cost) are added
 * to the persistence section under shale_* names (docs/configuration.md lists them).
 */
import os from 'node:os';
import { VerbatimReply } from '../resp/reply.ts';
import { blockedClients } from '../server/blocking.ts';
import { monthlyCost } from '../server/cost.ts';
import { durableLag } from '../server/durable-lag.ts';
import type { ServerState } from '../server/state.ts';
import { REDIS_VERSION } from './connection.ts';
import type { CommandModule } from './types.ts';

type Section = (s: ServerState) => [string, string | number][];

function human(n: number): string {
  const units = ['B', 'K', 'M', 'G', 'T'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n}B` : `${v.toFixed(2)}${units[i]}`;
}

const sections: Record<string, Section> = {
  server: (s) => {
    const up = Math.floor((Date.now() - s.startedAt) / 1000);
    return [
      ['redis_version', REDIS_VERSION],
      ['redis_git_sha1', '00000000'],
      ['redis_git_dirty', 0],
      ['redis_build_id', '0'],
      ['redis_mode', 'standalone'],
      ['shale_version', '0.1.0'],
      ['os', `${os.type()} ${os.release()} ${os.arch()}`],
      ['arch_bits', 64],
      ['monotonic_clock', 'POSIX clock_gettime'],
      ['multiplexing_api', 'epoll'],
      ['atomicvar_api', 'c11-builtin'],
      ['process_id', process.pid],
      ['process_supervised', 'no'],
      ['run_id', s.runId],
      ['tcp_port', s.port],
      ['server_time_usec', Math.floor((performance.timeOrigin + performance.now()) * 1000)],
      ['uptime_in_seconds', up],
      ['uptime_in_days', Math.floor(up / 86400)],
      ['hz', s.config.num('hz')],
      ['configured_hz', s.config.num('hz')],
      ['lru_clock', Math.floor(Date.now() / 1000) & 0xffffff],
      ['executable', process.argv[1] ?? ''],
      ['config_file', s.config.file ?? ''],
      ['io_threads_active', 0],
    ];
  },
  clients: (s) => {
    let maxIn = 0;
    let maxOut = 0;
    for (const c of s.clients.values()) {
      maxIn = Math.max(maxIn, c.io.queryBuffered);
      maxOut = Math.max(maxOut, c.outputPending);
    }
    return [
      ['connected_clients', s.clients.size],
      ['cluster_connections', 0],
      ['maxclients', s.config.num('maxclients')],
      ['client_recent_max_input_buffer', maxIn],
      ['client_recent_max_output_buffer', maxOut],
      ['blocked_clients', blockedClients(s)],
      ['tracking_clients', 0],
      ['clients_in_timeout_table', 0],
    ];
  },
  memory: (s) => {
    const mem = process.memoryUsage();
    const used = s.keyspace.usedMemory();
    const maxmemory = s.config.num('maxmemory');
    const em = s.engine?.memory;
    return [
      ['used_memory', used],
      ['used_memory_human', human(used)],
      ['used_memory_rss', mem.rss],
      ['used_memory_rss_human', human(mem.rss)],
      ['used_memory_peak', used],
      ['used_memory_peak_human', human(used)],
      ['used_memory_overhead', 0],
      ['used_memory_startup', 0],
      ['used_memory_dataset', used],
      ['total_system_memory', os.totalmem()],
      ['total_system_memory_human', human(os.totalmem())],
      ['used_memory_lua', 0],
      ['used_memory_scripts', 0],
      ['number_of_cached_scripts', 0],
      ['maxmemory', maxmemory],
      ['maxmemory_human', human(maxmemory)],
      ['maxmemory_policy', s.config.str('maxmemory-policy')],
      ['mem_fragmentation_ratio', used > 0 ? (mem.rss / used).toFixed(2) : '0.00'],
      ['mem_allocator', `v8-${process.versions.v8}`],
      ['shale_heap_used', mem.heapUsed],
      ['shale_heap_total', mem.heapTotal],
      ['shale_external', mem.external],
      ['shale_array_buffers', mem.arrayBuffers],
      ['shale_hotset_bytes', used],
      ['shale_engine_memtables', em?.memtables ?? 0],
      ['shale_engine_block_cache', em?.blockCache ?? 0],
      ['shale_engine_table_meta', em?.tableMeta ?? 0],
      ['shale_engine_wal_buffer', em?.walBuffer ?? 0],
      ['lazyfree_pending_objects', 0],
    ];
  },
  persistence: (s) => {
    const e = s.engine;
    const counters = e?.store.counters;
    const cost = monthlyCost(counters, (Date.now() - s.startedAt) / 1000, s.config);
    const lag = durableLag(s.keyspace.engine);
    return [
      ['loading', 0],
      ['async_loading', 0],
      ['rdb_changes_since_last_save', s.stats.dirty],
      ['rdb_bgsave_in_progress', 0],
      ['rdb_last_save_time', s.lastSave],
      ['rdb_last_bgsave_status', s.lastSaveOk ? 'ok' : 'err'],
      ['rdb_saves', s.saves],
      ['aof_enabled', s.config.str('durability') === 'off' ? 0 : 1],
      ['aof_rewrite_in_progress', 0],
      ['aof_rewrite_scheduled', 0],
      ['aof_last_write_status', 'ok'],
      ['shale_store', storeName(s)],
      ['shale_durability', s.config.str('durability')],
      ['shale_flush_interval_ms', s.config.num('flush-interval')],
      ['shale_last_seq', e?.lastSeq ?? 0],
      ['shale_durable_seq', e?.durableSeq ?? 0],
      ['shale_durable_lag', e ? e.lastSeq - e.durableSeq : 0],
      ['shale_durable_lag_ms', lag.ms],
      ['shale_durable_lag_bytes', lag.bytes],
      ['shale_write_stalled', e?.writeStalled ? 1 : 0],
      ['shale_store_gets', counters?.gets ?? 0],
      ['shale_store_heads', counters?.heads ?? 0],
      ['shale_store_puts', counters?.puts ?? 0],
      ['shale_store_lists', counters?.lists ?? 0],
      ['shale_store_deletes', counters?.deletes ?? 0],
      ['shale_store_retries', counters?.retries ?? 0],
      ['shale_store_failures', counters?.failures ?? 0],
      ['shale_store_bytes_written', counters?.bytesWritten ?? 0],
      ['shale_store_bytes_read', counters?.bytesRead ?? 0],
      ['shale_wal_flushes', e?.stats.walFlushes ?? 0],
      ['shale_wal_bytes', e?.stats.walBytes ?? 0],
      ['shale_l0_flushes', e?.stats.l0Flushes ?? 0],
      ['shale_compactions', e?.stats.compactions ?? 0],
      ['shale_write_stalls', e?.stats.stalls ?? 0],
      ['shale_est_monthly_put_cost_usd', cost.put.toFixed(2)],
      ['shale_est_monthly_get_cost_usd', cost.get.toFixed(2)],
      ['shale_est_monthly_list_cost_usd', cost.list.toFixed(2)],
      ['shale_est_monthly_delete_cost_usd', cost.delete.toFixed(2)],
      ['shale_est_monthly_cost_usd', cost.total.toFixed(2)],
    ];
  },
  stats: (s) => {
    const st = s.stats;
    return [
      ['total_connections_received', st.totalConnections],
      ['total_commands_processed', st.totalCommands],
      ['instantaneous_ops_per_sec', st.opsPerSec],
      ['total_net_input_bytes', st.netInput],
      ['total_net_output_bytes', st.netOutput],
      ['rejected_connections', st.rejectedConnections],
      ['expired_keys', st.expiredKeys],
      ['evicted_keys', st.evictedKeys],
      ['evicted_clients', 0],
      ['keyspace_hits', st.keyspaceHits],
      ['keyspace_misses', st.keyspaceMisses],
      ['pubsub_channels', s.pubsub.channels.size],
      ['pubsub_patterns', s.pubsub.patterns.size],
      ['pubsubshard_channels', s.pubsub.shardChannels.size],
      ['latest_fork_usec', 0],
      ['total_forks', 0],
      ['unexpected_error_replies', 0],
      ['total_error_replies', st.totalErrorReplies],
      ['total_reads_processed', 0],
      ['total_writes_processed', 0],
    ];
  },
  replication: (s) => [
    ['role', 'master'],
    ['connected_slaves', 0],
    ['master_failover_state', 'no-failover'],
    ['master_replid', s.replId],
    ['master_replid2', '0000000000000000000000000000000000000000'],
    ['master_repl_offset', 0],
    ['second_repl_offset', -1],
    ['repl_backlog_active', 0],
    ['repl_backlog_size', 1048576],
    ['repl_backlog_first_byte_offset', 0],
    ['repl_backlog_histlen', 0],
  ],
  cpu: () => {
    const u = process.resourceUsage();
    return [
      ['used_cpu_sys', (u.systemCPUTime / 1e6).toFixed(6)],
      ['used_cpu_user', (u.userCPUTime / 1e6).toFixed(6)],
      ['used_cpu_sys_children', '0.000000'],
      ['used_cpu_user_children', '0.000000'],
      ['used_cpu_sys_main_thread', (u.systemCPUTime / 1e6).toFixed(6)],
      ['used_cpu_user_main_thread', (u.userCPUTime / 1e6).toFixed(6)],
    ];
  },
  modules: () => [],
  commandstats: (s) =>
    [...s.stats.commands]
      .filter(([, c]) => c.calls + c.rejected + c.failed > 0)
      .map(([name, c]) => [
        `cmdstat_${name}`,
        `calls=${c.calls},usec=${c.usec},usec_per_call=${(c.calls ? c.usec / c.calls : 0).toFixed(2)},rejected_calls=${c.rejected},failed_calls=${c.failed}`,
      ]),
  errorstats: (s) => [...s.stats.errors].map(([code, n]) => [`errorstat_${code}`, `count=${n}`]),
  cluster: () => [['cluster_enabled', 0]],
  keyspace: (s) => {
    const out: [string, string][] = [];
    const ks = s.keyspace;
    for (let db = 0; db < ks.databases; db++) {
      const keys = ks.keyCount(db);
      if (keys > 0) out.push([`db${db}`, `keys=${keys},expires=${ks.expiresCount(db)},avg_ttl=${ks.avgTtl(db)}`]);
    }
    return out;
  },
};

function storeName(s: ServerState): string {
  const store = s.config.str('store');
  return store !== '' ? store.replace(/\?.*$/, '') : `file:${s.config.str('dir')}`;
}

const TITLES: Record<string, string> = {
  server: 'Server', clients: 'Clients', memory: 'Memory', persistence: 'Persistence', stats: 'Stats',
  replication: 'Replication', cpu: 'CPU', modules: 'Modules', commandstats: 'Commandstats',
  errorstats: 'Errorstats', cluster: 'Cluster', keyspace: 'Keyspace',
};
const DEFAULT = ['server', 'clients', 'memory', 'persistence', 'stats', 'replication', 'cpu', 'modules', 'errorstats', 'cluster', 'keyspace'];
const ALL = ['server', 'clients', 'memory', 'persistence', 'stats', 'replication', 'cpu', 'modules', 'commandstats', 'errorstats', 'cluster', 'keyspace'];

/** The INFO text for the requested sections (Redis's rules for default/all/everything). */
export function infoText(s: ServerState, args: string[]): string {
  let wanted: string[];
  if (args.length === 0) {
    wanted = DEFAULT;
  } else {
    const set = new Set<string>();
    for (const a of args.map((x) => x.toLowerCase())) {
      if (a === 'default') DEFAULT.forEach((x) => set.add(x));
      else if (a === 'all' || a === 'everything') ALL.forEach((x) => set.add(x));
      else set.add(a);
    }
    wanted = ALL.filter((x) => set.has(x));
  }
  return wanted
    .map((name) => `# ${TITLES[name]}\r\n` + sections[name]!(s).map(([k, v]) => `${k}:${v}\r\n`).join(''))
    .join('\r\n');
}

export const commands: CommandModule = {
  info(ctx, args) {
    return new VerbatimReply(infoText(ctx.server, args.slice(1)));
  },
};
