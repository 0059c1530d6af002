/**
 * Values that are ready now or later. Handlers over collections that may live in the engine
 * return `T | Promise<T>`: an inline value is served synchronously (no promise, no microtask),
 * a split one awaits its reads.
 */
export type Maybe<T> = T | Promise<T>;

/** f applied to v, now if v is ready, after it settles otherwise. */
export function map<T, U>(v: Maybe<T>, f: (x: T) => U | Promise<U>): U | Promise<U> {
  return v instanceof Promise ? v.then(f) : f(v);
}
