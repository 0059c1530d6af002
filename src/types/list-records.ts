/**
 * Engine records of split lists: conversion from the inline form, and streamed copies for
 * RENAME/COPY/MOVE. Everything here writes element records only; the metadata record is
 * written by the keyspace in the same batch (conversion) or right after (copies).
 */
import { elemPrefix, fromBytes, listPosKey } from './encoding.ts';
import type { EngineWrite } from './engine-api.ts';
import type { Keyspace } from './keyspace.ts';
import { ListValue } from './list.ts';

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
  for (let i = 0; i < items.length; i++) batch.push({ key: listPosKey(ns, key, version, i), value: Buffer.from(items[i]!, 'latin1') });
  l.items = [];
  l.bytes = 0;
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
  // Not an orphan while it is being written: Keyspace.set() adopts it.
  ks.building.add(elemPrefix(dstNs, dstKey, version));
  const start = listPosKey(srcNs, srcKey, l.version, l.head);
  const end = listPosKey(srcNs, srcKey, l.version, l.head + l.count);
  let pos = l.head;
  let batch: EngineWrite[] = [];
  try {
    for await (const e of ks.engine.scan({ start, end })) {
      batch.push({ key: listPosKey(dstNs, dstKey, version, pos++), value: e.value });
      if (batch.length >= LIST_CHUNK) {
        ks.writeRaw(batch);
        batch = [];
        const w = ks.waitForCapacity();
        if (w) await w;
      }
    }
    ks.writeRaw(batch);
    if (pos !== l.head + l.count) throw new Error(`list ${JSON.stringify(srcKey)} has ${pos - l.head} of ${l.count} elements`);
  } catch (err) {
    // What was written is an orphan now: the sweep may take it.
    ks.building.delete(elemPrefix(dstNs, dstKey, version));
    throw err;
  }
  return ListValue.split(version, l.head, l.count);
}

/** Every element of a split list, streamed in order (DUMP). */
export async function* splitListElements(ks: Keyspace, db: number, key: string, l: ListValue): AsyncGenerator<string> {
  const ns = ks.db(db).ns;
  const start = listPosKey(ns, key, l.version, l.head);
  const end = listPosKey(ns, key, l.version, l.head + l.count);
  for await (const e of ks.engine.scan({ start, end })) yield fromBytes(e.value);
}
