/**
 * Node records of split lists (docs/data-model.md, "Lists"). Position p of a list whose
 * metadata says `k` slots per node lives in node floor(p / k), slot p - node * k; the node's
 * record holds its live slots in position order, so a push or pop at an end rewrites one small
 * record in place instead of adding a key per element (what the memtable, the WAL and every
 * table pay for). Elements longer than NODE_ELEMENT_MAX stay out of the node, each in a record
 * of its own keyed node key + slot byte (sorting right after its node), and the node keeps a
 * marker: a push of big elements rewrites a bounded node, never copies of the big ones.
 *
 * k = 1 is the layout before nodes (metadata without `k`): the record is the raw element.
 */
import { listPosKey, readU64, toBytes } from './encoding.ts';
import { POS_BIAS } from './list.ts';
import type { EngineWrite } from './engine-api.ts';
import { readVarint, varintLen, writeVarint } from './varint.ts';
import { writeLatin1 } from '../util/latin1.ts';

/** Slots per node for lists split from now on. */
export const NODE_SLOTS = 32;
/** Longest element held inside a node (Redis's *-max-listpack-value); below 127, so its length prefix is one byte (withEntry). */
const NODE_ELEMENT_MAX = 64;

/** A node's live slots in position order: the element, or null for one kept out of the node. */
export type NodeEntry = string | null;

export function nodeOf(pos: number, k: number): number {
  return Math.floor(pos / k);
}

export function isBig(s: string, k: number): boolean {
  return k > 1 && s.length > NODE_ELEMENT_MAX;
}

/** The record key of an element kept out of node `nodeKey`, at `slot`. */
export function bigKey(nodeKey: string, slot: number): string {
  return nodeKey + String.fromCharCode(slot);
}

/** Where one list version's nodes live: ns, key, version and slots per node. */
export interface NodeSpace {
  ns: number;
  key: string;
  version: number;
  k: number;
}

export function nodeKey(s: NodeSpace, node: number): string {
  return listPosKey(s.ns, s.key, s.version, node);
}

/** The key range of the nodes holding positions [from, to) (to > from), their big elements too. */
export function nodeRange(s: NodeSpace, from: number, to: number): { start: string; end: string } {
  return { start: nodeKey(s, nodeOf(from, s.k)), end: nodeKey(s, nodeOf(to - 1, s.k) + 1) };
}

/** Node entry of an element. */
export function entryOf(s: string, k: number): NodeEntry {
  return isBig(s, k) ? null : s;
}

/** Encodes a node's entries: varint(len + 1) and the bytes per element, 0 per marker. */
export function encodeNode(entries: readonly NodeEntry[], k: number): Uint8Array {
  if (k === 1) return toBytes(entries[0]!);
  let size = 0;
  for (const e of entries) size += e === null ? 1 : e.length + varintLen(e.length + 1);
  const b = Buffer.allocUnsafe(size);
  let at = 0;
  for (const e of entries) {
    if (e === null) b[at++] = 0;
    else at = writeLatin1(b, writeVarint(b, at, e.length + 1), e);
  }
  return b;
}

/** Room for a node's record: NODE_SLOTS entries of a length byte and at most NODE_ELEMENT_MAX bytes. */
const flatScratch = Buffer.allocUnsafeSlow(NODE_SLOTS * (NODE_ELEMENT_MAX + 1));

/**
 * A node's record (as a binary string) with one more element first (atStart) or last: what
 * encodeNode gives for the entries plus it. Only for elements that go in the node (not isBig),
 * whose length prefix is one byte. Concatenation makes a rope of the records before it (V8
 * cons strings, some 50 bytes a level): cheap while the node fills, but a full node's record
 * stays in the memtable until it is flushed, so that one (`full`) is copied flat.
 */
export function withEntry(node: string, elem: string, atStart: boolean, full: boolean): string {
  const entry = String.fromCharCode(elem.length + 1) + elem;
  const out = atStart ? entry + node : node + entry;
  return full && out.length <= flatScratch.length ? flatScratch.latin1Slice(0, flatScratch.latin1Write(out, 0)) : out;
}

/** A node's record (as a binary string) without its first (atStart) or last entry, `elem` (not isBig). */
export function withoutEntry(node: string, elem: string, atStart: boolean): string {
  const n = elem.length + 1;
  return atStart ? node.slice(n) : node.slice(0, node.length - n);
}

/** A node's entries as views of its bytes (null: a marker). */
export function decodeNode(v: Uint8Array, k: number): (Uint8Array | null)[] {
  if (k === 1) return [v];
  const b = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  const out: (Uint8Array | null)[] = [];
  for (let at = 0; at < b.length; ) {
    const [n, next] = readVarint(b, at);
    if (n === 0) out.push(null);
    else out.push(b.subarray(next, next + n - 1));
    at = n === 0 ? next : next + n - 1;
  }
  return out;
}

/**
 * The records of `entries` as node `node`'s new contents, appended to `out`: the node (deleted
 * when empty). Big elements are written by the caller (bigKey), as only it knows which changed.
 */
export function putNode(s: NodeSpace, node: number, entries: readonly NodeEntry[], out: EngineWrite[]): void {
  const key = nodeKey(s, node);
  out.push(entries.length === 0 ? { key } : { key, value: encodeNode(entries, s.k) });
}

/**
 * Builds the records of consecutive positions written in increasing order (a new version:
 * splits and rewrites). Call add() per element and finish() once.
 */
export class NodeBuilder {
  private node = NaN;
  private entries: NodeEntry[] = [];
  private readonly s: NodeSpace;
  /** The batch records go to now (a rewrite hands its batches over as they fill). */
  private readonly out: () => EngineWrite[];

  constructor(s: NodeSpace, out: () => EngineWrite[]) {
    this.s = s;
    this.out = out;
  }

  add(pos: number, elem: string): void {
    const k = this.s.k;
    const n = nodeOf(pos, k);
    if (n !== this.node) this.finish();
    this.node = n;
    const e = entryOf(elem, k);
    this.entries.push(e);
    if (e === null) this.out().push({ key: bigKey(nodeKey(this.s, n), pos - n * k), value: toBytes(elem) });
  }

  finish(): void {
    if (this.entries.length > 0) putNode(this.s, this.node, this.entries, this.out());
    this.entries = [];
  }
}

/**
 * Decodes the records of a scan over whole nodes (nodes and their big elements, in key order)
 * into the elements of positions [from, to), calling emit per element in order. `head` is the
 * list's first position: a node's first entry is at max(node * k, head).
 */
export function decodeNodes(
  records: readonly { key: string; value: Uint8Array }[],
  s: NodeSpace,
  head: number,
  from: number,
  to: number,
  emit: (v: Uint8Array) => void,
): void {
  const k = s.k;
  if (k === 1) {
    for (const r of records) emit(r.value);
    return;
  }
  const nodeKeyLen = nodeKey(s, 0).length;
  for (let i = 0; i < records.length; ) {
    const r = records[i++]!;
    if (r.key.length !== nodeKeyLen) throw new Error(`list ${JSON.stringify(s.key)}: element record without its node`);
    const node = decodeNodeIndex(r.key, nodeKeyLen);
    const first = Math.max(node * k, head);
    const entries = decodeNode(r.value, k);
    for (let j = 0; j < entries.length; j++) {
      let v = entries[j];
      const pos = first + j;
      if (v === null) {
        const big = records[i];
        if (!big || big.key.length !== nodeKeyLen + 1 || big.key.charCodeAt(nodeKeyLen) !== pos - node * k) {
          throw new Error(`list ${JSON.stringify(s.key)}: element at position ${pos} is missing`);
        }
        i++;
        v = big.value;
      }
      if (pos >= from && pos < to) emit(v);
    }
  }
}

/** The node index in a node key (its last 8 bytes, biased). */
function decodeNodeIndex(key: string, len: number): number {
  return readU64(key, len - 8) - POS_BIAS;
}
