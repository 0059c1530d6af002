/**
 * Every command family's handlers, keyed by full name ("get", "config|get"). The command
 * table (src/server/command-table.ts) joins these with Redis's command facts; a name that is
 * not in the table is a start-up error, a table entry without a handler is "unknown command".
 */
import { commands as bitmaps } from './bitmaps.ts';
import { commands as client } from './client.ts';
import { commands as command } from './command.ts';
import { commands as config } from './config.ts';
import { commands as connection } from './connection.ts';
import { commands as durability } from './durability.ts';
import { commands as expire } from './expire.ts';
import { commands as geo } from './geo.ts';
import { commands as hashes } from './hashes.ts';
import { commands as hyperloglog } from './hyperloglog.ts';
import { commands as info } from './info.ts';
import { commands as keys } from './keys.ts';
import { commands as lists } from './lists.ts';
import { commands as pubsub } from './pubsub.ts';
import { commands as server } from './server.ts';
import { commands as sets } from './sets.ts';
import { commands as sortedsets } from './sortedsets.ts';
import { commands as sort } from './sort.ts';
import { commands as strings } from './strings.ts';
import { commands as transactions } from './transactions.ts';
import type { CommandModule, Handler } from './types.ts';

export const families: Record<string, CommandModule> = {
  connection,
  client,
  command,
  config,
  info,
  pubsub,
  server,
  durability,
  transactions,
  keys,
  strings,
  hashes,
  lists,
  expire,
  bitmaps,
  hyperloglog,
  sort,
  sets,
  sortedsets,
  geo,
};

export function allHandlers(): Map<string, Handler> {
  const out = new Map<string, Handler>();
  for (const [family, mod] of Object.entries(families)) {
    for (const [name, h] of Object.entries(mod)) {
      if (out.has(name)) throw new Error(`command ${name} is defined twice (again in ${family})`);
      out.set(name, h);
    }
  }
  return out;
}
