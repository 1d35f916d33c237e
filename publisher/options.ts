import { Value } from '@sinclair/typebox/value';
import { DEFAULT_PIECE_SIZE, isSemver, isValidPieceSize, NameSegment } from '../release/index.ts';
import { PublishError } from './errors.ts';

/** What to publish. Defaults live here and nowhere else. */
export interface PublishRequest {
  /** Path of the release file; its base name becomes the object's name. */
  file: string;
  product: string;
  /** Semantic version; must be greater than the channel's current version. */
  version: string;
  /** Default `stable`. */
  channel?: string;
  /** Power of two, 16 KiB..16 MiB. Default 256 KiB. */
  pieceSize?: number;
  /** Tracker base URL; the torrent announces to `<tracker>/announce`. */
  trackerUrl?: string;
  /** CDN base URL serving store keys; becomes the torrent's BEP 19 `url-list` entry. */
  webseedUrl?: string;
  /** Validity of the manifest and the channel pointer in days. Default 30. */
  expiresDays?: number;
}

export const PUBLISH_DEFAULTS = {
  channel: 'stable',
  pieceSize: DEFAULT_PIECE_SIZE,
  expiresDays: 30,
} as const;

export type ResolvedPublishRequest = Required<Omit<PublishRequest, 'trackerUrl' | 'webseedUrl'>> &
  Pick<PublishRequest, 'trackerUrl' | 'webseedUrl'>;

function httpUrl(value: string, what: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new PublishError('INVALID_ARGUMENT', `${what} "${value}" is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:' && url.protocol !== 'udp:')
    throw new PublishError('INVALID_ARGUMENT', `${what} "${value}" must be an http(s) URL`);
  return value.replace(/\/+$/, '');
}

/** Applies defaults and refuses bad arguments before anything touches the store. */
export function resolvePublishRequest(request: PublishRequest): ResolvedPublishRequest {
  const channel = request.channel ?? PUBLISH_DEFAULTS.channel;
  if (!Value.Check(NameSegment, request.product))
    throw new PublishError(
      'INVALID_ARGUMENT',
      `product "${request.product}" must match [A-Za-z0-9][A-Za-z0-9._-]*`,
    );
  if (!Value.Check(NameSegment, channel))
    throw new PublishError('INVALID_ARGUMENT', `channel "${channel}" must match [A-Za-z0-9][A-Za-z0-9._-]*`);
  if (!isSemver(request.version))
    throw new PublishError(
      'VERSION_INVALID',
      `version "${request.version}" is not a semantic version (e.g. 1.4.2)`,
    );
  const pieceSize = request.pieceSize ?? PUBLISH_DEFAULTS.pieceSize;
  if (!isValidPieceSize(pieceSize))
    throw new PublishError(
      'PIECE_SIZE_INVALID',
      `piece size ${pieceSize} must be a power of two between 16384 and 16777216 bytes`,
    );
  const expiresDays = request.expiresDays ?? PUBLISH_DEFAULTS.expiresDays;
  if (!Number.isFinite(expiresDays) || expiresDays <= 0 || expiresDays > 3650)
    throw new PublishError(
      'INVALID_ARGUMENT',
      `expires ${expiresDays} must be a number of days in (0, 3650]`,
    );
  const resolved: ResolvedPublishRequest = {
    file: request.file,
    product: request.product,
    version: request.version,
    channel,
    pieceSize,
    expiresDays,
  };
  if (request.trackerUrl !== undefined) resolved.trackerUrl = httpUrl(request.trackerUrl, 'tracker URL');
  if (request.webseedUrl !== undefined) resolved.webseedUrl = httpUrl(request.webseedUrl, 'webseed URL');
  return resolved;
}
