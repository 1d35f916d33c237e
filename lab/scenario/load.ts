import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { parse as parseYaml } from 'yaml';
import { SwarmlaneError } from '../../runtime/index.ts';
import {
  DEFAULT_CGN,
  DEFAULT_DEVICE_GROUP,
  DEFAULT_ISP,
  DEFAULT_LINK,
  DEFAULT_POLICIES,
  DEFAULT_SCENARIO,
} from './defaults.ts';
import { Scenario } from './schema.ts';

export class ScenarioError extends SwarmlaneError {
  constructor(message: string) {
    super('SCENARIO_INVALID', message);
  }
}

const BUILTIN_DIR = join(import.meta.dirname, '..', 'scenarios');
export const BUILTIN_SCENARIOS = [
  'flash-crowd',
  'thesis-ideal',
  'thesis-worst',
  'thesis-general',
  'nat444-1k',
  'mobile-countries',
  'ci-small',
] as const;

type Loose = Record<string, unknown>;

function isObject(value: unknown): value is Loose {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Fills every omitted field from the defaults; explicit values always win. */
export function applyDefaults(raw: Loose): Loose {
  const isps = Array.isArray(raw.isps) ? raw.isps : [];
  const devices = Array.isArray(raw.devices) ? raw.devices : [];
  return {
    ...DEFAULT_SCENARIO,
    ...raw,
    release: { ...DEFAULT_SCENARIO.release, ...(isObject(raw.release) ? raw.release : {}) },
    churn: { ...DEFAULT_SCENARIO.churn, ...(isObject(raw.churn) ? raw.churn : {}) },
    cdn: { ...DEFAULT_SCENARIO.cdn, ...(isObject(raw.cdn) ? raw.cdn : {}) },
    policies: { ...DEFAULT_POLICIES, ...(isObject(raw.policies) ? raw.policies : {}) },
    isps: isps.map((isp: unknown, index) => {
      const o = isObject(isp) ? isp : {};
      return {
        asn: 64500 + index,
        ...DEFAULT_ISP,
        ...o,
        cgn: { ...DEFAULT_CGN, ...(isObject(o.cgn) ? o.cgn : {}) },
      };
    }),
    devices: devices.map((group: unknown) => {
      const o = isObject(group) ? group : {};
      return {
        ...DEFAULT_DEVICE_GROUP,
        ...o,
        link: { ...DEFAULT_LINK, ...(isObject(o.link) ? o.link : {}) },
      };
    }),
  };
}

/** Validates a parsed scenario, with one line per problem naming the field. */
export function validateScenario(raw: unknown, source: string): Scenario {
  if (!isObject(raw)) throw new ScenarioError(`${source}: a scenario must be a YAML mapping`);
  const withDefaults = applyDefaults(raw);
  if (!Value.Check(Scenario, withDefaults)) {
    const problems = [...Value.Errors(Scenario, withDefaults)]
      .slice(0, 5)
      .map((e) => `${e.path || '/'}: ${e.message}`)
      .join('; ');
    throw new ScenarioError(`${source}: ${problems}`);
  }
  const scenario = withDefaults as Scenario;
  const ispNames = new Set(scenario.isps.map((i) => i.name));
  for (const [index, group] of scenario.devices.entries()) {
    if (!ispNames.has(group.isp)) {
      throw new ScenarioError(`${source}: /devices/${index}/isp: unknown ISP "${group.isp}"`);
    }
  }
  for (const [index, edge] of scenario.edges.entries()) {
    if (!scenario.isps.some((i) => i.region === edge.region)) {
      throw new ScenarioError(`${source}: /edges/${index}/region: no ISP in region "${edge.region}"`);
    }
  }
  return scenario;
}

/** Loads a built-in scenario by name or a YAML file by path. */
export function loadScenario(nameOrPath: string, overrides: { seed?: number } = {}): Scenario {
  const builtin = (BUILTIN_SCENARIOS as readonly string[]).includes(nameOrPath);
  const path = builtin ? join(BUILTIN_DIR, `${nameOrPath}.yaml`) : nameOrPath;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new ScenarioError(
      `no scenario "${nameOrPath}": not a built-in (${BUILTIN_SCENARIOS.join(', ')}) and not a readable file`,
    );
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (error) {
    throw new ScenarioError(`${path}: not valid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  const scenario = validateScenario(raw, builtin ? nameOrPath : path);
  return overrides.seed === undefined ? scenario : { ...scenario, seed: overrides.seed };
}

export function deviceCount(scenario: Scenario): number {
  return scenario.devices.reduce((sum, g) => sum + g.count, 0);
}
