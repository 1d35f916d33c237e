import { createHash, hkdfSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createSeededRandom } from '../../runtime/index.ts';
import {
  aeadBackend,
  dh,
  hkdf,
  keyPairFromSeed,
  nextPacketKey,
  open,
  openPacket,
  packetKeyFromSecret,
  seal,
  sealPacket,
  sha256,
  useAeadBackend,
} from '../../transport/crypto.ts';
import { clientSessionKeys, serverSessionKeys } from '../../transport/handshake.ts';
import { createRetryTokens } from '../../transport/retry-token.ts';

const random = createSeededRandom(11);

describe('key derivation', () => {
  it('HKDF-SHA256 and SHA-256 agree with node:crypto (empty salt, long keys, multi-block output)', () => {
    expect(Buffer.from(hkdf(random.bytes(32), new Uint8Array(0), 'pz key', 32))).toHaveLength(32);
    const ikm = random.bytes(32);
    expect(Buffer.from(hkdf(ikm, new Uint8Array(0), 'pz key', 32))).toEqual(
      Buffer.from(hkdfSync('sha256', ikm, new Uint8Array(0), 'pz key', 32)),
    );
    for (let i = 0; i < 50; i++) {
      const key = random.bytes(1 + random.int(150));
      const s = random.bytes(random.int(80));
      const length = 1 + random.int(100);
      const label = `pz test ${i}`;
      expect(Buffer.from(hkdf(key, s, label, length))).toEqual(
        Buffer.from(hkdfSync('sha256', key, s, label, length)),
      );
      expect(Buffer.from(sha256(key, s))).toEqual(createHash('sha256').update(key).update(s).digest());
    }
  });

  it('session keys are the documented HKDF chain (PROTOCOL.md), computed with node:crypto', () => {
    const kdf = (ikm: Uint8Array, salt: Uint8Array, info: string, length = 32): Buffer =>
      Buffer.from(hkdfSync('sha256', ikm, salt, info, length));
    const ce = keyPairFromSeed(random.bytes(32));
    const cs = keyPairFromSeed(random.bytes(32));
    const se = keyPairFromSeed(random.bytes(32));
    const es = random.bytes(32);
    const parts = {
      version: 7,
      dcid: random.bytes(8),
      clientCid: random.bytes(8),
      serverCid: random.bytes(8),
      serverStatic: random.bytes(32),
    };
    const keys = clientSessionKeys(ce, cs, es, se.publicKey, parts)!;
    const version = Buffer.alloc(4);
    version.writeUInt32BE(7);
    const transcript = createHash('sha256')
      .update(Buffer.concat([version, parts.dcid, parts.clientCid, parts.serverCid]))
      .update(Buffer.concat([ce.publicKey, se.publicKey, cs.publicKey, parts.serverStatic]))
      .digest();
    const ikm = Buffer.concat([es, dh(ce.privateKey, se.publicKey)!, dh(cs.privateKey, se.publicKey)!]);
    const master = kdf(ikm, transcript, 'pz master');
    const empty = new Uint8Array(0);
    for (const [side, label] of [
      ['clientToServer', 'pz c2s'],
      ['serverToClient', 'pz s2c'],
    ] as const) {
      const secret = kdf(master, empty, label);
      expect(Buffer.from(keys[side].secret)).toEqual(secret);
      expect(Buffer.from(keys[side].key)).toEqual(kdf(secret, empty, 'pz key'));
      expect(Buffer.from(keys[side].iv)).toEqual(kdf(secret, empty, 'pz iv', 12));
    }
  });

  it('SHA-256 pads every length at and around the block boundaries like node:crypto', () => {
    for (const length of [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 1000, 70_000]) {
      const data = random.bytes(length);
      const split = Math.floor(length / 3);
      expect(Buffer.from(sha256(data.subarray(0, split), data.subarray(split)))).toEqual(
        createHash('sha256').update(data).digest(),
      );
    }
  });
});

describe('packet protection', () => {
  it('opens what it sealed and rejects any tampering', () => {
    const key = packetKeyFromSecret(random.bytes(32));
    const header = random.bytes(13);
    const plain = random.bytes(500);
    const out = new Uint8Array(516);
    seal(key, 42, header, plain, out);
    expect(Buffer.from(open(key, 42, header, out)!)).toEqual(Buffer.from(plain));
    expect(open(key, 43, header, out)).toBeUndefined();
    const badHeader = header.slice();
    badHeader[0]! ^= 1;
    expect(open(key, 42, badHeader, out)).toBeUndefined();
    const badBody = out.slice();
    badBody[100]! ^= 0x80;
    expect(open(key, 42, header, badBody)).toBeUndefined();
    expect(open(nextPacketKey(key), 42, header, out)).toBeUndefined();
  });

  it('client and server derive the same session keys; a wrong client static key does not', () => {
    const server = keyPairFromSeed(random.bytes(32));
    const client = keyPairFromSeed(random.bytes(32));
    const ce = keyPairFromSeed(random.bytes(32));
    const se = keyPairFromSeed(random.bytes(32));
    const parts = {
      version: 1,
      dcid: random.bytes(8),
      clientCid: random.bytes(8),
      serverCid: random.bytes(8),
      serverStatic: server.publicKey,
    };
    const esClient = dh(ce.privateKey, server.publicKey)!;
    const esServer = dh(server.privateKey, ce.publicKey)!;
    expect(Buffer.from(esClient)).toEqual(Buffer.from(esServer));
    const c = clientSessionKeys(ce, client, esClient, se.publicKey, parts)!;
    const s = serverSessionKeys(se, esServer, ce.publicKey, client.publicKey, parts)!;
    expect(Buffer.from(c.clientToServer.key)).toEqual(Buffer.from(s.clientToServer.key));
    expect(Buffer.from(c.serverToClient.iv)).toEqual(Buffer.from(s.serverToClient.iv));
    expect(Buffer.from(c.clientToServer.key)).not.toEqual(Buffer.from(c.serverToClient.key));
    const impostor = keyPairFromSeed(random.bytes(32));
    const forged = clientSessionKeys(
      ce,
      { privateKey: impostor.privateKey, publicKey: client.publicKey },
      esClient,
      se.publicKey,
      parts,
    )!;
    expect(Buffer.from(forged.clientToServer.key)).not.toEqual(Buffer.from(s.clientToServer.key));
  });

  it('rejects low-order public keys', () => {
    expect(dh(random.bytes(32), new Uint8Array(32))).toBeUndefined();
  });
});

describe('retry tokens', () => {
  const tokens = createRetryTokens(random.bytes(32), 1000);
  const address = { host: '10.0.0.2', port: 5000 };
  const dcid = random.bytes(8);

  it('validate for the same address and dcid before expiry only', () => {
    const token = tokens.issue(address, dcid, 100, random.bytes(12));
    expect(tokens.validate(token, address, dcid, 500)).toBe(true);
    expect(tokens.validate(token, address, dcid, 1200)).toBe(false);
    expect(tokens.validate(token, { ...address, port: 5001 }, dcid, 500)).toBe(false);
    expect(tokens.validate(token, address, random.bytes(8), 500)).toBe(false);
    const forged = token.slice();
    forged[20]! ^= 1;
    expect(tokens.validate(forged, address, dcid, 500)).toBe(false);
  });
});

describe('packet AEAD backends', () => {
  // The native addon (native/aead) and sodium-native must produce the same bytes: peers may differ.
  useAeadBackend('native');
  const bothBuilt = aeadBackend() === 'native';
  (bothBuilt ? it : it.skip)(
    'native and sodium ChaCha20-Poly1305 seal the same bytes and open each other',
    () => {
      try {
        for (let i = 0; i < 200; i++) {
          const key = packetKeyFromSecret(random.bytes(32));
          const pn = random.int(2 ** 31);
          const header = random.bytes(random.int(40));
          const plain = random.bytes(i === 0 ? 0 : random.int(1400));
          const sealed: Uint8Array[] = [];
          for (const backend of ['native', 'sodium'] as const) {
            useAeadBackend(backend);
            const out = new Uint8Array(plain.length + 16);
            expect(seal(key, pn, header, plain, out)).toBe(plain.length + 16);
            sealed.push(out);
          }
          expect(Buffer.from(sealed[0]!).equals(sealed[1]!)).toBe(true);
          // The packet path (header in the datagram, plaintext from a longer scratch buffer) agrees too.
          const scratch = new Uint8Array(plain.length + 7);
          scratch.set(plain);
          for (const backend of ['native', 'sodium'] as const) {
            useAeadBackend(backend);
            const datagram = new Uint8Array(header.length + plain.length + 16);
            datagram.set(header);
            sealPacket(key, pn, datagram, header.length, scratch, plain.length);
            expect(Buffer.from(datagram.subarray(header.length)).equals(sealed[0]!)).toBe(true);
            const opened = openPacket(
              key,
              pn,
              datagram,
              header.length,
              new Uint8Array(i % 2 === 0 ? 8 : 2048),
            );
            expect(opened && Buffer.from(opened).equals(plain)).toBe(true);
            datagram[random.int(datagram.length)]! ^= 1 << random.int(8);
            expect(openPacket(key, pn, datagram, header.length, new Uint8Array(2048))).toBeUndefined();
          }
          for (const backend of ['native', 'sodium'] as const) {
            useAeadBackend(backend);
            expect(Buffer.from(open(key, pn, header, sealed[0]!)!).equals(plain)).toBe(true);
            const tampered = sealed[0]!.slice();
            tampered[random.int(tampered.length)]! ^= 1 << random.int(8);
            expect(open(key, pn, header, tampered)).toBeUndefined();
            expect(open(key, pn + 1, header, sealed[0]!)).toBeUndefined();
            expect(open(key, pn, header, sealed[0]!.subarray(0, 15))).toBeUndefined();
          }
        }
      } finally {
        useAeadBackend('native');
      }
    },
  );
});
