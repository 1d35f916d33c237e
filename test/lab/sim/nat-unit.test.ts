import { describe, expect, it } from 'vitest';
import { Nat, type NatOptions } from '../../../lab/sim/index.ts';
import { createSeededRandom } from '../../../runtime/index.ts';

const out = (srcPort: number, dstIp = '45.0.0.1', dstPort = 3478) => ({
  srcIp: '192.168.1.2',
  srcPort,
  dstIp,
  dstPort,
});

function nat(options: NatOptions): Nat {
  return new Nat(['60.0.1.1'], options, createSeededRandom(1));
}

describe('Nat port assignment', () => {
  it('preserving keeps the internal port and falls back when it is taken', () => {
    const n = nat({ portAssignment: 'preserving' });
    const a = out(5000);
    n.translateOutbound(a, 0);
    expect(a.srcPort).toBe(5000);
    const b = { ...out(5000), srcIp: '192.168.1.3' };
    n.translateOutbound(b, 0);
    expect(b.srcPort).not.toBe(5000);
  });

  it('sequential hands out consecutive ports', () => {
    const n = nat({ portAssignment: 'sequential', minPort: 20000 });
    const ports = [6000, 6001, 6002].map((p) => {
      const pkt = out(p);
      n.translateOutbound(pkt, 0);
      return pkt.srcPort;
    });
    expect(ports).toEqual([20000, 20001, 20002]);
  });

  it('random spreads ports over the range', () => {
    const n = nat({ portAssignment: 'random' });
    const ports = new Set<number>();
    for (let p = 6000; p < 6050; p++) {
      const pkt = out(p);
      n.translateOutbound(pkt, 0);
      ports.add(pkt.srcPort);
    }
    expect(ports.size).toBe(50);
    const sorted = [...ports].sort((x, y) => x - y);
    expect(sorted.at(-1)! - sorted[0]!).toBeGreaterThan(10_000);
  });
});

describe('Nat mapping and filtering behaviours', () => {
  it('address-dependent mapping reuses the port per remote IP, not per remote port', () => {
    const n = nat({ mapping: 'address-dependent' });
    const p1 = out(5000, '45.0.0.1', 1);
    const p2 = out(5000, '45.0.0.1', 2);
    const p3 = out(5000, '45.0.0.2', 1);
    for (const p of [p1, p2, p3]) n.translateOutbound(p, 0);
    expect(p1.srcPort).toBe(p2.srcPort);
    expect(p3.srcPort).not.toBe(p1.srcPort);
  });

  it('address-dependent filtering admits any port of a contacted host only', () => {
    const n = nat({ mapping: 'endpoint-independent', filtering: 'address-dependent' });
    const o = out(5000, '45.0.0.1', 1);
    n.translateOutbound(o, 0);
    const from = (ip: string, port: number) => ({
      srcIp: ip,
      srcPort: port,
      dstIp: o.srcIp,
      dstPort: o.srcPort,
    });
    expect(n.translateInbound(from('45.0.0.1', 999), 10)).toBeUndefined();
    expect(n.translateInbound(from('45.0.0.9', 1), 10)).toBe('nat-filter');
  });

  it('inbound refresh is optional', () => {
    for (const refreshOnInbound of [false, true]) {
      const n = nat({ filtering: 'endpoint-independent', mappingTimeoutMs: 1000, refreshOnInbound });
      const o = out(5000);
      n.translateOutbound(o, 0);
      const inbound = () => ({ srcIp: '45.0.0.1', srcPort: 3478, dstIp: o.srcIp, dstPort: o.srcPort });
      expect(n.translateInbound(inbound(), 900)).toBeUndefined();
      expect(n.translateInbound(inbound(), 1800)).toBe(refreshOnInbound ? undefined : 'mapping-expired');
    }
  });
});
