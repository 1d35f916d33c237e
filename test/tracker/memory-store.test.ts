import { createSeededRandom } from '../../runtime/index.ts';
import { createMemorySwarmStore } from '../../tracker/memory-store.ts';
import { runSwarmStoreCompliance } from './swarm-store-compliance.ts';

runSwarmStoreCompliance('memory', async () => {
  const now = { value: 1_000_000 };
  return { store: createMemorySwarmStore({ random: createSeededRandom(3), now: () => now.value }), now };
});
