/**
 * Pub/sub end to end: RESP2 (ioredis, raw) and RESP3 push frames (node-redis, raw), patterns,
 * shard channels, introspection, and the pubsub output-buffer limit.
 */
import net from 'node:net';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cmd, haveRedis, raw, startRedis, startShale, type Proc } from './support/core-harness.ts';

let shale: Proc;
let ref: Proc | undefined;

beforeAll(async () => {
  [shale, ref] = await Promise.all([startShale(['--client-output-buffer-limit', 'pubsub 1mb 256kb 1']), haveRedis ? startRedis() : Promise.resolve(undefined)]);
});
afterAll(async () => {
  await Promise.all([shale?.stop(), ref?.stop()]);
});

/** A subscriber connection that records every byte it receives. */
async function listener(port: number, req: string): Promise<{ text: () => string; sock: net.Socket }> {
  const sock = net.connect(port, '127.0.0.1');
  let text = '';
  sock.on('data', (d) => (text += d.toString('latin1')));
  await new Promise((r) => sock.once('connect', r));
  sock.write(req);
  await new Promise((r) => setTimeout(r, 100));
  return { text: () => text, sock };
}

const scenario = async (port: number, hello: string) => {
  const sub = await listener(port, hello + cmd('SUBSCRIBE', 'news', 'misc') + cmd('PSUBSCRIBE', 'ne*') + cmd('SSUBSCRIBE', 'shard1'));
  const pub = await raw(port, cmd('PUBLISH', 'news', 'hello') + cmd('PUBLISH', 'nothing', 'x') + cmd('SPUBLISH', 'shard1', 'sm') +
    cmd('PUBSUB', 'NUMSUB', 'news', 'none') + cmd('PUBSUB', 'NUMPAT') + cmd('PUBSUB', 'CHANNELS', 'n*') + cmd('PUBSUB', 'SHARDCHANNELS') +
    cmd('PUBSUB', 'SHARDNUMSUB', 'shard1'));
  await new Promise((r) => setTimeout(r, 100));
  // (UNSUBSCRIBE without arguments answers in Redis's hash-table order; one channel is left.)
  sub.sock.write(cmd('UNSUBSCRIBE', 'misc') + cmd('UNSUBSCRIBE') + cmd('UNSUBSCRIBE') + cmd('PUNSUBSCRIBE') + cmd('SUNSUBSCRIBE') + cmd('PING'));
  await new Promise((r) => setTimeout(r, 100));
  sub.sock.destroy();
  return { sub: sub.text().replace(/\$2\r\nid\r\n:\d+\r\n/, ''), pub: pub.text };
};

describe.skipIf(!haveRedis)('same bytes as redis-server 7.0', () => {
  it.each([['RESP2', ''], ['RESP3', cmd('HELLO', '3')]])('%s subscriber', async (_n, hello) => {
    const [a, b] = [await scenario(shale.port, hello), await scenario(ref!.port, hello)];
    expect(a).toEqual(b);
  });
});

describe('pub/sub', () => {
  it('delivers to ioredis subscribers and pattern subscribers', async () => {
    const sub = new Redis({ port: shale.port });
    const got: string[] = [];
    sub.on('message', (ch, m) => got.push(`${ch}:${m}`));
    sub.on('pmessage', (p, ch, m) => got.push(`${p}|${ch}:${m}`));
    await sub.subscribe('c1');
    await sub.psubscribe('c*');
    const pub = new Redis({ port: shale.port });
    expect(await pub.publish('c1', 'one')).toBe(2);
    expect(await pub.publish('c2', 'two')).toBe(1);
    await new Promise((r) => setTimeout(r, 50));
    expect(got).toEqual(['c1:one', 'c*|c1:one', 'c*|c2:two']);
    sub.disconnect();
    pub.disconnect();
  });

  it('delivers RESP3 pushes to node-redis while it runs other commands', async () => {
    const sub = createClient({ socket: { port: shale.port }, RESP: 3 });
    await sub.connect();
    const got: string[] = [];
    await sub.subscribe('r3', (m) => got.push(m));
    const pub = createClient({ socket: { port: shale.port } });
    await pub.connect();
    await pub.publish('r3', 'pushed');
    await new Promise((r) => setTimeout(r, 50));
    expect(got).toEqual(['pushed']);
    expect(await sub.get('some-key')).toBeNull(); // RESP3 clients may run commands while subscribed
    await sub.close();
    await pub.close();
  });

  it('disconnects a subscriber that does not read past the pubsub hard limit', async () => {
    const sock = net.connect(shale.port, '127.0.0.1');
    sock.write(cmd('SUBSCRIBE', 'flood'));
    await new Promise((r) => setTimeout(r, 100));
    sock.pause(); // never read again
    const closed = new Promise((r) => sock.once('close', r));
    const pub = new Redis({ port: shale.port });
    const payload = 'x'.repeat(64 * 1024);
    let delivered = 1;
    for (let i = 0; i < 400 && delivered > 0; i++) delivered = await pub.publish('flood', payload);
    expect(delivered).toBe(0); // the server dropped the subscriber
    sock.resume();
    await closed;
    expect(await pub.ping()).toBe('PONG');
    pub.disconnect();
  });
});
