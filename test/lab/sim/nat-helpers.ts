import { natPresets, type SimHost, type Simulation } from '../../../lab/sim/index.ts';
import type { Address, UdpSocket } from '../../../runtime/index.ts';

/**
 * A tiny STUN-like echo server for tests: any datagram starting with 0x01 is answered with
 * 0x01 + "ip:port" of the sender as observed. (The real STUN codec belongs to nat/.)
 */
export async function startEchoServer(host: SimHost, port = 3478): Promise<UdpSocket> {
  const socket = await host.udp.bind({ port });
  socket.onMessage((bytes, from) => {
    if (bytes[0] !== 0x01) return;
    socket.send(from, new Uint8Array([0x01, ...new TextEncoder().encode(`${from.host}:${from.port}`)]));
  });
  return socket;
}

/** Asks the echo server for this socket's mapped address (runs virtual time until answered). */
export async function observe(sim: Simulation, socket: UdpSocket, server: Address): Promise<Address> {
  let mapped: Address | undefined;
  const off = socket.onMessage((bytes) => {
    if (bytes[0] !== 0x01) return;
    const [host, port] = new TextDecoder().decode(bytes.subarray(1)).split(':');
    mapped = { host: host!, port: Number(port) };
  });
  socket.send(server, new Uint8Array([0x01]));
  await sim.run({ until: () => mapped !== undefined, deadlineMs: 5_000 });
  off();
  if (mapped === undefined) throw new Error('no answer from the echo server');
  return mapped;
}

/**
 * Naive simultaneous-open hole punch: both sides send punch packets (0x10) to the other's
 * STUN-observed address; whoever receives a punch answers (0x11) to the address it came from, as an
 * ICE agent answers a peer-reflexive candidate. Success = each side heard from the other.
 */
export async function punch(
  sim: Simulation,
  a: UdpSocket,
  aMapped: Address,
  b: UdpSocket,
  bMapped: Address,
): Promise<boolean> {
  let aHeard = false;
  let bHeard = false;
  const wire = (self: UdpSocket, onHeard: () => void) =>
    self.onMessage((bytes, from) => {
      if (bytes[0] === 0x10) {
        onHeard();
        self.send(from, new Uint8Array([0x11]));
      } else if (bytes[0] === 0x11) onHeard();
    });
  const offA = wire(a, () => {
    aHeard = true;
  });
  const offB = wire(b, () => {
    bHeard = true;
  });
  for (let i = 0; i < 5; i++) {
    sim.clock.setTimer(i * 200, () => a.send(bMapped, new Uint8Array([0x10])));
    sim.clock.setTimer(i * 200 + 30, () => b.send(aMapped, new Uint8Array([0x10])));
  }
  await sim.run({ until: () => aHeard && bHeard, deadlineMs: 3_000 });
  offA();
  offB();
  return aHeard && bHeard;
}

export type NatClass =
  | 'open'
  | 'full-cone'
  | 'address-restricted'
  | 'port-restricted'
  | 'symmetric'
  | 'nat444-eim'
  | 'nat444-symmetric';

export const NAT_CLASSES: NatClass[] = [
  'open',
  'full-cone',
  'address-restricted',
  'port-restricted',
  'symmetric',
  'nat444-eim',
  'nat444-symmetric',
];

/** One device of the given class, each in its own ISP (so no two share a NAT). */
export function deviceOfClass(sim: Simulation, cls: NatClass, label: string): SimHost {
  const region = sim.addRegion({ name: `region-${label}` });
  switch (cls) {
    case 'open':
      return sim.addHost({ isp: sim.addIsp({ name: `isp-${label}`, region }), name: label });
    case 'full-cone':
    case 'address-restricted':
    case 'port-restricted':
    case 'symmetric': {
      const preset = {
        'full-cone': natPresets.fullCone,
        'address-restricted': natPresets.addressRestricted,
        'port-restricted': natPresets.portRestricted,
        symmetric: natPresets.symmetric,
      }[cls];
      const isp = sim.addIsp({ name: `isp-${label}`, region });
      return sim.addHost({ gateway: sim.addGateway({ isp, nat: preset, name: `gw-${label}` }), name: label });
    }
    case 'nat444-eim':
    case 'nat444-symmetric': {
      const cgn = cls === 'nat444-eim' ? natPresets.cgnEim : natPresets.cgnSymmetric;
      const isp = sim.addIsp({ name: `isp-${label}`, region, cgn });
      const gateway = sim.addGateway({ isp, nat: natPresets.portRestricted, name: `gw-${label}` });
      return sim.addHost({ gateway, name: label });
    }
  }
}
