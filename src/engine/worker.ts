/** Worker-thread entry: runs engine tasks off the event loop and transfers results back. */
import v8 from 'node:v8';
import vm from 'node:vm';
import { parentPort } from 'node:worker_threads';
import { runTask, type Task } from './tasks.ts';

// A task's garbage would otherwise keep this thread's heap at its peak between tasks (a
// worker allocates nothing while idle, so V8 never collects): a full GC after a big task
// gives the memory back. `gc` is only reachable through a context made after the flag is set.
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const GC_AFTER_HEAP_BYTES = 16 << 20;

parentPort!.on('message', (msg: { id: number; task: Task }) => {
  try {
    const outputs = runTask(msg.task).map((o) => {
      // Copy into an exact-size buffer so it can be transferred without sending a pool slab.
      const bytes = new Uint8Array(o.bytes.length);
      bytes.set(o.bytes);
      return { bytes, meta: o.meta };
    });
    parentPort!.postMessage(
      { id: msg.id, outputs },
      outputs.map((o) => o.bytes.buffer as ArrayBuffer),
    );
  } catch (e) {
    parentPort!.postMessage({ id: msg.id, error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) });
  }
  if (v8.getHeapStatistics().total_heap_size > GC_AFTER_HEAP_BYTES) gc();
});
