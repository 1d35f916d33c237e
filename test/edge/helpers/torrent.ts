import { createHash } from 'node:crypto';
import { createTorrent } from '../../../release/index.ts';

/** A single-file BitTorrent v1 metainfo (release's createTorrent) listing a BEP 19 web seed. */
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
  return createTorrent({
    name,
    length: data.length,
    pieceLength,
    sha1Pieces: Buffer.concat(hashes),
    urlList: [webSeedUrl],
  }).bytes;
}
