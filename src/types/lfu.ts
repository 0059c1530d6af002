/**
 * Redis's LFU counter (evict.c): an 8-bit logarithmic access counter that decays by one per
 * `lfu-decay-time` minutes. Kept identical so OBJECT FREQ answers like Redis.
 */

export const LFU_INIT_VAL = 5;

export interface LfuConfig {
  logFactor: number;
  decayTime: number;
}

export const DEFAULT_LFU: LfuConfig = { logFactor: 10, decayTime: 1 };

function minutes(now: number): number {
  return Math.floor(now / 60000) & 65535;
}

function elapsedMinutes(ldt: number, now: number): number {
  const m = minutes(now);
  return m >= ldt ? m - ldt : 65535 - ldt + m;
}

/** Counter after decay (what OBJECT FREQ reports). */
export function lfuDecayed(counter: number, ldt: number, now: number, cfg: LfuConfig): number {
  const periods = cfg.decayTime ? Math.floor(elapsedMinutes(ldt, now) / cfg.decayTime) : 0;
  if (periods === 0) return counter;
  return periods > counter ? 0 : counter - periods;
}

export function lfuLogIncr(counter: number, cfg: LfuConfig): number {
  if (counter === 255) return 255;
  const r = Math.random();
  const base = Math.max(0, counter - LFU_INIT_VAL);
  const p = 1.0 / (base * cfg.logFactor + 1);
  return r < p ? counter + 1 : counter;
}

/** Applies one access: decay, then probabilistic increment; returns [counter, ldt]. */
export function lfuTouch(counter: number, ldt: number, now: number, cfg: LfuConfig): [number, number] {
  const c = lfuLogIncr(lfuDecayed(counter, ldt, now, cfg), cfg);
  return [c, minutes(now)];
}

export function lfuNowMinutes(now: number): number {
  return minutes(now);
}
