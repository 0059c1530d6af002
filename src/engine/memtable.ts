import BTreeModule from 'sorted-btree';

// sorted-btree is CommonJS with an ES-style default export: Node hands us the module object,
// bundlers (vitest) the class itself.
const BTree: typeof BTreeModule.default =
  (BTreeModule as unknown as { default?: typeof BTreeModule.default }).default ?? (BTreeModule as never);
export type BTree<K, V> = InstanceType<typeof BTreeModule.default<K, V>>;
import { compareKeys, type Version, versionCost } from './version.ts';

/** Newest first; older links kept only while a snapshot may still read them. */
export interface Chain extends Version {
  older?: Chain;
}

/**
 * The in-memory table. A hash index holds every key's version chain (newest first) and serves
 * point reads and writes; the B+tree that orders keys for scans is only brought up to date
 * when a scan asks for it (new keys wait in `pending`), so a write costs a hash update, and
 * sorting is paid in batches, by scans, or off-thread when the table is flushed.
 */
export class Memtable {
  private readonly index = new Map<string, Chain>();
  private readonly tree = new BTree<string, undefined>(undefined, compareKeys);
  private pending: string[] = [];
  /** Bumped whenever the tree changes, so that cursors know when their iterators went stale. */
  treeVersion = 0;
  bytes = 0;
  /** Bytes of every version ever applied, replaced ones too: what the WAL holds for this table. */
  logged = 0;
  minSeq = Infinity;
  maxSeq = 0;

  get size(): number {
    return this.index.size;
  }

  /** oldestSnapshot: the smallest open snapshot seq, or Infinity when none is open. */
  apply(key: string, v: Version, oldestSnapshot: number): void {
    const prev = this.index.get(key);
    const node: Chain = { seq: v.seq, value: v.value, expireAt: v.expireAt, older: prev };
    const cost = versionCost(key, v);
    this.bytes += cost;
    this.logged += cost;
    if (prev) {
      // Keep versions newer than the oldest snapshot plus the first one it can see.
      let c: Chain = node;
      while (c.older && c.seq > oldestSnapshot) c = c.older;
      if (c.older) {
        this.bytes -= chainCost(key, c.older);
        c.older = undefined;
      }
    } else {
      this.pending.push(key);
    }
    this.index.set(key, node);
    if (v.seq < this.minSeq) this.minSeq = v.seq;
    if (v.seq > this.maxSeq) this.maxSeq = v.seq;
  }

  /** The newest version with seq <= snapSeq, if this table has one. */
  get(key: string, snapSeq: number): Version | undefined {
    return visible(this.index.get(key), snapSeq);
  }

  chain(key: string): Chain | undefined {
    return this.index.get(key);
  }

  /** Every key with its chain, in no particular order (the flush sorts off-thread). */
  entries(): IterableIterator<[string, Chain]> {
    return this.index.entries();
  }

  /** The ordered key set, with keys added since the last call merged in. */
  sorted(): BTree<string, undefined> {
    if (this.pending.length > 0) {
      // Default sort compares UTF-16 units: byte order for binary strings.
      this.pending.sort();
      for (const k of this.pending) this.tree.set(k, undefined);
      this.pending = [];
      this.treeVersion++;
    }
    return this.tree;
  }
}

export function visible(chain: Chain | undefined, snapSeq: number): Version | undefined {
  let c = chain;
  while (c && c.seq > snapSeq) c = c.older;
  return c;
}

function chainCost(key: string, c: Chain | undefined): number {
  let n = 0;
  for (; c; c = c.older) n += versionCost(key, c);
  return n;
}
