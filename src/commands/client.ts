/**
 * CLIENT subcommands: ID, SETNAME, GETNAME, LIST, INFO, KILL, SETINFO, PAUSE, UNPAUSE,
 * NO-EVICT, NO-TOUCH, REPLY, GETREDIR, HELP.
 */
import { ErrorReply, OK, VerbatimReply, type Reply } from '../resp/reply.ts';
import { NO_REPLY } from '../server/dispatch.ts';
import { isClientBlocked } from '../server/blocking.ts';
import type { ClientState, ServerState } from '../server/state.ts';
import { parseInteger } from '../util/int.ts';
import { validName } from './connection.ts';
import { helpReply } from './help.ts';
import type { CommandModule } from './types.ts';

const SYNTAX = new ErrorReply('ERR syntax error');

function flagsOf(c: ClientState): string {
  let f = '';
  if (c.monitor) f += 'O';
  if (c.kind === 'pubsub') f += 'P';
  if (c.multi) f += 'x';
  if (isClientBlocked(c.server, c)) f += 'b';
  if (c.watchDirty) f += 'd';
  if (c.closeAfterReply) f += 'c';
  if (c.noEvict) f += 'e';
  if (c.noTouch) f += 'T';
  return f || 'N';
}

/** One line of CLIENT LIST / CLIENT INFO, with Redis 7's field names. */
export function clientLine(c: ClientState): string {
  const now = Date.now();
  const qbuf = c.io.queryBuffered;
  const omem = c.outputPending;
  return [
    `id=${c.id}`,
    `addr=${c.addr}`,
    `laddr=${c.laddr}`,
    `fd=${c.fd}`,
    `name=${c.name}`,
    `age=${Math.floor((now - c.createdAt) / 1000)}`,
    `idle=${Math.floor((now - c.lastInteraction) / 1000)}`,
    `flags=${flagsOf(c)}`,
    `db=${c.db}`,
    `sub=${c.channels.size}`,
    `psub=${c.patterns.size}`,
    `ssub=${c.shardChannels.size}`,
    `multi=${c.multi ? c.multi.length : -1}`,
    `qbuf=${qbuf}`,
    `qbuf-free=0`,
    `argv-mem=0`,
    `multi-mem=0`,
    `rbs=16384`,
    `rbp=16384`,
    `obl=0`,
    `oll=0`,
    `omem=${omem}`,
    `tot-mem=${qbuf + omem}`,
    `events=r${omem > 0 ? 'w' : ''}`,
    `cmd=${c.lastCommand}`,
    `user=${c.user}`,
    `redir=-1`,
    `resp=${c.resp}`,
    `lib-name=${c.libName}`,
    `lib-ver=${c.libVer}`,
  ].join(' ');
}

const TYPES = new Set(['normal', 'master', 'replica', 'slave', 'pubsub']);

function typeMatches(c: ClientState, type: string): boolean {
  const t = type === 'slave' ? 'replica' : type;
  return c.kind === t;
}

function list(server: ServerState, args: string[]): Reply {
  let clients = [...server.clients.values()];
  if (args.length === 4 && args[2]!.toLowerCase() === 'type') {
    const t = args[3]!.toLowerCase();
    if (!TYPES.has(t)) return new ErrorReply(`ERR Unknown client type '${args[3]}'`);
    clients = clients.filter((c) => typeMatches(c, t));
  } else if (args.length > 3 && args[2]!.toLowerCase() === 'id') {
    const ids = new Set<number>();
    for (const a of args.slice(3)) {
      const id = parseInteger(a);
      if (id === undefined || id <= 0) return new ErrorReply('ERR Invalid client ID');
      ids.add(id);
    }
    clients = clients.filter((c) => ids.has(c.id));
  } else if (args.length !== 2) {
    return SYNTAX;
  }
  return new VerbatimReply(clients.map((c) => clientLine(c) + '\n').join(''));
}

function kill(ctx: { client: ClientState; server: ServerState }, args: string[]): Reply {
  const { client, server } = ctx;
  const targets: ClientState[] = [];
  if (args.length === 3) {
    // Old form: CLIENT KILL ip:port, replies OK or an error.
    const c = [...server.clients.values()].find((x) => x.addr === args[2]);
    if (!c) return new ErrorReply('ERR No such client');
    targets.push(c);
    closeClients(client, targets);
    return OK;
  }
  if (args.length % 2 !== 0) return SYNTAX;
  const filters: ((c: ClientState) => boolean)[] = [];
  let skipme = true;
  for (let i = 2; i < args.length; i += 2) {
    const opt = args[i]!.toLowerCase();
    const v = args[i + 1]!;
    if (opt === 'id') {
      const id = parseInteger(v);
      if (id === undefined || id <= 0) return new ErrorReply('ERR client-id should be greater than 0');
      filters.push((c) => c.id === id);
    } else if (opt === 'type') {
      const t = v.toLowerCase();
      if (!TYPES.has(t)) return new ErrorReply(`ERR Unknown client type '${v}'`);
      filters.push((c) => typeMatches(c, t));
    } else if (opt === 'addr') {
      filters.push((c) => c.addr === v);
    } else if (opt === 'laddr') {
      filters.push((c) => c.laddr === v);
    } else if (opt === 'user') {
      if (v !== 'default') return new ErrorReply(`ERR No such user '${v}'`);
      filters.push((c) => c.user === v);
    } else if (opt === 'skipme') {
      const s = v.toLowerCase();
      if (s !== 'yes' && s !== 'no') return SYNTAX;
      skipme = s === 'yes';
    } else {
      return SYNTAX;
    }
  }
  for (const c of server.clients.values()) {
    if (skipme && c === client) continue;
    if (filters.every((f) => f(c))) targets.push(c);
  }
  closeClients(client, targets);
  return targets.length;
}

/** Killing ourselves waits for this reply to be written; others go at once. */
function closeClients(self: ClientState, targets: ClientState[]): void {
  for (const c of targets) {
    if (c === self) c.closeAfterReply = true;
    else c.close();
  }
}

function onOff(v: string): boolean | undefined {
  const s = v.toLowerCase();
  return s === 'on' ? true : s === 'off' ? false : undefined;
}

export const commands: CommandModule = {
  'client|id'(ctx) {
    return ctx.client.id;
  },

  'client|setname'(ctx, args) {
    const name = args[2]!;
    if (!validName(name)) return new ErrorReply('ERR Client names cannot contain spaces, newlines or special characters.');
    ctx.client.name = name;
    return OK;
  },

  'client|getname'(ctx) {
    return ctx.client.name === '' ? null : ctx.client.name;
  },

  'client|list'(ctx, args) {
    return list(ctx.server, args);
  },

  'client|info'(ctx) {
    return new VerbatimReply(clientLine(ctx.client) + '\n');
  },

  'client|kill'(ctx, args) {
    return kill(ctx, args);
  },

  'client|setinfo'(ctx, args) {
    const attr = args[2]!.toLowerCase();
    const v = args[3]!;
    if (attr !== 'lib-name' && attr !== 'lib-ver') return new ErrorReply(`ERR Unrecognized option '${args[2]}'`);
    if (!validName(v) && v !== '') return new ErrorReply(`ERR ${attr} cannot contain spaces, newlines or special characters.`);
    if (attr === 'lib-name') ctx.client.libName = v;
    else ctx.client.libVer = v;
    return OK;
  },

  'client|pause'(ctx, args) {
    if (args.length > 4) return SYNTAX;
    const ms = parseInteger(args[2]!);
    if (ms === undefined) return new ErrorReply('ERR timeout is not an integer or out of range');
    if (ms < 0) return new ErrorReply('ERR timeout is negative');
    let mode: 'all' | 'write' = 'all';
    if (args.length === 4) {
      const m = args[3]!.toLowerCase();
      if (m !== 'all' && m !== 'write') return new ErrorReply('ERR CLIENT PAUSE mode must be WRITE or ALL');
      mode = m;
    }
    ctx.server.pauseClients(mode, ms);
    return OK;
  },

  'client|unpause'(ctx) {
    ctx.server.unpause();
    return OK;
  },

  'client|no-evict'(ctx, args) {
    const v = onOff(args[2]!);
    if (v === undefined) return SYNTAX;
    ctx.client.noEvict = v;
    return OK;
  },

  'client|no-touch'(ctx, args) {
    const v = onOff(args[2]!);
    if (v === undefined) return SYNTAX;
    ctx.client.noTouch = v;
    return OK;
  },

  'client|reply'(ctx, args) {
    const m = args[2]!.toLowerCase();
    const c = ctx.client;
    if (m === 'on') {
      c.replyOff = false;
      c.skipNext = false;
      return OK;
    }
    if (m === 'off') {
      c.replyOff = true;
      return NO_REPLY;
    }
    if (m === 'skip') {
      if (!c.replyOff) c.skipNext = true;
      return NO_REPLY;
    }
    return SYNTAX;
  },

  'client|getredir'() {
    return -1;
  },

  'client|help'() {
    return helpReply('CLIENT', [
      'GETNAME',
      '    Return the name of the current connection.',
      'ID',
      '    Return the ID of the current connection.',
      'INFO',
      '    Return information about the current client connection.',
      'KILL <ip:port>',
      '    Kill connection made from <ip:port>.',
      'KILL <option> <value> [<option> <value> [...]]',
      '    Kill connections. Options are:',
      '    * ADDR (<ip:port>|<unixsocket>:0)',
      '      Kill connections made from the specified address',
      '    * LADDR (<ip:port>|<unixsocket>:0)',
      '      Kill connections made to specified local address',
      '    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)',
      '      Kill connections by type.',
      '    * USER <username>',
      '      Kill connections authenticated by <username>.',
      '    * SKIPME (YES|NO)',
      '      Skip killing current connection (default: yes).',
      'LIST [options ...]',
      '    Return information about client connections. Options:',
      '    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)',
      '      Return clients of specified type.',
      'UNPAUSE',
      '    Stop the current client pause, resuming traffic.',
      'PAUSE <timeout> [WRITE|ALL]',
      '    Suspend all, or just write, clients for <timeout> milliseconds.',
      'REPLY (ON|OFF|SKIP)',
      '    Control the replies sent to the current connection.',
      'SETNAME <name>',
      '    Assign the name <name> to the current connection.',
      'SETINFO <LIB-NAME|LIB-VER> <value>',
      '    Set the client library name or version.',
      'NO-EVICT (ON|OFF)',
      '    Protect current client connection from eviction.',
      'NO-TOUCH (ON|OFF)',
      "    Commands of this client do not touch the keys' access time.",
    ]);
  },
};
