/**
 * Connection commands: PING, ECHO, HELLO, AUTH, QUIT, RESET, SELECT.
 * There is one user, "default", whose password is requirepass (none = any password works
 * for the two-argument AUTH form, as with Redis's nopass default user).
 */
import { timingSafeEqual } from 'node:crypto';
import { ErrorReply, MapReply, OK, SimpleString, type Reply } from '../resp/reply.ts';
import { parseInteger } from '../util/int.ts';
import type { ClientState, ServerState } from '../server/state.ts';
import type { CommandModule } from './types.ts';

export const REDIS_VERSION = '7.0.15';

const WRONGPASS = new ErrorReply('WRONGPASS invalid username-password pair or user is disabled.');

/** Checks a user/password pair against the default user. */
export function checkPassword(server: ServerState, user: string, pass: string): boolean {
  if (user !== 'default') return false;
  const want = server.config.str('requirepass');
  if (want === '') return true;
  const a = Buffer.from(pass, 'latin1');
  const b = Buffer.from(want, 'latin1');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Client-name rule shared by CLIENT SETNAME and HELLO SETNAME: printable, no spaces. */
export function validName(name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 33 || c > 126) return false;
  }
  return true;
}

/** RESET and the disconnect path: back to a fresh connection's state. */
export function resetClient(server: ServerState, c: ClientState): void {
  if (c.monitor) {
    server.monitors.delete(c);
    c.monitor = false;
  }
  c.db = 0;
  c.resp = 2;
  c.authenticated = server.config.str('requirepass') === '';
  c.user = 'default';
  c.multi = undefined;
  c.multiDirty = false;
  server.unwatchAll(c);
  server.pubsub.removeClient(c);
  c.name = '';
  c.noEvict = false;
  c.replyOff = false;
  c.skipNext = false;
}

export const commands: CommandModule = {
  ping(ctx, args) {
    if (args.length > 2) return new ErrorReply("ERR wrong number of arguments for 'ping' command");
    // RESP2 subscribed clients get an array so it cannot be confused with a message.
    if (ctx.client.resp === 2 && ctx.client.subscriptions > 0) return ['pong', args[1] ?? ''];
    return args.length === 2 ? args[1]! : new SimpleString('PONG');
  },

  echo(_ctx, args) {
    return args[1]!;
  },

  hello(ctx, args) {
    const c = ctx.client;
    let ver = 0;
    if (args.length >= 2) {
      const v = parseInteger(args[1]!);
      if (v === undefined) return new ErrorReply('ERR Protocol version is not an integer or out of range');
      if (v < 2 || v > 3) return new ErrorReply('NOPROTO unsupported protocol version');
      ver = v;
    }
    let user: string | undefined;
    let pass: string | undefined;
    let name: string | undefined;
    for (let j = 2; j < args.length; j++) {
      const more = args.length - 1 - j;
      const opt = args[j]!.toLowerCase();
      if (opt === 'auth' && more >= 2) {
        user = args[j + 1]!;
        pass = args[j + 2]!;
        j += 2;
      } else if (opt === 'setname' && more >= 1) {
        name = args[j + 1]!;
        j++;
      } else {
        return new ErrorReply(`ERR Syntax error in HELLO option '${args[j]}'`);
      }
    }
    if (user !== undefined && pass !== undefined) {
      if (!checkPassword(ctx.server, user, pass)) return WRONGPASS;
      c.authenticated = true;
      c.user = user;
    }
    if (!c.authenticated) {
      return new ErrorReply(
        'NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time',
      );
    }
    if (name !== undefined) {
      if (!validName(name)) return new ErrorReply('ERR Client names cannot contain spaces, newlines or special characters.');
      c.name = name;
    }
    if (ver) c.resp = ver as 2 | 3;
    return new MapReply([
      ['server', 'redis'],
      ['version', REDIS_VERSION],
      ['proto', c.resp],
      ['id', c.id],
      ['mode', 'standalone'],
      ['role', 'master'],
      ['modules', []],
    ]);
  },

  auth(ctx, args) {
    if (args.length > 3) return new ErrorReply('ERR syntax error');
    let user = 'default';
    let pass: string;
    if (args.length === 2) {
      if (ctx.server.config.str('requirepass') === '') {
        return new ErrorReply(
          'ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?',
        );
      }
      pass = args[1]!;
    } else {
      user = args[1]!;
      pass = args[2]!;
    }
    if (!checkPassword(ctx.server, user, pass)) return WRONGPASS;
    ctx.client.authenticated = true;
    ctx.client.user = user;
    return OK;
  },

  quit(ctx) {
    ctx.client.closeAfterReply = true;
    return OK;
  },

  reset(ctx): Reply {
    resetClient(ctx.server, ctx.client);
    return new SimpleString('RESET');
  },

  select(ctx, args) {
    const id = parseInteger(args[1]!);
    if (id === undefined || id < -2147483648 || id > 2147483647) return new ErrorReply('ERR value is not an integer or out of range');
    if (id < 0 || id >= ctx.server.config.num('databases')) return new ErrorReply('ERR DB index is out of range');
    ctx.client.db = id;
    return OK;
  },
};
