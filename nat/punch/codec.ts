/**
 * Hole-punch messages, carried on the transport's socket (first byte 0x10-0x1f; the transport hands
 * them to us via Endpoint.onRawDatagram). Version 1:
 *
 *  0       type: 0x10 PING, 0x11 PONG, 0x12 KEEPALIVE
 *  1       version = 1
 *  2..9    session token (8 bytes, issued by the rendezvous to both peers)
 *  10..17  transaction ID (8 bytes; a PONG echoes its PING's)
 *  PONG only:
 *  18      address family (4)
 *  19..22  the PING's source IPv4 as the responder saw it (our peer-reflexive address)
 *  23..24  its port
 */
import type { Address } from '../../runtime/index.ts';
import { NatDecodeError } from '../errors.ts';
import { formatIPv4, parseIPv4 } from '../ip.ts';

export const PunchType = { ping: 0x10, pong: 0x11, keepalive: 0x12 } as const;
const VERSION = 1;

export type PunchMessage =
  | { type: 'ping' | 'keepalive'; session: Uint8Array; transaction: Uint8Array }
  | { type: 'pong'; session: Uint8Array; transaction: Uint8Array; observed: Address };

/** True for the first-byte range the transport reserves for NAT traversal. */
export function isPunchDatagram(bytes: Uint8Array): boolean {
  return bytes.length > 0 && bytes[0]! >= 0x10 && bytes[0]! <= 0x1f;
}

export function encodePunch(message: PunchMessage): Uint8Array {
  if (message.session.length !== 8 || message.transaction.length !== 8)
    throw new RangeError('punch session and transaction must be 8 bytes');
  const out = new Uint8Array(message.type === 'pong' ? 25 : 18);
  out[0] = PunchType[message.type];
  out[1] = VERSION;
  out.set(message.session, 2);
  out.set(message.transaction, 10);
  if (message.type === 'pong') {
    const ip = parseIPv4(message.observed.host);
    if (!ip) throw new RangeError(`punch: IPv4 only, got "${message.observed.host}"`);
    out[18] = 4;
    out.set(ip, 19);
    new DataView(out.buffer).setUint16(23, message.observed.port);
  }
  return out;
}

export function decodePunch(bytes: Uint8Array): PunchMessage {
  if (bytes.length < 18) throw new NatDecodeError('punch message', 'shorter than 18 bytes');
  if (bytes[1] !== VERSION) throw new NatDecodeError('punch message', `version ${bytes[1]}`);
  const session = bytes.slice(2, 10);
  const transaction = bytes.slice(10, 18);
  switch (bytes[0]) {
    case PunchType.ping:
    case PunchType.keepalive:
      if (bytes.length !== 18) throw new NatDecodeError('punch message', 'wrong length');
      return { type: bytes[0] === PunchType.ping ? 'ping' : 'keepalive', session, transaction };
    case PunchType.pong: {
      if (bytes.length !== 25 || bytes[18] !== 4) throw new NatDecodeError('punch PONG', 'bad address');
      const port = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint16(23);
      return { type: 'pong', session, transaction, observed: { host: formatIPv4(bytes, 19), port } };
    }
    default:
      throw new NatDecodeError('punch message', `unknown type 0x${bytes[0]!.toString(16)}`);
  }
}
