import { createRequire } from 'node:module';
import { isIPv6 } from 'node:net';
import type { Address } from '../address.ts';
import type { DatagramHandler, UdpBindOptions, UdpSocket } from '../udp.ts';

/**
 * The batched UDP socket from native/ (recvmmsg + GRO, sendmmsg + GSO). node:dgram pays one
 * syscall, one libuv callback, one Buffer and one JS call per datagram; that was most of a loopback
 * receiver's CPU. Here one wake-up hands JS many datagrams in one ArrayBuffer, and everything sent
 * in one microtask turn leaves in one syscall, with runs to one peer as GSO segments.
 */
interface NativeUdpAddon {
  open(
    host: string,
    port: number,
    family: number,
    onBatch: (data: ArrayBuffer, count: number) => void,
  ): [unknown, ArrayBuffer, ArrayBuffer, ArrayBuffer, number];
  flush(handle: unknown, count: number): number;
  close(handle: unknown): void;
  ntop(family: number, bytes: Uint8Array): string;
  pton(text: string): Uint8Array | null;
  limits: { rxSlots: number; rxMetaInts: number; txBytes: number; txMax: number; txMetaInts: number };
}

export type NativeUdpSocket = UdpSocket & { sendErrors(): number; readonly kind: 'native-batch' };

const DEFAULT_ADDON = '../../native/udp/build/Release/swarmlane_udp.node';
const loaded = new Map<string, NativeUdpAddon | Error>();

/** The addon, or why it is not usable (not built, other platform, ABI mismatch). Loaded once. */
export function loadNativeUdp(path = DEFAULT_ADDON): NativeUdpAddon | Error {
  let addon = loaded.get(path);
  if (addon === undefined) {
    try {
      addon = createRequire(import.meta.url)(path) as NativeUdpAddon;
    } catch (error) {
      addon = error instanceof Error ? error : new Error(String(error));
    }
    loaded.set(path, addon);
  }
  return addon;
}

/** Largest UDP payload over IPv4; bigger sends are refused and counted, like dgram's EMSGSIZE. */
const MAX_DATAGRAM = 65507;
/** Address caches are per socket and bounded: a flood of spoofed sources must not grow memory. */
const MAX_CACHED = 4096;

/** Binds a native batched socket. `host` must be an IP literal (the caller falls back otherwise). */
export function bindNativeUdp(addon: NativeUdpAddon, options: UdpBindOptions = {}): NativeUdpSocket {
  const host = options.host ?? '0.0.0.0';
  const family = isIPv6(host) ? 6 : 4;
  const { rxMetaInts, txBytes, txMax, txMetaInts } = addon.limits;
  const handlers = new Set<DatagramHandler>();
  let sendErrors = 0;
  let closed = false;
  let queued = 0;
  let queuedBytes = 0;
  let flushQueued = false;

  const fromV4 = new Map<number, Address>();
  const fromV6 = new Map<string, Address>();
  const toCache = new Map<string, Int32Array | null>();

  const [handle, rxMetaBuffer, txDataBuffer, txMetaBuffer, port] = addon.open(
    host,
    options.port ?? 0,
    family,
    onBatch,
  );
  const rxMeta = new Int32Array(rxMetaBuffer);
  const rxMetaBytes = new Uint8Array(rxMetaBuffer);
  const txData = new Uint8Array(txDataBuffer);
  const txMeta = new Int32Array(txMetaBuffer);
  const local: Address = { host, port };

  function sourceOf(base: number): Address {
    const kind = rxMeta[base + 3]!;
    const sourcePort = rxMeta[base + 4]!;
    if (kind === 4) {
      const key = (rxMeta[base + 5]! >>> 0) * 65536 + sourcePort;
      let address = fromV4.get(key);
      if (address === undefined) {
        const b = (base + 5) * 4;
        const text = `${rxMetaBytes[b]}.${rxMetaBytes[b + 1]}.${rxMetaBytes[b + 2]}.${rxMetaBytes[b + 3]}`;
        address = Object.freeze({ host: text, port: sourcePort });
        if (fromV4.size >= MAX_CACHED) fromV4.clear();
        fromV4.set(key, address);
      }
      return address;
    }
    const key = `${sourcePort}/${rxMeta[base + 5]}/${rxMeta[base + 6]}/${rxMeta[base + 7]}/${rxMeta[base + 8]}`;
    let address = fromV6.get(key);
    if (address === undefined) {
      const raw = rxMetaBytes.subarray((base + 5) * 4, (base + 9) * 4);
      address = Object.freeze({ host: addon.ntop(6, raw), port: sourcePort });
      if (fromV6.size >= MAX_CACHED) fromV6.clear();
      fromV6.set(key, address);
    }
    return address;
  }

  function onBatch(data: ArrayBuffer, count: number): void {
    if (closed) return;
    const bytes = new Uint8Array(data);
    let failure: unknown;
    for (let i = 0; i < count; i++) {
      const base = i * rxMetaInts;
      const start = rxMeta[base]!;
      const end = start + rxMeta[base + 1]!;
      const segment = rxMeta[base + 2]!;
      const from = sourceOf(base);
      // A GRO message holds several datagrams of `segment` bytes (the last may be shorter).
      const step = segment > 0 ? segment : end - start;
      for (let at = start; at < end || at === start; at += step) {
        const datagram = bytes.subarray(at, Math.min(at + step, end));
        // A throwing handler must not cost the rest of the batch; the first error is rethrown after.
        for (const handler of handlers) {
          try {
            handler(datagram, from);
          } catch (error) {
            failure ??= error;
          }
        }
        if (step === 0) break;
      }
    }
    if (failure !== undefined) throw failure;
  }

  function encode(to: Address): Int32Array | null {
    let encoded = toCache.get(to.host);
    if (encoded !== undefined) return encoded;
    encoded = null;
    const raw = addon.pton(to.host);
    // An IPv4 socket cannot reach an IPv6 peer; an IPv6 socket reaches IPv4 peers v4-mapped.
    if (raw !== null && (raw.length === 4 || family === 6)) {
      encoded = new Int32Array(5);
      encoded[0] = raw.length === 4 ? 4 : 6;
      new Uint8Array(encoded.buffer, 4, raw.length).set(raw);
    }
    if (toCache.size >= MAX_CACHED) toCache.clear();
    toCache.set(to.host, encoded);
    return encoded;
  }

  function flush(): void {
    flushQueued = false;
    if (queued === 0) return;
    const count = queued;
    queued = 0;
    queuedBytes = 0;
    sendErrors += addon.flush(handle, count);
  }

  return {
    kind: 'native-batch',
    localAddress: () => local,
    send(to, bytes) {
      const length = bytes.byteLength;
      const encoded = closed ? null : encode(to);
      if (encoded === null || length > MAX_DATAGRAM || !(to.port > 0 && to.port < 65536)) {
        sendErrors++;
        return;
      }
      if (queued === txMax || queuedBytes + length > txBytes) flush();
      txData.set(bytes, queuedBytes);
      const base = queued * txMetaInts;
      txMeta[base] = length;
      txMeta[base + 1] = encoded[0]!;
      txMeta[base + 2] = to.port;
      txMeta[base + 3] = encoded[1]!;
      txMeta[base + 4] = encoded[2]!;
      txMeta[base + 5] = encoded[3]!;
      txMeta[base + 6] = encoded[4]!;
      queued++;
      queuedBytes += length;
      // Everything sent in this turn of the event loop leaves in one sendmmsg.
      if (!flushQueued) {
        flushQueued = true;
        queueMicrotask(flush);
      }
    },
    onMessage(handler) {
      handlers.add(handler);
      return () => handlers.delete(handler);
    },
    close() {
      if (!closed) {
        flush();
        closed = true;
        addon.close(handle);
      }
      return Promise.resolve();
    },
    sendErrors: () => sendErrors,
  };
}
