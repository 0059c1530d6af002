// Container health: a RESP PING to the local server (with AUTH when a password is set).
// Exits 0 on +PONG, 1 otherwise. Reads SHALE_PORT, SHALE_BIND and SHALE_REQUIREPASS like the
// server does, so it follows the same environment (options given as flags are not seen).
import net from 'node:net';

const port = Number(process.env.SHALE_PORT || 6379);
// The first bind address, unless it is a wildcard (then loopback reaches the server).
const first = (process.env.SHALE_BIND ?? '').trim().split(/\s+/)[0]?.replace(/^-/, '') ?? '';
const host = ['', '*', '0.0.0.0', '::', '::*'].includes(first) ? '127.0.0.1' : first;
const password = process.env.SHALE_REQUIREPASS;
const bulk = (s) => `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
const request = (password ? `*2\r\n${bulk('AUTH')}${bulk(password)}` : '') + `*1\r\n${bulk('PING')}`;

const fail = (why) => {
  process.stderr.write(`unhealthy: ${why}\n`);
  process.exit(1);
};
const socket = net.connect({ host, port });
let reply = '';
socket.setTimeout(2000, () => fail('timeout'));
socket.on('error', (e) => fail(e.message));
socket.on('connect', () => socket.write(request));
socket.on('data', (d) => {
  reply += d.toString('latin1');
  if (reply.startsWith('-') || reply.includes('\r\n-')) fail(reply.trim());
  if (reply.includes('+PONG\r\n')) process.exit(0);
});
socket.on('end', () => fail(`connection closed after ${JSON.stringify(reply)}`));
