/**
 * The command table: Redis 7.0's command facts (generated once into command-table.json by
 * scripts/gen-command-table.ts) joined with the handlers Shale implements (commands/registry.ts).
 * It drives lookup, arity checks, key extraction, COMMAND and commandstats names.
 */
import raw from './command-table.json' with { type: 'json' };
import type { Handler } from '../commands/types.ts';
import { onlyKeyPos } from './keys.ts';

export interface KeySpec {
  flags: string[];
  bs: { index: number } | { keyword: string; startfrom: number } | null;
  fk: { range: [number, number, number] } | { keynum: [number, number, number] } | null;
}

export interface ArgDef {
  name: string;
  type: string;
  token?: string;
  optional?: boolean;
  multiple?: boolean;
  multiple_token?: boolean;
  key_spec_index?: number;
  arguments?: ArgDef[];
}

interface RawDef {
  arity: number;
  flags: string[];
  acl: string[];
  range: [number, number, number];
  keySpecs: KeySpec[];
  group: string;
  since: string;
  docFlags?: string[];
  args?: ArgDef[];
  subcommands?: Record<string, RawDef>;
}

export interface CommandDef {
  /** Lower-case name; for a subcommand the part after the container. */
  name: string;
  /** "get", "config|get": the name in COMMAND, commandstats and error messages. */
  fullname: string;
  arity: number;
  flags: Set<string>;
  /** Flags in Redis's display order (COMMAND INFO). */
  flagList: string[];
  acl: string[];
  range: [number, number, number];
  keySpecs: KeySpec[];
  /** Position of the command's only key when its key specs say just that (GET, LPUSH...), else -1. */
  keyPos: number;
  /** flags.has('write'), asked several times per command. */
  write: boolean;
  /** Not skip_slowlog: SLOWLOG and LATENCY see it. */
  timed: boolean;
  /** Neither skip_monitor nor admin: MONITOR sees it. */
  monitored: boolean;
  group: string;
  since: string;
  docFlags: string[];
  args: ArgDef[];
  parent: CommandDef | undefined;
  subcommands: Map<string, CommandDef> | undefined;
  handler: Handler | undefined;
}

function build(name: string, r: RawDef, parent: CommandDef | undefined): CommandDef {
  const fullname = parent ? `${parent.name}|${name}` : name;
  const def: CommandDef = {
    name,
    fullname,
    arity: r.arity,
    flags: new Set(r.flags),
    flagList: r.flags,
    acl: r.acl,
    range: r.range,
    keySpecs: r.keySpecs,
    keyPos: onlyKeyPos(fullname, r.keySpecs),
    write: r.flags.includes('write'),
    timed: !r.flags.includes('skip_slowlog'),
    monitored: !r.flags.includes('skip_monitor') && !r.flags.includes('admin'),
    group: r.group,
    since: r.since,
    docFlags: r.docFlags ?? [],
    args: r.args ?? [],
    parent,
    subcommands: undefined,
    handler: undefined,
  };
  if (r.subcommands) {
    def.subcommands = new Map();
    for (const [sub, sr] of Object.entries(r.subcommands)) def.subcommands.set(sub, build(sub, sr, def));
  }
  return def;
}

export class CommandTable {
  readonly all = new Map<string, CommandDef>();
  /** The same by upper-case name, as redis-cli and redis-benchmark send them (no lower-casing per request). */
  private readonly upper = new Map<string, CommandDef>();

  /** handlers: full name ("get", "config|get") -> handler. Throws for names Redis lacks. */
  constructor(handlers: Map<string, Handler>) {
    for (const [name, r] of Object.entries(raw as unknown as Record<string, RawDef>)) {
      const def = build(name, r, undefined);
      this.all.set(name, def);
      this.upper.set(name.toUpperCase(), def);
    }
    for (const [full, h] of handlers) {
      const def = this.find(full);
      if (!def) throw new Error(`handler for ${full}, which is not in the command table`);
      def.handler = h;
    }
  }

  /** By full name, "config|get" style. */
  find(fullname: string): CommandDef | undefined {
    const [top, sub] = fullname.toLowerCase().split('|', 2) as [string, string | undefined];
    const def = this.all.get(top);
    return sub === undefined ? def : def?.subcommands?.get(sub);
  }

  /** Implemented by Shale (itself or through a subcommand). */
  static implemented(def: CommandDef): boolean {
    if (def.handler) return true;
    if (!def.subcommands) return false;
    for (const s of def.subcommands.values()) if (s.handler) return true;
    return false;
  }

  /** Top-level commands Shale implements, for COMMAND / COUNT / LIST / DOCS. */
  implementedCommands(): CommandDef[] {
    return [...this.all.values()].filter(CommandTable.implemented);
  }

  /**
   * Redis's lookupCommand for a request: the command, or for a container with arguments the
   * subcommand. Returns undefined (unknown command) or 'unknown-sub'.
   */
  lookup(argv: string[]): CommandDef | 'unknown-sub' | undefined {
    const name = argv[0]!;
    const def = this.all.get(name) ?? this.upper.get(name) ?? this.all.get(name.toLowerCase());
    if (!def || !CommandTable.implemented(def)) return undefined;
    if (!def.subcommands || argv.length === 1) return def;
    const sub = def.subcommands.get(argv[1]!.toLowerCase());
    if (!sub?.handler) return 'unknown-sub';
    return sub;
  }
}

export function arityOk(def: CommandDef, argc: number): boolean {
  return def.arity > 0 ? argc === def.arity : argc >= -def.arity;
}
