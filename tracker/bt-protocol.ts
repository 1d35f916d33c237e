import bencode from 'bencode';
import { TrackerError } from './errors.ts';
import { asText, toHex } from './raw-query.ts';
import type { PeerRecord } from './swarm-store.ts';

/** A validated standard (BEP 3) announce. */
export interface BtAnnounce {
  infoHash: string;
  peerId: string;
  port: number;
  uploaded: number;
  downloaded: number;
  left: number;
  event: 'started' | 'completed' | 'stopped' | 'paused' | 'update';
  numwant: number;
  compact: boolean;
  noPeerId: boolean;
}

export interface BtLimits {
  defaultNumwant: number;
  maxNumwant: number;
}

function single(query: Map<string, Uint8Array[]>, key: string): Uint8Array | undefined {
  return query.get(key)?.[0];
}

function integer(
  query: Map<string, Uint8Array[]>,
  key: string,
  fallback: number | null,
  code: 'PORT_INVALID' | 'NUMWANT_INVALID' | 'BAD_REQUEST',
): number {
  const text = asText(single(query, key));
  if (text === undefined || text === '') {
    if (fallback === null) throw new TrackerError(code, `missing ${key}`);
    return fallback;
  }
  if (!/^-?\d{1,20}$/.test(text)) throw new TrackerError(code, `invalid ${key}`);
  return Number(text);
}

export function parseBtAnnounce(query: Map<string, Uint8Array[]>, limits: BtLimits): BtAnnounce {
  const infoHash = single(query, 'info_hash');
  if (infoHash?.length !== 20) throw new TrackerError('INFO_HASH_INVALID', 'invalid info_hash');
  const peerId = single(query, 'peer_id');
  if (peerId?.length !== 20) throw new TrackerError('PEER_ID_INVALID', 'invalid peer_id');
  const port = integer(query, 'port', null, 'PORT_INVALID');
  if (port < 1 || port > 65535) throw new TrackerError('PORT_INVALID', 'invalid port');
  const counter = (key: string) => {
    const v = integer(query, key, 0, 'BAD_REQUEST');
    if (v < 0) throw new TrackerError('BAD_REQUEST', `invalid ${key}`);
    return Math.min(v, Number.MAX_SAFE_INTEGER);
  };
  const numwant = integer(query, 'numwant', limits.defaultNumwant, 'NUMWANT_INVALID');
  if (numwant < 0) throw new TrackerError('NUMWANT_INVALID', 'invalid numwant');
  const eventText = asText(single(query, 'event')) ?? '';
  const event = eventText === '' || eventText === 'empty' ? 'update' : eventText;
  if (!['started', 'completed', 'stopped', 'paused', 'update'].includes(event))
    throw new TrackerError('EVENT_INVALID', 'invalid event');
  return {
    infoHash: toHex(infoHash),
    peerId: toHex(peerId),
    port,
    uploaded: counter('uploaded'),
    downloaded: counter('downloaded'),
    left: counter('left'),
    event: event as BtAnnounce['event'],
    numwant: Math.min(numwant, limits.maxNumwant),
    compact: asText(single(query, 'compact')) !== '0',
    noPeerId: asText(single(query, 'no_peer_id')) === '1',
  };
}

/** Scrape asks for one or more info hashes; hashes of the wrong length are refused. */
export function parseBtScrape(query: Map<string, Uint8Array[]>, max: number): string[] {
  const hashes = query.get('info_hash') ?? [];
  if (hashes.length === 0) throw new TrackerError('INFO_HASH_INVALID', 'scrape needs at least one info_hash');
  if (hashes.length > max) throw new TrackerError('BAD_REQUEST', `scrape at most ${max} info_hash values`);
  for (const h of hashes)
    if (h.length !== 20) throw new TrackerError('INFO_HASH_INVALID', 'invalid info_hash');
  return hashes.map(toHex);
}

function ipv4Bytes(host: string): number[] | null {
  const parts = host.split('.');
  if (parts.length !== 4) return null;
  const bytes = parts.map(Number);
  return bytes.every((b) => Number.isInteger(b) && b >= 0 && b <= 255) ? bytes : null;
}

/** Swarm member id of a stock client: `bt/` + hex peer_id (`/` never occurs in a device id). */
export const stockPeerId = (hexPeerId: string) => `bt/${hexPeerId}`;

/** Where a peer takes TCP BitTorrent-wire connections: an agent's TCP port, or a stock client's own. */
export const wirePort = (p: PeerRecord) => p.tcpPort ?? p.address.port;

/** BEP 23 compact peers: 6 bytes each (IPv4, port big-endian). Non-IPv4 peers are left out. */
export function compactPeers(peers: readonly PeerRecord[]): Uint8Array {
  const out = new Uint8Array(peers.length * 6);
  let n = 0;
  for (const p of peers) {
    const ip = ipv4Bytes(p.address.host);
    if (!ip) continue;
    out.set(ip, n);
    const port = wirePort(p);
    out[n + 4] = (port >> 8) & 0xff;
    out[n + 5] = port & 0xff;
    n += 6;
  }
  return out.subarray(0, n);
}

export function encodeBtAnnounceResponse(response: {
  interval: number;
  minInterval: number;
  complete: number;
  incomplete: number;
  peers: readonly PeerRecord[];
  compact: boolean;
  noPeerId: boolean;
}): Uint8Array {
  const peers = response.compact
    ? compactPeers(response.peers)
    : response.peers.map((p) =>
        // Agents have no 20-byte peer id of their own here; clients accept entries without one.
        response.noPeerId || !p.stock
          ? { ip: p.address.host, port: wirePort(p) }
          : { 'peer id': Buffer.from(p.peerId.slice(3), 'hex'), ip: p.address.host, port: wirePort(p) },
      );
  return bencode.encode({
    interval: response.interval,
    'min interval': response.minInterval,
    complete: response.complete,
    incomplete: response.incomplete,
    peers,
  });
}

export function encodeBtScrapeResponse(
  files: ReadonlyArray<{ infoHash: string; complete: number; incomplete: number; downloaded: number }>,
): Uint8Array {
  const map = new Map<Uint8Array, object>();
  for (const f of files)
    map.set(Buffer.from(f.infoHash, 'hex'), {
      complete: f.complete,
      downloaded: f.downloaded,
      incomplete: f.incomplete,
    });
  return bencode.encode({ files: map });
}

/** Failure in the form clients expect: HTTP 200 with a bencoded `failure reason` (BEP 3). */
export function encodeBtFailure(reason: string, code: string): Uint8Array {
  return bencode.encode({ 'failure reason': reason, 'failure code': code });
}
