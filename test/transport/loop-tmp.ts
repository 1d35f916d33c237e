import { createSeededRandom, createSilentLogger } from '/work/main/runtime/index.ts';
import { createNodeClock, createNodeRandom, createNodeUdpNetwork } from '/work/main/runtime/node/index.ts';
import { createEndpoint } from '/work/main/transport/index.ts';

const net = createNodeUdpNetwork();
const clock = createNodeClock();
const keys = createSeededRandom(1);
const logger = createSilentLogger();
const server = createEndpoint(
  { staticPrivateKey: keys.bytes(32) },
  { socket: await net.bind({ host: '127.0.0.1' }), clock, random: createNodeRandom(), logger },
);
const client = createEndpoint(
  { staticPrivateKey: keys.bytes(32) },
  { socket: await net.bind({ host: '127.0.0.1' }), clock, random: createNodeRandom(), logger },
);
let got = 0;
const total = 32 << 20;
const done = new Promise<void>((r) =>
  server.onConnection((c) =>
    c.onBlock((b) => {
      got += b.data.length;
      if (got >= total) r();
    }),
  ),
);
const conn: any = await client.connect(
  { host: '127.0.0.1', port: server.localAddress().port },
  server.publicKey,
);
const data = new Uint8Array(1 << 20);
let off = 0;
const push = () => {
  while (off < total && conn.sendBlock({ object: 1, offset: off, data })) off += data.length;
};
conn.onDrain(push);
push();
const t0 = Date.now();
const iv = setInterval(() => {
  const c = conn.core;
  console.log(
    Date.now() - t0,
    'got MB',
    (got / 1e6).toFixed(1),
    'cwnd',
    Math.round(c.cc.cwnd()),
    'rateMbps',
    ((c.cc.pacingRate() * 8) / 1e6).toFixed(0),
    'bw',
    ((c.cc.bandwidthEstimate() * 8) / 1e6).toFixed(0),
    'inflight',
    c.recovery.bytesInFlight,
    'srtt',
    c.rtt.smoothed.toFixed(2),
    'min',
    c.rtt.min.toFixed(2),
    'lost',
    c.recovery.packetsLost,
    'spur',
    c.recovery.spuriousLosses,
  );
}, 500);
await done;
clearInterval(iv);
console.log('Mbps', ((total * 8) / (Date.now() - t0) / 1000).toFixed(1));
await client.close();
await server.close();
