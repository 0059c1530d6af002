/**
 * Pub/sub: (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PUBLISH, SPUBLISH, PUBSUB introspection.
 * Confirmations are push frames in RESP3 (arrays in RESP2), one per channel, written
 * directly by the handler (which therefore returns NO_REPLY).
 */
import { PushReply } from '../resp/reply.ts';
import { NO_REPLY } from '../server/dispatch.ts';
import type { ClientState } from '../server/state.ts';
import { globMatch } from '../util/glob.ts';
import { helpReply } from './help.ts';
import type { CommandModule } from './types.ts';

/** Subscription count reported by (un)subscribe confirmations: channels + patterns. */
const count = (c: ClientState) => c.channels.size + c.patterns.size;

function confirm(c: ClientState, kind: string, name: string | null, n: number): void {
  c.reply(new PushReply([kind, name, n]));
}

export const commands: CommandModule = {
  subscribe(ctx, args) {
    const { client, server } = ctx;
    for (const ch of args.slice(1)) {
      server.pubsub.subscribe(client, ch);
      confirm(client, 'subscribe', ch, count(client));
    }
    return NO_REPLY;
  },

  unsubscribe(ctx, args) {
    const { client, server } = ctx;
    const chans = args.length > 1 ? args.slice(1) : [...client.channels];
    if (chans.length === 0) confirm(client, 'unsubscribe', null, count(client));
    for (const ch of chans) {
      server.pubsub.unsubscribe(client, ch);
      confirm(client, 'unsubscribe', ch, count(client));
    }
    return NO_REPLY;
  },

  psubscribe(ctx, args) {
    const { client, server } = ctx;
    for (const p of args.slice(1)) {
      server.pubsub.psubscribe(client, p);
      confirm(client, 'psubscribe', p, count(client));
    }
    return NO_REPLY;
  },

  punsubscribe(ctx, args) {
    const { client, server } = ctx;
    const pats = args.length > 1 ? args.slice(1) : [...client.patterns];
    if (pats.length === 0) confirm(client, 'punsubscribe', null, count(client));
    for (const p of pats) {
      server.pubsub.punsubscribe(client, p);
      confirm(client, 'punsubscribe', p, count(client));
    }
    return NO_REPLY;
  },

  ssubscribe(ctx, args) {
    const { client, server } = ctx;
    for (const ch of args.slice(1)) {
      server.pubsub.ssubscribe(client, ch);
      confirm(client, 'ssubscribe', ch, client.shardChannels.size);
    }
    return NO_REPLY;
  },

  sunsubscribe(ctx, args) {
    const { client, server } = ctx;
    const chans = args.length > 1 ? args.slice(1) : [...client.shardChannels];
    if (chans.length === 0) confirm(client, 'sunsubscribe', null, client.shardChannels.size);
    for (const ch of chans) {
      server.pubsub.sunsubscribe(client, ch);
      confirm(client, 'sunsubscribe', ch, client.shardChannels.size);
    }
    return NO_REPLY;
  },

  publish(ctx, args) {
    return ctx.server.pubsub.publish(args[1]!, args[2]!);
  },

  spublish(ctx, args) {
    return ctx.server.pubsub.spublish(args[1]!, args[2]!);
  },

  'pubsub|channels'(ctx, args) {
    const pat = args[2];
    return [...ctx.server.pubsub.channels.keys()].filter((ch) => pat === undefined || globMatch(pat, ch));
  },

  'pubsub|shardchannels'(ctx, args) {
    const pat = args[2];
    return [...ctx.server.pubsub.shardChannels.keys()].filter((ch) => pat === undefined || globMatch(pat, ch));
  },

  'pubsub|numsub'(ctx, args) {
    return args.slice(2).flatMap((ch) => [ch, ctx.server.pubsub.channels.get(ch)?.size ?? 0]);
  },

  'pubsub|shardnumsub'(ctx, args) {
    return args.slice(2).flatMap((ch) => [ch, ctx.server.pubsub.shardChannels.get(ch)?.size ?? 0]);
  },

  'pubsub|numpat'(ctx) {
    return ctx.server.pubsub.patterns.size;
  },

  'pubsub|help'() {
    return helpReply('PUBSUB', [
      "CHANNELS [<pattern>]",
      "    Return the currently active channels matching a <pattern> (default: '*').",
      'NUMPAT',
      '    Return number of subscriptions to patterns.',
      'NUMSUB [<channel> ...]',
      '    Return the number of subscribers for the specified channels, excluding',
      '    pattern subscriptions(default: no channels).',
      'SHARDCHANNELS [<pattern>]',
      "    Return the currently active shard level channels matching a <pattern> (default: '*').",
      'SHARDNUMSUB [<shardchannel> ...]',
      '    Return the number of subscribers for the specified shard level channel(s)',
    ]);
  },
};
