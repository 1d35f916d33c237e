import type { Address, Logger } from '../../runtime/index.ts';
import type { DatagramChannel } from '../channel.ts';
import { decodeStun, encodeStun, looksLikeStun, type StunMessage, StunMethod } from './codec.ts';

/** One listening socket of a STUN server and the address clients reach it at. */
export interface StunServerSocket {
  channel: DatagramChannel;
  /** Advertised in RESPONSE-ORIGIN / OTHER-ADDRESS; must be the address clients see. */
  address: Address;
}

/**
 * RFC 5780 needs up to four sockets: primary (IP A, port P), changePort (A, P2), changeIp (B, P) and
 * changeBoth (B, P2). An edge or tracker hosting STUN on its single transport socket passes only
 * `primary`; requests with CHANGE-REQUEST are then answered with 420 and clients fall back to
 * comparing two servers.
 */
export interface StunServerSockets {
  primary: StunServerSocket;
  changePort?: StunServerSocket;
  changeIp?: StunServerSocket;
  changeBoth?: StunServerSocket;
}

export interface StunServerOptions {
  /** SOFTWARE attribute; omitted when undefined. */
  software?: string;
  /**
   * Cooperating STUN servers on other IPs (e.g. two edges, each with one socket). A CHANGE-REQUEST
   * for another IP that we cannot honour locally is forwarded to the first partner, which answers the
   * client from its own address; OTHER-ADDRESS then names that partner. Requests forwarded *to* us
   * are only honoured from these addresses, so the feature cannot be used to reflect traffic.
   */
  partners?: Address[];
}

export interface StunServer {
  /** Requests answered and datagrams ignored (non-STUN or malformed), for metrics and tests. */
  stats(): { answered: number; ignored: number };
  close(): void;
}

export function createStunServer(
  options: StunServerOptions,
  components: { sockets: StunServerSockets; logger: Logger },
): StunServer {
  const { sockets, logger } = components;
  // grid[ip][port]: index 0 = primary value, 1 = alternate.
  const grid: Array<Array<StunServerSocket | undefined>> = [
    [sockets.primary, sockets.changePort],
    [sockets.changeIp, sockets.changeBoth],
  ];
  const partners = options.partners ?? [];
  const partner = partners[0];
  const otherAddress = sockets.changeBoth?.address ?? partner;
  const isPartner = (a: Address): boolean => partners.some((p) => p.host === a.host && p.port === a.port);
  let answered = 0;
  let ignored = 0;

  const handle = (ip: number, port: number, bytes: Uint8Array, from: Address): void => {
    // Shared sockets carry other protocols too: only well-formed Binding requests concern us.
    if (!looksLikeStun(bytes)) {
      ignored++;
      return;
    }
    let request: StunMessage;
    try {
      request = decodeStun(bytes);
    } catch (error) {
      ignored++;
      logger.debug({ from, err: (error as Error).message }, 'stun: dropped malformed request');
      return;
    }
    if (request.class !== 'request' || request.method !== StunMethod.binding) {
      ignored++;
      return;
    }
    const receivedOn = grid[ip]![port]!;
    if (request.answerTo) {
      // A partner asks us to answer its client from our address (its "alternate IP").
      if (!isPartner(from)) {
        ignored++;
        return;
      }
      answered++;
      receivedOn.channel.send(
        request.answerTo,
        encodeStun({
          method: StunMethod.binding,
          class: 'success',
          transactionId: request.transactionId,
          xorMappedAddress: request.answerTo,
          mappedAddress: request.answerTo,
          responseOrigin: receivedOn.address,
          ...(options.software !== undefined ? { software: options.software } : {}),
        }),
      );
      return;
    }
    if (request.unknownRequired?.length) {
      answered++;
      answerError(receivedOn.channel, from, request, 'Unknown Attribute', request.unknownRequired);
      return;
    }
    const change = request.changeRequest;
    const replyIp = change?.changeIp ? ip ^ 1 : ip;
    const replyPort = change?.changePort ? port ^ 1 : port;
    const replyFrom = grid[replyIp]![replyPort];
    answered++;
    if (!replyFrom && change?.changeIp && partner) {
      // No second IP here: let the partner answer. Its port may equal ours; for the filtering test
      // only the different IP matters (a filter that lets another IP in is endpoint-independent).
      receivedOn.channel.send(
        partner,
        encodeStun({
          method: StunMethod.binding,
          class: 'request',
          transactionId: request.transactionId,
          answerTo: from,
        }),
      );
      return;
    }
    if (!replyFrom) {
      // RFC 5780 §6.1: a server that cannot honour CHANGE-REQUEST answers 420.
      answerError(receivedOn.channel, from, request, 'CHANGE-REQUEST not supported', [0x0003]);
      return;
    }
    const response: StunMessage = {
      method: StunMethod.binding,
      class: 'success',
      transactionId: request.transactionId,
      xorMappedAddress: from,
      mappedAddress: from,
      responseOrigin: replyFrom.address,
    };
    if (otherAddress) response.otherAddress = otherAddress;
    if (options.software !== undefined) response.software = options.software;
    replyFrom.channel.send(from, encodeStun(response));
  };

  const unsubscribes: Array<() => void> = [];
  grid.forEach((row, ip) => {
    row.forEach((socket, port) => {
      if (socket) unsubscribes.push(socket.channel.onMessage((bytes, from) => handle(ip, port, bytes, from)));
    });
  });
  return {
    stats: () => ({ answered, ignored }),
    close() {
      for (const off of unsubscribes.splice(0)) off();
    },
  };
}

/** RFC 5389 §7.3.1 / RFC 5780 §6.1: every refusal we send is a 420 naming the attributes we lack. */
function answerError(
  channel: DatagramChannel,
  to: Address,
  request: StunMessage,
  reason: string,
  unknownRequired: number[],
): void {
  channel.send(
    to,
    encodeStun({
      method: StunMethod.binding,
      class: 'error',
      transactionId: request.transactionId,
      errorCode: { code: 420, reason },
      unknownRequired,
    }),
  );
}
