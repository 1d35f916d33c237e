import { join } from 'node:path';
import { type Static, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { Random } from '../../runtime/index.ts';
import type { AgentStorage } from './storage.ts';

/**
 * Device-wide state that must survive restarts: the device id, the newest channel pointer accepted per
 * product/channel (rollback protection: a pointer with a lower sequence is refused forever after), and
 * the installed version per product (never install an older one).
 */
export const AgentStateSchema = Type.Object({
  schema: Type.Literal('swarmlane.agent-state/1'),
  deviceId: Type.String(),
  lastSeen: Type.Record(Type.String(), Type.Object({ sequence: Type.Integer(), version: Type.String() })),
  installed: Type.Record(Type.String(), Type.String()),
  deviceToken: Type.Optional(Type.String()),
  /** Base64 raw X25519 private key: the device's transport identity (peers know it by its public half). */
  transportKey: Type.Optional(Type.String()),
});
export type AgentState = Static<typeof AgentStateSchema>;

export interface AgentStateStore {
  get(): AgentState;
  update(change: (state: AgentState) => void): Promise<void>;
}

export async function openAgentState(
  stateDir: string,
  components: { random: Random; storage: AgentStorage },
  deviceId?: string,
): Promise<AgentStateStore> {
  const { storage } = components;
  await storage.mkdir(stateDir);
  const path = join(stateDir, 'agent.json');
  let state: AgentState | undefined;
  try {
    const value: unknown = JSON.parse((await storage.readText(path)) ?? 'null');
    if (Value.Check(AgentStateSchema, value)) state = value;
  } catch {
    // Missing or unreadable: start fresh (a fresh device has seen nothing; rollback state is lost only
    // if someone deletes the state dir, which also deletes the download).
  }
  if (!state) {
    state = {
      schema: 'swarmlane.agent-state/1',
      deviceId: deviceId ?? `dev-${Buffer.from(components.random.bytes(12)).toString('hex')}`,
      lastSeen: {},
      installed: {},
    };
    await storage.writeAtomic(path, `${JSON.stringify(state, null, 2)}\n`);
  }
  if (deviceId && state.deviceId !== deviceId) state.deviceId = deviceId;
  const current = state;
  let chain = Promise.resolve();
  return {
    get: () => current,
    update(change) {
      change(current);
      const snapshot = `${JSON.stringify(current, null, 2)}\n`;
      chain = chain.then(() => storage.writeAtomic(path, snapshot));
      return chain;
    },
  };
}
