/**
 * Generates src/server/command-table.json from the Redis 7.0 command facts
 * (../shared/redis-7.0-commands.json by default, or the path given as the first argument).
 * Run once and commit the output: nothing reads the shared file at run time.
 *
 *   node scripts/gen-command-table.ts [path/to/redis-7.0-commands.json]
 *
 * What it adds on top of the source facts, the way Redis computes them at start-up:
 * implicit ACL categories (setImplicitACLCategories), the legacy first/last/step key range and
 * the movablekeys flag (populateCommandLegacyRangeSpec). Sentinel-only commands are dropped.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

interface SrcKeySpec {
  flags: string[];
  begin_search: { index?: { pos: number }; keyword?: { keyword: string; startfrom: number }; unknown?: null };
  find_keys: {
    range?: { lastkey: number; step: number; limit: number };
    keynum?: { keynumidx: number; firstkey: number; step: number };
    unknown?: null;
  };
}
interface SrcArg {
  name: string;
  type: string;
  token?: string;
  optional?: boolean;
  multiple?: boolean;
  multiple_token?: boolean;
  key_spec_index?: number;
  arguments?: SrcArg[];
}
interface SrcCommand {
  group: string;
  since: string;
  arity: number;
  flags: string[];
  acl_categories: string[];
  key_specs: SrcKeySpec[];
  arguments: SrcArg[];
  doc_flags: string[];
}

/** Compact key spec: bs = begin search, fk = find keys (see src/server/command-table.ts). */
export interface OutKeySpec {
  flags: string[];
  bs: { index: number } | { keyword: string; startfrom: number } | null;
  fk: { range: [number, number, number] } | { keynum: [number, number, number] } | null;
}

const here = path.dirname(fileURLToPath(import.meta.url));
const src = process.argv[2] ?? path.join(here, '../../shared/redis-7.0-commands.json');
const out = path.join(here, '../src/server/command-table.json');
const all = (JSON.parse(readFileSync(src, 'utf8')) as { commands: Record<string, SrcCommand> }).commands;

// Commands newer than 7.0 that clients send on connect or that Shale's design needs.
const extra: Record<string, SrcCommand> = {
  'client|setinfo': {
    group: 'connection', since: '7.2.0', arity: 4, flags: ['NOSCRIPT', 'LOADING', 'STALE'],
    acl_categories: ['CONNECTION'], key_specs: [], doc_flags: [],
    arguments: [{ name: 'attr', type: 'oneof', arguments: [
      { name: 'libname', type: 'string', token: 'LIB-NAME' },
      { name: 'libver', type: 'string', token: 'LIB-VER' }] }],
  },
  'client|no-touch': {
    group: 'connection', since: '7.2.0', arity: 3, flags: ['NOSCRIPT', 'LOADING', 'STALE'],
    acl_categories: ['CONNECTION'], key_specs: [], doc_flags: [],
    arguments: [{ name: 'enabled', type: 'oneof', arguments: [
      { name: 'on', type: 'pure-token', token: 'ON' }, { name: 'off', type: 'pure-token', token: 'OFF' }] }],
  },
  waitaof: {
    group: 'generic', since: '7.2.0', arity: 4, flags: ['NOSCRIPT'], acl_categories: ['CONNECTION'],
    key_specs: [], doc_flags: [],
    arguments: [{ name: 'numlocal', type: 'integer' }, { name: 'numreplicas', type: 'integer' },
      { name: 'timeout', type: 'integer' }],
  },
};

// Redis's own order for the flags it prints (addReplyFlagsForCommand), hidden ones last.
const FLAG_ORDER = ['WRITE', 'READONLY', 'DENYOOM', 'MODULE', 'ADMIN', 'PUBSUB', 'NOSCRIPT', 'BLOCKING',
  'LOADING', 'STALE', 'SKIP_MONITOR', 'SKIP_SLOWLOG', 'ASKING', 'FAST', 'NO_AUTH', 'NO_MANDATORY_KEYS',
  'NO_ASYNC_LOADING', 'NO_MULTI', 'MOVABLEKEYS', 'ALLOW_BUSY', 'MAY_REPLICATE', 'SENTINEL', 'PROTECTED'];
// ACL category order of Redis's ACLCommandCategories table.
const ACL_ORDER = ['KEYSPACE', 'READ', 'WRITE', 'SET', 'SORTEDSET', 'LIST', 'HASH', 'STRING', 'BITMAP',
  'HYPERLOGLOG', 'GEO', 'STREAM', 'PUBSUB', 'ADMIN', 'FAST', 'SLOW', 'BLOCKING', 'DANGEROUS', 'CONNECTION',
  'TRANSACTION', 'SCRIPTING'];
const KEY_FLAG_ORDER = ['RO', 'RW', 'OW', 'RM', 'ACCESS', 'UPDATE', 'INSERT', 'DELETE', 'NOT_KEY',
  'INCOMPLETE', 'VARIABLE_FLAGS'];

function sortBy(order: string[], items: Iterable<string>): string[] {
  const set = new Set(items);
  return order.filter((x) => set.has(x));
}

function implicitAcl(c: SrcCommand): string[] {
  const cats = new Set(c.acl_categories);
  const flags = new Set(c.flags);
  if (flags.has('WRITE')) cats.add('WRITE');
  if (flags.has('READONLY') && !cats.has('SCRIPTING')) cats.add('READ');
  if (flags.has('ADMIN')) { cats.add('ADMIN'); cats.add('DANGEROUS'); }
  if (flags.has('PUBSUB')) cats.add('PUBSUB');
  if (flags.has('FAST')) cats.add('FAST');
  if (flags.has('BLOCKING')) cats.add('BLOCKING');
  if (!cats.has('FAST')) cats.add('SLOW');
  return sortBy(ACL_ORDER, cats).map((x) => x.toLowerCase());
}

/** populateCommandLegacyRangeSpec: [first, last, step] and whether keys are movable. */
function legacyRange(specs: SrcKeySpec[]): { range: [number, number, number]; movable: boolean } {
  if (specs.length === 0) return { range: [0, 0, 0], movable: false };
  const plain = (s: SrcKeySpec) => s.begin_search.index !== undefined && s.find_keys.range !== undefined;
  const abs = (first: number, last: number) => (last >= 0 ? last + first : last);
  if (specs.length === 1 && plain(specs[0]!)) {
    const s = specs[0]!;
    const first = s.begin_search.index!.pos;
    const r = s.find_keys.range!;
    return { range: [first, abs(first, r.lastkey), r.step], movable: s.flags.includes('INCOMPLETE') };
  }
  let movable = false;
  let first = Number.MAX_SAFE_INTEGER;
  let last = 0;
  let prevLast = 0;
  const u32 = (n: number) => n >>> 0; // Redis compares lastkey unsigned so negatives win
  for (const s of specs) {
    if (!plain(s)) { movable = true; continue; }
    const pos = s.begin_search.index!.pos;
    const r = s.find_keys.range!;
    if (r.step !== 1 || (prevLast && prevLast !== pos - 1)) { movable = true; continue; }
    if (s.flags.includes('INCOMPLETE')) movable = true;
    first = Math.min(first, pos);
    const lastAbs = r.lastkey >= 0 ? r.lastkey + pos : r.lastkey;
    last = u32(last) >= u32(lastAbs) ? last : lastAbs;
    prevLast = last;
  }
  if (first === Number.MAX_SAFE_INTEGER) return { range: [0, 0, 0], movable: true };
  return { range: [first, last, 1], movable };
}

function keySpec(s: SrcKeySpec): OutKeySpec {
  const bs = s.begin_search.index ? { index: s.begin_search.index.pos }
    : s.begin_search.keyword ? { keyword: s.begin_search.keyword.keyword, startfrom: s.begin_search.keyword.startfrom }
    : null;
  const r = s.find_keys.range;
  const k = s.find_keys.keynum;
  const fk = r ? { range: [r.lastkey, r.step, r.limit] as [number, number, number] }
    : k ? { keynum: [k.keynumidx, k.firstkey, k.step] as [number, number, number] }
    : null;
  return { flags: sortBy(KEY_FLAG_ORDER, s.flags), bs, fk };
}

function convert(c: SrcCommand) {
  const { range, movable } = legacyRange(c.key_specs);
  const flags = new Set(c.flags);
  if (movable) flags.add('MOVABLEKEYS');
  return {
    arity: c.arity,
    flags: sortBy(FLAG_ORDER, flags).map((f) => f.toLowerCase()),
    acl: implicitAcl(c),
    range,
    keySpecs: c.key_specs.map(keySpec),
    group: c.group,
    since: c.since,
    ...(c.doc_flags.length ? { docFlags: c.doc_flags.map((f) => f.toLowerCase()) } : {}),
    ...(c.arguments.length ? { args: c.arguments } : {}),
  };
}

type Out = ReturnType<typeof convert> & { subcommands?: Record<string, ReturnType<typeof convert>> };
const table: Record<string, Out> = {};
const merged = { ...all, ...extra };
for (const name of Object.keys(merged).sort()) {
  const c = merged[name]!;
  if (c.flags.includes('ONLY_SENTINEL')) continue;
  const bar = name.indexOf('|');
  if (bar < 0) {
    table[name] = { ...convert(c), ...(table[name]?.subcommands ? { subcommands: table[name].subcommands } : {}) };
  } else {
    const parent = name.slice(0, bar);
    const p = (table[parent] ??= { subcommands: {} } as Out);
    (p.subcommands ??= {})[name.slice(bar + 1)] = convert(c);
  }
}
writeFileSync(out, JSON.stringify(table) + '\n');
console.log(`wrote ${Object.keys(table).length} commands to ${path.relative(process.cwd(), out)}`);
