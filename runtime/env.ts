import type { Clock } from './clock.ts';
import type { HttpClient } from './http.ts';
import type { Logger } from './logger.ts';
import type { Random } from './random.ts';
import type { UdpNetwork } from './udp.ts';

/**
 * Everything a component may take from the outside world. `cli/` builds the real one, `lab/` a
 * simulated one; components receive it and never reach for globals.
 */
export interface Env {
  clock: Clock;
  udp: UdpNetwork;
  random: Random;
  logger: Logger;
  http: HttpClient;
  /** Environment variables, read once at the entry point. */
  vars: Readonly<Record<string, string | undefined>>;
}
