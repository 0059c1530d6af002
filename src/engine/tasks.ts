/**
 * The CPU-heavy work of the engine, as pure functions over bytes so it can run in a worker
 * thread: building an L0 table from a frozen memtable, and merging tables (compaction).
 */
import { Reader } from './codec.ts';
import { AscendingDropFilter } from './dropped.ts';
import { readEntry } from './records.ts';
import { type BuiltSst, readAll, SstBuilder } from './sst.ts';
import type { Entry } from './version.ts';

export interface BuildTask {
  kind: 'build';
  /** Entries in records.ts encoding, each key's versions together and newest first. */
  entries: Uint8Array;
  blockSize: number;
  /** Dropped key ranges (sorted, disjoint): their records are left out. */
  drop?: readonly { start: string; end: string }[];
}

export interface CompactInput {
  name: string;
  bytes: Uint8Array;
  tailOffset: number;
}

export interface CompactTask {
  kind: 'compact';
  inputs: CompactInput[];
  /** Versions at or below the oldest open snapshot shadow everything older. */
  oldestSnapshot: number;
  /** The merge includes the oldest data: tombstones and expired records can go. */
  bottom: boolean;
  now: number;
  targetSstBytes: number;
  blockSize: number;
  /** Only keys in [lo, hi) are merged: one part of a compaction split by key range. */
  lo?: string;
  hi?: string;
  /** Dropped key ranges (sorted, disjoint): their records are left out. */
  drop?: readonly { start: string; end: string }[];
}

export type Task = BuildTask | CompactTask;

/** A build whose every record was dropped makes no table. */
export function runTask(task: Task): BuiltSst[] {
  if (task.kind === 'compact') return compact(task);
  const t = buildTable(task);
  return t ? [t] : [];
}

/**
 * Sorts by key with only the keys and entry offsets in memory, then re-reads each entry as it
 * is added: a worker's heap peaks at a fraction of what decoding every entry at once takes
 * (and V8 keeps a heap at its peak size long after).
 */
function buildTable(task: BuildTask): BuiltSst | undefined {
  const r = new Reader(task.entries, 'memtable');
  const keys: string[] = [];
  const offsets: number[] = [];
  while (!r.done) {
    offsets.push(r.pos);
    keys.push(readEntry(r).key);
  }
  const order = keys.map((_, i) => i);
  // Stable sort by key keeps each key's versions newest first.
  order.sort((a, b) => (keys[a]! < keys[b]! ? -1 : keys[a]! > keys[b]! ? 1 : 0));
  const b = new SstBuilder(task.blockSize);
  const drop = new AscendingDropFilter(task.drop ?? []);
  for (const i of order) {
    if (drop.drops(keys[i]!)) continue;
    r.pos = offsets[i]!;
    const e = readEntry(r);
    b.add(e.key, e);
  }
  return b.count > 0 ? b.finish() : undefined;
}

/** k-way merge by key ascending, seq descending. */
function* mergeSorted(sources: Iterator<Entry>[]): Generator<Entry> {
  const heads: (Entry | undefined)[] = sources.map((s) => s.next().value as Entry | undefined);
  for (;;) {
    let best = -1;
    for (let i = 0; i < heads.length; i++) {
      const h = heads[i];
      if (!h) continue;
      const b = best >= 0 ? heads[best]! : undefined;
      if (!b || h.key < b.key || (h.key === b.key && h.seq > b.seq)) best = i;
    }
    if (best < 0) return;
    yield heads[best]!;
    heads[best] = sources[best]!.next().value as Entry | undefined;
  }
}

export function compact(task: CompactTask): BuiltSst[] {
  const sources = task.inputs.map((i) => readAll(i.name, i.bytes, i) as Iterator<Entry>);
  const out: BuiltSst[] = [];
  let builder = new SstBuilder(task.blockSize);
  let group: Entry[] = [];

  const emit = (versions: Entry[]): void => {
    const kept = retain(versions, task);
    if (kept.length === 0) return;
    // Split outputs between keys, never inside one key's versions.
    if (builder.count > 0 && builder.estimatedSize >= task.targetSstBytes) {
      out.push(builder.finish());
      builder = new SstBuilder(task.blockSize);
    }
    for (const v of kept) builder.add(v.key, v);
  };

  const { lo, hi } = task;
  const drop = new AscendingDropFilter(task.drop ?? []);
  for (const e of mergeSorted(sources)) {
    if ((lo !== undefined && e.key < lo) || (hi !== undefined && e.key >= hi) || drop.drops(e.key)) continue;
    if (group.length > 0 && group[0]!.key !== e.key) {
      emit(group);
      group = [];
    }
    group.push(e);
  }
  if (group.length > 0) emit(group);
  if (builder.count > 0) out.push(builder.finish());
  return out;
}

/**
 * Which versions of one key survive a merge (versions arrive newest first): the newest, and
 * older ones only while an open snapshot may still read them. Expired values become
 * tombstones (they still shadow older versions below this merge); at the bottom, a key whose
 * surviving history is only deletions disappears.
 */
export function retain(versions: Entry[], task: Pick<CompactTask, 'oldestSnapshot' | 'bottom' | 'now'>): Entry[] {
  const kept: Entry[] = [];
  let prevSeq = Infinity;
  for (const v of versions) {
    if (kept.length > 0 && prevSeq <= task.oldestSnapshot) break;
    if (kept.length > 0 && v.seq === prevSeq) continue; // same version from a replayed input
    const expired = v.value !== undefined && v.expireAt !== 0 && v.expireAt <= task.now;
    kept.push(expired ? { key: v.key, seq: v.seq, expireAt: 0, value: undefined } : v);
    prevSeq = v.seq;
  }
  if (task.bottom) {
    // Trailing tombstones shadow nothing at the bottom.
    while (kept.length > 0 && kept[kept.length - 1]!.value === undefined) kept.pop();
  }
  return kept;
}
