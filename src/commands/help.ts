/** HELP replies in Redis's shape: status lines, a header, the entries, then the HELP entry. */
import { SimpleString, type Reply } from '../resp/reply.ts';

export function helpReply(command: string, lines: string[]): Reply {
  return [
    `${command} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:`,
    ...lines,
    'HELP',
    '    Prints this help.',
  ].map((l) => new SimpleString(l));
}
