/**
 * The BitTorrent handshake (BEP 3), read by the TCP listener before a socket is handed to a swarm:
 * it names the swarm (infohash), so one port serves every release the agent seeds.
 *
 *   0      1                20         28           48          68
 *   +------+----------------+----------+------------+-----------+
 *   | 19   | "BitTorrent    | reserved | info_hash  | peer_id   |
 *   |      |  protocol"     | (8)      | (20)       | (20)      |
 *   +------+----------------+----------+------------+-----------+
 *
 * Anything else (an MSE/PE obfuscated handshake, HTTP, garbage) is not ours: the caller closes it.
 */
export const HANDSHAKE_LENGTH = 68;
const PROTOCOL = 'BitTorrent protocol';

export type HandshakeParse =
  | { status: 'incomplete' }
  | { status: 'invalid'; reason: string }
  | { status: 'ok'; infoHash: string; peerId: string };

/** Parses the first bytes a peer sent; `incomplete` until 68 bytes are there, `invalid` as soon as they cannot be a handshake. */
export function parseHandshake(bytes: Uint8Array): HandshakeParse {
  if (bytes.length >= 1 && bytes[0] !== PROTOCOL.length)
    return { status: 'invalid', reason: 'not BitTorrent' };
  const known = Math.min(bytes.length - 1, PROTOCOL.length);
  for (let i = 0; i < known; i++)
    if (bytes[1 + i] !== PROTOCOL.charCodeAt(i)) return { status: 'invalid', reason: 'not BitTorrent' };
  if (bytes.length < HANDSHAKE_LENGTH) return { status: 'incomplete' };
  const hex = (from: number, to: number): string => Buffer.from(bytes.subarray(from, to)).toString('hex');
  return { status: 'ok', infoHash: hex(28, 48), peerId: hex(48, 68) };
}
