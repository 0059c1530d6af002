/**
 * Runs tasks.ts work in worker threads (one per core beyond the first, at least one) so table
 * building and compaction never stall the event loop. `inline` runs them on the calling thread,
 * for debugging and for environments without worker support.
 *
 * A worker that dies (out of memory, terminated) fails the task it had and is replaced; if
 * workers keep dying before finishing a single task (a worker that cannot even load), the pool
 * gives up and fails every task with WorkerFailedError instead of leaving them queued forever.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { CorruptionError, WorkerFailedError } from './errors.ts';
import type { BuiltSst } from './sst.ts';
import { runTask, type Task } from './tasks.ts';

interface Pending {
  resolve: (v: BuiltSst[]) => void;
  reject: (e: Error) => void;
}

interface PoolWorker {
  w: Worker;
  /** The task it is running, if any. */
  job?: number;
  completed: number;
}

/**
 * A small young generation: V8's default (64 MiB on a big machine) would stay committed in
 * every worker, and tasks here keep few short-lived objects.
 */
const WORKER_YOUNG_MB = 8;
/** Workers that died one after another without finishing a task: the pool is broken. */
const MAX_DEAD_STARTS = 3;

export class WorkerPool {
  private readonly workers = new Set<PoolWorker>();
  private readonly idle: PoolWorker[] = [];
  private readonly queue: { task: Task; pending: Pending; transfer: ArrayBuffer[] }[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private readonly inline: boolean;
  private readonly file: URL;
  private deadStarts = 0;
  private broken: Error | undefined;
  private closing = false;

  /** `file` overrides the worker script (tests of a worker that cannot start). */
  constructor(options: { inline?: boolean; threads?: number; file?: URL } = {}) {
    this.inline = options.inline ?? false;
    // Source runs (tests, dev) load the .ts worker; the build loads the compiled .js.
    this.file = options.file ?? new URL(import.meta.url.endsWith('.ts') ? './worker.ts' : './worker.js', import.meta.url);
    if (this.inline) return;
    const n = options.threads ?? Math.max(1, Math.min(2, availableParallelism() - 1));
    for (let i = 0; i < n; i++) this.spawn();
  }

  private spawn(): void {
    const pw: PoolWorker = { w: new Worker(this.file, { resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_MB } }), completed: 0 };
    pw.w.unref();
    pw.w.on('message', (msg: { id: number; outputs?: BuiltSst[]; error?: string }) => this.onMessage(pw, msg));
    // 'error' (an uncaught exception, out of memory) is followed by 'exit'.
    let err: Error | undefined;
    pw.w.on('error', (e) => (err = e));
    pw.w.on('exit', (code) => this.onExit(pw, err ?? new Error(`engine worker exited with code ${code}`)));
    this.workers.add(pw);
    this.idle.push(pw);
  }

  /** Live workers (tests). */
  get threads(): Worker[] {
    return [...this.workers].map((pw) => pw.w);
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
    if (this.broken) return Promise.reject(this.broken);
    return new Promise((resolve, reject) => {
      this.queue.push({ task, pending: { resolve, reject }, transfer });
      this.pump();
    });
  }

  private pump(): void {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const pw = this.idle.pop()!;
      const { task, pending, transfer } = this.queue.shift()!;
      const id = this.nextId++;
      this.pending.set(id, pending);
      pw.job = id;
      pw.w.ref();
      pw.w.postMessage({ id, task }, transfer);
    }
  }

  private onMessage(pw: PoolWorker, msg: { id: number; outputs?: BuiltSst[]; error?: string }): void {
    const p = this.pending.get(msg.id);
    this.pending.delete(msg.id);
    pw.job = undefined;
    pw.completed++;
    this.deadStarts = 0;
    pw.w.unref();
    this.idle.push(pw);
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

  private onExit(pw: PoolWorker, e: Error): void {
    this.workers.delete(pw);
    const i = this.idle.indexOf(pw);
    if (i >= 0) this.idle.splice(i, 1);
    if (this.closing) return;
    if (pw.job !== undefined) {
      // The caller may retry: the task runs again on the replacement.
      this.pending.get(pw.job)?.reject(new Error(`engine worker died running a task: ${e.message}`));
      this.pending.delete(pw.job);
    }
    if (pw.completed === 0 && ++this.deadStarts >= MAX_DEAD_STARTS) {
      const failed = new WorkerFailedError(e.message);
      this.broken = failed;
      for (const q of this.queue.splice(0)) q.pending.reject(failed);
      return;
    }
    this.spawn();
    this.pump();
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all([...this.workers].map((pw) => pw.w.terminate()));
    this.workers.clear();
    this.idle.length = 0;
  }
}
