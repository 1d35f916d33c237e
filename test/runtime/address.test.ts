import { describe, expect, it } from 'vitest';
import { AddressParseError, formatAddress, parseAddress } from '../../runtime/index.ts';

describe('address', () => {
  it('round-trips HOST:PORT', () => {
    expect(parseAddress('10.0.0.1:4433')).toEqual({ host: '10.0.0.1', port: 4433 });
    expect(formatAddress(parseAddress('127.0.0.1:0'))).toBe('127.0.0.1:0');
  });
  it.each(['nohost', ':80', 'h:x', 'h:70000'])('rejects %s', (input) => {
    expect(() => parseAddress(input)).toThrow(AddressParseError);
  });
});
