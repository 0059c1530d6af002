import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import {
  type ByteRange,
  type ListOptions,
  type ListPage,
  type ObjectInfo,
  type ObjectStore,
  type PutOptions,
  PreconditionFailedError,
} from './types.ts';

const PAGE = 1000;
const TMP_PREFIX = '.tmp-';

export interface LocalStoreOptions {
  /** fsync files and directories before a put returns (power-loss durability). */
  fsync?: boolean;
}

/**
 * The embedded default: one file per object under a directory. Puts write a temp file and
 * then rename (overwrite) or link (create-only: EEXIST means another writer won), so readers
 * never see a partial object.
 */
export class LocalStore implements ObjectStore {
  readonly root: string;
  private readonly fsync: boolean;
  private readonly madeDirs = new Set<string>();

  constructor(root: string, options: LocalStoreOptions = {}) {
    this.root = path.resolve(root);
    this.fsync = options.fsync ?? true;
  }

  private file(key: string): string {
    if (key.length === 0 || key.split('/').some((p) => p === '' || p === '.' || p === '..' || p.startsWith(TMP_PREFIX))) {
      throw new Error(`invalid object key: ${JSON.stringify(key)}`);
    }
    return path.join(this.root, key);
  }

  async get(key: string, range?: ByteRange): Promise<Uint8Array | undefined> {
    const file = this.file(key);
    try {
      if (!range) return await fs.readFile(file);
      const fh = await fs.open(file, 'r');
      try {
        const size = range.end === undefined ? (await fh.stat()).size - range.start : range.end - range.start;
        // Not from Buffer's shared pool: a cached block of a few KiB would keep a whole pool
        // slab (64 KiB) alive.
        const buf = Buffer.allocUnsafeSlow(Math.max(0, size));
        let off = 0;
        while (off < buf.length) {
          const { bytesRead } = await fh.read(buf, off, buf.length - off, range.start + off);
          if (bytesRead === 0) break;
          off += bytesRead;
        }
        return off === buf.length ? buf : buf.subarray(0, off);
      } finally {
        await fh.close();
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  async put(key: string, body: Uint8Array, options: PutOptions = {}): Promise<{ etag: string }> {
    const file = this.file(key);
    const dir = path.dirname(file);
    if (!this.madeDirs.has(dir)) {
      await fs.mkdir(dir, { recursive: true });
      this.madeDirs.add(dir);
    }
    const tmp = path.join(dir, `${TMP_PREFIX}${randomBytes(8).toString('hex')}`);
    const fh = await fs.open(tmp, 'wx');
    try {
      await fh.writeFile(body);
      if (this.fsync) await fh.datasync();
    } finally {
      await fh.close();
    }
    try {
      if (options.ifNoneMatch === '*') {
        try {
          await fs.link(tmp, file);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new PreconditionFailedError(key, 'object exists');
          throw e;
        }
      } else if (options.ifMatch !== undefined) {
        // Not atomic across processes; the engine only relies on create-only puts.
        const cur = await this.head(key);
        if (!cur || cur.etag !== options.ifMatch) throw new PreconditionFailedError(key, 'etag mismatch');
        await fs.rename(tmp, file);
      } else {
        await fs.rename(tmp, file);
      }
      if (this.fsync) await syncDir(dir);
    } finally {
      await fs.rm(tmp, { force: true });
    }
    const st = await fs.stat(file);
    return { etag: etagOf(st) };
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const st = await fs.stat(this.file(key));
      return { key, size: st.size, etag: etagOf(st), lastModified: st.mtimeMs };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  async list(prefix: string, options: ListOptions = {}): Promise<ListPage> {
    const limit = Math.min(options.limit ?? PAGE, PAGE);
    // Walk the directory that holds the prefix; objects are files, '/' is a directory level.
    const slash = prefix.lastIndexOf('/');
    const base = slash < 0 ? '' : prefix.slice(0, slash + 1);
    const keys: string[] = [];
    await walk(path.join(this.root, base), base, keys);
    const matching = keys
      .filter((k) => k.startsWith(prefix) && (options.startAfter === undefined || k > options.startAfter))
      .sort();
    const page = matching.slice(0, limit);
    const objects: ObjectInfo[] = [];
    for (const k of page) {
      const info = await this.head(k);
      if (info) objects.push(info);
    }
    return matching.length > limit ? { objects, nextStartAfter: page[page.length - 1] } : { objects };
  }

  async delete(key: string): Promise<void> {
    await fs.rm(this.file(key), { force: true });
  }

  async deleteMany(keys: string[]): Promise<void> {
    for (const k of keys) await this.delete(k);
  }

  async close(): Promise<void> {}
}

function etagOf(st: { ino: number; size: number; mtimeMs: number }): string {
  return `"${st.ino.toString(16)}-${st.size.toString(16)}-${Math.round(st.mtimeMs * 1000).toString(16)}"`;
}

async function walk(dir: string, keyPrefix: string, out: string[]): Promise<void> {
  let entries;
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  for (const ent of entries) {
    if (ent.name.startsWith(TMP_PREFIX)) continue;
    if (ent.isDirectory()) await walk(path.join(dir, ent.name), `${keyPrefix}${ent.name}/`, out);
    else if (ent.isFile()) out.push(keyPrefix + ent.name);
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await fs.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
