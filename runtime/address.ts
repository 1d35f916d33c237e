/** A UDP/TCP endpoint. IPv4 dotted-quad hosts throughout (the lab and the NAT models are IPv4). */
export interface Address {
  readonly host: string;
  readonly port: number;
}

export class AddressParseError extends Error {
  readonly code = 'ADDRESS_INVALID';
  constructor(input: string, why: string) {
    super(`invalid address "${input}": ${why}`);
    this.name = 'AddressParseError';
  }
}

export function formatAddress(address: Address): string {
  return `${address.host}:${address.port}`;
}

/** Parses `HOST:PORT` (port 0–65535). */
export function parseAddress(input: string): Address {
  const colon = input.lastIndexOf(':');
  if (colon <= 0) throw new AddressParseError(input, 'expected HOST:PORT');
  const host = input.slice(0, colon);
  const portText = input.slice(colon + 1);
  if (!/^\d{1,5}$/.test(portText)) throw new AddressParseError(input, 'port is not a number');
  const port = Number(portText);
  if (port > 65535) throw new AddressParseError(input, 'port out of range');
  return { host, port };
}

export function sameAddress(a: Address, b: Address): boolean {
  return a.host === b.host && a.port === b.port;
}
