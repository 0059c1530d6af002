/**
 * Runs tasks.ts work in worker threads (one per core beyond the first, at least one) so table
 * building and compaction never stall the event loop. `inline` runs them on the calling thread,
 * for debugging and for environments without worker support.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { CorruptionError } from './errors.ts';
import type { BuiltSst } from './sst.ts';
import { runTask, type Task } from './tasks.ts';

interface Pending {
  resolve: (v: BuiltSst[]) => void;
  reject: (e: Error) => void;
}

export class WorkerPool {
  private readonly workers: Worker[] = [];
  private readonly idle: Worker[] = [];
  private readonly queue: { task: Task; pending: Pending; transfer: ArrayBuffer[] }[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private readonly inline: boolean;

  constructor(options: { inline?: boolean; threads?: number } = {}) {
    this.inline = options.inline ?? false;
    if (this.inline) return;
    const n = options.threads ?? Math.max(1, Math.min(2, availableParallelism() - 1));
    // Source runs (tests, dev) load the .ts worker; the build loads the compiled .js.
    const file = import.meta.url.endsWith('.ts') ? './worker.ts' : './worker.js';
    for (let i = 0; i < n; i++) {
      const w = new Worker(new URL(file, import.meta.url));
      w.unref();
      w.on('message', (msg: { id: number; outputs?: BuiltSst[]; error?: string }) => this.onMessage(w, msg));
      w.on('error', (e) => this.failAll(e));
      this.workers.push(w);
      this.idle.push(w);
    }
  }

  run(task: Task, transfer: ArrayBuffer[] = []): Promise<BuiltSst[]> {
    if (this.inline) {
      return new Promise((resolve, reject) => {
        setImmediate(() => {
          try {
            resolve(runTask(task));
          } catch (e) {
            reject(e as Error);
          }
        });
      });
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ task, pending: { resolve, reject }, transfer });
      this.pump();
    });
  }

  private pump(): void {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const w = this.idle.pop()!;
      const { task, pending, transfer } = this.queue.shift()!;
      const id = this.nextId++;
      this.pending.set(id, pending);
      (w as Worker & { jobId?: number }).jobId = id;
      w.ref();
      w.postMessage({ id, task }, transfer);
    }
  }

  private onMessage(w: Worker, msg: { id: number; outputs?: BuiltSst[]; error?: string }): void {
    const p = this.pending.get(msg.id);
    this.pending.delete(msg.id);
    w.unref();
    this.idle.push(w);
    if (p) {
      if (msg.error) {
        const m = /^CorruptionError: corrupt object (\S+): (.*)$/.exec(msg.error);
        p.reject(m ? new CorruptionError(m[1]!, m[2]!) : new Error(msg.error));
      } else {
        p.resolve(msg.outputs!);
      }
    }
    this.pump();
  }

  private failAll(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers.length = 0;
    this.idle.length = 0;
  }
}
