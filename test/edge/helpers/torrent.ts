import { createHash } from 'node:crypto';
import bencode from 'bencode';

/** A minimal single-file BitTorrent v1 metainfo with a BEP 19 web seed, for interop tests. */
export function makeWebSeedTorrent(
  name: string,
  data: Uint8Array,
  pieceLength: number,
  webSeedUrl: string,
): Uint8Array {
  const hashes: Buffer[] = [];
  for (let offset = 0; offset < data.length; offset += pieceLength)
    hashes.push(
      createHash('sha1')
        .update(data.subarray(offset, offset + pieceLength))
        .digest(),
    );
  return bencode.encode({
    info: { length: data.length, name, 'piece length': pieceLength, pieces: Buffer.concat(hashes) },
    'url-list': [webSeedUrl],
  });
}
