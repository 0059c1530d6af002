/** Starts test/support/engine-writer.ts as a real child process and collects its acks. */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import readline from 'node:readline';

/** The value every test derives from a key, so a reader can spot a corrupt one. */
export function valueFor(key: string): string {
  return `${key}:`.repeat(1 + (key.length % 7));
}

const script = fileURLToPath(new URL('./engine-writer.ts', import.meta.url));

export interface WriterProcess {
  child: ChildProcess;
  ready: Promise<void>;
  exited: Promise<number | null>;
  puts: string[];
  dels: string[];
  /** Deletes issued, acknowledged or not. */
  triedDels: string[];
  errors: string[];
  fenced: boolean;
  fenceMessage: string;
}

/** dir: a local directory or a store URL; env: extra variables (e.g. S3 credentials). */
export function startWriter(
  dir: string,
  prefix: string,
  intervalMs: number,
  memtableBytes: number,
  env: Record<string, string> = {},
): WriterProcess {
  const child = spawn(process.execPath, [script, dir, prefix, String(intervalMs), String(memtableBytes)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  const w: WriterProcess = {
    child,
    ready: undefined as never,
    exited: new Promise((resolve) => child.on('exit', (code) => resolve(code))),
    puts: [],
    dels: [],
    triedDels: [],
    errors: [],
    fenced: false,
    fenceMessage: '',
  };
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  w.ready = new Promise((resolve, reject) => {
    const rl = readline.createInterface({ input: child.stdout! });
    rl.on('line', (line) => {
      if (line === 'ready') resolve();
      else if (line.startsWith('ack put ')) w.puts.push(line.slice(8));
      else if (line.startsWith('ack del ')) w.dels.push(line.slice(8));
      else if (line.startsWith('try del ')) w.triedDels.push(line.slice(8));
      else if (line.startsWith('fenced ')) {
        w.fenced = true;
        w.fenceMessage = line.slice(7);
      } else w.errors.push(line);
    });
    child.on('exit', (code) => reject(new Error(`writer exited (${code}) before ready: ${stderr}`)));
  });
  w.ready.catch(() => {});
  return w;
}
