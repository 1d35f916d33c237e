import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BUILTIN_SCENARIOS, deviceCount, loadScenario, ScenarioError } from '../../lab/scenario/load.ts';

const dir = mkdtempSync(join(tmpdir(), 'sl-scenario-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function writeScenario(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('scenario loading', () => {
  it.each(BUILTIN_SCENARIOS)('built-in %s is valid', (name) => {
    const scenario = loadScenario(name);
    expect(scenario.name).toBe(name);
    expect(deviceCount(scenario)).toBeGreaterThan(0);
  });

  it('the thesis scenarios match the thesis setup', () => {
    for (const name of ['thesis-ideal', 'thesis-worst', 'thesis-general']) {
      const s = loadScenario(name);
      expect(s.release.size).toBe(129_241_752);
      expect(deviceCount(s)).toBe(5);
      expect(new Set(s.devices.map((g) => g.home))).toEqual(new Set(['thesis-home']));
      expect(s.devices.every((g) => !g.portMapping)).toBe(true);
    }
    const open = (name: string) =>
      loadScenario(name).devices.reduce((n, g) => n + (g.openPort ? g.count : 0), 0);
    expect([open('thesis-ideal'), open('thesis-general'), open('thesis-worst')]).toEqual([5, 1, 0]);
  });

  it('nat444-1k has 1,000 devices in 4 ISPs and 2 regions', () => {
    const s = loadScenario('nat444-1k');
    expect(deviceCount(s)).toBe(1000);
    expect(s.isps).toHaveLength(4);
    expect(new Set(s.isps.map((i) => i.region)).size).toBe(2);
  });

  it('fills defaults and lets --seed override', () => {
    const path = writeScenario(
      'min.yaml',
      'name: tiny\nisps: [{ name: a, region: r }]\ndevices: [{ count: 2, isp: a }]\n',
    );
    const s = loadScenario(path, { seed: 99 });
    expect(s.seed).toBe(99);
    expect(s.devices[0]!.nat).toBe('port-restricted');
    expect(s.isps[0]!.cgn.mapping).toBe('endpoint-independent');
    expect(s.release.pieceSize).toBe(262_144);
    expect(s.devices[0]!.peerCongestion).toBe('adaptive');
    const bbr = loadScenario(
      writeScenario(
        'bbr.yaml',
        'name: tiny\nisps: [{ name: a, region: r }]\ndevices: [{ count: 2, isp: a, peerCongestion: bbr }]\n',
      ),
    );
    expect(bbr.devices[0]!.peerCongestion).toBe('bbr');
  });

  it.each([
    [
      'unknown ISP',
      'name: x\nisps: [{ name: a, region: r }]\ndevices: [{ count: 1, isp: b }]\n',
      /unknown ISP "b"/,
    ],
    [
      'bad NAT class',
      'name: x\nisps: [{ name: a, region: r }]\ndevices: [{ count: 1, isp: a, nat: cone }]\n',
      /devices\/0\/nat/,
    ],
    [
      'negative count',
      'name: x\nisps: [{ name: a, region: r }]\ndevices: [{ count: -1, isp: a }]\n',
      /count/,
    ],
    [
      'unknown congestion control',
      'name: x\nisps: [{ name: a, region: r }]\ndevices: [{ count: 1, isp: a, peerCongestion: cubic }]\n',
      /devices\/0\/peerCongestion/,
    ],
    ['not a mapping', '- 1\n- 2\n', /must be a YAML mapping/],
    ['broken YAML', 'name: [unclosed\n', /not valid YAML/],
  ])('refuses %s with a clear error', (_label, text, message) => {
    const path = writeScenario('bad.yaml', text);
    expect(() => loadScenario(path)).toThrow(ScenarioError);
    expect(() => loadScenario(path)).toThrow(message);
  });

  it('names the built-ins when a scenario does not exist', () => {
    expect(() => loadScenario('no-such-scenario')).toThrow(/not a built-in \(flash-crowd/);
  });
});
