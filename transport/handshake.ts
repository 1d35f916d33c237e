import {
  dh,
  hkdf,
  hkdfExpand,
  hkdfExtract,
  type KeyPair,
  type PacketKey,
  packetKeyFromSecret,
  sha256,
} from './crypto.ts';

/**
 * The one-round-trip handshake (a Noise IK-like pattern over X25519):
 *
 *   client knows server static S; has static C and fresh ephemeral e_c
 *   INITIAL  ->  e_c, AEAD_{k_init}(INIT{C, init payload})      k_init from es = DH(e_c, S)
 *   ANSWER   <-  e_s, AEAD_{k_s2c}(INIT_REPLY{payload}, ...)    k_s2c from es, ee = DH(e_c, e_s), se = DH(C, e_s)
 *
 * Only the holder of S can compute es (server authenticated); only the holder of C can compute se
 * (client authenticated, checked when its first 1-RTT packet decrypts); ee gives forward secrecy.
 */
export interface SessionKeys {
  clientToServer: PacketKey;
  serverToClient: PacketKey;
}

const EMPTY = new Uint8Array(0);
const LABEL_INITIAL = new TextEncoder().encode('pz1 initial');

export function initialKey(
  es: Uint8Array,
  dcid: Uint8Array,
  clientEphemeral: Uint8Array,
  serverStatic: Uint8Array,
): PacketKey {
  const salt = sha256(LABEL_INITIAL, dcid, clientEphemeral, serverStatic);
  return packetKeyFromSecret(hkdf(es, salt, 'pz initial', 32));
}

export interface TranscriptParts {
  version: number;
  dcid: Uint8Array;
  clientCid: Uint8Array;
  serverCid: Uint8Array;
  clientEphemeral: Uint8Array;
  serverEphemeral: Uint8Array;
  clientStatic: Uint8Array;
  serverStatic: Uint8Array;
}

export function sessionKeys(es: Uint8Array, ee: Uint8Array, se: Uint8Array, t: TranscriptParts): SessionKeys {
  const version = new Uint8Array(4);
  new DataView(version.buffer).setUint32(0, t.version);
  const transcript = sha256(
    version,
    t.dcid,
    t.clientCid,
    t.serverCid,
    t.clientEphemeral,
    t.serverEphemeral,
    t.clientStatic,
    t.serverStatic,
  );
  const ikm = new Uint8Array(96);
  ikm.set(es, 0);
  ikm.set(ee, 32);
  ikm.set(se, 64);
  const master = hkdfExtract(hkdf(ikm, transcript, 'pz master', 32), EMPTY);
  return {
    clientToServer: packetKeyFromSecret(hkdfExpand(master, 'pz c2s', 32)),
    serverToClient: packetKeyFromSecret(hkdfExpand(master, 'pz s2c', 32)),
  };
}

/** Client side, on receiving the server's ephemeral. Undefined when a DH result is degenerate. */
export function clientSessionKeys(
  clientEphemeral: KeyPair,
  clientStatic: KeyPair,
  es: Uint8Array,
  serverEphemeral: Uint8Array,
  parts: Omit<TranscriptParts, 'clientEphemeral' | 'clientStatic' | 'serverEphemeral'>,
): SessionKeys | undefined {
  const ee = dh(clientEphemeral.privateKey, serverEphemeral);
  const se = dh(clientStatic.privateKey, serverEphemeral);
  if (!ee || !se) return undefined;
  return sessionKeys(es, ee, se, {
    ...parts,
    clientEphemeral: clientEphemeral.publicKey,
    clientStatic: clientStatic.publicKey,
    serverEphemeral,
  });
}

/** Server side, after decrypting the INIT frame. */
export function serverSessionKeys(
  serverEphemeral: KeyPair,
  es: Uint8Array,
  clientEphemeral: Uint8Array,
  clientStatic: Uint8Array,
  parts: Omit<TranscriptParts, 'clientEphemeral' | 'clientStatic' | 'serverEphemeral'>,
): SessionKeys | undefined {
  const ee = dh(serverEphemeral.privateKey, clientEphemeral);
  const se = dh(serverEphemeral.privateKey, clientStatic);
  if (!ee || !se) return undefined;
  return sessionKeys(es, ee, se, {
    ...parts,
    clientEphemeral,
    clientStatic,
    serverEphemeral: serverEphemeral.publicKey,
  });
}
