import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_POLICY,
  engineOptionsFromConfig,
  loadAgentConfig,
  parseAgentConfig,
  parseEdgeSpec,
} from '../../agent/index.ts';
import { generateKeyPair } from '../../release/index.ts';

describe('agent config', () => {
  it('applies defaults and resolves paths against the config file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sl-cfg-'));
    const path = join(dir, 'agent.yaml');
    writeFileSync(
      path,
      'trust:\n  keys: [keys/pub.pem]\nstateDir: state\ncdn: [http://cdn.example/]\nfollow:\n  - product: fw\npolicy:\n  seedRatio: 2\n',
    );
    const config = loadAgentConfig(path);
    expect(config.trust).toEqual({ keys: [join(dir, 'keys/pub.pem')], threshold: 1 });
    expect(config.stateDir).toBe(join(dir, 'state'));
    expect(config.cdn).toEqual(['http://cdn.example']);
    expect(config.follow).toEqual([{ product: 'fw', channel: 'stable' }]);
    expect(config.policy).toEqual({ ...DEFAULT_POLICY, seedRatio: 2 });
  });

  it('names the offending field', () => {
    expect(() => parseAgentConfig({ trust: { keys: [] }, stateDir: 's' })).toThrow(/\/trust\/keys/);
    expect(() =>
      parseAgentConfig({ trust: { keys: ['k'] }, stateDir: 's', policy: { uploadSlots: 0 } }),
    ).toThrow(/\/policy\/uploadSlots/);
    expect(() => parseAgentConfig({ trust: { keys: ['k'], threshold: 2 }, stateDir: 's' })).toThrow(
      /threshold: 2 exceeds/,
    );
    expect(() =>
      parseAgentConfig({ trust: { keys: ['k'] }, stateDir: 's', deviceState: { provider: 'file' } }),
    ).toThrow(/deviceState\/path/);
    expect(() => parseAgentConfig({ trust: { keys: ['k'] }, stateDir: 's', bogus: 1 })).toThrow(
      /agent config/,
    );
  });

  it('policy.infrastructure: swarm-first by default, web-seed reaches the engine, anything else is refused', () => {
    const base = { trust: { keys: ['k'] }, stateDir: 's' };
    expect(parseAgentConfig(base).policy.infrastructure).toBe('swarm-first');
    const webSeed = parseAgentConfig({ ...base, policy: { infrastructure: 'web-seed' } });
    expect(engineOptionsFromConfig(webSeed).infrastructureMode).toBe('web-seed');
    expect(() => parseAgentConfig({ ...base, policy: { infrastructure: 'cdn-first' } })).toThrow(
      /\/policy\/infrastructure/,
    );
  });

  it('network traversal is on by default; network.traversal: false and a rendezvous spec parse', () => {
    const base = { trust: { keys: ['k'] }, stateDir: 's' };
    expect(parseAgentConfig(base).network).toMatchObject({
      traversal: true,
      portMapping: true,
      peerCongestion: 'adaptive',
    });
    expect(parseAgentConfig({ ...base, network: { peerCongestion: 'bbr' } }).network.peerCongestion).toBe(
      'bbr',
    );
    expect(() => parseAgentConfig({ ...base, network: { peerCongestion: 'cubic' } })).toThrow(
      /\/network\/peerCongestion/,
    );
    const key = Buffer.alloc(32, 7).toString('base64');
    const config = parseAgentConfig({
      ...base,
      network: { traversal: false, portMapping: false, rendezvous: `10.0.0.1:7001@${key}` },
    });
    expect(config.network).toMatchObject({ traversal: false, portMapping: false });
    expect(config.network.rendezvous?.address).toEqual({ host: '10.0.0.1', port: 7001 });
    expect(Buffer.from(config.network.rendezvous!.publicKey).toString('base64')).toBe(key);
    expect(() => parseAgentConfig({ ...base, network: { rendezvous: '10.0.0.1:7001' } })).toThrow(
      /\/network\/rendezvous/,
    );
  });

  it('parses HOST:PORT@KEY edge specs (PEM file or base64 raw key)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sl-cfg-'));
    const { publicPem } = generateKeyPair('x25519');
    writeFileSync(join(dir, 'edge.pub'), publicPem);
    const fromPem = parseEdgeSpec('10.0.0.1:7000@edge.pub', dir);
    expect(fromPem.address).toEqual({ host: '10.0.0.1', port: 7000 });
    expect(fromPem.publicKey).toHaveLength(32);
    const b64 = Buffer.from(fromPem.publicKey).toString('base64');
    expect(parseEdgeSpec(`10.0.0.1:7000@${b64}`).publicKey).toEqual(fromPem.publicKey);
    expect(() => parseEdgeSpec('10.0.0.1:7000')).toThrow(/HOST:PORT@KEYFILE/);
    expect(() => parseEdgeSpec('10.0.0.1:99999@x', dir)).toThrow(/port/);
    const { publicPem: edPem } = generateKeyPair('ed25519');
    writeFileSync(join(dir, 'wrong.pub'), edPem);
    expect(() => parseEdgeSpec('10.0.0.1:7000@wrong.pub', dir)).toThrow(/not an X25519/);
  });
});
