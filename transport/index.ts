/**
 * The PZ transport: encrypted, loss-tolerant, migrating sessions over one UDP socket.
 * See transport/PROTOCOL.md for the wire format.
 */
export {
  type CongestionController,
  createBbr,
  createNewReno,
  createRateHistory,
  type RateHistory,
  type RateHistoryOptions,
} from './congestion/index.ts';
export { ConnectionCore, type ConnectionCounters, type ConnectionEvents } from './connection.ts';
export { keyPairFromSeed, publicKeyOf } from './crypto.ts';
export {
  type Block,
  type CloseInfo,
  type Connection,
  type ConnectionStats,
  type ConnectOptions,
  createEndpoint,
  type Endpoint,
  type EndpointComponents,
} from './endpoint.ts';
export { EndpointCore, type EndpointCounters, type Transmit } from './endpoint-core.ts';
export { CloseCode, DecodeError, TransportError } from './errors.ts';
export { type EndpointOptions, resolveOptions } from './options.ts';
export { isPzPacket, MAX_DATAGRAM, PZ_VERSION } from './packet.ts';
