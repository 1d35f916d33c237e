import { spawnSync } from 'node:child_process';
import { createHash, createPrivateKey, diffieHellman } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  KeyError,
  keyId,
  loadPrivateKey,
  loadPublicKey,
  publicKeyFromRaw,
  rawPublicKey,
  rawX25519PrivateKey,
} from '../../release/index.ts';
import { testKey } from './helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'swarmlane-keys-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(KeyError);
    return (error as KeyError).code;
  }
  return undefined;
}

describe('keys', () => {
  it('writes PKCS#8 / SPKI PEM that openssl and node both read', () => {
    const key = testKey();
    expect(key.privatePem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(key.publicPem).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    writeFileSync(join(dir, 'a.key'), key.privatePem);
    writeFileSync(join(dir, 'a.pub'), key.publicPem);
    const priv = spawnSync('openssl', ['pkey', '-in', join(dir, 'a.key'), '-noout']);
    expect(priv.status, priv.stderr.toString()).toBe(0);
    const pub = spawnSync('openssl', ['pkey', '-pubin', '-in', join(dir, 'a.pub'), '-noout', '-text']);
    expect(pub.status).toBe(0);
    expect(pub.stdout.toString()).toMatch(/ED25519 Public-Key/);
    expect(keyId(loadPrivateKey(join(dir, 'a.key')))).toBe(keyId(loadPublicKey(join(dir, 'a.pub'))));
  });

  it('keyid is the hex SHA-256 of the raw 32-byte public key', () => {
    const key = testKey();
    const raw = rawPublicKey(key.publicKey);
    expect(raw).toHaveLength(32);
    // The raw key is the last 32 bytes of the SPKI DER encoding.
    const der = key.publicKey.export({ type: 'spki', format: 'der' });
    expect(Buffer.from(raw)).toEqual(der.subarray(der.length - 32));
    expect(keyId(key.publicKey)).toBe(createHash('sha256').update(raw).digest('hex'));
    expect(rawPublicKey(key.privateKey)).toEqual(raw);
  });

  it('raw X25519 keys round-trip into a working Diffie-Hellman', () => {
    const a = testKey('x25519');
    const b = testKey('x25519');
    const rawA = rawX25519PrivateKey(a.privateKey);
    expect(rawA).toHaveLength(32);
    const rebuiltB = publicKeyFromRaw(rawPublicKey(b.publicKey), 'x25519');
    const viaRaw = diffieHellman({ privateKey: a.privateKey, publicKey: rebuiltB });
    const direct = diffieHellman({ privateKey: b.privateKey, publicKey: a.publicKey });
    expect(viaRaw.equals(direct)).toBe(true);
    // And the raw private scalar rebuilds the same key via PKCS#8 DER (prefix for X25519).
    const pkcs8 = Buffer.concat([Buffer.from('302e020100300506032b656e04220420', 'hex'), rawA]);
    const rebuiltA = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
    expect(rawPublicKey(rebuiltA)).toEqual(rawPublicKey(a.publicKey));
  });

  it('refuses missing, garbage and wrong-type key files with a coded error', () => {
    writeFileSync(join(dir, 'garbage.key'), 'not a key\n');
    writeFileSync(join(dir, 'x.key'), testKey('x25519').privatePem);
    expect(code(() => loadPrivateKey(join(dir, 'missing.key')))).toBe('KEY_UNREADABLE');
    expect(code(() => loadPrivateKey(join(dir, 'garbage.key')))).toBe('KEY_INVALID');
    expect(code(() => loadPrivateKey(join(dir, 'x.key'), 'ed25519'))).toBe('KEY_INVALID');
    expect(code(() => loadPublicKey(join(dir, 'garbage.key')))).toBe('KEY_INVALID');
    expect(code(() => rawX25519PrivateKey(testKey().privateKey))).toBe('KEY_INVALID');
  });
});
