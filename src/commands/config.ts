/**
 * CONFIG GET / SET / RESETSTAT / REWRITE / HELP over the option table in src/server/config.ts.
 */
import { ErrorReply, MapReply, OK } from '../resp/reply.ts';
import { ConfigError } from '../server/config.ts';
import { helpReply } from './help.ts';
import type { CommandModule } from './types.ts';

export const commands: CommandModule = {
  'config|get'(ctx, args) {
    return new MapReply(ctx.server.config.get(args.slice(2)));
  },

  'config|set'(ctx, args) {
    if (args.length % 2 !== 0) return new ErrorReply('ERR syntax error');
    const pairs: [string, string][] = [];
    for (let i = 2; i < args.length; i += 2) pairs.push([args[i]!, args[i + 1]!]);
    const err = ctx.server.config.set(pairs);
    if (err) return new ErrorReply(`ERR ${err}`);
    return OK;
  },

  'config|resetstat'(ctx) {
    const s = ctx.server;
    s.stats.reset();
    s.slowlog.reset();
    s.latency.reset([]);
    return OK;
  },

  'config|rewrite'(ctx) {
    try {
      ctx.server.config.rewrite();
    } catch (e) {
      if (e instanceof ConfigError) return new ErrorReply(`ERR ${e.message}`);
      ctx.server.log.warn({ err: e }, 'CONFIG REWRITE failed');
      return new ErrorReply(`ERR Rewriting config file: ${(e as Error).message}`);
    }
    ctx.server.log.info('CONFIG REWRITE executed with success.');
    return OK;
  },

  'config|help'() {
    return helpReply('CONFIG', [
      'GET <pattern>',
      '    Return parameters matching the glob-like <pattern> and their values.',
      'SET <directive> <value>',
      '    Set the configuration <directive> to <value>.',
      'RESETSTAT',
      '    Reset statistics reported by the INFO command.',
      'REWRITE',
      '    Rewrite the configuration file.',
    ]);
  },
};
