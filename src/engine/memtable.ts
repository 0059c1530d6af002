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
 * The sorted in-memory table (a B+tree keyed by binary string). Each key holds a chain of
 * versions, newest first; old versions are pruned unless an open snapshot needs them.
 */
export class Memtable {
  readonly tree = new BTree<string, Chain>(undefined, compareKeys);
  bytes = 0;
  minSeq = Infinity;
  maxSeq = 0;
  get size(): number {
    return this.tree.size;
  }

  /** oldestSnapshot: the smallest open snapshot seq, or Infinity when none is open. */
  apply(key: string, v: Version, oldestSnapshot: number): void {
    const node: Chain = { seq: v.seq, value: v.value, expireAt: v.expireAt, older: this.tree.get(key) };
    this.bytes += versionCost(key, v);
    // Keep versions newer than the oldest snapshot plus the first one it can see.
    let c: Chain = node;
    while (c.older && c.seq > oldestSnapshot) c = c.older;
    if (c.older) {
      this.bytes -= chainCost(key, c.older);
      c.older = undefined;
    }
    this.tree.set(key, node);
    if (v.seq < this.minSeq) this.minSeq = v.seq;
    if (v.seq > this.maxSeq) this.maxSeq = v.seq;
  }

  /** The newest version with seq <= snapSeq, if this table has one. */
  get(key: string, snapSeq: number): Version | undefined {
    return visible(this.tree.get(key), snapSeq);
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
