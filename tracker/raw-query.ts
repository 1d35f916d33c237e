/**
 * Query-string parser that keeps values as bytes. BitTorrent clients send `info_hash` and `peer_id` as
 * URL-encoded 20-byte binary strings; a UTF-8 decoder (fastify's default) would mangle them.
 * `+` means space, as in form encoding. Returns null on a malformed escape.
 */
const utf8 = new TextDecoder();
const encoder = new TextEncoder();

export function parseRawQuery(url: string, maxPairs = 64): Map<string, Uint8Array[]> | null {
  const out = new Map<string, Uint8Array[]>();
  const q = url.indexOf('?');
  if (q === -1) return out;
  const text = url.slice(q + 1);
  if (text === '') return out;
  const pairs = text.split('&');
  if (pairs.length > maxPairs) return null;
  for (const pair of pairs) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const keyBytes = decode(eq === -1 ? pair : pair.slice(0, eq));
    const value = decode(eq === -1 ? '' : pair.slice(eq + 1));
    if (keyBytes === null || value === null) return null;
    const key = utf8.decode(keyBytes);
    const list = out.get(key);
    if (list) list.push(value);
    else out.set(key, [value]);
  }
  return out;
}

function hexValue(code: number): number {
  if (code >= 48 && code <= 57) return code - 48;
  if (code >= 65 && code <= 70) return code - 55;
  if (code >= 97 && code <= 102) return code - 87;
  return -1;
}

function decode(text: string): Uint8Array | null {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 0x25) {
      const hi = hexValue(text.charCodeAt(i + 1));
      const lo = hexValue(text.charCodeAt(i + 2));
      if (hi < 0 || lo < 0) return null;
      bytes.push(hi * 16 + lo);
      i += 2;
    } else if (code === 0x2b) {
      bytes.push(0x20);
    } else if (code < 0x80) {
      bytes.push(code);
    } else {
      // Raw non-ASCII in a URL is not valid; encode it as UTF-8 rather than failing.
      for (const b of encoder.encode(text[i] as string)) bytes.push(b);
    }
  }
  return Uint8Array.from(bytes);
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

export function asText(bytes: Uint8Array | undefined): string | undefined {
  return bytes === undefined ? undefined : utf8.decode(bytes);
}
