/**
 * COMMAND and its subcommands, built from the command table. Only commands Shale implements
 * are listed (COMMAND, COUNT, LIST, DOCS without names): a client that inspects the table
 * learns what it can actually call. COMMAND INFO/DOCS with an explicit name answer for
 * implemented commands only too (nil / omitted otherwise), like a Redis without that command.
 * The table has no summaries or complexity texts, so DOCS gives since, group, arguments.
 */
import { ErrorReply, MapReply, SetReply, SimpleString, type Reply } from '../resp/reply.ts';
import { arityOk, CommandTable, type ArgDef, type CommandDef, type KeySpec } from '../server/command-table.ts';
import { keyRefs } from '../server/keys.ts';
import { globMatch } from '../util/glob.ts';
import { helpReply } from './help.ts';
import type { CommandModule, ExecContext } from './types.ts';

/** Flags Redis keeps internal (addReplyFlagsForCommand skips them). */
const HIDDEN_FLAGS = new Set(['may_replicate', 'sentinel', 'only_sentinel', 'protected', 'touches_arbitrary_keys']);
const UPPER_KEY_FLAGS = new Set(['RO', 'RW', 'OW', 'RM']);

const status = (s: string) => new SimpleString(s);

function keyFlags(flags: string[]): Reply {
  return new SetReply(flags.map((f) => status(UPPER_KEY_FLAGS.has(f) ? f : f.toLowerCase())));
}

function keySpecReply(s: KeySpec): Reply {
  const bs: Reply = !s.bs
    ? new MapReply([['type', 'unknown'], ['spec', new MapReply([])]])
    : 'index' in s.bs
      ? new MapReply([['type', 'index'], ['spec', new MapReply([['index', s.bs.index]])]])
      : new MapReply([['type', 'keyword'], ['spec', new MapReply([['keyword', s.bs.keyword], ['startfrom', s.bs.startfrom]])]]);
  const fk: Reply = !s.fk
    ? new MapReply([['type', 'unknown'], ['spec', new MapReply([])]])
    : 'range' in s.fk
      ? new MapReply([['type', 'range'], ['spec', new MapReply([['lastkey', s.fk.range[0]], ['keystep', s.fk.range[1]], ['limit', s.fk.range[2]]])]])
      : new MapReply([['type', 'keynum'], ['spec', new MapReply([['keynumidx', s.fk.keynum[0]], ['firstkey', s.fk.keynum[1]], ['keystep', s.fk.keynum[2]]])]]);
  return new MapReply([['flags', keyFlags(s.flags)], ['begin_search', bs], ['find_keys', fk]]);
}

const implementedSubs = (def: CommandDef) => [...(def.subcommands?.values() ?? [])].filter((s) => s.handler);

export function commandInfo(def: CommandDef): Reply {
  return [
    def.fullname,
    def.arity,
    new SetReply(def.flagList.filter((f) => !HIDDEN_FLAGS.has(f)).map(status)),
    def.range[0],
    def.range[1],
    def.range[2],
    new SetReply(def.acl.map((c) => status(`@${c}`))),
    new SetReply([]),
    def.keySpecs.map(keySpecReply),
    implementedSubs(def).map(commandInfo),
  ];
}

function argDoc(a: ArgDef): Reply {
  const e: [Reply, Reply][] = [['name', a.name.toLowerCase()], ['type', a.type]];
  if (a.key_spec_index !== undefined) e.push(['key_spec_index', a.key_spec_index]);
  if (a.token !== undefined) e.push(['token', a.token]);
  const flags = [a.optional && 'optional', a.multiple && 'multiple', a.multiple_token && 'multiple_token'].filter(Boolean) as string[];
  if (flags.length) e.push(['flags', new SetReply(flags.map(status))]);
  if (a.arguments) e.push(['arguments', a.arguments.map(argDoc)]);
  return new MapReply(e);
}

function commandDoc(def: CommandDef): Reply {
  const e: [Reply, Reply][] = [['since', def.since], ['group', def.group]];
  if (def.docFlags.length) e.push(['doc_flags', new SetReply(def.docFlags.map(status))]);
  if (def.args.length) e.push(['arguments', def.args.map(argDoc)]);
  const subs = implementedSubs(def);
  if (subs.length) e.push(['subcommands', new MapReply(subs.map((s) => [s.fullname, commandDoc(s)]))]);
  return new MapReply(e);
}

function lookupName(ctx: ExecContext, name: string): CommandDef | undefined {
  const def = ctx.server.table.find(name);
  if (!def) return undefined;
  return def.parent ? (def.handler ? def : undefined) : CommandTable.implemented(def) ? def : undefined;
}

/** The command a GETKEYS request names (argv = the request, without COMMAND GETKEYS). */
function getKeys(ctx: ExecContext, argv: string[], withFlags: boolean): Reply {
  const top = ctx.server.table.find(argv[0]!);
  let def = top;
  if (top?.subcommands && argv.length > 1) def = top.subcommands.get(argv[1]!.toLowerCase());
  if (!def) return new ErrorReply('ERR Invalid command specified');
  if (def.keySpecs.length === 0 || def.keySpecs.every((s) => s.flags.includes('NOT_KEY'))) {
    return new ErrorReply('ERR The command has no key arguments');
  }
  if (!arityOk(def, argv.length)) return new ErrorReply('ERR Invalid number of arguments specified for command');
  const refs = keyRefs(def, argv, false) ?? [];
  if (refs.length === 0) {
    return def.flags.has('no_mandatory_keys') ? [] : new ErrorReply('ERR Invalid arguments specified for command');
  }
  return refs.map((r) => (withFlags ? [argv[r.pos]!, keyFlags(r.flags)] : argv[r.pos]!));
}

export const commands: CommandModule = {
  command(ctx) {
    return ctx.server.table.implementedCommands().map(commandInfo);
  },

  'command|count'(ctx) {
    return ctx.server.table.implementedCommands().length;
  },

  'command|list'(ctx, args) {
    let names = ctx.server.table.implementedCommands().flatMap((d) => [d.fullname, ...implementedSubs(d).map((s) => s.fullname)]);
    if (args.length === 2) return names;
    if (args.length !== 5 || args[2]!.toLowerCase() !== 'filterby') return new ErrorReply('ERR syntax error');
    const kind = args[3]!.toLowerCase();
    const v = args[4]!;
    if (kind === 'module') return [];
    if (kind === 'aclcat') {
      const cat = v.toLowerCase();
      names = names.filter((n) => ctx.server.table.find(n)!.acl.includes(cat));
    } else if (kind === 'pattern') {
      names = names.filter((n) => globMatch(v, n, true));
    } else {
      return new ErrorReply('ERR syntax error');
    }
    return names;
  },

  'command|info'(ctx, args) {
    if (args.length === 2) return ctx.server.table.implementedCommands().map(commandInfo);
    return args.slice(2).map((n) => {
      const def = lookupName(ctx, n);
      return def ? commandInfo(def) : null;
    });
  },

  'command|docs'(ctx, args) {
    const defs = args.length === 2
      ? ctx.server.table.implementedCommands()
      : (args.slice(2).map((n) => lookupName(ctx, n)).filter(Boolean) as CommandDef[]);
    return new MapReply(defs.map((d) => [d.fullname, commandDoc(d)]));
  },

  'command|getkeys'(ctx, args) {
    return getKeys(ctx, args.slice(2), false);
  },

  'command|getkeysandflags'(ctx, args) {
    return getKeys(ctx, args.slice(2), true);
  },

  'command|help'() {
    return helpReply('COMMAND', [
      '(no subcommand)',
      '    Return details about all Redis commands.',
      'COUNT',
      '    Return the total number of commands in this Redis server.',
      'LIST',
      '    Return a list of all commands in this Redis server.',
      'INFO [<command-name> ...]',
      '    Return details about multiple Redis commands.',
      '    If no command names are given, documentation details for all',
      '    commands are returned.',
      'DOCS [<command-name> ...]',
      '    Return documentation details about multiple Redis commands.',
      '    If no command names are given, documentation details for all',
      '    commands are returned.',
      'GETKEYS <full-command>',
      '    Return the keys from a full Redis command.',
      'GETKEYSANDFLAGS <full-command>',
      '    Return the keys and the access flags from a full Redis command.',
    ]);
  },
};
