/**
 * MONITOR lines in Redis's format: +1700000000.123456 [0 127.0.0.1:50000] "set" "a" "b"
 */
import type { ClientState } from './state.ts';

/** Redis's sdscatrepr: a quoted, escaped rendering of a binary string. */
export function repr(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    const c = s.charCodeAt(i);
    if (ch === '\\' || ch === '"') out += '\\' + ch;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (c === 7) out += '\\a';
    else if (c === 8) out += '\\b';
    else if (c >= 32 && c <= 126) out += ch;
    else out += '\\x' + c.toString(16).padStart(2, '0');
  }
  return out + '"';
}

export function monitorLine(client: ClientState, argv: string[]): string {
  const us = Math.floor((performance.timeOrigin + performance.now()) * 1000);
  let line = `${Math.floor(us / 1e6)}.${String(us % 1e6).padStart(6, '0')} [${client.db} ${client.addr}]`;
  for (const a of argv) line += ' ' + repr(a);
  return line;
}
