// Builds the native addons (run by npm install / npm ci). Never fails the install: each addon is
// optional and its user falls back when it is missing, saying so once.
//   udp/  batched UDP socket (recvmmsg/GRO, sendmmsg/GSO)     fallback: node:dgram
//   aead/ ChaCha20-Poly1305 over the system's libcrypto.a    fallback: sodium-native
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const addons = [
  { dir: 'udp', fallback: 'node:dgram will be used (one syscall and one JS call per datagram)' },
  { dir: 'aead', fallback: 'sodium-native will encrypt packets (slower; libssl-dev provides libcrypto.a)' },
];
if (process.platform !== 'linux') {
  console.log('swarmlane: the native addons are Linux-only; node:dgram and sodium-native will be used');
  process.exit(0);
}
// npm tells scripts where its node-gyp is; outside npm, use the one npm ships next to node.
const prefix = dirname(dirname(process.execPath));
const gyp =
  process.env.npm_config_node_gyp ??
  join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
const args = [gyp, 'rebuild'];
// Build against the installed Node's headers when they are there (no header download offline).
if (!process.env.npm_config_nodedir && existsSync(join(prefix, 'include', 'node', 'common.gypi')))
  args.push(`--nodedir=${prefix}`);
for (const addon of addons) {
  const result = existsSync(gyp)
    ? spawnSync(process.execPath, args, { cwd: join(here, addon.dir), stdio: 'inherit' })
    : { status: 1 };
  if (result.status !== 0) console.warn(`swarmlane: native/${addon.dir} did not build; ${addon.fallback}`);
}
