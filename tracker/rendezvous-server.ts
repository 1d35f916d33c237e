import type { Duplex } from 'node:stream';
import { channelFromEndpoint, createStunServer, type StunServer } from '../nat/index.ts';
import type { Address, Clock, Logger, Random } from '../runtime/index.ts';
import type { Connection, Endpoint } from '../transport/index.ts';
import { hashToken } from './context.ts';
import { type PeeringScope, resolveLocality, SCOPE_TIERS, tierOf } from './locality.ts';
import type { PrefixTable } from './prefixes.ts';
import { DEFAULT_RENDEZVOUS, type Registration, Rendezvous, type RendezvousOptions } from './rendezvous.ts';
import { createFrameReader, decodeRendezvous, frame, type RendezvousMessage } from './rendezvous-codec.ts';
import type { SwarmStore } from './swarm-store.ts';

export interface RendezvousServerOptions extends RendezvousOptions {
  /** Peering scope per product and the default, as for peer selection. */
  scopes: Record<string, PeeringScope>;
  defaultScope: PeeringScope;
  prefixes: PrefixTable | null;
  /** The address clients reach the UDP endpoint at (advertised in STUN answers). */
  advertised: Address;
}

export interface RendezvousServer {
  readonly core: Rendezvous;
  stun: StunServer;
  close(): void;
}

/**
 * Wires the rendezvous core to the tracker's PZ endpoint: agents keep a session and one stream with
 * the tracker, register (device id + token from their first announce), and ask for punches. The same
 * UDP socket answers STUN, so the reflexive address agents learn is the mapping their sessions use.
 */
export function createRendezvousServer(
  options: Partial<RendezvousServerOptions> & Pick<RendezvousServerOptions, 'advertised'>,
  components: { endpoint: Endpoint; swarmStore: SwarmStore; clock: Clock; random: Random; logger: Logger },
): RendezvousServer {
  const resolved: RendezvousServerOptions = {
    ...DEFAULT_RENDEZVOUS,
    scopes: {},
    defaultScope: 'internet',
    prefixes: null,
    ...options,
  };
  const log = components.logger.child({ component: 'tracker-rendezvous' });
  const mayPair = (a: Registration, b: Registration): boolean => {
    const product = a.release.slice(0, a.release.indexOf('@'));
    const scope = resolved.scopes[product] ?? resolved.defaultScope;
    const la = resolveLocality(a.observed.host, resolved.prefixes);
    const lb = resolveLocality(b.observed.host, resolved.prefixes);
    return SCOPE_TIERS[scope].includes(tierOf(la, { address: b.observed, isp: lb.isp, region: lb.region }));
  };
  const core = new Rendezvous(resolved, { clock: components.clock, random: components.random, mayPair });
  const streams = new Map<string, Duplex>();

  const deliver = (out: Array<{ session: string; message: RendezvousMessage }>) => {
    for (const { session, message } of out) streams.get(session)?.write(frame(message));
  };

  const onMessage = async (connection: Connection, message: RendezvousMessage): Promise<void> => {
    const session = connection.id;
    if (message.type === 'register') {
      const claim = await components.swarmStore.claimDevice(message.deviceId, hashToken(message.deviceToken));
      if (claim === 'mismatch') {
        deliver([
          {
            session,
            message: {
              type: 'error',
              requestId: 0,
              code: 'DEVICE_ID_TAKEN',
              message: 'device id belongs to another device',
            },
          },
        ]);
        return;
      }
      deliver(
        core.register({
          session,
          deviceId: message.deviceId,
          release: message.release,
          mapping: message.mapping,
          candidates: message.candidates,
          observed: connection.remoteAddress(),
        }),
      );
    } else if (message.type === 'punch-request') {
      deliver(core.punch(session, message.requestId, message.target));
    } else {
      deliver([
        {
          session,
          message: { type: 'error', requestId: 0, code: 'UNEXPECTED', message: `unexpected ${message.type}` },
        },
      ]);
    }
  };

  const stopConnections = components.endpoint.onConnection((connection) => {
    connection.onStream((stream) => {
      const previous = streams.get(connection.id);
      if (previous && previous !== stream) previous.end();
      streams.set(connection.id, stream);
      // Messages of one stream are handled in order, even though registration awaits the store.
      let chain = Promise.resolve();
      const read = createFrameReader((bytes) => {
        chain = chain.then(async () => {
          try {
            await onMessage(connection, decodeRendezvous(bytes));
          } catch (error) {
            log.debug({ err: error, connection: connection.id }, 'rendezvous message refused');
            connection.close(1, 'malformed rendezvous message');
          }
        });
      });
      stream.on('data', (chunk: Uint8Array) => {
        try {
          read(chunk);
        } catch {
          connection.close(1, 'malformed rendezvous frame');
        }
      });
      stream.on('error', () => {});
    });
    connection.onClose(() => {
      streams.delete(connection.id);
      core.disconnect(connection.id);
    });
  });

  const stun = createStunServer(
    { software: 'swarmlane-tracker' },
    {
      sockets: {
        primary: { channel: channelFromEndpoint(components.endpoint), address: resolved.advertised },
      },
      logger: log,
    },
  );

  return {
    core,
    stun,
    close() {
      stopConnections();
      stun.close();
      for (const stream of streams.values()) stream.end();
      streams.clear();
    },
  };
}
