/**
 * What the tracker needs to know about a release. Built from the store's signed channel pointers and
 * manifests in production (store-catalogue.ts); tests and the lab may pass a static list.
 */
export interface ReleaseInfo {
  /** `<product>@<version>` */
  id: string;
  product: string;
  channel: string;
  version: string;
  /** Hex SHA-1 of the BitTorrent v1 info dict. */
  infoHash: string;
  pieceCount: number;
  manifestKey: string;
  objectKey: string;
}

export interface ReleaseCatalogue {
  /** Current release of a product's channel, or null if the channel does not exist. */
  current(product: string, channel: string): Promise<ReleaseInfo | null>;
  /** Any release the catalogue has seen (current or earlier), so devices mid-download keep their swarm. */
  byId(id: string): Promise<ReleaseInfo | null>;
  byInfoHash(infoHash: string): Promise<ReleaseInfo | null>;
}

/** A fixed catalogue; the last entry for a product/channel is its current release. */
export function createStaticCatalogue(releases: readonly ReleaseInfo[]): ReleaseCatalogue {
  const byId = new Map(releases.map((r) => [r.id, r]));
  const byHash = new Map(releases.map((r) => [r.infoHash, r]));
  const current = new Map(releases.map((r) => [`${r.product}/${r.channel}`, r]));
  return {
    async current(product, channel) {
      return current.get(`${product}/${channel}`) ?? null;
    },
    async byId(id) {
      return byId.get(id) ?? null;
    },
    async byInfoHash(infoHash) {
      return byHash.get(infoHash) ?? null;
    },
  };
}
