/** What a store holds on disk, read directly (no engine): the latest manifest and its tables. */
import { decodeManifest, type ManifestData } from '../../src/engine/manifest.ts';
import { listAll, type ObjectStore } from '../../src/engine/objectstore/types.ts';
import { readAll } from '../../src/engine/sst.ts';

export async function latestManifest(store: ObjectStore): Promise<ManifestData> {
  let last = '';
  for await (const o of listAll(store, 'manifest/')) last = o.key;
  return decodeManifest(last, (await store.get(last))!);
}

/** Keys of every record in the tables the latest manifest names, tombstones included. */
export async function storedKeys(store: ObjectStore): Promise<string[]> {
  const m = await latestManifest(store);
  const keys: string[] = [];
  for (const t of [...m.l0, ...m.runs.flatMap((r) => r.ssts)]) {
    for (const e of readAll(t.id, (await store.get(t.id))!, t)) keys.push(e.key);
  }
  return keys;
}
