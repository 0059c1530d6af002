/**
 * Key extraction from key specs (Redis's getKeysUsingKeySpecs): used to prefetch a command's
 * keys into the hot set before its handler runs, by COMMAND GETKEYS, and for cluster routing.
 */
import type { CommandDef, KeySpec } from './command-table.ts';

export interface KeyRef {
  pos: number;
  flags: string[];
}

const INT_RE = /^(?:0|-?[1-9][0-9]*)$/;

/**
 * Positions of the keys in argv. With partial=true a spec that does not fit the arguments is
 * skipped (best effort, for prefetch); otherwise the whole extraction fails with undefined.
 */
export function keyRefs(def: CommandDef, argv: string[], partial = true): KeyRef[] | undefined {
  const special = SPECIAL[def.fullname];
  if (special) return special(argv);
  const out: KeyRef[] = [];
  const argc = argv.length;
  for (const spec of def.keySpecs) {
    if (spec.flags.includes('NOT_KEY')) continue;
    const r = fromSpec(spec, argv, argc);
    if (r === undefined) {
      if (partial) continue;
      return undefined;
    }
    for (const pos of r) out.push({ pos, flags: spec.flags });
    if (spec.flags.includes('INCOMPLETE') && !partial) return undefined;
  }
  return out;
}

/** The key names of a request (duplicates kept; callers dedupe if they care). */
export function extractKeys(def: CommandDef, argv: string[]): string[] {
  if (def.keyPos >= 0) return def.keyPos < argv.length ? [argv[def.keyPos]!] : [];
  if (def.keySpecs.length === 0) return [];
  const refs = keyRefs(def, argv, true)!;
  return refs.map((r) => argv[r.pos]!);
}

function fromSpec(spec: KeySpec, argv: string[], argc: number): number[] | undefined {
  let first = 0;
  if (!spec.bs || !spec.fk) return undefined;
  if ('index' in spec.bs) {
    first = spec.bs.index;
  } else {
    const { keyword, startfrom } = spec.bs;
    const start = startfrom > 0 ? startfrom : argc + startfrom;
    const end = startfrom > 0 ? argc - 1 : 1;
    const kw = keyword.toLowerCase();
    for (let i = start; i !== end; i = start <= end ? i + 1 : i - 1) {
      if (i >= argc || i < 1) break;
      if (argv[i]!.toLowerCase() === kw) {
        first = i + 1;
        break;
      }
    }
    if (!first) return [];
  }
  let last: number;
  let step: number;
  if ('range' in spec.fk) {
    const [lastkey, keystep, limit] = spec.fk.range;
    step = keystep;
    if (lastkey >= 0) last = first + lastkey;
    else if (!limit) last = argc + lastkey;
    else last = first + (Math.floor((argc - first) / limit) + lastkey);
  } else {
    const [keynumidx, firstkey, keystep] = spec.fk.keynum;
    step = keystep;
    const s = argv[first + keynumidx];
    if (s === undefined || !INT_RE.test(s)) return undefined;
    const numkeys = Number(s);
    if (numkeys < 0) return undefined;
    first += firstkey;
    last = first + numkeys - 1;
  }
  if (last >= argc || last < first || first >= argc) {
    // A keynum of 0 is a valid empty key list; anything else that does not fit is an error.
    return last === first - 1 ? [] : undefined;
  }
  const out: number[] = [];
  for (let i = first; i <= last; i += step) out.push(i);
  return out;
}

/**
 * The position of a command's only key when its specs say just that: one spec, a fixed index,
 * one key (what extractKeys then returns without walking the spec), else -1.
 */
export function onlyKeyPos(fullname: string, specs: readonly KeySpec[]): number {
  const s = specs.length === 1 && !SPECIAL[fullname] ? specs[0]! : undefined;
  if (!s?.bs || !s.fk || !('index' in s.bs) || !('range' in s.fk) || s.fk.range[0] !== 0) return -1;
  return s.flags.includes('NOT_KEY') || s.flags.includes('INCOMPLETE') ? -1 : s.bs.index;
}

/** Commands whose keys the specs cannot describe (Redis uses getkeys procs for them). */
const SPECIAL: Record<string, (argv: string[]) => KeyRef[]> = {
  sort: sortKeys,
  sort_ro: sortKeys,
};

function sortKeys(argv: string[]): KeyRef[] {
  const out: KeyRef[] = [{ pos: 1, flags: ['RO', 'ACCESS'] }];
  // SORT key [BY p] [LIMIT o c] [GET p ...] [ASC|DESC] [ALPHA] [STORE dest]: skip option args.
  const skip: Record<string, number> = { limit: 2, get: 1, by: 1 };
  let store: number | undefined;
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i]!.toLowerCase();
    if (a === 'store' && i + 1 < argv.length) {
      store = i + 1;
      i++;
    } else if (skip[a] !== undefined) {
      i += skip[a];
    }
  }
  if (store !== undefined) out.push({ pos: store, flags: ['OW', 'UPDATE'] });
  return out;
}
