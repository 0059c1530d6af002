/**
 * Engine records of split lists: conversion from the inline form, and streamed copies for
 * RENAME/COPY/MOVE. Everything here writes element records only; the metadata record is
 * written by the keyspace in the same batch (conversion) or right after (copies).
 */
import { elemPrefix, fromBytes } from './encoding.ts';
import type { EngineWrite } from './engine-api.ts';
import type { Keyspace } from './keyspace.ts';
import { END_CACHE_ELEMENTS, ListValue } from './list.ts';
import { decodeNodes, NodeBuilder, nodeKey, nodeRange, NODE_SLOTS, type NodeSpace } from './list-nodes.ts';
import { copyRecords } from './set-collection.ts';

/** Element records written per engine batch by copies and bulk rewrites. */
export const LIST_CHUNK = 2000;

/**
 * Turns an inline list into a split one under `version` (positions 0..n-1), appending its
 * element records to `batch`. The caller writes the metadata in the same batch.
 */
export function splitList(l: ListValue, version: number, ns: number, key: string, batch: EngineWrite[]): void {
  const items = l.items;
  l.version = version;
  l.head = 0;
  l.count = items.length;
  l.slots = NODE_SLOTS;
  const nodes = new NodeBuilder({ ns, key, version, k: NODE_SLOTS }, () => batch);
  for (let i = 0; i < items.length; i++) nodes.add(i, items[i]!);
  nodes.finish();
  l.items = [];
  l.bytes = 0;
  // The ends stay cached (each keeps what its limits allow).
  l.front.reset(items.slice(0, END_CACHE_ELEMENTS).reverse());
  l.back.reset(items.slice(-END_CACHE_ELEMENTS));
  l.front.cap();
  l.back.cap();
}

/**
 * Copies a split list's elements under another key (and maybe database) with a new version,
 * streaming LIST_CHUNK records at a time; returns the value for Keyspace.set(). Until that
 * metadata is written the new records are unreachable, so a crash midway leaves only orphans.
 */
export async function copySplitList(ks: Keyspace, srcDb: number, srcKey: string, l: ListValue, dstDb: number, dstKey: string): Promise<ListValue> {
  const srcNs = ks.db(srcDb).ns;
  const dstNs = ks.db(dstDb).ns;
  const version = ks.allocVersion();
  // Positions keep their numbers: only the key and version part of each record key changes.
  const from = elemPrefix(srcNs, srcKey, l.version);
  const to = elemPrefix(dstNs, dstKey, version);
  await copyRecords(ks, nodeRange({ ns: srcNs, key: srcKey, version: l.version, k: l.slots }, l.head, l.head + l.count), (k) => to + k.slice(from.length), to, l.slots === 1 ? l.count : undefined, `list ${JSON.stringify(srcKey)}`);
  return ListValue.split(version, l.head, l.count, l.slots);
}

/** Every element of a split list, streamed in order (DUMP). */
export async function* splitListElements(ks: Keyspace, db: number, key: string, l: ListValue): AsyncGenerator<string> {
  const s: NodeSpace = { ns: ks.db(db).ns, key, version: l.version, k: l.slots };
  const end = l.head + l.count;
  // A node and its big elements are consecutive records: decoded a node's worth at a time.
  let group: { key: string; value: Uint8Array }[] = [];
  const flush = function* (): Generator<string> {
    const out: string[] = [];
    decodeNodes(group, s, l.head, l.head, end, (v) => out.push(fromBytes(v)));
    group = [];
    yield* out;
  };
  const nodeKeyLen = nodeKey(s, 0).length;
  for await (const e of ks.engine.scan(nodeRange(s, l.head, end))) {
    if (e.key.length === nodeKeyLen && group.length > 0) yield* flush();
    group.push({ key: e.key, value: e.value });
  }
  yield* flush();
}
