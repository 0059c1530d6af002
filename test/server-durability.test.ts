/**
 * durability strict: a reply leaves only once every write so far is in the store; WAITAOF
 * waits for the caller's writes in relaxed mode and is refused when durability is off.
 */
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { startShale } from './support/core-harness.ts';

const lag = async (c: Redis) => Number(/shale_durable_lag:(\d+)/.exec(await c.info('persistence'))![1]);

describe('durability', () => {
  it('strict: acknowledged writes are already in the store', async () => {
    const s = await startShale(['--durability', 'strict', '--flush-interval', '200']);
    try {
      const c = new Redis({ port: s.port });
      for (let i = 0; i < 5; i++) {
        await c.set(`k${i}`, 'v');
        expect(await lag(c)).toBe(0);
      }
      expect(await c.config('GET', 'appendfsync')).toEqual(['appendfsync', 'always']);
      c.disconnect();
    } finally {
      await s.stop();
    }
  });

  it('relaxed: WAITAOF 1 0 0 returns [1, 0] once the writes are durable', async () => {
    const s = await startShale(['--flush-interval', '300']);
    try {
      const c = new Redis({ port: s.port });
      await c.set('a', '1');
      expect(await c.call('WAITAOF', '1', '0', '0')).toEqual([1, 0]);
      expect(await lag(c)).toBe(0);
      c.disconnect();
    } finally {
      await s.stop();
    }
  });

  it('off: WAITAOF with numlocal is refused; INFO says aof_enabled:0', async () => {
    const s = await startShale(['--durability', 'off']);
    try {
      const c = new Redis({ port: s.port });
      await expect(c.call('WAITAOF', '1', '0', '0')).rejects.toThrow(
        'ERR WAITAOF cannot be used when numlocal is set but appendonly is disabled.',
      );
      expect(await c.info('persistence')).toMatch(/\r\naof_enabled:0\r\n/);
      c.disconnect();
    } finally {
      await s.stop();
    }
  });
});
