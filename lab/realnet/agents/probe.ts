/**
 * A measuring tool that runs inside lab namespaces (bundled by lab/netns bundleScript):
 *   probe echo PORT                         UDP echo server
 *   probe ping HOST PORT COUNT INTERVAL_MS  sends COUNT numbered datagrams; prints {rtts, lost} JSON
 *   probe sink PORT SECONDS                 counts UDP bytes; prints {bytes, seconds} JSON
 *   probe blast HOST PORT RATE_BPS SECONDS  sends 1200-byte datagrams at RATE_BPS
 * Each server prints "listening" once bound.
 */
import dgram from 'node:dgram';

const [mode, ...args] = process.argv.slice(2);

function bind(port: number): Promise<dgram.Socket> {
  const socket = dgram.createSocket('udp4');
  return new Promise((resolve) =>
    socket.bind(port, () => {
      socket.setRecvBufferSize(4 * 1024 * 1024);
      console.log('listening');
      resolve(socket);
    }),
  );
}

async function main(): Promise<void> {
  if (mode === 'echo') {
    const socket = await bind(Number(args[0]));
    socket.on('message', (msg, rinfo) => socket.send(msg, rinfo.port, rinfo.address));
    return;
  }
  if (mode === 'sink') {
    const socket = await bind(Number(args[0]));
    let bytes = 0;
    let first = 0;
    let last = 0;
    socket.on('message', (msg) => {
      const now = performance.now();
      if (!first) first = now;
      else bytes += msg.length; // the first datagram starts the clock; count only what follows it
      last = now;
    });
    setTimeout(() => {
      console.log(JSON.stringify({ bytes, seconds: (last - first) / 1000 }));
      process.exit(0);
    }, Number(args[1]) * 1000);
    return;
  }
  const host = args[0] ?? '';
  const port = Number(args[1]);
  const socket = dgram.createSocket('udp4');
  if (mode === 'ping') {
    const count = Number(args[2]);
    const interval = Number(args[3]);
    const sent = new Map<number, number>();
    const rtts: number[] = [];
    socket.on('message', (msg) => {
      const seq = msg.readUInt32BE(0);
      const at = sent.get(seq);
      if (at !== undefined) {
        rtts.push(performance.now() - at);
        sent.delete(seq);
      }
    });
    for (let seq = 0; seq < count; seq++) {
      const msg = Buffer.alloc(64);
      msg.writeUInt32BE(seq, 0);
      sent.set(seq, performance.now());
      socket.send(msg, port, host);
      await new Promise((r) => setTimeout(r, interval));
    }
    await new Promise((r) => setTimeout(r, 2000));
    console.log(JSON.stringify({ rtts, lost: count - rtts.length, count }));
    process.exit(0);
  }
  if (mode === 'blast') {
    const rate = Number(args[2]);
    const seconds = Number(args[3]);
    const msg = Buffer.alloc(1200);
    const start = performance.now();
    let sentBytes = 0;
    while (performance.now() - start < seconds * 1000) {
      const due = ((performance.now() - start) / 1000) * (rate / 8);
      while (sentBytes < due) {
        socket.send(msg, port, host);
        sentBytes += msg.length + 28;
      }
      await new Promise((r) => setTimeout(r, 2));
    }
    console.log(JSON.stringify({ sentBytes }));
    process.exit(0);
  }
  throw new Error(`unknown probe mode ${mode}`);
}

void main();
