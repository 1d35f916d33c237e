/**
 * Lab processes (agents, stock clients, tracker, CDN, edges) run with real-time round-robin
 * scheduling (`chrt -r`), below the delay lines (link.ts, SCHED_FIFO 20), the same for every strategy.
 *
 * Each emulated device stands for a machine with its own CPU; here twenty of them share two cores with
 * whatever else the host runs. A user-space transport acknowledges from its event loop, so while a
 * device process waits for a CPU its peers see that wait as round-trip time. Measured on this host at
 * load 20-40 (12 devices, one edge; RESULTS.md): at normal priority, agents used 2-10 % of a core but
 * their event loops ran 0.2-3 s late, UDP receive queues held up to 0.9 MB, and edge sessions' RTT grew
 * from 20 ms to 5-12 s with 1-3 kB/s of goodput each; swarmlane saved -9 %. At nice -10: loops still
 * 0.15-0.5 s late, -9 to +17 %. Real-time round-robin: loops ~0.1 s, 85 % saved. Kernel TCP (the
 * client-server baseline's transport) acknowledges in softirq and never had the problem.
 *
 * Round-robin at one priority shares the CPUs among the lab's own processes as the kernel would share
 * them among equals; the kernel's RT throttling (sched_rt_runtime_us) still leaves 5 % to everything
 * else. Without `chrt` (or without permission) they run at nice -10.
 */
import { hasBinary } from '../netns/index.ts';

/** SCHED_RR priority of lab processes: above all normal work, below the delay lines (FIFO 20). */
export const LAB_RT_PRIORITY = 10;
/** nice value where real-time scheduling is unavailable. */
export const LAB_NICE = -10;

/** The command line that runs `cmd args` at the lab's scheduling priority. */
export function prioritized(cmd: string, args: string[]): [string, string[]] {
  if (hasBinary('chrt')) return ['chrt', ['-r', String(LAB_RT_PRIORITY), cmd, ...args]];
  if (hasBinary('nice')) return ['nice', ['-n', String(LAB_NICE), cmd, ...args]];
  return [cmd, args];
}
