import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encode, formatDouble } from '../src/resp/encode.ts';
import { DEFAULT_LIMITS, ProtocolError, RequestParser } from '../src/resp/parser.ts';
import {
  BoolReply,
  DoubleReply,
  ErrorReply,
  MapReply,
  NullArray,
  PushReply,
  SetReply,
  SimpleString,
  VerbatimReply,
} from '../src/resp/reply.ts';
import { splitArgs } from '../src/resp/splitargs.ts';
import { globMatch } from '../src/util/glob.ts';

/** Feeds the input (optionally in chunks) and returns every command / error produced. */
function parseAll(input: string | Buffer, chunk = Infinity, limits = DEFAULT_LIMITS): (string[] | string)[] {
  const buf = typeof input === 'string' ? Buffer.from(input, 'latin1') : input;
  const p = new RequestParser(() => limits);
  const out: (string[] | string)[] = [];
  for (let i = 0; i < buf.length; i += Math.min(chunk, buf.length)) {
    p.feed(buf.subarray(i, Math.min(buf.length, i + chunk)));
    for (let r = p.next(); r !== undefined; r = p.next()) out.push(r instanceof ProtocolError ? r.message : r);
  }
  return out;
}

describe('request parser', () => {
  it('parses multibulk requests, also split at every byte', () => {
    const req = '*3\r\n$3\r\nSET\r\n$1\r\na\r\n$5\r\nhello\r\n*1\r\n$4\r\nPING\r\n';
    expect(parseAll(req)).toEqual([['SET', 'a', 'hello'], ['PING']]);
    expect(parseAll(req, 1)).toEqual([['SET', 'a', 'hello'], ['PING']]);
  });

  it('keeps binary data byte for byte', () => {
    const bytes = Buffer.from([0, 1, 13, 10, 255, 128]);
    const req = Buffer.concat([Buffer.from('*2\r\n$4\r\nECHO\r\n$6\r\n'), bytes, Buffer.from('\r\n')]);
    const [cmd] = parseAll(req) as string[][];
    expect(Buffer.from(cmd![1]!, 'latin1')).toEqual(bytes);
  });

  it('parses inline commands with quotes like sdssplitargs', () => {
    expect(parseAll('PING\r\nset a "b c"\nECHO "\\x41\\n" \'x\\\'y\'\r\n')).toEqual([
      ['PING'],
      ['set', 'a', 'b c'],
      ['ECHO', 'A\n', "x'y"],
    ]);
  });

  it('skips empty requests', () => {
    expect(parseAll('\r\n\r\n   \r\n*0\r\n*-1\r\nPING\r\n')).toEqual([['PING']]);
  });

  it('keeps every byte of arguments of any length', () => {
    const args = Array.from({ length: 40 }, (_, n) => Array.from({ length: n }, (_, i) => String.fromCharCode((n * 37 + i * 101) % 256)).join(''));
    const req = `*${args.length}\r\n` + args.map((a) => `$${a.length}\r\n${a}\r\n`).join('');
    expect(parseAll(req)).toEqual([args]);
  });

  it('assembles big bulks arriving in many chunks', () => {
    const big = 'x'.repeat(300_000);
    const req = `*2\r\n$4\r\nECHO\r\n$${big.length}\r\n${big}\r\n*1\r\n$4\r\nPING\r\n`;
    expect(parseAll(req, 7000)).toEqual([['ECHO', big], ['PING']]);
  });

  it.each([
    ['*2\r\n:1\r\n', "Protocol error: expected '$', got ':'"],
    ['*1\r\n$-1\r\n', 'Protocol error: invalid bulk length'],
    ['*1\r\n$abc\r\n', 'Protocol error: invalid bulk length'],
    ['*abc\r\n', 'Protocol error: invalid multibulk length'],
    ['*3000000000\r\n', 'Protocol error: invalid multibulk length'],
    ['*1\r\n$01\r\n', 'Protocol error: invalid bulk length'],
    ['*1\r\n$+3\r\n', 'Protocol error: invalid bulk length'],
    ['*1\r\n$3 \r\n', 'Protocol error: invalid bulk length'],
    ['*1\r\n$\r\n', 'Protocol error: invalid bulk length'],
    ['*1\r\n$123456789012345678901\r\n', 'Protocol error: invalid bulk length'],
    ['*-0\r\n', 'Protocol error: invalid multibulk length'],
    ['*\r\n', 'Protocol error: invalid multibulk length'],
    ['PING "a\r\n', 'Protocol error: unbalanced quotes in request'],
    ['PING "a"b\r\n', 'Protocol error: unbalanced quotes in request'],
  ])('rejects %j', (input, message) => {
    expect(parseAll(input)).toEqual([message]);
  });

  it('applies proto-max-bulk-len and the inline size limit', () => {
    const limits = { ...DEFAULT_LIMITS, maxBulkLen: 10 };
    expect(parseAll('*1\r\n$11\r\n', Infinity, limits)).toEqual(['Protocol error: invalid bulk length']);
    expect(parseAll('*1\r\n$10\r\n0123456789\r\n', Infinity, limits)).toEqual([['0123456789']]);
    expect(parseAll('a'.repeat(65 * 1024))).toEqual(['Protocol error: too big inline request']);
    expect(parseAll('*1' + '1'.repeat(65 * 1024))).toEqual(['Protocol error: too big mbulk count string']);
  });

  it('returns commands before the error, then nothing more', () => {
    expect(parseAll('PING\r\n*1\r\n$x\r\nPING\r\n')).toEqual([['PING'], 'Protocol error: invalid bulk length']);
  });

  it('asks unauthenticated clients for small requests', () => {
    const p = new RequestParser(undefined, () => true);
    p.feed(Buffer.from('*11\r\n'));
    expect((p.next() as ProtocolError).message).toBe('Protocol error: unauthenticated multibulk length');
  });

  it('never throws on arbitrary input and always makes progress', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 1, max: 50 }), (bytes, chunk) => {
        const out = parseAll(Buffer.from(bytes), chunk);
        for (const r of out) {
          if (typeof r === 'string') expect(r).toMatch(/^Protocol error: /);
          else expect(Array.isArray(r) && r.length > 0).toBe(true);
        }
        // After an error nothing else comes out.
        const i = out.findIndex((r) => typeof r === 'string');
        if (i >= 0) expect(i).toBe(out.length - 1);
      }),
      { numRuns: 2000 },
    );
  });

  it('round-trips arbitrary well-formed requests whatever the chunking', () => {
    const arg = fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b).toString('latin1'));
    fc.assert(
      fc.property(fc.array(fc.array(arg, { minLength: 1, maxLength: 5 }), { maxLength: 5 }), fc.integer({ min: 1, max: 64 }), (cmds, chunk) => {
        const wire = cmds.map((c) => `*${c.length}\r\n` + c.map((a) => `$${a.length}\r\n${a}\r\n`).join('')).join('');
        expect(parseAll(wire, chunk)).toEqual(cmds);
      }),
    );
  });

  it('copies what it still needs of chunks read into one reused buffer, however little it parses per read', () => {
    // Small arguments, and big ones that take the parser's collect-the-chunks path (> 32 KiB).
    const arg = fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.constant(new Uint8Array(40_000).fill(7))).map((b) => Buffer.from(b).toString('latin1'));
    const chunkSize = fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1000, max: 65536 }));
    fc.assert(
      fc.property(fc.array(fc.array(arg, { minLength: 1, maxLength: 4 }), { maxLength: 5 }), chunkSize, fc.array(fc.nat(3), { minLength: 1 }), (cmds, chunk, takes) => {
        const wire = Buffer.from(cmds.map((c) => `*${c.length}\r\n` + c.map((a) => `$${a.length}\r\n${a}\r\n`).join('')).join(''), 'latin1');
        const shared = Buffer.alloc(65536);
        const p = new RequestParser();
        const out: (string[] | ProtocolError)[] = [];
        for (let at = 0, k = 0; at < wire.length; at += chunk, k++) {
          const n = Math.min(chunk, wire.length - at);
          wire.copy(shared, 0, at, at + n);
          p.feed(shared.subarray(0, n), true);
          // A command that goes async leaves the rest of the read unparsed until it is done.
          for (let t = 0; t < takes[k % takes.length]!; t++) {
            const r = p.next();
            if (r === undefined) break;
            out.push(r);
          }
          p.keep();
          shared.fill(0x2a); // the next read overwrites the buffer
        }
        for (let r = p.next(); r !== undefined; r = p.next()) out.push(r);
        expect(out).toEqual(cmds);
      }),
      { numRuns: 300 },
    );
  });
});

describe('splitArgs', () => {
  it('matches sdssplitargs', () => {
    expect(splitArgs('set "a b" c')).toEqual(['set', 'a b', 'c']);
    expect(splitArgs('"\\x4a\\t\\r\\b\\a\\q"')).toEqual(['J\t\r\b\x07q']);
    expect(splitArgs("'a\\nb'")).toEqual(['a\\nb']);
    expect(splitArgs('foo"bar baz"')).toEqual(['foobar baz']);
    expect(splitArgs('""')).toEqual(['']);
    expect(splitArgs('"unterminated')).toBeNull();
    expect(splitArgs("'x'y")).toBeNull();
    expect(splitArgs('   ')).toEqual([]);
  });
});

describe('reply encoder', () => {
  const r2 = (r: Parameters<typeof encode>[0]) => encode(r, 2).toString('latin1');
  const r3 = (r: Parameters<typeof encode>[0]) => encode(r, 3).toString('latin1');

  it('writes lengths, integers and bytes exactly, short and long', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)), maxLength: 100 }), (s) => {
        expect(r2(s)).toBe(`$${s.length}\r\n${s}\r\n`);
        expect(r2(Buffer.from(s, 'latin1'))).toBe(`$${s.length}\r\n${s}\r\n`);
        expect(r2([s, s])).toBe(`*2\r\n$${s.length}\r\n${s}\r\n$${s.length}\r\n${s}\r\n`);
      }),
    );
    for (const n of [0, 1, 9, 10, 99, 100, 999_999_999, 1e9, 2 ** 53 - 1, -0, -1, -(2 ** 53) + 1, 1.5e300]) {
      expect(r2(n)).toBe(`:${Number.isSafeInteger(n) ? String(n) : BigInt(n).toString()}\r\n`);
    }
    fc.assert(fc.property(fc.integer(), (n) => r2(n) === `:${n}\r\n`));
    const big = 'x'.repeat(70_000);
    expect(r2(big)).toBe(`$70000\r\n${big}\r\n`);
  });

  it('encodes every reply kind in RESP2', () => {
    expect(r2(null)).toBe('$-1\r\n');
    expect(r2(42)).toBe(':42\r\n');
    expect(r2(-7n)).toBe(':-7\r\n');
    expect(r2('h\u00ffi')).toBe('$3\r\nh\u00ffi\r\n');
    expect(r2(new Uint8Array([1, 2]))).toBe('$2\r\n\x01\x02\r\n');
    expect(r2(new SimpleString('OK'))).toBe('+OK\r\n');
    expect(r2(new ErrorReply('ERR bad\r\nthing'))).toBe('-ERR bad  thing\r\n');
    expect(r2(NullArray.instance)).toBe('*-1\r\n');
    expect(r2(new DoubleReply(1.5))).toBe('$3\r\n1.5\r\n');
    expect(r2(new BoolReply(true))).toBe(':1\r\n');
    expect(r2(new MapReply([['a', 1]]))).toBe('*2\r\n$1\r\na\r\n:1\r\n');
    expect(r2(new SetReply(['x']))).toBe('*1\r\n$1\r\nx\r\n');
    expect(r2(new PushReply(['message', 'c', 'm']))).toBe('*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n');
    expect(r2(new VerbatimReply('hi'))).toBe('$2\r\nhi\r\n');
    expect(r2([1, [null]])).toBe('*2\r\n:1\r\n*1\r\n$-1\r\n');
  });

  it('encodes every reply kind in RESP3', () => {
    expect(r3(null)).toBe('_\r\n');
    expect(r3(NullArray.instance)).toBe('_\r\n');
    expect(r3(new DoubleReply(Infinity))).toBe(',inf\r\n');
    expect(r3(new DoubleReply(3))).toBe(',3\r\n');
    expect(r3(new BoolReply(false))).toBe('#f\r\n');
    expect(r3(new MapReply([['a', 1]]))).toBe('%1\r\n$1\r\na\r\n:1\r\n');
    expect(r3(new SetReply(['x']))).toBe('~1\r\n$1\r\nx\r\n');
    expect(r3(new PushReply(['a']))).toBe('>1\r\n$1\r\na\r\n');
    expect(r3(new VerbatimReply('hi'))).toBe('=6\r\ntxt:hi\r\n');
  });

  it('formats doubles like Redis 7.0 (%.17g)', () => {
    // Values taken from redis-server 7.0.15 ZSCORE replies.
    expect(formatDouble(1.1)).toBe('1.1000000000000001');
    expect(formatDouble(3)).toBe('3');
    expect(formatDouble(1e20)).toBe('1e+20');
    expect(formatDouble(1.5e-7)).toBe('1.4999999999999999e-07');
    expect(formatDouble(0.1)).toBe('0.10000000000000001');
    expect(formatDouble(123456789012345678)).toBe('1.2345678901234568e+17');
    expect(formatDouble(Infinity)).toBe('inf');
    expect(formatDouble(-Infinity)).toBe('-inf');
    expect(formatDouble(-2.5)).toBe('-2.5');
    expect(formatDouble(0)).toBe('0');
    expect(formatDouble(0.0001)).toBe('0.0001');
    expect(formatDouble(1e16)).toBe('10000000000000000');
    expect(formatDouble(1e-5)).toBe('1.0000000000000001e-05');
    expect(formatDouble(-42)).toBe('-42');
    expect(formatDouble(9007199254740991)).toBe('9007199254740991');
    expect(formatDouble(-9007199254740991)).toBe('-9007199254740991');
    expect(formatDouble(9007199254740992)).toBe('9007199254740992');
  });

  it('formats doubles that parse back to the same value', () => {
    fc.assert(fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (d) => {
      expect(Number(formatDouble(d))).toBe(d === 0 ? d : d);
    }));
  });
});

describe('globMatch', () => {
  it('matches like stringmatchlen', () => {
    expect(globMatch('*', '')).toBe(false); // as Redis: PUBSUB CHANNELS * omits the "" channel
    expect(globMatch('*', 'x')).toBe(true);
    expect(globMatch('h?llo', 'hello')).toBe(true);
    expect(globMatch('h*llo', 'heeeello')).toBe(true);
    expect(globMatch('h[ae]llo', 'hallo')).toBe(true);
    expect(globMatch('h[^e]llo', 'hello')).toBe(false);
    expect(globMatch('h[a-b]llo', 'hbllo')).toBe(true);
    expect(globMatch('h[b-a]llo', 'hbllo')).toBe(true);
    expect(globMatch('h\\*llo', 'h*llo')).toBe(true);
    expect(globMatch('h\\*llo', 'hello')).toBe(false);
    expect(globMatch('news.*', 'news.art')).toBe(true);
    expect(globMatch('HELLO', 'hello', true)).toBe(true);
    expect(globMatch('[abc', 'a')).toBe(true);
    expect(globMatch('a*', 'b')).toBe(false);
    expect(globMatch('*a*', 'xxaxx')).toBe(true);
  });

  it('does not backtrack exponentially', () => {
    const t = performance.now();
    expect(globMatch('a*'.repeat(30) + 'b', 'a'.repeat(60))).toBe(false);
    expect(performance.now() - t).toBeLessThan(500);
  });
});
