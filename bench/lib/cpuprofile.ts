/**
 * CPU profiling helpers: record a V8 CPU profile of one section of a benchmark (via the
 * inspector, no restart needed) and summarize a .cpuprofile as self / inclusive time per
 * function with file:line, relative to the repository root.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { repoRoot } from './machine.ts';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface HotSpot {
  /** "function path:line" (1-based line). */
  where: string;
  ms: number;
  percent: number;
}

export interface ProfileSummary {
  totalMs: number;
  self: HotSpot[];
  inclusive: HotSpot[];
}

/** Records a CPU profile around fn; the profile is returned with fn's result. */
export class Profiler {
  private readonly session = new Session();
  private started = false;

  async start(samplingIntervalUs = 200): Promise<void> {
    if (!this.started) {
      this.session.connect();
      await this.session.post('Profiler.enable');
      await this.session.post('Profiler.setSamplingInterval', { interval: samplingIntervalUs });
      this.started = true;
    }
    await this.session.post('Profiler.start');
  }

  async stop(): Promise<CpuProfile> {
    const { profile } = await this.session.post('Profiler.stop');
    return profile as unknown as CpuProfile;
  }

  async profile<T>(fn: () => Promise<T>): Promise<{ result: T; profile: CpuProfile }> {
    await this.start();
    const result = await fn();
    return { result, profile: await this.stop() };
  }

  close(): void {
    if (this.started) this.session.disconnect();
  }
}

export function saveProfile(file: string, profile: CpuProfile): void {
  writeFileSync(file, JSON.stringify(profile));
}

function where(n: ProfileNode): string {
  const cf = n.callFrame;
  let url = cf.url.replace(/^file:\/\//, '');
  if (url.startsWith(repoRoot)) url = url.slice(repoRoot.length + 1);
  const fn = cf.functionName || '(anonymous)';
  return url ? `${fn} ${url}:${cf.lineNumber + 1}` : fn;
}

/** The profiler's own start-up (the inspector round trip) shows up in the first samples. */
function isProfilerFrame(n: ProfileNode): boolean {
  return n.callFrame.url === 'node:inspector' || n.callFrame.url === 'node:inspector/promises';
}

/**
 * Self and inclusive time per function (top `limit` of each), leaving out samples taken
 * inside the inspector call that started the profile.
 */
export function summarizeProfile(p: CpuProfile, limit = 20): ProfileSummary {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const excluded = (id: number): boolean => {
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) if (isProfilerFrame(byId.get(cur)!)) return true;
    return false;
  };
  const selfUs = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i]!;
    if (excluded(id)) continue;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (p.timeDeltas[i] ?? 0));
  }
  let total = 0;
  for (const t of selfUs.values()) total += t;
  const self = new Map<string, number>();
  const incl = new Map<string, number>();
  for (const [id, t] of selfUs) {
    const k = where(byId.get(id)!);
    self.set(k, (self.get(k) ?? 0) + t);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const key = where(byId.get(cur)!);
      if (seen.has(key)) continue;
      seen.add(key);
      incl.set(key, (incl.get(key) ?? 0) + t);
    }
  }
  const top = (m: Map<string, number>): HotSpot[] =>
    [...m]
      .filter(([k]) => k !== '(root)')
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(([k, t]) => ({ where: k, ms: t / 1000, percent: total ? (t / total) * 100 : 0 }));
  return { totalMs: total / 1000, self: top(self), inclusive: top(incl) };
}

export function formatSummary(title: string, s: ProfileSummary, limit = 15): string {
  const line = (h: HotSpot) => `${h.percent.toFixed(1).padStart(5)}% ${h.ms.toFixed(0).padStart(6)} ms  ${h.where}`;
  return [
    `--- ${title}: ${s.totalMs.toFixed(0)} ms sampled`,
    'self:',
    ...s.self.slice(0, limit).map(line),
    'inclusive:',
    ...s.inclusive.slice(0, limit).map(line),
  ].join('\n');
}
