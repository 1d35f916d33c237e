import { describe, expect, it } from 'vitest';
import { createSimulation, DEFAULT_START_TIME } from '../../../lab/sim/index.ts';
import { sleep } from '../../../runtime/index.ts';

describe('virtual clock and run loop', () => {
  it('fires timers in time order, ties in scheduling order, and jumps time', async () => {
    const sim = createSimulation({ seed: 1 });
    const fired: string[] = [];
    sim.clock.setTimer(50, () => fired.push(`b@${sim.now() - DEFAULT_START_TIME}`));
    sim.clock.setTimer(10, () => fired.push(`a@${sim.now() - DEFAULT_START_TIME}`));
    sim.clock.setTimer(50, () => fired.push(`c@${sim.now() - DEFAULT_START_TIME}`));
    const cancelled = sim.clock.setTimer(20, () => fired.push('never'));
    sim.clock.clearTimer(cancelled);
    const result = await sim.run();
    expect(fired).toEqual(['a@10', 'b@50', 'c@50']);
    expect(result.reason).toBe('quiescent');
    expect(sim.now()).toBe(DEFAULT_START_TIME + 50);
  });

  it.each(['sync', 'turn'] as const)(
    'lets promise chains started by a timer finish before time moves on (%s)',
    async (drain) => {
      const sim = createSimulation({ drain });
      const log: number[] = [];
      const worker = async (): Promise<void> => {
        for (let i = 0; i < 3; i++) {
          await sleep(sim.clock, 100);
          // a deep chain of awaits at the same instant must complete before the next timer
          for (let j = 0; j < 20; j++) await Promise.resolve();
          await new Promise<void>((resolve) => process.nextTick(resolve));
          log.push(sim.now() - DEFAULT_START_TIME);
        }
      };
      const done = worker();
      sim.clock.setTimer(150, () => log.push(-150));
      await sim.run();
      await done;
      expect(log).toEqual([100, -150, 200, 300]);
    },
  );

  it('stops on a condition, at a deadline, or after settling a promise', async () => {
    const sim = createSimulation();
    let ticks = 0;
    const tick = (): void => {
      ticks++;
      sim.clock.setTimer(10, tick);
    };
    tick();
    const byCondition = await sim.run({ until: () => ticks >= 5 });
    expect(byCondition.reason).toBe('condition');
    expect(ticks).toBe(5);
    const byDeadline = await sim.run({ deadlineMs: 1000 });
    expect(byDeadline.reason).toBe('deadline');
    expect(sim.now()).toBe(DEFAULT_START_TIME + 1040);
    const value = await sim.settle(sleep(sim.clock, 5000).then(() => 'slept'));
    expect(value).toBe('slept');
    expect(sim.now()).toBe(DEFAULT_START_TIME + 6040);
  });

  it('settle rejects with the promise error, and reports a promise that never settles', async () => {
    const sim = createSimulation();
    await expect(sim.settle(Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(sim.settle(new Promise(() => {}))).rejects.toThrow(/did not settle/);
  });

  it('cleared timers do not accumulate (heap compaction keeps pending small)', async () => {
    const sim = createSimulation();
    let fired = 0;
    for (let i = 0; i < 10_000; i++) {
      const h = sim.clock.setTimer(1000 + i, () => fired++);
      sim.clock.clearTimer(h);
    }
    sim.clock.setTimer(5, () => fired++);
    await sim.run();
    expect(fired).toBe(1);
    expect(sim.now()).toBe(DEFAULT_START_TIME + 5);
  });

  it.each(['sync', 'turn'] as const)(
    'holds time still while real work (file I/O, setImmediate) is pending (%s)',
    async (drain) => {
      const { readFile } = await import('node:fs/promises');
      const sim = createSimulation({ drain });
      const seen: number[] = [];
      const fakeIo = () => new Promise<void>((resolve) => setImmediate(resolve));
      sim.clock.setTimer(10, async () => {
        await readFile(import.meta.filename);
        await fakeIo();
        await fakeIo();
        seen.push(sim.now() - DEFAULT_START_TIME);
      });
      sim.clock.setTimer(11, () => seen.push(sim.now() - DEFAULT_START_TIME));
      await sim.run();
      expect(seen).toEqual([10, 11]);
    },
  );

  it('held work is bounded by event-loop turns, not wall time: a slow held step keeps time still', async () => {
    const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
    // Held work that needs 200 real turns and, as on a loaded machine, 0.2 ms of CPU in each (40 ms).
    const slow = async () => {
      for (let i = 0; i < 200; i++) {
        const until = performance.now() + 0.2;
        while (performance.now() < until);
        await turn();
      }
    };
    const sim = createSimulation({ holdGuardTurns: 1_000 });
    const seen: string[] = [];
    sim.clock.setTimer(10, () => {
      void sim.hold(slow()).then(() => seen.push(`held@${sim.now() - DEFAULT_START_TIME}`));
    });
    sim.clock.setTimer(11, () => seen.push(`timer@${sim.now() - DEFAULT_START_TIME}`));
    await sim.run();
    expect(seen).toEqual(['held@10', 'timer@11']);

    // A held promise that never settles is let go after holdGuardTurns turns, so time moves on.
    const stuck = createSimulation({ holdGuardTurns: 50 });
    stuck.clock.setTimer(10, () => void stuck.hold(new Promise(() => {})));
    stuck.clock.setTimer(20, () => {});
    expect((await stuck.run()).reason).toBe('quiescent');
    expect(stuck.now()).toBe(DEFAULT_START_TIME + 20);
  });
});
