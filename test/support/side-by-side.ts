/**
 * A real redis-server and a Shale started with the same options, one raw client on each: the
 * scripted comparison tests run every command on both and collect the replies that differ.
 */
import { type Raw, RawClient, RedisReference } from './redis-reference.ts';
import { ShaleProcess } from './shale-server.ts';

export class SideBySide {
  readonly redis: RedisReference;
  readonly shale: ShaleProcess;
  /** Raw clients on Redis and on Shale. */
  readonly r: RawClient;
  readonly s: RawClient;

  private constructor(redis: RedisReference, shale: ShaleProcess, r: RawClient, s: RawClient) {
    this.redis = redis;
    this.shale = shale;
    this.r = r;
    this.s = s;
  }

  /** Both servers with the same config arguments. */
  static async start(conf: string[] = []): Promise<SideBySide> {
    const [redis, shale] = await Promise.all([RedisReference.start(conf), ShaleProcess.start({ args: conf })]);
    return new SideBySide(redis, shale, await RawClient.connect(redis.port), await RawClient.connect(shale.port));
  }

  /** One command on both: [Redis's reply, Shale's reply]. */
  async both(cmd: (string | Buffer)[]): Promise<[Raw, Raw]> {
    return (await Promise.all([this.r.call(...cmd), this.s.call(...cmd)])) as [Raw, Raw];
  }

  /** Runs commands on both in scratch database `db` (flushed first); returns the mismatches. */
  async script(db: number, cmds: string[][]): Promise<string[]> {
    const bad: string[] = [];
    for (const cl of [this.r, this.s]) {
      await cl.call('SELECT', String(db));
      await cl.call('FLUSHDB');
    }
    for (const cmd of cmds) {
      const [a, b] = await this.both(cmd);
      if (JSON.stringify(a) !== JSON.stringify(b)) bad.push(`${JSON.stringify(cmd).slice(0, 300)}\n  redis: ${JSON.stringify(a).slice(0, 400)}\n  shale: ${JSON.stringify(b).slice(0, 400)}`);
    }
    return bad;
  }

  async stop(): Promise<void> {
    this.r.close();
    this.s.close();
    await Promise.all([this.redis.stop(), this.shale.cleanup()]);
  }
}

/** A command line split on spaces. */
export const words = (line: string): string[] => line.split(' ');
