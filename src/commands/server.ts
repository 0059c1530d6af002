/**
 * Server commands: TIME, LASTSAVE, SAVE, BGSAVE, SHUTDOWN, DBSIZE, FLUSHDB, FLUSHALL,
 * SWAPDB, MONITOR, SLOWLOG, LATENCY, DEBUG. Data-wide operations call the Keyspace (src/types).
 */
import {
  BoolReply,
  DoubleReply,
  ErrorReply,
  MapReply,
  OK,
  PushReply,
  SetReply,
  SimpleString,
  VerbatimReply,
  type Reply,
} from '../resp/reply.ts';
import type { ServerState } from '../server/state.ts';
import { parseInteger } from '../util/int.ts';
import { helpReply } from './help.ts';
import { loadWatched, touchWatchedIn } from './transactions.ts';
import type { CommandModule } from './types.ts';

const SYNTAX = new ErrorReply('ERR syntax error');

/** FLUSHDB/FLUSHALL take an optional ASYNC or SYNC (both flush at once here). */
function flushMode(args: string[]): ErrorReply | undefined {
  if (args.length > 2) return SYNTAX;
  if (args.length === 2 && !['async', 'sync'].includes(args[1]!.toLowerCase())) return SYNTAX;
  return undefined;
}

function dbIndex(s: string): number | undefined {
  const n = parseInteger(s);
  return n === undefined || n > 2147483647 || n < -2147483648 ? undefined : n;
}

let bgsave: Promise<void> | undefined;

async function save(server: ServerState): Promise<void> {
  try {
    await server.keyspace.save();
    server.lastSave = Math.floor(Date.now() / 1000);
    server.lastSaveOk = true;
    server.saves++;
    server.stats.dirty = 0;
  } catch (e) {
    server.lastSaveOk = false;
    throw e;
  }
}

/** Blocks the event loop, as Redis's DEBUG SLEEP blocks the server. */
function blockFor(ms: number): void {
  if (ms > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function debugProtocol(type: string): Reply {
  switch (type) {
    case 'string': return 'Hello World';
    case 'integer': return 12345;
    case 'double': return new DoubleReply(3.141);
    case 'bignum': return '1234567999999999999999999999999999999'; // RESP3 would use '(' (not modelled)
    case 'null': return null;
    case 'array': return [0, 1, 2];
    case 'set': return new SetReply([0, 1, 2]);
    case 'map': return new MapReply([[0, new BoolReply(false)], [1, new BoolReply(true)], [2, new BoolReply(false)]]);
    case 'true': return new BoolReply(true);
    case 'false': return new BoolReply(false);
    case 'verbatim': return new VerbatimReply('This is a verbatim\nstring');
    case 'push': return new PushReply(['server-cpu-usage', 42]);
    default:
      return new ErrorReply('ERR Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false');
  }
}

export const commands: CommandModule = {
  time() {
    const us = Math.floor((performance.timeOrigin + performance.now()) * 1000);
    return [String(Math.floor(us / 1e6)), String(us % 1e6)];
  },

  lastsave(ctx) {
    return ctx.server.lastSave;
  },

  async save(ctx) {
    if (bgsave) return new ErrorReply('ERR Background save already in progress');
    await save(ctx.server);
    return OK;
  },

  bgsave(ctx, args) {
    if (args.length > 2 || (args.length === 2 && args[1]!.toLowerCase() !== 'schedule')) return SYNTAX;
    if (bgsave) {
      if (args.length === 2) return new SimpleString('Background saving scheduled');
      return new ErrorReply('ERR Background save already in progress');
    }
    const server = ctx.server;
    bgsave = save(server)
      .catch((e: unknown) => server.log.error({ err: e }, 'background save failed'))
      .finally(() => (bgsave = undefined));
    return new SimpleString('Background saving started');
  },

  async shutdown(ctx, args) {
    let saveData = true;
    for (const a of args.slice(1)) {
      const o = a.toLowerCase();
      if (o === 'nosave') saveData = false;
      else if (o === 'save') saveData = true;
      else if (o === 'now' || o === 'force') continue;
      else if (o === 'abort') return new ErrorReply('ERR No shutdown in progress.');
      else return SYNTAX;
    }
    try {
      await ctx.server.shutdown({ save: saveData, caller: ctx.client });
    } catch (e) {
      ctx.server.log.error({ err: e }, 'shutdown failed');
      return new ErrorReply('ERR Errors trying to SHUTDOWN. Check logs.');
    }
    return OK;
  },

  dbsize(ctx) {
    return ctx.keyspace.dbsize(ctx.db);
  },

  // Watched keys are loaded first, then checked and flushed in one synchronous step, so a
  // WATCH fails exactly when a watched key existed (Redis's touchAllWatchedKeysInDb).
  async flushdb(ctx, args) {
    const e = flushMode(args);
    if (e) return e;
    await loadWatched(ctx.server, [ctx.db]);
    touchWatchedIn(ctx.server, ctx.db, undefined, Date.now());
    ctx.keyspace.flushdb(ctx.db);
    return OK;
  },

  async flushall(ctx, args) {
    const e = flushMode(args);
    if (e) return e;
    const all = Array.from({ length: ctx.keyspace.databases }, (_, i) => i);
    await loadWatched(ctx.server, all);
    const now = Date.now();
    for (const db of all) touchWatchedIn(ctx.server, db, undefined, now);
    ctx.keyspace.flushall();
    return OK;
  },

  async swapdb(ctx, args) {
    const a = dbIndex(args[1]!);
    if (a === undefined) return new ErrorReply('ERR invalid first DB index');
    const b = dbIndex(args[2]!);
    if (b === undefined) return new ErrorReply('ERR invalid second DB index');
    const n = ctx.keyspace.databases;
    if (a < 0 || a >= n || b < 0 || b >= n) return new ErrorReply('ERR DB index is out of range');
    // Redis's dbSwapDatabases returns at once for one db: no watched key is touched.
    if (a === b) return OK;
    await loadWatched(ctx.server, [a, b]);
    const now = Date.now();
    touchWatchedIn(ctx.server, a, b, now);
    touchWatchedIn(ctx.server, b, a, now);
    ctx.keyspace.swapdb(a, b);
    return OK;
  },

  monitor(ctx) {
    const c = ctx.client;
    if (c.multi) return new ErrorReply('ERR MONITOR isn\'t allowed inside MULTI');
    if (!c.monitor) {
      c.monitor = true;
      ctx.server.monitors.add(c);
    }
    return OK;
  },

  'slowlog|get'(ctx, args) {
    let count = 10;
    if (args.length === 3) {
      const n = parseInteger(args[2]!);
      if (n === undefined || n < -1) return new ErrorReply('ERR count should be greater than or equal to -1');
      count = n === -1 ? Infinity : n;
    }
    return ctx.server.slowlog.entries.slice(0, count).map((e) => [e.id, e.time, e.usec, e.args, e.addr, e.name]);
  },

  'slowlog|len'(ctx) {
    return ctx.server.slowlog.entries.length;
  },

  'slowlog|reset'(ctx) {
    ctx.server.slowlog.reset();
    return OK;
  },

  'slowlog|help'() {
    return helpReply('SLOWLOG', [
      'GET [<count>]',
      '    Return top <count> entries from the slowlog (default: 10, -1 mean all).',
      '    Entries are made of:',
      '    id, timestamp, time in microseconds, arguments array, client IP and port,',
      '    client name',
      'LEN',
      '    Return the length of the slowlog.',
      'RESET',
      '    Reset the slowlog.',
    ]);
  },

  'latency|latest'(ctx) {
    return [...ctx.server.latency.events].map(([name, e]) => {
      const last = e.samples[e.samples.length - 1]!;
      return [name, last.time, last.ms, e.max];
    });
  },

  'latency|history'(ctx, args) {
    const e = ctx.server.latency.events.get(args[2]!);
    return e ? e.samples.map((s) => [s.time, s.ms]) : [];
  },

  'latency|reset'(ctx, args) {
    return ctx.server.latency.reset(args.slice(2));
  },

  'latency|doctor'(ctx) {
    const events = ctx.server.latency.events;
    const threshold = ctx.server.config.num('latency-monitor-threshold');
    let text: string;
    if (threshold === 0 && events.size === 0) {
      text =
        "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Shale instance. " +
        'You may use "CONFIG SET latency-monitor-threshold <milliseconds>." in order to enable it.\n';
    } else if (events.size === 0) {
      text = 'Dave, no latency spike was observed during the lifetime of this Shale instance, not in the slightest bit.\n';
    } else {
      text = 'Dave, I have observed latency spikes in this Shale instance.\n\n';
      let i = 1;
      for (const [name, e] of events) {
        const avg = Math.round(e.samples.reduce((a, s) => a + s.ms, 0) / e.samples.length);
        text += `${i++}. ${name}: ${e.samples.length} latency spikes (average ${avg}ms, worst ${e.max}ms).\n`;
      }
    }
    return new VerbatimReply(text);
  },

  'latency|help'() {
    return helpReply('LATENCY', [
      'DOCTOR',
      '    Return a human readable latency analysis report.',
      'HISTORY <event>',
      '    Return time-latency samples for the <event> class.',
      'LATEST',
      '    Return the latest latency samples for all events.',
      'RESET [<event> ...]',
      '    Reset latency data of one or more <event> classes.',
      '    (default: reset all data for all event classes)',
    ]);
  },

  async debug(ctx, args) {
    const sub = args[1]!.toLowerCase();
    const ks = ctx.keyspace;
    if (sub === 'sleep' && args.length === 3) {
      const secs = Number(args[2]);
      if (!Number.isFinite(secs)) return new ErrorReply('ERR value is not a valid float');
      blockFor(secs * 1000);
      return OK;
    }
    if (sub === 'set-active-expire' && args.length === 3) {
      ks.activeExpire = args[2] !== '0';
      return OK;
    }
    if (sub === 'object' && args.length === 3) {
      const p = ks.prefetch(ctx.db, [args[2]!]);
      if (p) await p;
      const o = ks.objectInfo(ctx.db, args[2]!, ctx.now);
      if (!o) return new ErrorReply('ERR no such key');
      const lru = (Math.floor(ctx.now / 1000) - o.idle) & 0xffffff;
      return new SimpleString(
        `Value at:0x0 refcount:${o.refcount} encoding:${o.encoding} serializedlength:${o.serializedLength} lru:${lru} lru_seconds_idle:${o.idle}`,
      );
    }
    if (sub === 'reload') {
      await save(ctx.server);
      await ctx.server.reload();
      return OK;
    }
    if (sub === 'protocol' && args.length === 3) return debugProtocol(args[2]!.toLowerCase());
    if (sub === 'help') {
      return helpReply('DEBUG', [
        'OBJECT <key>',
        '    Show low level info about the <key> and associated value.',
        'PROTOCOL <type>',
        '    Reply with a test value of the specified type. <type> can be: string,',
        '    integer, double, bignum, null, array, set, map, push, verbatim, true, false.',
        'RELOAD',
        '    Save the data set to the store, then reopen it from there.',
        'SET-ACTIVE-EXPIRE <0|1>',
        '    Setting it to 0 disables expiring keys in background when they are not',
        '    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the',
        '    default.',
        'SLEEP <seconds>',
        '    Stop the server for <seconds>. Decimals allowed.',
      ]);
    }
    return new ErrorReply(`ERR Unknown subcommand or wrong number of arguments for '${args[1]}'. Try DEBUG HELP.`);
  },
};
