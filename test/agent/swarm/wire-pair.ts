import type { Duplex } from 'node:stream';
import type { Bitfield } from '../../../agent/engine/bitfield.ts';
import { createMemoryPieceStore } from '../../../agent/storage/piece-store.ts';
import { createPeerConnection, type PeerConnection } from '../../../agent/swarm/peer.ts';
import { createUploadLimiter } from '../../../agent/swarm/swarm.ts';
import { createSilentLogger } from '../../../runtime/index.ts';
import { type ManualClock, makeRelease } from '../helpers.ts';

/**
 * One end of a two-peer wire over `stream` for a release of `pieces` 1 KiB pieces: the dialer is "a",
 * the acceptor "b"; no upload cap.
 */
export function wireEnd(
  stream: Duplex,
  clock: ManualClock,
  have: Bitfield,
  options: {
    initiator: boolean;
    pieces: number;
    textbookOpening?: boolean;
    opensWire?: boolean;
    presumeInterest?: boolean;
  },
): PeerConnection {
  const { initiator } = options;
  const { layout } = makeRelease(options.pieces * 1024, 1024, 5);
  return createPeerConnection(
    stream,
    {
      id: initiator ? 'b' : 'a',
      sourceClass: 'peer-same-isp',
      infoHash: 'ab'.repeat(20),
      peerId: (initiator ? 'a' : 'b').repeat(40),
      initiator,
      maxInFlight: 2,
      ...(options.textbookOpening ? { textbookOpening: true } : {}),
      ...(options.opensWire !== undefined ? { opensWire: options.opensWire } : {}),
      ...(options.presumeInterest ? { presumeInterest: true } : {}),
    },
    {
      clock,
      logger: createSilentLogger(),
      layout,
      store: createMemoryPieceStore(),
      have,
      limiter: createUploadLimiter(0, { clock }),
      uploadAllowed: () => true,
    },
  );
}
