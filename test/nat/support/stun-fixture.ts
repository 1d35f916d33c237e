import { createStunServer, type StunServer } from '../../../nat/stun/server.ts';
import { createSilentLogger } from '../../../runtime/index.ts';
import type { FakeNet } from './fake-net.ts';

/** A full RFC 5780 STUN server on the fake internet: IPs a and b, ports 3478 and 3479. */
export async function startRfc5780Server(
  net: FakeNet,
  a = '198.18.0.1',
  b = '198.18.0.2',
): Promise<{ server: StunServer; primary: { host: string; port: number } }> {
  const hostA = net.host(a);
  const hostB = net.host(b);
  const [ap, aq, bp, bq] = await Promise.all([
    hostA.udp.bind({ port: 3478 }),
    hostA.udp.bind({ port: 3479 }),
    hostB.udp.bind({ port: 3478 }),
    hostB.udp.bind({ port: 3479 }),
  ]);
  const server = createStunServer(
    { software: 'swarmlane-test' },
    {
      sockets: {
        primary: { channel: ap, address: { host: a, port: 3478 } },
        changePort: { channel: aq, address: { host: a, port: 3479 } },
        changeIp: { channel: bp, address: { host: b, port: 3478 } },
        changeBoth: { channel: bq, address: { host: b, port: 3479 } },
      },
      logger: createSilentLogger(),
    },
  );
  return { server, primary: { host: a, port: 3478 } };
}
