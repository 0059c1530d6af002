/**
 * The S3 test server (test/support/s3-server.ts) in its own process, driven over IPC by
 * startS3Process() in servers.ts: counts requests by operation and by key kind (the folder
 * the object is in: wal, sst, manifest...), and optionally records each request's time.
 *
 *   node bench/lib/s3-process.ts [bucket]     (forked with an IPC channel)
 */
import { startS3Server } from '../../test/support/s3-server.ts';

const bucket = process.argv[2] ?? 'bench';
const s3 = await startS3Server({ buckets: [bucket] });
const byKind: Record<string, number> = {};
let recording = false;
let requests: { op: string; kind: string; t: number }[] = [];

function kindOf(key: string): string {
  const parts = key.split('/');
  return parts.length >= 2 ? parts[parts.length - 2]! : '';
}

// A latency hook that adds no latency: it sees every request (op and key) as it arrives.
s3.setFaults({
  latencyMs: (r) => {
    const kind = kindOf(r.key);
    const k = `${r.op}:${kind}`;
    byKind[k] = (byKind[k] ?? 0) + 1;
    if (recording) requests.push({ op: r.op, kind, t: performance.now() });
    return 0;
  },
});

process.on('message', (m: { id: number; op: string; arg?: unknown }) => {
  let result: unknown;
  switch (m.op) {
    case 'counts': {
      const c = s3.counts;
      result = { GET: c.GET, PUT: c.PUT, HEAD: c.HEAD, LIST: c.LIST, DELETE: c.DELETE, BUCKET: c.BUCKET, bytesIn: c.bytesIn, bytesOut: c.bytesOut, byKind: { ...byKind } };
      break;
    }
    case 'record':
      recording = Boolean(m.arg);
      break;
    case 'requests':
      result = requests;
      requests = [];
      break;
    case 'now':
      result = performance.now();
      break;
    case 'objectBytes': {
      let objects = 0;
      let bytes = 0;
      for (const o of s3.objects(bucket).values()) {
        objects++;
        bytes += o.body.length;
      }
      result = { objects, bytes };
      break;
    }
    case 'largestKey': {
      let best: [string, number] = ['', -1];
      for (const [k, o] of s3.objects(bucket)) if (o.body.length > best[1]) best = [k, o.body.length];
      result = best[1] < 0 ? undefined : { key: best[0], size: best[1] };
      break;
    }
    case 'exit':
      void s3.close().finally(() => process.exit(0));
      return;
  }
  process.send!({ id: m.id, result });
});

process.on('disconnect', () => process.exit(0));
process.send!({ ready: s3.endpoint });
