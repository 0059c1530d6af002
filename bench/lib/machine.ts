/**
 * What a benchmark ran on: CPU, memory, OS, Node and package versions, git revision. Kept
 * generic so every benchmark reports the same block.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  os: string;
  kernel: string;
  arch: string;
  node: string;
  v8: string;
  /** Installed versions of the packages asked for ('missing' if not installed). */
  packages: Record<string, string>;
  git: { commit: string; dirty: boolean } | undefined;
  /** Filesystem type of the directories asked for (e.g. the bench's temp dir). */
  filesystems: Record<string, string>;
  /** 1/5/15-minute load averages when the info was taken. */
  loadAverage: number[];
}

/**
 * How busy all CPUs were over a short sample (0-100), from /proc/stat; undefined where that
 * is not available. Taken before a run it shows whether other work shares the machine.
 */
export async function cpuBusyPercent(sampleMs = 1000): Promise<number | undefined> {
  const read = (): [number, number] | undefined => {
    try {
      const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
      const f = line.trim().split(/\s+/).slice(1).map(Number);
      const idle = (f[3] ?? 0) + (f[4] ?? 0);
      const total = f.reduce((a, b) => a + b, 0);
      return [idle, total];
    } catch {
      return undefined;
    }
  };
  const a = read();
  if (!a) return undefined;
  await new Promise((r) => setTimeout(r, sampleMs));
  const b = read();
  if (!b || b[1] === a[1]) return undefined;
  return Math.round((1 - (b[0] - a[0]) / (b[1] - a[1])) * 1000) / 10;
}

/** Other processes using the most CPU right now (by `ps`, lifetime average), for the record. */
export function busyProcesses(minPercent = 10): string[] {
  try {
    const out = execFileSync('ps', ['-eo', 'pid=,pcpu=,comm='], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return out
      .trim()
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .filter(([pid, pcpu]) => Number(pid) !== process.pid && Number(pcpu) >= minPercent)
      .sort((x, y) => Number(y[1]) - Number(x[1]))
      .map(([, pcpu, ...comm]) => `${comm.join(' ')} (${pcpu}%)`);
  } catch {
    return [];
  }
}

/** The repository root (two levels above bench/lib). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function osName(): string {
  try {
    const text = readFileSync('/etc/os-release', 'utf8');
    const m = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(text);
    if (m) return m[1]!;
  } catch {
    // not Linux, or no os-release
  }
  return `${os.type()} ${os.release()}`;
}

export function packageVersion(name: string, root = repoRoot): string {
  if (name === '.') name = '';
  const file = path.join(root, name ? path.join('node_modules', name) : '', 'package.json');
  if (!existsSync(file)) return 'missing';
  try {
    return (JSON.parse(readFileSync(file, 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

function gitInfo(): MachineInfo['git'] {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const status = execFileSync('git', ['status', '--porcelain'], { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return { commit, dirty: status.trim().length > 0 };
  } catch {
    return undefined;
  }
}

function fsType(dir: string): string {
  try {
    const out = execFileSync('df', ['-T', '-P', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const line = out.trim().split('\n')[1];
    return line?.split(/\s+/)[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export function machineInfo(options: { packages?: string[]; dirs?: string[] } = {}): MachineInfo {
  const cpus = os.cpus();
  const packages: Record<string, string> = { shale: packageVersion('.') };
  for (const p of options.packages ?? []) packages[p] = packageVersion(p);
  const filesystems: Record<string, string> = {};
  for (const d of options.dirs ?? []) filesystems[d] = fsType(d);
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cores: os.availableParallelism?.() ?? cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: osName(),
    kernel: os.release(),
    arch: os.arch(),
    node: process.version,
    v8: process.versions.v8,
    packages,
    git: gitInfo(),
    filesystems,
    loadAverage: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

/** A markdown bullet list of the machine block. */
export function machineMarkdown(m: MachineInfo): string {
  const lines = [
    `- CPU: ${m.cpuModel}, ${m.cores} cores (${m.arch})`,
    `- Memory: ${m.memoryGiB} GiB`,
    `- OS: ${m.os} (kernel ${m.kernel})`,
    `- Node: ${m.node} (V8 ${m.v8})`,
    `- Packages: ${Object.entries(m.packages).map(([k, v]) => `${k} ${v}`).join(', ')}`,
  ];
  if (m.git) lines.push(`- Git: ${m.git.commit}${m.git.dirty ? ' (working tree has uncommitted changes)' : ''}`);
  const fss = Object.entries(m.filesystems);
  if (fss.length > 0) lines.push(`- Filesystem: ${fss.map(([d, t]) => `${d} on ${t}`).join(', ')}`);
  lines.push(`- Load average at start: ${m.loadAverage.join(' / ')} (1 / 5 / 15 min)`);
  return lines.join('\n');
}
