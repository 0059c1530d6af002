/**
 * MULTI / EXEC / DISCARD / WATCH / UNWATCH. Queueing happens in the dispatcher; EXEC loads
 * every queued command's keys first (one await), checks WATCH, then runs the commands back to
 * back so nothing else interleaves. WATCH is invalidated through ServerState.touchKey, which
 * the data layer calls for every modified key (see server.ts: keyspace.onKeyModified).
 */
import { ErrorReply, NullArray, OK, type Reply } from '../resp/reply.ts';
import { call } from '../server/dispatch.ts';
import { extractKeys } from '../server/keys.ts';
import type { ClientState, ServerState } from '../server/state.ts';
import type { CommandModule } from './types.ts';

/**
 * Before FLUSHDB/FLUSHALL/SWAPDB: loads the watched keys of the databases involved, so that
 * touchWatchedIn can run synchronously together with the operation itself.
 */
export async function loadWatched(server: ServerState, dbs: number[]): Promise<void> {
  const keys = [...new Set(dbs.flatMap((db) => server.watchedKeys(db)))];
  if (keys.length === 0) return;
  const loads = [...new Set(dbs)].map((db) => server.keyspace.prefetch(db, keys)).filter((p) => p !== undefined);
  if (loads.length) await Promise.all(loads);
}

/** Dirties watchers of keys in `emptied` that exist there or in `replacedWith`. */
export function touchWatchedIn(server: ServerState, emptied: number, replacedWith: number | undefined, now: number): void {
  const ks = server.keyspace;
  for (const key of server.watchedKeys(emptied)) {
    if (ks.exists(emptied, key, now) || (replacedWith !== undefined && ks.exists(replacedWith, key, now))) {
      server.touchKey(emptied, key);
    }
  }
}

function discard(server: ServerState, c: ClientState): void {
  c.multi = undefined;
  c.multiDirty = false;
  server.unwatchAll(c);
}

async function exec(server: ServerState, c: ClientState): Promise<Reply> {
  const queued = c.multi!;
  c.multi = undefined;
  // Load every key the transaction touches before running any of it.
  const db = c.db;
  const byDb = new Map<number, string[]>();
  for (const q of queued) {
    if (q.def.name === 'select') break; // keys after a SELECT are loaded by call() below
    const keys = extractKeys(q.def, q.argv);
    if (keys.length) byDb.set(db, [...(byDb.get(db) ?? []), ...keys]);
  }
  // Watched keys too: one that expired since WATCH is deleted (and reported) when looked at.
  const watched = new Map<number, string[]>();
  for (const w of c.watched) {
    const sep = w.indexOf('\0');
    const wdb = Number(w.slice(0, sep));
    watched.set(wdb, [...(watched.get(wdb) ?? []), w.slice(sep + 1)]);
    byDb.set(wdb, [...(byDb.get(wdb) ?? []), w.slice(sep + 1)]);
  }
  const loads = [...byDb].map(([d, keys]) => server.keyspace.prefetch(d, keys)).filter((p) => p !== undefined);
  if (loads.length) await Promise.all(loads);
  const now = Date.now();
  for (const [wdb, keys] of watched) for (const k of keys) server.keyspace.exists(wdb, k, now);
  if (c.watchDirty) {
    discard(server, c);
    return NullArray.instance;
  }
  server.unwatchAll(c);
  const replies: Reply[] = [];
  const outer = c.capture;
  c.capture = replies;
  try {
    for (const q of queued) {
      // Keys are loaded above, so call()'s own prefetch is synchronous unless an earlier
      // command (SELECT, SWAPDB, FLUSHDB) changed what they refer to.
      const p = call(server, c, q.def, q.argv);
      if (p) await p;
    }
  } finally {
    c.capture = outer;
  }
  return replies;
}

export const commands: CommandModule = {
  multi(ctx) {
    if (ctx.client.multi) return new ErrorReply('ERR MULTI calls can not be nested');
    ctx.client.multi = [];
    ctx.client.multiDirty = false;
    return OK;
  },

  exec(ctx) {
    const c = ctx.client;
    if (!c.multi) return new ErrorReply('ERR EXEC without MULTI');
    if (c.multiDirty) {
      discard(ctx.server, c);
      return new ErrorReply('EXECABORT Transaction discarded because of previous errors.');
    }
    if (c.watchDirty) {
      discard(ctx.server, c);
      return NullArray.instance;
    }
    return exec(ctx.server, c);
  },

  discard(ctx) {
    if (!ctx.client.multi) return new ErrorReply('ERR DISCARD without MULTI');
    discard(ctx.server, ctx.client);
    return OK;
  },

  watch(ctx, args) {
    if (ctx.client.multi) return new ErrorReply('ERR WATCH inside MULTI is not allowed');
    for (const key of args.slice(1)) {
      // Looking the key up first removes it if it is already expired, so that deletion does
      // not count as a change (Redis: WATCH of a stale key does not fail EXEC).
      ctx.keyspace.exists(ctx.db, key, ctx.now);
      ctx.server.watch(ctx.client, ctx.db, key);
    }
    return OK;
  },

  unwatch(ctx) {
    ctx.server.unwatchAll(ctx.client);
    return OK;
  },
};
