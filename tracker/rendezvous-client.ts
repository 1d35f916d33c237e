import type { Duplex } from 'node:stream';
import type { MappingBehaviour } from '../nat/index.ts';
import type { Address } from '../runtime/index.ts';
import { SwarmlaneError } from '../runtime/index.ts';
import type { Connection } from '../transport/index.ts';
import { createFrameReader, decodeRendezvous, frame, type RendezvousMessage } from './rendezvous-codec.ts';
import type { PeerCandidate } from './swarm-store.ts';

export type PunchGo = Extract<RendezvousMessage, { type: 'punch-go' }>;

export class RendezvousError extends SwarmlaneError {}

export interface RendezvousClient {
  register(request: {
    deviceId: string;
    deviceToken: string;
    release: string;
    mapping: MappingBehaviour;
    candidates: PeerCandidate[];
  }): Promise<{ observed: Address; keepaliveSec: number }>;
  /** Asks the tracker to introduce us to `target`; resolves with our half of the introduction. */
  punch(target: string): Promise<PunchGo>;
  /** Introductions another device asked for (we are the responder: start punching at once). */
  onIntroduction(handler: (go: PunchGo) => void): () => void;
  close(): void;
}

/**
 * The agent's side of the rendezvous, over an established PZ connection to the tracker's endpoint.
 * Answers are matched by request id; an error answer rejects with its code.
 */
export function createRendezvousClient(connection: Connection): RendezvousClient {
  const stream: Duplex = connection.openStream();
  let nextId = 1;
  const pending = new Map<number, { resolve: (m: PunchGo) => void; reject: (e: Error) => void }>();
  let registering: {
    resolve: (v: { observed: Address; keepaliveSec: number }) => void;
    reject: (e: Error) => void;
  } | null = null;
  const handlers = new Set<(go: PunchGo) => void>();

  const read = createFrameReader((bytes) => {
    const message = decodeRendezvous(bytes);
    if (message.type === 'registered') {
      registering?.resolve({ observed: message.observed, keepaliveSec: message.keepaliveSec });
      registering = null;
    } else if (message.type === 'punch-go') {
      const waiter = message.requestId === 0 ? undefined : pending.get(message.requestId);
      if (waiter) {
        pending.delete(message.requestId);
        waiter.resolve(message);
      } else for (const h of handlers) h(message);
    } else if (message.type === 'error') {
      const error = new RendezvousError(message.code, message.message);
      const waiter = pending.get(message.requestId);
      if (waiter) {
        pending.delete(message.requestId);
        waiter.reject(error);
      } else if (registering) {
        registering.reject(error);
        registering = null;
      }
    }
  });
  stream.on('data', (chunk: Uint8Array) => read(chunk));
  stream.on('error', () => {});

  return {
    register(request) {
      return new Promise((resolve, reject) => {
        registering = { resolve, reject };
        stream.write(frame({ type: 'register', ...request }));
      });
    },
    punch(target) {
      const requestId = nextId++;
      return new Promise((resolve, reject) => {
        pending.set(requestId, { resolve, reject });
        stream.write(frame({ type: 'punch-request', requestId, target }));
      });
    },
    onIntroduction(handler) {
      handlers.add(handler);
      return () => handlers.delete(handler);
    },
    close() {
      stream.end();
    },
  };
}
