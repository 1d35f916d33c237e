import {
  type ChannelSigned,
  type ManifestSigned,
  ReleaseVerifyError,
  storeKeys,
  type TrustedKeys,
  verifyChannel,
  verifyManifest,
} from '../release/index.ts';
import type { Clock, HttpClient, Logger } from '../runtime/index.ts';
import { AgentError } from './errors.ts';
import type { AgentStateStore } from './storage/agent-state.ts';
import type { SourceClass } from './types.ts';

export interface VerifiedRelease {
  channel: ChannelSigned;
  manifest: ManifestSigned;
  manifestBytes: Uint8Array;
  manifestSha256: string;
  /** Where the manifest came from and the bytes it took (peer bytes count as such; see agent.ts). */
  manifestSource: { sourceClass: SourceClass; bytes: number };
}

/** The manifest's bytes from peers, already matched against the pointer's SHA-256 (manifest-exchange.ts). */
export type ManifestFromPeers = (
  channel: ChannelSigned,
) => Promise<{ bytes: Uint8Array; receivedBytes: number; sourceClass: SourceClass } | undefined>;

/**
 * The signed update check: fetch the channel pointer, verify signatures, expiry and that its sequence
 * and version never go below what this device accepted before (persisted, so a restart cannot be
 * rolled back either); then fetch the manifest it names and verify it is exactly the pinned one.
 * Documents come from any of the given base URLs (CDN(s) or store mirrors), first that answers wins;
 * a document that fails verification is refused, never retried elsewhere silently as "ok".
 * With `fromPeers` the manifest is asked of the swarm's peers first: the pointer pins it by SHA-256, so
 * peer bytes are verified exactly as the CDN's would be; without an answer in time, the CDN serves it.
 */
export async function checkRelease(
  target: { product: string; channel: string },
  components: {
    http: HttpClient;
    clock: Clock;
    logger: Logger;
    trusted: TrustedKeys;
    state: AgentStateStore;
    baseUrls: readonly string[];
    fromPeers?: ManifestFromPeers;
  },
): Promise<VerifiedRelease> {
  const { http, clock, trusted, state, baseUrls } = components;
  const key = `${target.product}/${target.channel}`;
  const channelBytes = await fetchFirst(http, baseUrls, storeKeys.channel(target.product, target.channel));
  const lastSeen = state.get().lastSeen[key];
  let channel: ChannelSigned;
  let manifest: ManifestSigned;
  let manifestBytes: Uint8Array;
  let manifestSource: VerifiedRelease['manifestSource'];
  try {
    channel = verifyChannel(channelBytes, trusted, {
      now: clock.now(),
      product: target.product,
      channel: target.channel,
      ...(lastSeen ? { lastSeen } : {}),
    });
    const peers = await components.fromPeers?.(channel).catch(() => undefined);
    if (peers) {
      manifestBytes = peers.bytes;
      manifestSource = { sourceClass: peers.sourceClass, bytes: peers.receivedBytes };
    } else {
      manifestBytes = await fetchFirst(http, baseUrls, channel.manifest);
      manifestSource = { sourceClass: 'cdn', bytes: manifestBytes.length };
    }
    manifest = verifyManifest(manifestBytes, trusted, {
      now: clock.now(),
      expectedSha256: channel.manifestSha256,
      product: target.product,
      version: channel.version,
    });
  } catch (error) {
    if (error instanceof ReleaseVerifyError)
      throw new AgentError('RELEASE_REFUSED', `${key}: ${error.message} (${error.code})`, { cause: error });
    throw error;
  }
  if (!lastSeen || channel.sequence > lastSeen.sequence)
    await state.update((s) => {
      s.lastSeen[key] = { sequence: channel.sequence, version: channel.version };
    });
  components.logger.info(
    { product: target.product, version: channel.version, sequence: channel.sequence },
    'release verified',
  );
  return { channel, manifest, manifestBytes, manifestSha256: channel.manifestSha256, manifestSource };
}

async function fetchFirst(http: HttpClient, baseUrls: readonly string[], key: string): Promise<Uint8Array> {
  if (baseUrls.length === 0) throw new AgentError('NO_SOURCES', `no CDN URL to fetch ${key} from`);
  const problems: string[] = [];
  for (const base of baseUrls) {
    try {
      const response = await http.request({ method: 'GET', url: `${base}/${key}` });
      if (response.status === 200) return response.body;
      problems.push(`${base}: HTTP ${response.status}`);
    } catch (error) {
      problems.push(`${base}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  throw new AgentError('NO_SOURCES', `cannot fetch ${key} (${problems.join('; ')})`);
}
