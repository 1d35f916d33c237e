/**
 * Our STUN server for namespace labs (the CLI's `nat stun-server` without the rest of the CLI):
 * `node --import tsx lab/netns/agents/stun-server.ts PRIMARY_IP:PORT [ALT_IP:ALT_PORT]`.
 */
import { createStunServer, type StunServerSockets } from '../../../nat/index.ts';
import { type Address, parseAddress } from '../../../runtime/index.ts';
import { createNodeEnv } from '../../../runtime/node/index.ts';

const env = createNodeEnv({ logger: { level: 'warn' } });
const primary = parseAddress(process.argv[2] ?? '');
const alternate = process.argv[3] ? parseAddress(process.argv[3]) : undefined;
const bind = async (a: Address) => ({ channel: await env.udp.bind(a), address: a });
const sockets: StunServerSockets = { primary: await bind(primary) };
if (alternate) {
  sockets.changePort = await bind({ host: primary.host, port: alternate.port });
  sockets.changeIp = await bind({ host: alternate.host, port: primary.port });
  sockets.changeBoth = await bind(alternate);
}
createStunServer({ software: 'swarmlane-lab' }, { sockets, logger: env.logger });
process.stdout.write('ready\n');
process.once('SIGTERM', () => process.exit(0));
