import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import {
  createTrustedKeys,
  generateKeyPair,
  type ManifestSigned,
  type ObjectStore,
  releaseId,
  signEnvelope,
  storeKeys,
} from '../../../release/index.ts';
import { createSeededRandom } from '../../../runtime/index.ts';

/** Publishes a random release into `store` the way the publisher lays it out (object + signed manifest). */
export async function publishTestRelease(
  store: ObjectStore,
  options: {
    product?: string;
    version?: string;
    size: number;
    pieceLength: number;
    seed?: number;
    data?: Uint8Array;
  },
) {
  const product = options.product ?? 'fw';
  const version = options.version ?? '1.0.0';
  const data = options.data ?? createSeededRandom(options.seed ?? 1).bytes(options.size);
  const pieces: string[] = [];
  for (let o = 0; o < data.length; o += options.pieceLength)
    pieces.push(
      createHash('sha256')
        .update(data.subarray(o, o + options.pieceLength))
        .digest('hex'),
    );
  const manifest: ManifestSigned = {
    schema: 'swarmlane.manifest/1',
    product,
    version,
    channel: 'stable',
    file: 'firmware.bin',
    size: data.length,
    sha256: createHash('sha256').update(data).digest('hex'),
    pieceLength: options.pieceLength,
    pieces,
    infoHash: '0'.repeat(40),
    object: storeKeys.object(product, version, 'firmware.bin'),
    torrent: storeKeys.torrent(product, version),
    created: '2026-01-01T00:00:00Z',
    expires: '2099-01-01T00:00:00Z',
  };
  const pair = generateKeyPair('ed25519');
  const envelope = signEnvelope(manifest, [createPrivateKey(pair.privatePem)]);
  await store.put(manifest.object, data);
  await store.put(storeKeys.manifest(product, version), new TextEncoder().encode(JSON.stringify(envelope)));
  const trusted = createTrustedKeys([createPublicKey(pair.publicPem)], 1);
  return { id: releaseId(product, version), manifest, data, trusted };
}
