/** Progress output on stderr, stamped with the time since the run started. */

const t0 = performance.now();

function stamp(): string {
  return `[${((performance.now() - t0) / 1000).toFixed(1).padStart(6)}s]`;
}

export function progress(message: string): void {
  process.stderr.write(`${stamp()} ${message}\n`);
}

export function section(title: string): void {
  process.stderr.write(`${stamp()} == ${title}\n`);
}

export function elapsedSeconds(): number {
  return (performance.now() - t0) / 1000;
}
