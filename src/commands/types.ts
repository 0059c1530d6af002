/**
 * What a command handler sees. The dispatcher (src/server) looks the command up in the
 * command table, checks arity, extracts key names from the table's key specs, asks the data
 * layer to load those keys into the hot set (async, may read the engine), and then runs the
 * handler. Data-command handlers are synchronous after that prefetch, so a command executes
 * atomically with respect to other clients, as in Redis. Handlers that must walk the whole
 * keyspace (KEYS, SCAN, RANDOMKEY, DBSIZE...) may return a Promise.
 *
 * Arguments arrive as binary strings (one char per byte, latin1); args[0] is the command name
 * as the client sent it.
 */
import type { Reply } from '../resp/reply.ts';
import type { Keyspace } from '../types/keyspace.ts';
import type { ClientState, ServerState } from '../server/state.ts';

export interface ExecContext {
  client: ClientState;
  server: ServerState;
  keyspace: Keyspace;
  /** The client's selected database index. */
  db: number;
  /** Milliseconds since the epoch, fixed for the command (Redis caches time per command). */
  now: number;
}

export type Handler = (ctx: ExecContext, args: string[]) => Reply | Promise<Reply>;

/** Each file in src/commands exports `commands: CommandModule` for one family. */
export type CommandModule = Record<string, Handler>;
