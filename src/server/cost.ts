/**
 * The object-store bill this process is running up, for INFO and /metrics: request counts
 * since start-up, extrapolated to a month at the configured per-request prices
 * (store-price-put/get/list/delete, USD per 1,000 requests; S3 Standard by default).
 * HEAD requests are billed like GETs on S3. Storage (GB-month) is not included.
 */
import type { StoreCounters } from '../engine/objectstore/resilient.ts';
import type { Config } from './config.ts';

/** AWS bills a month as 730 hours. */
export const SECONDS_PER_MONTH = 730 * 3600;

export type BilledOp = 'put' | 'get' | 'list' | 'delete';
export const BILLED_OPS: BilledOp[] = ['put', 'get', 'list', 'delete'];

export function requests(c: StoreCounters | undefined, op: BilledOp): number {
  if (!c) return 0;
  switch (op) {
    case 'put': return c.puts;
    case 'get': return c.gets + c.heads;
    case 'list': return c.lists;
    case 'delete': return c.deletes;
  }
}

/** USD per month per operation at the rate seen since start-up, and their sum. */
export function monthlyCost(c: StoreCounters | undefined, uptimeSec: number, config: Config): Record<BilledOp | 'total', number> {
  const perSec = 1 / Math.max(1, uptimeSec);
  const out = { put: 0, get: 0, list: 0, delete: 0, total: 0 };
  for (const op of BILLED_OPS) {
    const usd = requests(c, op) * perSec * SECONDS_PER_MONTH * (Number(config.str(`store-price-${op}`)) / 1000);
    out[op] = usd;
    out.total += usd;
  }
  return out;
}
