import { describe, expect, it } from 'vitest';
import { createStunClient } from '../../../nat/stun/client.ts';
import { decodeStun, encodeStun } from '../../../nat/stun/codec.ts';
import { createStunServer } from '../../../nat/stun/server.ts';
import {
  type Address,
  createSeededRandom,
  createSilentLogger,
  type DatagramHandler,
} from '../../../runtime/index.ts';
import { createFakeNet } from '../support/fake-net.ts';
import { createManualClock } from '../support/manual-clock.ts';

/** A channel whose outgoing datagrams the test sees and whose incoming ones the test injects. */
function scriptedChannel() {
  const sent: Array<{ to: Address; bytes: Uint8Array; at: number }> = [];
  const handlers = new Set<DatagramHandler>();
  return {
    sent,
    channel: {
      send: (to: Address, bytes: Uint8Array) => sent.push({ to, bytes, at: -1 }),
      onMessage: (h: DatagramHandler) => {
        handlers.add(h);
        return () => handlers.delete(h);
      },
    },
    inject: (bytes: Uint8Array, from: Address) => {
      for (const h of handlers) h(bytes, from);
    },
  };
}

const server: Address = { host: '198.18.0.1', port: 3478 };

describe('STUN client', () => {
  it('retransmits on the RFC 8489 schedule and gives up after Rc sends + Rm × RTO', async () => {
    const clock = createManualClock(0);
    const s = scriptedChannel();
    const times: number[] = [];
    s.channel.send = (to, bytes) => {
      times.push(clock.now());
      return s.sent.push({ to, bytes, at: clock.now() });
    };
    const client = createStunClient({}, { channel: s.channel, clock, random: createSeededRandom(1) });
    const outcome = clock.drive(
      client.binding(server).catch((e: Error) => e),
      60_000,
    );
    const error = (await outcome) as Error & { code: string };
    expect(times).toEqual([0, 500, 1500, 3500, 7500, 15500, 31500]);
    expect(error.code).toBe('STUN_TIMEOUT');
    expect(clock.now()).toBeGreaterThanOrEqual(39_500);
    expect(error.message).toMatch(/7 transmissions/);
  });

  it('ignores garbage, wrong transaction IDs and malformed answers, then takes the valid one', async () => {
    const clock = createManualClock(0);
    const s = scriptedChannel();
    const client = createStunClient({}, { channel: s.channel, clock, random: createSeededRandom(2) });
    const pending = client.binding(server, { timeoutMs: 5000 });
    const request = decodeStun(s.sent[0]!.bytes);
    s.inject(new Uint8Array([0, 1, 0, 0, 1, 2, 3]), server);
    s.inject(
      encodeStun({
        method: 1,
        class: 'success',
        transactionId: new Uint8Array(12),
        xorMappedAddress: server,
      }),
      server,
    );
    const good = encodeStun({
      method: 1,
      class: 'success',
      transactionId: request.transactionId,
      xorMappedAddress: { host: '203.0.113.5', port: 999 },
    });
    const corrupted = good.slice();
    corrupted[25] = corrupted[25]! ^ 0xff;
    s.inject(corrupted, server);
    s.inject(encodeStun({ method: 1, class: 'success', transactionId: request.transactionId }), server);
    await clock.advance(100);
    s.inject(good, server);
    const result = await pending;
    expect(result.reflexive).toEqual({ host: '203.0.113.5', port: 999 });
    expect(result.rttMs).toBe(100);
  });

  it('turns an error response into a clear error', async () => {
    const clock = createManualClock(0);
    const s = scriptedChannel();
    const client = createStunClient({}, { channel: s.channel, clock, random: createSeededRandom(3) });
    const pending = client.binding(server, { changeIp: true });
    const request = decodeStun(s.sent[0]!.bytes);
    expect(request.changeRequest).toEqual({ changeIp: true, changePort: false });
    s.inject(
      encodeStun({
        method: 1,
        class: 'error',
        transactionId: request.transactionId,
        errorCode: { code: 420, reason: 'nope' },
      }),
      server,
    );
    await expect(pending).rejects.toMatchObject({ code: 'STUN_ERROR_RESPONSE', stunCode: 420 });
  });

  it('aborts through the signal and on close', async () => {
    const clock = createManualClock(0);
    const s = scriptedChannel();
    const client = createStunClient({}, { channel: s.channel, clock, random: createSeededRandom(4) });
    const controller = new AbortController();
    const a = client.binding(server, { signal: controller.signal });
    controller.abort(new Error('stop'));
    await expect(a).rejects.toThrow('stop');
    const b = client.binding(server);
    client.close();
    await expect(b).rejects.toMatchObject({ code: 'ABORTED' });
    expect(clock.pending()).toBe(0);
  });
});

describe('STUN server', () => {
  it('answers Binding with XOR-MAPPED-ADDRESS over a simulated network and ignores other traffic', async () => {
    const clock = createManualClock();
    const random = createSeededRandom(9);
    const net = createFakeNet(clock, random);
    const serverSocket = await net.host('198.18.0.1').udp.bind({ port: 3478 });
    const stun = createStunServer(
      {},
      { sockets: { primary: { channel: serverSocket, address: server } }, logger: createSilentLogger() },
    );
    const device = await net.host('198.51.100.3').udp.bind({ port: 7000 });
    device.send(server, new Uint8Array([0x10, 1, 2, 3])); // a punch message on a shared socket
    device.send(server, new Uint8Array(40)); // zeros: not STUN (no cookie)
    const client = createStunClient({}, { channel: device, clock, random });
    const result = await clock.drive(client.binding(server));
    expect(result.reflexive).toEqual({ host: '198.51.100.3', port: 7000 });
    expect(result.responseOrigin).toEqual(server);
    expect(result.otherAddress).toBeUndefined();
    // A single-socket server cannot honour CHANGE-REQUEST: 420, not silence.
    await expect(clock.drive(client.binding(server, { changePort: true }))).rejects.toMatchObject({
      stunCode: 420,
    });
    expect(stun.stats()).toEqual({ answered: 2, ignored: 2 });
  });
});
