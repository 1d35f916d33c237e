/**
 * # lab/sim — a deterministic simulated internet in virtual time
 *
 * Real components (transport, NAT traversal, tracker, edge, agent) run on it unchanged through the
 * runtime seam: each simulated host offers a `UdpNetwork` (`host.udp`), an `HttpClient` (`host.http`),
 * a seeded `Random` and the shared virtual `Clock` (`sim.clock`); `host.env()` bundles them as an Env.
 *
 * ```ts
 * import { createSimulation, natPresets, profiles } from '../lab/sim/index.ts';
 *
 * const sim = createSimulation({ seed: 42 });
 * const eu = sim.addRegion({ name: 'eu' });                       // region <-> core: 20 ms
 * const isp = sim.addIsp({ name: 'isp-a', region: eu, cgn: { ...natPresets.cgnEim, poolSize: 2 } });
 * const tracker = sim.addServer({ name: 'tracker', region: eu });  // public; "tracker" resolves in URLs
 * sim.serveHttp(tracker, 80, fastifyApp);                          // driven by app.inject, zero virtual time
 * const home = sim.addGateway({ isp, nat: natPresets.portRestricted, link: profiles.broadband(),
 *                               portMapping: { upnp: true, natPmp: true, pcp: true } });
 * const laptop = sim.addHost({ gateway: home });                  // 192.168.1.2 behind home NAT + CGN
 * const phone = sim.addHost({ isp, link: profiles.country('India') }); // 100.64.x.y behind the CGN
 *
 * const socket = await laptop.udp.bind({ port: 4000 });
 * socket.onMessage((bytes, from) => { ... });
 * const reply = sim.settle(phone.http.request({ method: 'GET', url: 'http://tracker/announce' }));
 * await sim.run({ deadlineMs: 60_000 });                          // or { until: () => done }
 * sim.stats(); sim.links(); laptop.counters; sim.traceHash();
 * ```
 *
 * ## Time
 * `sim.run({ until?, deadlineMs?, untilTime?, maxEvents? })` fires every timer due at the next instant,
 * lets the promise work it started settle, then jumps to the next instant. Settling drains the
 * nextTick and microtask queues synchronously (`drain: 'sync'`, the default; `'turn'` pays one
 * event-loop turn per instant instead), and virtual time stands still while real work started by
 * component or test code is pending: file-system requests and setImmediate callbacks (e.g. a store
 * read), and anything passed to `sim.hold(promise)` (e.g. a fastify inject, done by the HTTP channel).
 * Other real async work (sockets, thread-pool crypto) is not waited for: keep it out of simulations.
 * The run stops when `until()` holds, at the deadline (`deadlineMs` is relative to the run's start;
 * the clock always reaches the deadline, even when idle), or, without a deadline, when nothing is
 * scheduled ("quiescent"). `sim.settle(promise)` runs until a promise settles and returns its value.
 * Virtual time starts at 2026-01-01T00:00:00Z. Nothing advances between runs: always drive time with
 * run/settle, never await a virtual timer outside them.
 *
 * ## UDP
 * `host.udp.bind({ port? })` binds on the host's single address (`localAddress()` reports that address
 * even for 0.0.0.0); port 0 picks from 49152 up; a taken port rejects with EADDRINUSE. `send` copies
 * the payload (receivers get a view into a shared slab, with a byteOffset, as from node:dgram) and
 * never delivers synchronously. Sizes over the path MTU (payload + 28) are dropped as 'mtu'.
 *
 * ## Topology
 * internet core -> regions -> ISPs -> (optional CGN, 100.64/10 inside) -> home gateways (NAT44, LAN
 * 192.168.1.0/24 each) -> hosts. Hosts may also sit directly on an ISP (mobile, behind the CGN if any,
 * or public with `behindCgn: false`), and servers in a region or the core. Every link is a pair of
 * `LinkDirection`s (`LinkOptions`: bandwidthBps, delayMs, jitterMs, loss (uniform or Gilbert-Elliott),
 * reorder, duplicate, mtu, queueBytes; `up`/`down` override per direction). Defaults: region 20 ms,
 * ISP 5 ms, gateway/host-on-ISP 50/10 Mbit/s 10 ms, LAN instant, servers 1 Gbit/s 1 ms.
 * `profiles.country('India')` etc. turn FACTS.md's PacketZoom measurements into access links.
 * Addresses: ISP i public 60+i/256.(i%256).x.y, CGN pools .240+.x, region servers 45.r.x.y.
 * Each host's `meta` says its region, ISP, gateway and whether it is behind a CGN.
 *
 * ## NAT
 * `Nat` implements RFC 4787 mapping and filtering (endpoint-independent / address-dependent /
 * address-and-port-dependent), port assignment (preserving / sequential / random), a mapping timeout
 * (default 120 s, refreshed by outbound traffic), hairpinning on/off, and for CGNs paired pooling with
 * per-subscriber port blocks (`portBlockFor(ip)`). `natPresets`: fullCone, addressRestricted,
 * portRestricted, symmetric, cgnEim, cgnSymmetric. Port-mapping servers per gateway (`portMapping`):
 * UPnP IGD v1/v2 (SSDP M-SEARCH to 239.255.255.250:1900, SOAP at http://<lan>:5000), NAT-PMP and PCP
 * on UDP 5351 at the LAN address. A gateway behind a CGN reports its 100.64/10 WAN address.
 *
 * ## Outages
 * `sim.setLinkUp(hostOrGateway, false)` drops everything on that access link ('link-down') and fails
 * new HTTP requests over it; `gateway.nat.flush()` forgets mappings as a router reboot or NAT
 * rebinding would (the next packet gets a new external port).
 *
 * ## HTTP
 * `sim.serveHttp(host, port, fastifyApp | handler)`; `host.http.request(...)` pays handshake RTTs,
 * moves request/response bytes as fluid flows sharing bandwidth max-min fairly (capped by the Mathis
 * TCP rate on lossy paths), and calls the app via `inject` with `remoteAddress` set to the client's
 * NATed public address. Server names from `addServer` (and `sim.setDns`) resolve in URLs.
 *
 * ## Counters and determinism
 * `host.counters` (UDP packets/bytes in and out, HTTP bytes, drops of its packets by cause),
 * `sim.links()` (per direction: offered, delivered, dropped by loss/queue/mtu, HTTP bytes),
 * `sim.stats()` (totals, drops by cause incl. nat-filter, mapping-expired, hairpin, no-route,
 * no-listener, link-down, and bytes between ISPs), `sim.onDeliver` for custom accounting (every
 * delivered datagram, and every completed HTTP request and response, with `protocol`).
 * `sim.contacts()` counts device-to-device UDP per pair of hosts: who sent first, datagrams delivered
 * each way and dropped, and how the first delivered one got through (lan, direct, hairpin, mapped by
 * UPnP/NAT-PMP/PCP/static forward, punched, cone); datagrams to an address no host holds (an unmapped
 * NAT port) are counted per sender as unresolved.
 * `sim.traceHash()` is a SHA-256 over every packet event and HTTP exchange: same seed and inputs give
 * the same hash. Caveat: when several hosts' real I/O (file stores) completes within one virtual
 * instant, their continuations run in wall-clock completion order, which can reorder same-instant
 * sends; keep stores in memory for byte-identical runs.
 */

export { type Contact, type ContactHow, ContactTable, type UnresolvedContacts } from './contacts.ts';
export { DROP_CAUSES, type DropCause, type HostCounters, type LinkCounters } from './counters.ts';
export type { HttpHandler, HttpServerApp, InjectableApp } from './http.ts';
export { intToIp, ipToInt, isSharedAddress } from './ip.ts';
export {
  burstyLoss,
  type GilbertElliott,
  LinkDirection,
  type LinkOptions,
  type LinkSpec,
  UDP_IP_OVERHEAD,
} from './link.ts';
export {
  type MappingOrigin,
  Nat,
  type NatBehavior,
  type NatMapping,
  type NatOptions,
  natPresets,
  type PortAssignment,
} from './nat.ts';
export { type DeliveryEvent, SimBindError, SSDP_MULTICAST } from './network.ts';
export type { NodeKind, NodeMeta, SimNode } from './node.ts';
export {
  CONTROL_PATH,
  DESCRIPTION_PATH,
  NATPMP_PORT,
  NATPMP_RESULT,
  PCP_RESULT,
  type PortMappingOptions,
  type PortMappingServers,
  SSDP_PORT,
  UPNP_HTTP_PORT,
} from './portmap/index.ts';
export { COUNTRY_MEASUREMENTS, type CountryName, profiles } from './profiles.ts';
export { DEFAULT_START_TIME, type RunOptions, type RunResult, type RunStopReason } from './scheduler.ts';
export {
  type AddGatewayOptions,
  type AddHostOptions,
  type AddIspOptions,
  type AddRegionOptions,
  createSimulation,
  type SimGateway,
  type SimHost,
  type SimIsp,
  type SimRegion,
  type SimStats,
  type Simulation,
  type SimulationOptions,
} from './simulation.ts';
