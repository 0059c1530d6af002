/**
 * Per-key locks that keep a command atomic while it awaits the engine. Most commands run
 * synchronously once their keys are in the hot set and hold their locks for no time at all;
 * a command on a big collection that reads elements from the engine keeps its keys locked
 * until it finishes, so no other command on those keys interleaves with it. A command takes
 * all its keys at once or waits (no partial holds, so no deadlock).
 */
export class KeyLocks {
  private readonly held = new Set<string>();
  private readonly waiters: { keys: string[]; resolve: () => void }[] = [];

  /** Takes every key and returns undefined, or returns a promise that resolves once taken. */
  acquire(keys: string[]): Promise<void> | undefined {
    // A waiter on the same keys goes first (FIFO per key); unrelated keys never wait.
    if (this.free(keys) && !this.waiters.some((w) => w.keys.some((k) => keys.includes(k)))) {
      for (const k of keys) this.held.add(k);
      return undefined;
    }
    return new Promise((resolve) => this.waiters.push({ keys, resolve }));
  }

  /** Nothing is held and nobody waits. */
  get idle(): boolean {
    return this.held.size === 0 && this.waiters.length === 0;
  }

  /**
   * Takes keys that are known to be free: a command that started while the locks were idle
   * and went async before anything else ran (see dispatch.ts call()).
   */
  take(keys: string[]): void {
    for (const k of keys) this.held.add(k);
  }

  release(keys: string[]): void {
    for (const k of keys) this.held.delete(k);
    // Wake waiters in arrival order; one whose keys are still busy keeps its place, and so do
    // later ones that want any of its keys.
    const blocked = new Set<string>();
    for (let i = 0; i < this.waiters.length; i++) {
      const w = this.waiters[i]!;
      if (!this.free(w.keys) || w.keys.some((k) => blocked.has(k))) {
        for (const k of w.keys) blocked.add(k);
        continue;
      }
      for (const k of w.keys) this.held.add(k);
      this.waiters.splice(i--, 1);
      w.resolve();
    }
  }

  get size(): number {
    return this.held.size;
  }

  private free(keys: string[]): boolean {
    for (const k of keys) if (this.held.has(k)) return false;
    return true;
  }
}
