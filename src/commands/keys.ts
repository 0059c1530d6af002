/** Generic key commands (Redis db.c / object.c / cluster.c DUMP-RESTORE semantics). */
import { globMatch } from '../util/glob.ts';
import { ErrorReply, OK, type Reply, SimpleString } from '../resp/reply.ts';
import { readKey } from '../types/access.ts';
import { dumpValue, restoreValue, verifyPayload } from '../types/dump.ts';
import type { Keyspace } from '../types/keyspace.ts';
import { parseInt64 } from '../types/numbers.ts';
import {
  argInt32,
  DB_OUT_OF_RANGE,
  NO_SUCH_KEY,
  NOT_INTEGER,
  parseCursor,
  SAME_OBJECT,
  SYNTAX,
  toExpireMs,
} from '../types/replies.ts';
import { type Entry, HashValue, typeOf, type Value } from '../types/values.ts';
import { ListValue } from '../types/list.ts';
import { copySplitList, splitListElements } from '../types/list-records.ts';
import { copySplit, inlineCopy } from '../types/set-collection.ts';
import { SetValue } from '../types/set-value.ts';
import { ZSetValue } from '../types/zset-value.ts';
import { helpReply } from './help.ts';
import type { CommandModule, ExecContext } from './types.ts';

const LFU_SELECTED =
  'ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.';
const LFU_NOT_SELECTED =
  'ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.';

/** Loads keys of several databases; returns only when all are in memory at the same moment. */
async function ensureAll(ks: Keyspace, wanted: [number, string[]][]): Promise<void> {
  for (let round = 0; round < 100; round++) {
    const waits = wanted.map(([db, keys]) => ks.prefetch(db, keys)).filter((p) => p !== undefined);
    if (waits.length === 0) return;
    await Promise.all(waits);
  }
  throw new Error('keys did not stay in memory');
}

/** A copy that can live under another key (hashes are mutable and own their element records). */
function dup(e: Entry): { value: Value; split: boolean } {
  const v = e.value;
  if (v instanceof HashValue) return { value: v.clone(), split: v.version !== 0 };
  if (v instanceof ListValue) return { value: v.clone(), split: false };
  if (v instanceof SetValue || v instanceof ZSetValue) return { value: v.copy(), split: false };
  return { value: v, split: false };
}

/** A collection whose elements live in engine records (copied by dupSplitList, not dup). */
function splitOf(v: Value): ListValue | SetValue | ZSetValue | undefined {
  return (v instanceof ListValue || v instanceof SetValue || v instanceof ZSetValue) && v.split ? v : undefined;
}

/**
 * dup() for a split list: its element records are copied under the destination, streamed
 * (list-records.ts), then both keys are made resident again for the synchronous rest.
 */
async function dupSplitList(ks: Keyspace, src: [number, string], l: ListValue | SetValue | ZSetValue, dst: [number, string]): Promise<{ value: Value; split: boolean }> {
  const value = l instanceof ListValue ? await copySplitList(ks, src[0], src[1], l, dst[0], dst[1]) : await copySplit(ks, src[0], src[1], l, dst[0], dst[1]);
  await ensureAll(ks, src[0] === dst[0] ? [[src[0], [src[1], dst[1]]]] : [[src[0], [src[1]]], [dst[0], [dst[1]]]]);
  return { value, split: false };
}

function renameGeneric(ctx: ExecContext, args: string[], nx: boolean): Reply {
  const src = args[1]!;
  const dst = args[2]!;
  const ks = ctx.keyspace;
  const e = ks.lookup(ctx.db, src, ctx.now);
  if (!e) return NO_SUCH_KEY;
  if (src === dst) return nx ? 0 : OK;
  if (ks.lookup(ctx.db, dst, ctx.now) && nx) return 0;
  const finish = ({ value, split }: { value: Value; split: boolean }): Reply => {
    ks.set(ctx.db, dst, value, e.expireAt, { enc: e.enc, split });
    ks.delete(ctx.db, src, ctx.now);
    return nx ? 1 : OK;
  };
  const split = splitOf(e.value);
  if (split) return dupSplitList(ks, [ctx.db, src], split, [ctx.db, dst]).then(finish);
  return finish(dup(e));
}

/** The literal prefix of a glob pattern (everything before the first special character). */
function literalPrefix(pattern: string): string {
  const m = /[*?[\\]/.exec(pattern);
  return m ? pattern.slice(0, m.index) : pattern;
}

async function keysCommand(ctx: ExecContext, args: string[]): Promise<Reply> {
  const pattern = args[1]!;
  const all = pattern === '*';
  const prefix = literalPrefix(pattern);
  const out: string[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await ctx.keyspace.scanKeys(ctx.db, after, 1000, prefix);
    for (const k of page.keys) if (all || globMatch(pattern, k.key)) out.push(k.key);
    if (page.done) break;
    after = page.last;
  }
  return out;
}

async function scanCommand(ctx: ExecContext, args: string[]): Promise<Reply> {
  const cur = parseCursor(args[1]!);
  if (cur instanceof ErrorReply) return cur;
  let count = 10;
  let pattern: string | undefined;
  let type: string | undefined;
  for (let i = 2; i < args.length; ) {
    const opt = args[i]!.toLowerCase();
    const left = args.length - i;
    if (opt === 'count' && left >= 2) {
      const v = parseInt64(args[i + 1]!);
      if (v === undefined) return NOT_INTEGER;
      if (v < 1n) return SYNTAX;
      count = v > 100_000n ? 100_000 : Number(v);
      i += 2;
    } else if (opt === 'match' && left >= 2) {
      pattern = args[i + 1] === '*' ? undefined : args[i + 1];
      i += 2;
    } else if (opt === 'type' && left >= 2) {
      type = args[i + 1]!.toLowerCase();
      i += 2;
    } else {
      return SYNTAX;
    }
  }
  const ks = ctx.keyspace;
  const after = cur === 0n ? undefined : ks.cursorPosition(cur.toString());
  const page = await ks.scanKeys(ctx.db, after, count, pattern === undefined ? '' : literalPrefix(pattern));
  const keys: string[] = [];
  for (const k of page.keys) {
    if (pattern !== undefined && !globMatch(pattern, k.key)) continue;
    if (type !== undefined && type !== k.type) continue;
    keys.push(k.key);
  }
  const next = page.done || page.last === undefined ? '0' : ks.newCursor(page.last);
  return [next, keys];
}

async function copyCommand(ctx: ExecContext, args: string[]): Promise<Reply> {
  const src = args[1]!;
  const dst = args[2]!;
  let replace = false;
  let dstDb = ctx.db;
  for (let j = 3; j < args.length; j++) {
    const opt = args[j]!.toLowerCase();
    const more = args.length - 1 - j;
    if (opt === 'replace') replace = true;
    else if (opt === 'db' && more >= 1) {
      const v = argInt32(args[j + 1]!);
      if (v instanceof ErrorReply) return v;
      if (v < 0 || v >= ctx.keyspace.databases) return DB_OUT_OF_RANGE;
      dstDb = v;
      j++;
    } else return SYNTAX;
  }
  if (dstDb === ctx.db && src === dst) return SAME_OBJECT;
  const ks = ctx.keyspace;
  if (dstDb !== ctx.db) await ensureAll(ks, [[ctx.db, [src]], [dstDb, [dst]]]);
  const e = readKey(ctx, src);
  if (!e) return 0;
  if (ks.lookup(dstDb, dst, ctx.now)) {
    if (!replace) return 0;
  }
  const big = splitOf(e.value);
  const { value, split } = big ? await dupSplitList(ks, [ctx.db, src], big, [dstDb, dst]) : dup(e);
  // dupStringObject gives an int-encoded copy its own (unshared) object.
  ks.set(dstDb, dst, value, e.expireAt, { enc: e.enc === 'auto' ? 'unshared' : e.enc, split });
  return 1;
}

async function moveCommand(ctx: ExecContext, args: string[]): Promise<Reply> {
  const key = args[1]!;
  const v = argInt32(args[2]!);
  if (v instanceof ErrorReply) return v;
  const ks = ctx.keyspace;
  if (v < 0 || v >= ks.databases) return DB_OUT_OF_RANGE;
  if (v === ctx.db) return SAME_OBJECT;
  await ensureAll(ks, [[ctx.db, [key]], [v, [key]]]);
  const e = ks.lookup(ctx.db, key, ctx.now);
  if (!e) return 0;
  if (ks.lookup(v, key, ctx.now)) return 0;
  const big = splitOf(e.value);
  const { value, split } = big ? await dupSplitList(ks, [ctx.db, key], big, [v, key]) : dup(e);
  ks.set(v, key, value, e.expireAt, { enc: e.enc, split });
  ks.delete(ctx.db, key, ctx.now);
  return 1;
}

function restoreCommand(ctx: ExecContext, args: string[]): Reply {
  const key = args[1]!;
  let replace = false;
  let absttl = false;
  let idle: bigint | undefined;
  let freq: bigint | undefined;
  for (let j = 4; j < args.length; j++) {
    const opt = args[j]!.toLowerCase();
    const more = args.length - j - 1;
    if (opt === 'replace') replace = true;
    else if (opt === 'absttl') absttl = true;
    else if (opt === 'idletime' && more >= 1 && freq === undefined) {
      const v = parseInt64(args[j + 1]!);
      if (v === undefined) return NOT_INTEGER;
      if (v < 0n) return new ErrorReply('ERR Invalid IDLETIME value, must be >= 0');
      idle = v;
      j++;
    } else if (opt === 'freq' && more >= 1 && idle === undefined) {
      const v = parseInt64(args[j + 1]!);
      if (v === undefined) return NOT_INTEGER;
      if (v < 0n || v > 255n) return new ErrorReply('ERR Invalid FREQ value, must be >= 0 and <= 255');
      freq = v;
      j++;
    } else return SYNTAX;
  }
  const ks = ctx.keyspace;
  if (!replace && ks.lookup(ctx.db, key, ctx.now)) return new ErrorReply('BUSYKEY Target key name already exists.');
  let ttl = parseInt64(args[2]!);
  if (ttl === undefined) return NOT_INTEGER;
  if (ttl < 0n) return new ErrorReply('ERR Invalid TTL value, must be >= 0');
  const payload = Buffer.from(args[3]!, 'latin1');
  if (!verifyPayload(payload)) return new ErrorReply('ERR DUMP payload version or checksum are wrong');
  const value = restoreValue(payload, ks);
  if (value === undefined) return new ErrorReply('ERR Bad data format');
  if (replace) ks.delete(ctx.db, key, ctx.now);
  if (ttl !== 0n && !absttl) ttl += BigInt(ctx.now);
  if (ttl !== 0n && ttl <= BigInt(ctx.now)) return OK;
  ks.set(ctx.db, key, value, ttl === 0n ? 0 : toExpireMs(ttl));
  if (idle !== undefined || freq !== undefined) {
    ks.setAccess(ctx.db, key, idle === undefined ? undefined : Number(idle), freq === undefined ? undefined : Number(freq));
  }
  return OK;
}

export const commands: CommandModule = {
  del(ctx, args) {
    let n = 0;
    for (let i = 1; i < args.length; i++) if (ctx.keyspace.delete(ctx.db, args[i]!, ctx.now)) n++;
    return n;
  },

  unlink(ctx, args) {
    let n = 0;
    for (let i = 1; i < args.length; i++) if (ctx.keyspace.delete(ctx.db, args[i]!, ctx.now)) n++;
    return n;
  },

  exists(ctx, args) {
    let n = 0;
    for (let i = 1; i < args.length; i++) if (ctx.keyspace.lookup(ctx.db, args[i]!, ctx.now, false)) n++;
    return n;
  },

  type(ctx, args) {
    const e = ctx.keyspace.lookup(ctx.db, args[1]!, ctx.now, false);
    return new SimpleString(e ? typeOf(e.value) : 'none');
  },

  touch(ctx, args) {
    let n = 0;
    for (let i = 1; i < args.length; i++) if (ctx.keyspace.lookup(ctx.db, args[i]!, ctx.now)) n++;
    return n;
  },

  rename(ctx, args) {
    return renameGeneric(ctx, args, false);
  },

  renamenx(ctx, args) {
    return renameGeneric(ctx, args, true);
  },

  copy: copyCommand,
  move: moveCommand,
  keys: keysCommand,
  scan: scanCommand,

  async randomkey(ctx) {
    return (await ctx.keyspace.randomKey(ctx.db, ctx.now)) ?? null;
  },

  'object|encoding'(ctx, args) {
    const e = ctx.keyspace.lookup(ctx.db, args[2]!, ctx.now, false);
    return e ? ctx.keyspace.encodingOf(e) : null;
  },

  'object|refcount'(ctx, args) {
    const info = ctx.keyspace.objectInfo(ctx.db, args[2]!, ctx.now);
    return info ? info.refcount : null;
  },

  'object|idletime'(ctx, args) {
    const info = ctx.keyspace.objectInfo(ctx.db, args[2]!, ctx.now);
    if (!info) return null;
    if (ctx.keyspace.isLfuPolicy()) return new ErrorReply(LFU_SELECTED);
    return info.idle;
  },

  'object|freq'(ctx, args) {
    const info = ctx.keyspace.objectInfo(ctx.db, args[2]!, ctx.now);
    if (!info) return null;
    if (!ctx.keyspace.isLfuPolicy()) return new ErrorReply(LFU_NOT_SELECTED);
    return info.freq;
  },

  'object|help'() {
    return helpReply('OBJECT', [
      'ENCODING <key>',
      '    Return the kind of internal representation used in order to store the value',
      '    associated with a <key>.',
      'FREQ <key>',
      '    Return the access frequency index of the <key>. The returned integer is',
      '    proportional to the logarithm of the recent access frequency of the key.',
      'IDLETIME <key>',
      '    Return the idle time of the <key>, that is the approximated number of',
      '    seconds elapsed since the last access to the key.',
      'REFCOUNT <key>',
      '    Return the number of references of the value associated with the specified',
      '    <key>.',
    ]);
  },

  async dump(ctx, args) {
    const e = readKey(ctx, args[1]!);
    if (!e) return null;
    const v = e.value;
    if (v instanceof ListValue && v.split) {
      // The payload holds every element anyway: read them into an inline copy.
      const items: string[] = [];
      for await (const s of splitListElements(ctx.keyspace, ctx.db, args[1]!, v)) items.push(s);
      return dumpValue(new ListValue(items));
    }
    // Likewise a split set or sorted set.
    if ((v instanceof SetValue || v instanceof ZSetValue) && v.split) return dumpValue(await inlineCopy(ctx.keyspace, ctx.db, args[1]!, v));
    return dumpValue(v);
  },

  restore: restoreCommand,
};
