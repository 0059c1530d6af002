/** Worker-thread entry: runs engine tasks off the event loop and transfers results back. */
import { parentPort } from 'node:worker_threads';
import { runTask, type Task } from './tasks.ts';

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
});
