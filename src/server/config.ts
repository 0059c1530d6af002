/**
 * Configuration: one table of options (name, type, default, Redis equivalent, whether CONFIG
 * SET may change it) and the sources that fill it, lowest precedence first: defaults, the
 * redis.conf-style file given as first positional argument, SHALE_<NAME> environment variables,
 * command-line flags. CONFIG GET/SET/REWRITE work on the same table (docs/configuration.md
 * documents every entry).
 */
import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import path from 'node:path';
import { splitArgs } from '../resp/splitargs.ts';
import { globMatch } from '../util/glob.ts';

export type Value = string | number | boolean;

export interface OptionDef {
  name: string;
  kind: 'int' | 'memory' | 'bool' | 'enum' | 'string' | 'special';
  default: string;
  /** CONFIG SET may change it while running. */
  mutable: boolean;
  min?: number;
  max?: number;
  values?: string[];
  /** For 'special': parse to a canonical string, or throw Error(reason). */
  parse?: (v: string) => string;
  /** Never echoed in logs. */
  sensitive?: boolean;
  /** Value derived from another option (Redis aliases); not written by CONFIG REWRITE. */
  derived?: (c: Config) => string;
  /** Setting it sets this option instead (through aliasValue). */
  aliasOf?: string;
}

const INT_MAX = 2147483647;
const LLONG_MAX = 9223372036854775807;

const MEM_UNITS: Record<string, number> = { b: 1, k: 1000, kb: 1024, m: 1e6, mb: 1024 ** 2, g: 1e9, gb: 1024 ** 3 };

/** Redis's memtoull: "1gb", "100mb", "1k", "512"; no fractions or negatives. */
export function parseMemory(s: string): number | undefined {
  const m = /^(\d+)([a-z]*)$/i.exec(s.trim());
  if (!m) return undefined;
  const unit = m[2]!.toLowerCase();
  const mul = unit === '' ? 1 : MEM_UNITS[unit];
  if (mul === undefined) return undefined;
  const n = Number(m[1]) * mul;
  return Number.isSafeInteger(n) ? n : undefined;
}

/** bytes back to the shortest exact unit, as CONFIG REWRITE writes memory options. */
function formatMemory(n: number): string {
  for (const [u, mul] of [['gb', 1024 ** 3], ['mb', 1024 ** 2], ['kb', 1024]] as const) {
    if (n !== 0 && n % mul === 0) return `${n / mul}${u}`;
  }
  return String(n);
}

function parseClientOutputBufferLimit(v: string): string {
  const parts = v.trim().split(/\s+/);
  if (parts.length % 4 !== 0) throw new Error('Wrong number of arguments in buffer limit configuration.');
  const current = new Map([
    ['normal', ['0', '0', '0']],
    ['slave', ['268435456', '67108864', '60']],
    ['pubsub', ['33554432', '8388608', '60']],
  ]);
  for (let i = 0; i < parts.length; i += 4) {
    let cls = parts[i]!.toLowerCase();
    if (cls === 'replica') cls = 'slave';
    if (!current.has(cls)) throw new Error('Invalid client class specified in buffer limit configuration.');
    const hard = parseMemory(parts[i + 1]!);
    const soft = parseMemory(parts[i + 2]!);
    const secs = Number(parts[i + 3]);
    if (hard === undefined || soft === undefined || !Number.isInteger(secs) || secs < 0) {
      throw new Error('Error in hard, soft or soft_seconds setting in buffer limit configuration.');
    }
    current.set(cls, [String(hard), String(soft), String(secs)]);
  }
  return [...current].map(([k, v]) => `${k} ${v.join(' ')}`).join(' ');
}

function parseSave(v: string): string {
  const parts = v.trim() === '' ? [] : v.trim().split(/\s+/);
  if (parts.length % 2 !== 0 || parts.some((p) => !/^\d+$/.test(p))) throw new Error('Invalid save parameters');
  return parts.join(' ');
}

const DURABILITY = ['strict', 'relaxed', 'off'];
/** Key order is Redis's, for its "must be one of" error text. */
const APPENDFSYNC: Record<string, string> = { everysec: 'relaxed', always: 'strict', no: 'off' };

/** USD per 1,000 requests: a non-negative decimal. */
function parsePrice(v: string): string {
  const t = v.trim();
  if (!/^(\d+(\.\d*)?|\.\d+)$/.test(t)) throw new Error('argument must be a non-negative decimal number');
  return String(Number(t));
}

export const OPTIONS: OptionDef[] = [
  // Network and process
  { name: 'port', kind: 'int', default: '6379', mutable: false, min: 0, max: 65535 },
  { name: 'bind', kind: 'string', default: '127.0.0.1', mutable: false },
  { name: 'timeout', kind: 'int', default: '0', mutable: true, min: 0, max: INT_MAX },
  { name: 'tcp-keepalive', kind: 'int', default: '300', mutable: true, min: 0, max: INT_MAX },
  { name: 'maxclients', kind: 'int', default: '10000', mutable: true, min: 1, max: INT_MAX },
  { name: 'databases', kind: 'int', default: '16', mutable: false, min: 1, max: INT_MAX },
  { name: 'requirepass', kind: 'string', default: '', mutable: true, sensitive: true },
  { name: 'loglevel', kind: 'enum', default: 'notice', mutable: true, values: ['debug', 'verbose', 'notice', 'warning'] },
  { name: 'idle-shutdown', kind: 'int', default: '0', mutable: true, min: 0, max: INT_MAX },
  { name: 'metrics-port', kind: 'int', default: '0', mutable: false, min: 0, max: 65535 },
  { name: 'hz', kind: 'int', default: '10', mutable: true, min: 1, max: 500 },
  // Storage and durability
  { name: 'dir', kind: 'string', default: './data', mutable: false },
  { name: 'store', kind: 'string', default: '', mutable: false },
  { name: 'durability', kind: 'enum', default: 'relaxed', mutable: true, values: DURABILITY },
  { name: 'flush-interval', kind: 'int', default: '100', mutable: true, min: 1, max: 60000 },
  // Longest a command waits for the object store (durability, write backpressure); 0 = no bound.
  { name: 'store-timeout', kind: 'int', default: '30000', mutable: true, min: 0, max: INT_MAX },
  {
    name: 'appendfsync', kind: 'enum', default: 'everysec', mutable: true, values: Object.keys(APPENDFSYNC), aliasOf: 'durability',
    derived: (c) => Object.keys(APPENDFSYNC).find((k) => APPENDFSYNC[k] === c.str('durability')) ?? 'everysec',
  },
  {
    name: 'appendonly', kind: 'bool', default: 'yes', mutable: true, aliasOf: 'durability',
    derived: (c) => (c.str('durability') === 'off' ? 'no' : 'yes'),
  },
  // Object-store prices for the cost estimate in INFO and /metrics (S3 Standard by default).
  { name: 'store-price-put', kind: 'special', default: '0.005', mutable: true, parse: parsePrice },
  { name: 'store-price-get', kind: 'special', default: '0.0004', mutable: true, parse: parsePrice },
  { name: 'store-price-list', kind: 'special', default: '0.005', mutable: true, parse: parsePrice },
  { name: 'store-price-delete', kind: 'special', default: '0', mutable: true, parse: parsePrice },
  { name: 'save', kind: 'special', default: '', mutable: true, parse: parseSave },
  // Memory
  { name: 'maxmemory', kind: 'memory', default: '0', mutable: true },
  {
    name: 'maxmemory-policy', kind: 'enum', default: 'noeviction', mutable: true,
    values: ['volatile-lru', 'volatile-lfu', 'volatile-random', 'volatile-ttl', 'allkeys-lru', 'allkeys-lfu', 'allkeys-random', 'noeviction'],
  },
  { name: 'maxmemory-samples', kind: 'int', default: '5', mutable: true, min: 1, max: 64 },
  { name: 'lazyfree-lazy-user-flush', kind: 'bool', default: 'no', mutable: true },
  // Limits
  { name: 'proto-max-bulk-len', kind: 'memory', default: '536870912', mutable: true, min: 1024 * 1024 },
  { name: 'client-query-buffer-limit', kind: 'memory', default: '1073741824', mutable: true, min: 1024 * 1024 },
  {
    name: 'client-output-buffer-limit', kind: 'special', mutable: true, parse: parseClientOutputBufferLimit,
    default: 'normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60',
  },
  // Diagnostics
  { name: 'slowlog-log-slower-than', kind: 'int', default: '10000', mutable: true, min: -1, max: LLONG_MAX },
  { name: 'slowlog-max-len', kind: 'int', default: '128', mutable: true, min: 0, max: LLONG_MAX },
  { name: 'latency-monitor-threshold', kind: 'int', default: '0', mutable: true, min: 0, max: LLONG_MAX },
  { name: 'notify-keyspace-events', kind: 'string', default: '', mutable: true },
  // Accepted for compatibility with tools that read or set them; Shale's data layer may consult them.
  { name: 'daemonize', kind: 'bool', default: 'no', mutable: false },
  { name: 'protected-mode', kind: 'bool', default: 'no', mutable: true },
  { name: 'cluster-enabled', kind: 'bool', default: 'no', mutable: false },
  { name: 'hash-max-listpack-entries', kind: 'int', default: '512', mutable: true, min: 0, max: LLONG_MAX },
  { name: 'hash-max-listpack-value', kind: 'int', default: '64', mutable: true, min: 0, max: LLONG_MAX },
  { name: 'list-max-listpack-size', kind: 'int', default: '-2', mutable: true, min: -5, max: INT_MAX },
  { name: 'set-max-intset-entries', kind: 'int', default: '512', mutable: true, min: 0, max: LLONG_MAX },
  { name: 'zset-max-listpack-entries', kind: 'int', default: '128', mutable: true, min: 0, max: LLONG_MAX },
  { name: 'zset-max-listpack-value', kind: 'int', default: '64', mutable: true, min: 0, max: LLONG_MAX },
];

const BY_NAME = new Map(OPTIONS.map((o) => [o.name, o]));

/** Parses a value for an option into its canonical string form, or throws Error(reason). */
export function normalize(def: OptionDef, raw: string): string {
  switch (def.kind) {
    case 'int': {
      const t = raw.trim();
      if (!/^-?\d+$/.test(t)) throw new Error("argument couldn't be parsed into an integer");
      const n = Number(t);
      if (!Number.isSafeInteger(n)) throw new Error("argument couldn't be parsed into an integer");
      if ((def.min !== undefined && n < def.min) || (def.max !== undefined && n > def.max)) {
        throw new Error(`argument must be between ${def.min} and ${def.max === LLONG_MAX ? '9223372036854775807' : def.max} inclusive`);
      }
      return String(n);
    }
    case 'memory': {
      const n = parseMemory(raw);
      if (n === undefined) throw new Error('argument must be a memory value');
      if (def.min !== undefined && n < def.min) throw new Error(`argument must be between ${def.min} and 9223372036854775807 inclusive`);
      return String(n);
    }
    case 'bool': {
      const v = raw.trim().toLowerCase();
      if (v !== 'yes' && v !== 'no') throw new Error("argument must be 'yes' or 'no'");
      return v;
    }
    case 'enum': {
      const v = raw.trim().toLowerCase();
      if (!def.values!.includes(v)) throw new Error(`argument(s) must be one of the following: ${def.values!.join(', ')}`);
      return v;
    }
    case 'string':
      return raw;
    case 'special':
      return def.parse!(raw);
  }
}

export class ConfigError extends Error {}

export interface ConfigSources {
  argv: string[];
  env: Record<string, string | undefined>;
}

/** The running configuration: canonical string values keyed by option name. */
export class Config {
  private readonly values = new Map<string, string>();
  private readonly listeners = new Map<string, ((v: string) => void)[]>();
  /** The dispatcher reads a few options per command: parsed values are cached until a change. */
  private readonly cache = new Map<string, string | number>();
  /** Absolute path of the file given at start-up, for CONFIG REWRITE. */
  file: string | undefined;
  /** The last durability other than off, restored by `appendonly yes` (Redis keeps appendfsync apart). */
  private logged = 'relaxed';

  constructor() {
    for (const o of OPTIONS) this.values.set(o.name, o.default);
  }

  static def(name: string): OptionDef | undefined {
    return BY_NAME.get(name.toLowerCase());
  }

  str(name: string): string {
    const def = BY_NAME.get(name);
    if (!def) throw new Error(`no such option ${name}`);
    return def.derived ? def.derived(this) : this.values.get(name)!;
  }

  num(name: string): number {
    let v = this.cache.get(name) as number | undefined;
    if (v === undefined) this.cache.set(name, (v = Number(this.str(name))));
    return v;
  }

  bool(name: string): boolean {
    return this.str(name) === 'yes';
  }

  onChange(name: string, fn: (v: string) => void): void {
    const l = this.listeners.get(name) ?? [];
    l.push(fn);
    this.listeners.set(name, l);
  }

  /** Sets one option from start-up sources (no mutability check). Throws ConfigError. */
  setInitial(name: string, raw: string, where: string): void {
    const key = name.toLowerCase();
    const def = BY_NAME.get(key);
    if (!def) throw new ConfigError(`${where}: unknown option '${name}'`);
    this.cache.clear();
    try {
      const v = normalize(def, raw);
      if (def.aliasOf) this.assign(def.aliasOf, this.aliasValue(def.name, v));
      else this.assign(key, v);
    } catch (e) {
      throw new ConfigError(`${where}: invalid value for '${key}': ${(e as Error).message}`);
    }
  }

  /** What setting an alias (appendfsync, appendonly) to v sets its target option to. */
  private aliasValue(name: string, v: string): string {
    if (name === 'appendfsync') return APPENDFSYNC[v]!;
    // appendonly
    if (v === 'no') return 'off';
    return this.values.get('durability') === 'off' ? this.logged : this.values.get('durability')!;
  }

  private assign(name: string, v: string): void {
    this.values.set(name, v);
    if (name === 'durability' && v !== 'off') this.logged = v;
  }

  /** CONFIG GET: [name, value] pairs for options matching any of the patterns. */
  get(patterns: string[]): [string, string][] {
    const out: [string, string][] = [];
    for (const o of OPTIONS) {
      if (patterns.some((p) => globMatch(p, o.name, true))) out.push([o.name, this.str(o.name)]);
    }
    return out;
  }

  /**
   * CONFIG SET with Redis's all-or-nothing semantics; returns an error message (without the
   * "ERR " prefix) or undefined on success.
   */
  set(pairs: [string, string][]): string | undefined {
    const staged: [OptionDef, string][] = [];
    for (const [name] of pairs) {
      if (!BY_NAME.has(name.toLowerCase())) return `Unknown option or number of arguments for CONFIG SET - '${name}'`;
    }
    const seen = new Set<string>();
    for (const [name, raw] of pairs) {
      const def = BY_NAME.get(name.toLowerCase())!;
      const fail = (why: string) => `CONFIG SET failed (possibly related to argument '${name}') - ${why}`;
      if (seen.has(def.name)) return fail('duplicate parameter');
      seen.add(def.name);
      if (!def.mutable) return fail("can't set immutable config");
      try {
        staged.push([def, normalize(def, raw)]);
      } catch (e) {
        return fail((e as Error).message);
      }
    }
    this.cache.clear();
    for (const [def, raw] of staged) {
      const name = def.aliasOf ?? def.name;
      const v = def.aliasOf ? this.aliasValue(def.name, raw) : raw;
      const old = this.values.get(name);
      this.assign(name, v);
      if (old !== v) for (const fn of this.listeners.get(name) ?? []) fn(v);
    }
    return undefined;
  }

  /** Options whose value differs from the default (CONFIG REWRITE, start-up log). */
  changed(): OptionDef[] {
    return OPTIONS.filter((o) => !o.derived && this.values.get(o.name) !== o.default);
  }

  /** The option as a config-file line. */
  line(def: OptionDef): string {
    const v = this.values.get(def.name)!;
    if (def.kind === 'memory') return `${def.name} ${formatMemory(Number(v))}`;
    if (def.kind === 'string' || (def.kind === 'special' && v === '')) return `${def.name} ${quote(v)}`;
    return `${def.name} ${v}`;
  }

  /**
   * CONFIG REWRITE: keeps the file's comments and order, updates the lines of options it
   * sets, drops repeated lines for the same option, appends changed options it lacks.
   */
  rewrite(): void {
    if (!this.file) throw new ConfigError('The server is running without a config file');
    let text = '';
    try {
      text = readFileSync(this.file, 'latin1');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    const lines = text === '' ? [] : text.replace(/\n$/, '').split('\n');
    const done = new Set<string>();
    const out: string[] = [];
    const changed = new Set(this.changed().map((o) => o.name));
    for (const l of lines) {
      const args = l.trim().startsWith('#') ? null : splitArgs(l);
      const name = args?.[0]?.toLowerCase();
      let def = name ? BY_NAME.get(name) : undefined;
      // An alias line (appendonly no) becomes its target's line, so the file keeps one truth.
      if (def?.aliasOf) def = BY_NAME.get(def.aliasOf);
      if (!def || def.derived) {
        out.push(l);
        continue;
      }
      if (done.has(def.name)) continue;
      done.add(def.name);
      out.push(this.line(def));
    }
    const missing = [...changed].filter((n) => !done.has(n));
    if (missing.length) {
      if (!lines.includes('# Generated by CONFIG REWRITE')) out.push('# Generated by CONFIG REWRITE');
      for (const n of missing) out.push(this.line(BY_NAME.get(n)!));
    }
    const tmp = `${this.file}.tmp-${process.pid}`;
    writeFileSync(tmp, out.join('\n') + '\n', 'latin1');
    renameSync(tmp, this.file);
  }
}

function quote(v: string): string {
  let out = '"';
  for (const ch of v) {
    const c = ch.charCodeAt(0);
    if (ch === '"' || ch === '\\') out += '\\' + ch;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (c < 32 || c > 126) out += '\\x' + c.toString(16).padStart(2, '0');
    else out += ch;
  }
  return out + '"';
}

export const HELP = `Usage: shale [/path/to/shale.conf] [--option value ...]
       shale --version
Options (also SHALE_<NAME> environment variables and config-file lines):
${OPTIONS.filter((o) => !o.derived).map((o) => `  --${o.name} (default: ${o.default === '' ? '""' : o.default})`).join('\n')}
See docs/configuration.md.`;

/**
 * Builds the start-up configuration. Returns 'help' / 'version' when asked for those.
 * Throws ConfigError with a one-line message on anything invalid.
 */
export function loadConfig(src: ConfigSources): Config | 'help' | 'version' {
  const argv = [...src.argv];
  const config = new Config();
  if (argv.some((a) => a === '--help' || a === '-h')) return 'help';
  if (argv.some((a) => a === '--version' || a === '-v')) return 'version';
  if (argv.length > 0 && !argv[0]!.startsWith('--')) {
    const file = argv.shift()!;
    const fullPath = path.resolve(file);
    let text: string;
    try {
      text = readFileSync(fullPath, 'latin1');
    } catch (e) {
      throw new ConfigError(`can't open config file '${file}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    config.file = fullPath;
    text.split('\n').forEach((l, i) => {
      const t = l.trim();
      if (t === '' || t.startsWith('#')) return;
      const args = splitArgs(t);
      if (args === null) throw new ConfigError(`${file}:${i + 1}: unbalanced quotes in configuration line`);
      if (args.length < 2) throw new ConfigError(`${file}:${i + 1}: wrong number of arguments for '${args[0]}'`);
      config.setInitial(args[0]!, args.slice(1).join(' '), `${file}:${i + 1}`);
    });
  }
  for (const o of OPTIONS) {
    const v = src.env[`SHALE_${o.name.toUpperCase().replace(/-/g, '_')}`];
    if (v !== undefined) config.setInitial(o.name, v, `environment SHALE_${o.name.toUpperCase().replace(/-/g, '_')}`);
  }
  for (let i = 0; i < argv.length; ) {
    const a = argv[i]!;
    if (!a.startsWith('--')) throw new ConfigError(`unexpected argument '${a}' (options look like --port 6379)`);
    const eq = a.indexOf('=');
    if (eq > 0) {
      config.setInitial(a.slice(2, eq), a.slice(eq + 1), `option ${a.slice(0, eq)}`);
      i++;
      continue;
    }
    const name = a.slice(2);
    const vals: string[] = [];
    i++;
    while (i < argv.length && !argv[i]!.startsWith('--')) vals.push(argv[i++]!);
    const def = Config.def(name);
    if (vals.length === 0 && def?.kind === 'bool') vals.push('yes');
    if (vals.length === 0 && !(def && (def.kind === 'string' || def.kind === 'special'))) {
      throw new ConfigError(`option --${name} needs a value`);
    }
    config.setInitial(name, vals.join(' '), `option --${name}`);
  }
  return config;
}
