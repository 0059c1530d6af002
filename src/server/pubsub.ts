/**
 * The pub/sub hub: who listens to which channel, pattern and shard channel. Messages are
 * delivered as RESP3 push frames (RESP2 arrays) straight into the subscribers' output
 * buffers; the pubsub class of client-output-buffer-limit protects the server from a
 * subscriber that does not read.
 */
import { PushReply } from '../resp/reply.ts';
import { globMatch } from '../util/glob.ts';
import type { ClientState } from './state.ts';

export class PubSub {
  readonly channels = new Map<string, Set<ClientState>>();
  readonly patterns = new Map<string, Set<ClientState>>();
  readonly shardChannels = new Map<string, Set<ClientState>>();

  private static add(map: Map<string, Set<ClientState>>, name: string, c: ClientState): void {
    let s = map.get(name);
    if (!s) map.set(name, (s = new Set()));
    s.add(c);
  }

  private static remove(map: Map<string, Set<ClientState>>, name: string, c: ClientState): void {
    const s = map.get(name);
    if (!s) return;
    s.delete(c);
    if (s.size === 0) map.delete(name);
  }

  subscribe(c: ClientState, ch: string): void {
    c.channels.add(ch);
    PubSub.add(this.channels, ch, c);
  }
  unsubscribe(c: ClientState, ch: string): void {
    c.channels.delete(ch);
    PubSub.remove(this.channels, ch, c);
  }
  psubscribe(c: ClientState, p: string): void {
    c.patterns.add(p);
    PubSub.add(this.patterns, p, c);
  }
  punsubscribe(c: ClientState, p: string): void {
    c.patterns.delete(p);
    PubSub.remove(this.patterns, p, c);
  }
  ssubscribe(c: ClientState, ch: string): void {
    c.shardChannels.add(ch);
    PubSub.add(this.shardChannels, ch, c);
  }
  sunsubscribe(c: ClientState, ch: string): void {
    c.shardChannels.delete(ch);
    PubSub.remove(this.shardChannels, ch, c);
  }

  /** Drops every subscription of a client (disconnect, RESET). */
  removeClient(c: ClientState): void {
    for (const ch of [...c.channels]) this.unsubscribe(c, ch);
    for (const p of [...c.patterns]) this.punsubscribe(c, p);
    for (const ch of [...c.shardChannels]) this.sunsubscribe(c, ch);
  }

  /** PUBLISH: returns the number of clients that received the message. */
  publish(channel: string, message: string): number {
    let n = 0;
    for (const c of this.channels.get(channel) ?? []) {
      c.push(new PushReply(['message', channel, message]));
      n++;
    }
    for (const [p, subs] of this.patterns) {
      if (!globMatch(p, channel)) continue;
      for (const c of subs) {
        c.push(new PushReply(['pmessage', p, channel, message]));
        n++;
      }
    }
    return n;
  }

  spublish(channel: string, message: string): number {
    let n = 0;
    for (const c of this.shardChannels.get(channel) ?? []) {
      c.push(new PushReply(['smessage', channel, message]));
      n++;
    }
    return n;
  }
}
