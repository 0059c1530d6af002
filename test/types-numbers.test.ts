/** Redis number rules; expected values were taken from a real redis-server 7.0.15. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { formatLongDoubleHuman, ldAdd, parseInt64, parseLongDouble } from '../src/types/numbers.ts';
import { crc64, dumpValue, restoreValue, verifyPayload } from '../src/types/dump.ts';
import { HashValue } from '../src/types/values.ts';

function incrbyfloat(a: string, b: string): string | undefined {
  const x = parseLongDouble(a);
  const y = parseLongDouble(b);
  if (!x || !y) return undefined;
  const r = ldAdd(x, y);
  return r.kind === 'f' ? formatLongDoubleHuman(r) : 'NaN/Inf';
}

describe('string2ll', () => {
  it('accepts exactly what Redis accepts', () => {
    expect(parseInt64('0')).toBe(0n);
    expect(parseInt64('-1')).toBe(-1n);
    expect(parseInt64('9223372036854775807')).toBe(9223372036854775807n);
    expect(parseInt64('-9223372036854775808')).toBe(-9223372036854775808n);
    for (const bad of ['', '+1', '-0', '01', ' 1', '1 ', '9223372036854775808', '1.0', '0x10', '-', '1e3']) {
      expect(parseInt64(bad), bad).toBeUndefined();
    }
  });

  it('round-trips every int64', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), (v) => parseInt64(v.toString()) === v),
    );
  });
});

describe('long double arithmetic (INCRBYFLOAT)', () => {
  it('matches Redis outputs', () => {
    expect(incrbyfloat('0', '0.1')).toBe('0.1');
    expect(incrbyfloat('0.1', '0.2')).toBe('0.3');
    expect(incrbyfloat('10.5', '0.1')).toBe('10.6');
    expect(incrbyfloat('5.0e3', '2.0e2')).toBe('5200');
    expect(incrbyfloat('0.000003814697265625', '0')).toBe('0.00000381469726562');
    expect(incrbyfloat('0x1p-3', '0')).toBe('0.125');
    expect(incrbyfloat('-0.0000000000000000001', '0')).toBe('0');
    expect(incrbyfloat('1e-4940', '0')).toBe('0');
    expect(incrbyfloat('1e300', '1')!.slice(0, 40)).toBe('1000000000000000000008997324079559193870');
    expect(incrbyfloat('1', 'inf')).toBe('NaN/Inf');
    expect(incrbyfloat('5', '1.2e4932')).toBeUndefined();
    expect(incrbyfloat('3', '-3')).toBe('0');
    expect(incrbyfloat('1.5', '-2')).toBe('-0.5');
    expect(incrbyfloat('17179869184', '1.5')).toBe('17179869185.5');
  });

  it('rejects what strtold-with-checks rejects', () => {
    for (const bad of ['', ' 1', '1 ', 'abc', 'nan', '1e', '.', '1e-5000', '1e5000', '0x', '1.2.3']) {
      expect(parseLongDouble(bad), bad).toBeUndefined();
    }
    for (const ok of ['inf', '-Infinity', '.5', '5.', '+3', '1E+2', '0x1.8p1']) {
      expect(parseLongDouble(ok), ok).toBeDefined();
    }
  });

  it('formats integers exactly', () => {
    fc.assert(
      fc.property(fc.integer({ min: -1e15, max: 1e15 }), (n) => incrbyfloat(String(n), '0') === String(n)),
    );
  });
});

describe('DUMP payloads', () => {
  it('computes Redis CRC-64', () => {
    expect(crc64(Buffer.from('123456789')).readBigUInt64LE(0)).toBe(0xe9c6d914c4b8d9can);
  });

  it('reads payloads produced by real Redis (int, LZF, listpack)', () => {
    const str = Buffer.from('\x00\x05hello\n\x00cr\xdfve4 \n', 'latin1');
    expect(verifyPayload(str)).toBe(true);
    expect(restoreValue(str)).toBe('hello');
    const int = Buffer.from("\x00\xc190\n\x00\x9d\x94\xea'\x93\xfc\x08\xb9", 'latin1');
    expect(restoreValue(int)).toBe('12345');
    const lzf = Buffer.from('\x00\xc3\t=\x01aa\xe00\x00\x01aa\n\x00Y\xf1rc@\xa0\xb0/', 'latin1');
    expect(verifyPayload(lzf)).toBe(true);
    expect(restoreValue(lzf)).toBe('a'.repeat(61));
    const lp = Buffer.from(
      '\x10\x16\x16\x00\x00\x00\x04\x00\x81a\x02\x01\x01\x81b\x02\x85hello\x06\xff\n\x00\xe8\xc5\xfe\x99\xee\x07\x95]',
      'latin1',
    );
    expect(verifyPayload(lp)).toBe(true);
    const h = restoreValue(lp) as HashValue;
    expect([...h.map]).toEqual([
      ['a', '1'],
      ['b', 'hello'],
    ]);
  });

  it('round-trips our own payloads and rejects corrupt ones', () => {
    const h = new HashValue();
    h.set('f', 'v');
    h.set('n', '-123456');
    for (const v of ['', '42', '-7', 'x'.repeat(20000), '\x00\xff', h]) {
      const p = dumpValue(v);
      expect(verifyPayload(p)).toBe(true);
      expect(restoreValue(p)).toEqual(v);
    }
    const p = dumpValue('hello');
    p[2] ^= 1;
    expect(verifyPayload(p)).toBe(false);
  });
});
