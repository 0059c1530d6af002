import { expect, it } from 'vitest';
import { KeyLocks } from '../src/server/key-locks.ts';

it('grants free keys at once and queues overlapping requests in order', async () => {
  const locks = new KeyLocks();
  expect(locks.acquire(['a', 'b'])).toBeUndefined();
  expect(locks.acquire(['c'])).toBeUndefined(); // unrelated keys never wait
  const order: string[] = [];
  const second = locks.acquire(['b'])!.then(() => order.push('second'));
  const third = locks.acquire(['b', 'd'])!.then(() => order.push('third'));
  expect(locks.acquire(['d'])).not.toBeUndefined(); // d is free, but a waiter wants it first
  locks.release(['a', 'b']);
  await second;
  expect(order).toEqual(['second']);
  locks.release(['b']);
  await third;
  expect(order).toEqual(['second', 'third']);
});

it('takes all keys at once: a waiter never holds some while waiting for others', async () => {
  const locks = new KeyLocks();
  locks.acquire(['x']);
  let got = false;
  const p = locks.acquire(['x', 'y'])!.then(() => (got = true));
  // y stays free for nobody while the waiter waits for x.
  expect(locks.size).toBe(1);
  locks.release(['x']);
  await p;
  expect(got).toBe(true);
  expect(locks.size).toBe(2);
});
