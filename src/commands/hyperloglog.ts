/**
 * HyperLogLog commands (Redis 7.0 hyperloglog.c semantics): PFADD, PFCOUNT, PFMERGE, PFDEBUG,
 * PFSELFTEST. HLLs are strings in Redis's own byte layout (src/types/hll.ts), so they move
 * between Redis and Shale with GET/SET or DUMP/RESTORE.
 *
 * PFCOUNT of one key writes the computed cardinality into the value's header, as Redis does
 * (so a later GET shows the cache); every HLL write makes the string 'raw', like Redis's
 * dbUnshareStringValue.
 */
import { ErrorReply, OK, type Reply, SimpleString } from '../resp/reply.ts';
import { readKey, writeKey } from '../types/access.ts';
import {
  cachedCard,
  cacheValid,
  createHll,
  decodeSparse,
  DEFAULT_SPARSE_MAX_BYTES,
  denseGet,
  denseSet,
  encodingOf,
  type Hll,
  HLL_DENSE,
  HLL_DENSE_SIZE,
  HLL_HDR_SIZE,
  HLL_REGISTERS,
  HLL_SPARSE,
  hllAdd,
  hllCount,
  hllFromString,
  hllMerge,
  hllSetRegister,
  hllToString,
  invalidateCache,
  isValidHll,
  rawCount,
  setCachedCard,
  sparseToDense,
} from '../types/hll.ts';
import { intReply } from '../types/numbers.ts';
import { WRONGTYPE } from '../types/replies.ts';
import type { Entry } from '../types/values.ts';
import type { CommandModule, ExecContext } from './types.ts';

const NOT_HLL = new ErrorReply('WRONGTYPE Key is not a valid HyperLogLog string value.');
const CORRUPT = new ErrorReply('INVALIDOBJ Corrupted HLL object detected');

/** hll-sparse-max-bytes: the configured value when the server knows it, else Redis's default. */
function sparseMax(ctx: ExecContext): number {
  try {
    const cfg = (ctx.server as { config?: { num(n: string): number } }).config;
    const v = cfg?.num('hll-sparse-max-bytes');
    if (v !== undefined && Number.isFinite(v) && v >= 0) return v;
  } catch {
    // not a known option: keep the default
  }
  return DEFAULT_SPARSE_MAX_BYTES;
}

/** isHLLObjectOrReply: the entry's HLL, or the error to reply. */
function hllOf(e: Entry): Hll | ErrorReply {
  if (typeof e.value !== 'string') return WRONGTYPE;
  if (!isValidHll(e.value)) return NOT_HLL;
  return hllFromString(e.value);
}

/** Writes an HLL back if its bytes changed; either way the value is now a raw string. */
function save(ctx: ExecContext, key: string, e: Entry, h: Hll): void {
  const s = hllToString(h);
  if (s !== e.value) ctx.keyspace.setString(ctx.db, key, e, s, 'raw');
  else e.enc = 'raw';
}

function pfadd(ctx: ExecContext, args: string[]): Reply {
  const key = args[1]!;
  const e = writeKey(ctx, key);
  let h: Hll;
  let updated = 0;
  if (!e) {
    h = createHll();
    updated++;
  } else {
    const got = hllOf(e);
    if (got instanceof ErrorReply) return got;
    h = got;
  }
  const max = sparseMax(ctx);
  let failed = false;
  for (let j = 2; j < args.length; j++) {
    const r = hllAdd(h, args[j]!, max);
    if (r === 1) updated++;
    else if (r === -1) {
      failed = true;
      break;
    }
  }
  // On a corrupt value Redis keeps the registers it already changed (no rollback).
  if (updated && !failed) invalidateCache(h);
  if (!e) ctx.keyspace.set(ctx.db, key, hllToString(h), 0, { enc: 'raw' });
  else save(ctx, key, e, h);
  if (failed) return CORRUPT;
  return updated ? 1 : 0;
}

function pfcount(ctx: ExecContext, args: string[]): Reply {
  if (args.length > 2) {
    // The union of several HLLs, computed on one byte per register; nothing is cached.
    const max = new Uint8Array(HLL_REGISTERS);
    for (let j = 1; j < args.length; j++) {
      const e = readKey(ctx, args[j]!);
      if (!e) continue;
      const h = hllOf(e);
      if (h instanceof ErrorReply) return h;
      if (!hllMerge(max, h)) return CORRUPT;
    }
    return rawCount(max);
  }
  const key = args[1]!;
  const e = readKey(ctx, key);
  if (!e) return 0;
  const h = hllOf(e);
  if (h instanceof ErrorReply) return h;
  if (cacheValid(h)) {
    e.enc = 'raw';
    return intReply(cachedCard(h));
  }
  const card = hllCount(h);
  if (card === undefined) {
    e.enc = 'raw';
    return CORRUPT;
  }
  setCachedCard(h, card);
  save(ctx, key, e, h);
  return card;
}

function pfmerge(ctx: ExecContext, args: string[]): Reply {
  const max = new Uint8Array(HLL_REGISTERS);
  let dense = false;
  for (let j = 1; j < args.length; j++) {
    const e = readKey(ctx, args[j]!);
    if (!e) continue;
    const h = hllOf(e);
    if (h instanceof ErrorReply) return h;
    if (encodingOf(h) === HLL_DENSE) dense = true;
    if (!hllMerge(max, h)) return CORRUPT;
  }
  const dest = args[1]!;
  const e = writeKey(ctx, dest);
  // The destination was checked as the first source above.
  const h = e ? hllFromString(e.value as string) : createHll();
  if (dense && !sparseToDense(h)) {
    if (!e) ctx.keyspace.set(ctx.db, dest, hllToString(h), 0, { enc: 'raw' });
    return CORRUPT;
  }
  const sm = sparseMax(ctx);
  for (let j = 0; j < HLL_REGISTERS; j++) {
    if (max[j] !== 0) hllSetRegister(h, j, max[j]!, sm);
  }
  invalidateCache(h);
  if (!e) ctx.keyspace.set(ctx.db, dest, hllToString(h), 0, { enc: 'raw' });
  else save(ctx, dest, e, h);
  return OK;
}

function pfdebug(ctx: ExecContext, args: string[]): Reply {
  const sub = args[1]!;
  const key = args[2]!;
  const e = writeKey(ctx, key);
  if (!e) return new ErrorReply('ERR The specified key does not exist');
  const h = hllOf(e);
  if (h instanceof ErrorReply) return h;
  e.enc = 'raw';
  switch (sub.toLowerCase()) {
    case 'getreg': {
      if (encodingOf(h) === HLL_SPARSE) {
        if (!sparseToDense(h)) return CORRUPT;
        save(ctx, key, e, h);
      }
      const out: number[] = new Array<number>(HLL_REGISTERS);
      for (let j = 0; j < HLL_REGISTERS; j++) out[j] = denseGet(h.b, HLL_HDR_SIZE, j);
      return out;
    }
    case 'decode':
      if (encodingOf(h) !== HLL_SPARSE) return new ErrorReply('ERR HLL encoding is not sparse');
      return decodeSparse(h);
    case 'encoding':
      return new SimpleString(encodingOf(h) === HLL_DENSE ? 'dense' : 'sparse');
    case 'todense': {
      if (encodingOf(h) !== HLL_SPARSE) return 0;
      if (!sparseToDense(h)) return CORRUPT;
      save(ctx, key, e, h);
      return 1;
    }
    default:
      return new ErrorReply(`ERR Unknown PFDEBUG subcommand '${sub}'`);
  }
}

/**
 * PFSELFTEST, scaled down from Redis's (which adds ten million elements): register get/set
 * round trips on random values, then dense and sparse HLLs fed the same elements must agree
 * and stay within six standard errors up to 100,000 elements.
 */
function pfselftest(ctx: ExecContext): Reply {
  const regs = Buffer.alloc(HLL_DENSE_SIZE);
  const bytes = new Uint8Array(HLL_REGISTERS);
  for (let cycle = 0; cycle < 20; cycle++) {
    for (let i = 0; i < HLL_REGISTERS; i++) {
      const r = Math.floor(Math.random() * 64);
      bytes[i] = r;
      denseSet(regs, HLL_HDR_SIZE, i, r);
    }
    for (let i = 0; i < HLL_REGISTERS; i++) {
      const v = denseGet(regs, HLL_HDR_SIZE, i);
      if (v !== bytes[i]) return new ErrorReply(`TESTFAILED Register ${i} should be ${bytes[i]} but is ${v}`);
    }
  }
  const dense: Hll = { b: Buffer.alloc(HLL_DENSE_SIZE), len: HLL_DENSE_SIZE };
  dense.b.write('HYLL', 0, 'latin1');
  const sparse = createHll();
  const sm = sparseMax(ctx);
  const relerr = 1.04 / Math.sqrt(HLL_REGISTERS);
  const seed = Math.floor(Math.random() * 2 ** 31);
  let checkpoint = 1;
  const ele = Buffer.alloc(8);
  for (let j = 1; j <= 100_000; j++) {
    ele.writeUInt32LE((j ^ seed) >>> 0, 0);
    const s = ele.toString('latin1');
    hllAdd(dense, s, sm);
    hllAdd(sparse, s, sm);
    if (j !== checkpoint) continue;
    if (j < sm / 2 && encodingOf(sparse) !== HLL_SPARSE) return new ErrorReply('TESTFAILED sparse encoding not used');
    const card = hllCount(dense)!;
    if (card !== hllCount(sparse)) return new ErrorReply('TESTFAILED dense/sparse disagree');
    const maxerr = j === 10 ? 1 : Math.ceil(relerr * 6 * checkpoint);
    const abserr = Math.abs(checkpoint - card);
    if (abserr > maxerr) return new ErrorReply(`TESTFAILED Too big error. card:${checkpoint} abserr:${abserr}`);
    checkpoint *= 10;
  }
  return OK;
}

export const commands: CommandModule = {
  pfadd,
  pfcount,
  pfmerge,
  pfdebug,
  pfselftest: (ctx) => pfselftest(ctx),
};
