/**
 * WAITAOF and WAIT. The object store plays the part of Redis's fsynced AOF: a client's writes
 * are "fsynced locally" once the engine's durable watermark passes the seq of its last write
 * (client.woff). Shale has no replicas (the store is the replication), so replica counts are
 * always 0: WAIT answers 0 at once, and WAITAOF with numreplicas > 0 waits out its timeout as
 * Redis does on a primary without replicas.
 */
import { ErrorReply, type Reply } from '../resp/reply.ts';
import type { ServerState } from '../server/state.ts';
import { parseInteger } from '../util/int.ts';
import type { CommandModule } from './types.ts';

const NOT_INTEGER = new ErrorReply('ERR value is not an integer or out of range');
const AOF_DISABLED = new ErrorReply('ERR WAITAOF cannot be used when numlocal is set but appendonly is disabled.');
const LLONG_MAX = 9223372036854775807n;

/**
 * Redis's getTimeoutFromObjectOrReply for milliseconds: the timeout, or an error reply. The
 * overflow check came with Redis 7.2 (WAITAOF's version); WAIT keeps 7.0's replies.
 */
function parseTimeout(arg: string, now: number, overflowCheck: boolean): number | ErrorReply {
  const t = parseInteger(arg);
  if (t === undefined) return new ErrorReply('ERR timeout is not an integer or out of range');
  if (t < 0) return new ErrorReply('ERR timeout is negative');
  if (overflowCheck && t > 0 && BigInt(arg) > LLONG_MAX - BigInt(now)) return new ErrorReply('ERR timeout is out of range');
  return t;
}

/** Per server: WAITAOF calls blocked with numlocal > 0, released with an error by durability off. */
const blockedLocal = new WeakMap<ServerState, Set<() => void>>();

function offListeners(server: ServerState): Set<() => void> {
  let set = blockedLocal.get(server);
  if (!set) {
    const fresh = new Set<() => void>();
    server.config.onChange('durability', (v) => {
      if (v === 'off') for (const fn of [...fresh]) fn();
    });
    blockedLocal.set(server, (set = fresh));
  }
  return set;
}

function acked(server: ServerState, woff: number): 0 | 1 {
  const e = server.engine;
  if (!e || server.config.str('durability') === 'off') return 0;
  return e.durableSeq >= woff ? 1 : 0;
}

export const commands: CommandModule = {
  async waitaof(ctx, args): Promise<Reply> {
    const numlocal = parseInteger(args[1]!);
    if (numlocal === undefined) return NOT_INTEGER;
    if (numlocal < 0 || numlocal > 1) return new ErrorReply('ERR value is out of range, value must between 0 and 1');
    const numreplicas = parseInteger(args[2]!);
    if (numreplicas === undefined) return NOT_INTEGER;
    if (numreplicas < 0) return new ErrorReply('ERR value is out of range, must be positive');
    const timeout = parseTimeout(args[3]!, ctx.now, true);
    if (timeout instanceof ErrorReply) return timeout;
    const server = ctx.server;
    if (numlocal > 0 && (!server.engine || server.config.str('durability') === 'off')) return AOF_DISABLED;
    const woff = ctx.client.woff;
    // Inside EXEC a client may not block: Redis answers with the counts as they are.
    if ((acked(server, woff) >= numlocal && numreplicas === 0) || ctx.client.capture) return [acked(server, woff), 0];

    let release!: (r: Reply) => void;
    const done = new Promise<Reply>((resolve) => (release = resolve));
    const timer = timeout > 0 ? setTimeout(() => release([acked(server, woff), 0]), timeout) : undefined;
    const offs = offListeners(server);
    const onOff = () => release(AOF_DISABLED);
    if (numlocal > 0) offs.add(onOff);
    // Without replicas, numreplicas > 0 is only ever met by the timeout.
    if (numreplicas === 0) {
      server.engine!.awaitDurable(woff).then(
        () => release([1, 0]),
        (e: unknown) => release(new ErrorReply(`ERR ${(e as Error).message.split('\n')[0]}`)),
      );
    }
    try {
      return await done;
    } finally {
      clearTimeout(timer);
      offs.delete(onOff);
    }
  },

  wait(ctx, args) {
    if (parseInteger(args[1]!) === undefined) return NOT_INTEGER;
    const timeout = parseTimeout(args[2]!, ctx.now, false);
    if (timeout instanceof ErrorReply) return timeout;
    return 0;
  },
};
