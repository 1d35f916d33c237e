import { createHash } from 'node:crypto';
import bencode from 'bencode';
import { ReleaseVerifyError } from './errors.ts';
import { toHex } from './hex.ts';

export interface TorrentOptions {
  name: string;
  length: number;
  pieceLength: number;
  /** Concatenated 20-byte SHA-1 piece hashes. */
  sha1Pieces: Uint8Array;
  /** Full announce URL (`<tracker URL>/announce`). */
  announce?: string;
  /** BEP 19 web seeds (`<cdn base URL>/<object key>`). */
  urlList?: string[];
  /** Seconds since the Unix epoch; omitted when absent so identical input gives identical bytes. */
  creationDate?: number;
  createdBy?: string;
}

export interface ParsedTorrent {
  /** Hex SHA-1 of the bencoded `info` dictionary. */
  infoHash: string;
  name: string;
  length: number;
  pieceLength: number;
  pieces: Uint8Array[];
  announce?: string;
  urlList?: string[];
}

/** Builds a single-file BitTorrent v1 metainfo file; returns its bytes and infohash. */
export function createTorrent(options: TorrentOptions): { bytes: Uint8Array; infoHash: string } {
  if (options.sha1Pieces.length !== Math.ceil(options.length / options.pieceLength) * 20)
    throw new RangeError('sha1Pieces does not match length / pieceLength');
  const info = {
    length: options.length,
    name: options.name,
    'piece length': options.pieceLength,
    pieces: options.sha1Pieces,
  };
  const meta: Record<string, unknown> = { info };
  if (options.announce) meta.announce = options.announce;
  if (options.urlList && options.urlList.length > 0) meta['url-list'] = options.urlList;
  if (options.creationDate !== undefined) meta['creation date'] = options.creationDate;
  if (options.createdBy) meta['created by'] = options.createdBy;
  const infoHash = toHex(createHash('sha1').update(bencode.encode(info)).digest());
  return { bytes: bencode.encode(meta), infoHash };
}

const text = new TextDecoder();
const str = (v: unknown): string | undefined => (v instanceof Uint8Array ? text.decode(v) : undefined);

/** Decodes a single-file v1 torrent. The infohash is over the re-encoded `info` (bencode is canonical). */
export function parseTorrent(bytes: Uint8Array): ParsedTorrent {
  let meta: Record<string, unknown>;
  try {
    meta = bencode.decode(bytes);
  } catch {
    throw new ReleaseVerifyError('SCHEMA_INVALID', 'torrent is not valid bencode');
  }
  const info = meta?.info as Record<string, unknown> | undefined;
  const name = str(info?.name);
  const pieces = info?.pieces;
  const length = info?.length;
  const pieceLength = info?.['piece length'];
  if (
    !info ||
    name === undefined ||
    !(pieces instanceof Uint8Array) ||
    pieces.length % 20 !== 0 ||
    typeof length !== 'number' ||
    typeof pieceLength !== 'number'
  )
    throw new ReleaseVerifyError('SCHEMA_INVALID', 'torrent is not a single-file BitTorrent v1 torrent');
  const infoHash = toHex(createHash('sha1').update(bencode.encode(info)).digest());
  const list: Uint8Array[] = [];
  for (let i = 0; i < pieces.length; i += 20) list.push(pieces.subarray(i, i + 20));
  const result: ParsedTorrent = { infoHash, name, length, pieceLength, pieces: list };
  const announce = str(meta.announce);
  if (announce !== undefined) result.announce = announce;
  const urlList = meta['url-list'];
  if (urlList instanceof Uint8Array) result.urlList = [text.decode(urlList)];
  else if (Array.isArray(urlList)) result.urlList = urlList.map((u) => str(u) ?? '');
  return result;
}
