/**
 * The kernel-TCP baseline for the benchmark: a Node https server (run in a namespace) serving
 *   /obj/SIZE  SIZE bytes of the shared pattern
 *   /small     512 bytes
 * usage: https serve PORT KEY_PEM CERT_PEM   (prints "listening")
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';

const [mode, port, keyPath, certPath] = process.argv.slice(2);
if (mode !== 'serve') throw new Error(`unknown https mode ${mode}`);

function pattern(size: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + (i >>> 11)) & 0xff;
  return out;
}

const cache = new Map<number, Buffer>();
const server = createServer(
  { key: readFileSync(keyPath ?? ''), cert: readFileSync(certPath ?? '') },
  (req, res) => {
    const url = req.url ?? '/';
    const size = url === '/small' ? 512 : Number(/^\/obj\/(\d+)$/.exec(url)?.[1] ?? Number.NaN);
    if (!Number.isInteger(size) || size <= 0) {
      res.writeHead(404).end();
      return;
    }
    let body = cache.get(size);
    if (!body) {
      body = pattern(size);
      cache.set(size, body);
    }
    res.writeHead(200, { 'content-length': size, 'content-type': 'application/octet-stream' });
    res.end(body);
  },
);
server.listen(Number(port), () => console.log('listening'));
