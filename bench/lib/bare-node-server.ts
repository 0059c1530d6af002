/**
 * The ceiling of any Node.js server on this machine: a TCP server that answers +PONG to every
 * request without parsing it or running anything (it counts the '*' that opens each of
 * redis-benchmark's PING_MBULK requests). What it reaches relative to redis-server bounds what a
 * Node.js process can reach at all; bench/scale/throughput.ts reports it beside Shale.
 *
 *   node bench/lib/bare-node-server.ts <port>
 */
import net from 'node:net';

const port = Number(process.argv[2]);
const PONG = Buffer.from('+PONG\r\n');

net
  .createServer((s) => {
    s.setNoDelay(true);
    s.on('data', (d: Buffer) => {
      let n = 0;
      for (let i = 0; i < d.length; i++) if (d[i] === 0x2a) n++;
      if (n > 0) s.write(n === 1 ? PONG : Buffer.concat(Array.from({ length: n }, () => PONG)));
    });
    s.on('error', () => {});
  })
  .listen(port, '127.0.0.1');
