/**
 * A minimal MaxMind DB (MMDB v2) writer for tests: IPv4 tree, 24-bit records, values made of maps,
 * UTF-8 strings and unsigned integers. Follows the MaxMind DB file format spec: search tree (two
 * records per node), 16 zero bytes, data section, then "\xAB\xCD\xEFMaxMind.com" and the metadata map.
 * No npm package writes MMDB files, and a real GeoLite database cannot be fetched here.
 */
type Value = string | number | { [key: string]: Value };

function controlByte(type: number, size: number): number[] {
  const out: number[] = [];
  let sizeBits: number;
  const extra: number[] = [];
  if (size < 29) sizeBits = size;
  else if (size < 285) {
    sizeBits = 29;
    extra.push(size - 29);
  } else if (size < 65_821) {
    sizeBits = 30;
    const v = size - 285;
    extra.push(v >> 8, v & 0xff);
  } else {
    sizeBits = 31;
    const v = size - 65_821;
    extra.push(v >> 16, (v >> 8) & 0xff, v & 0xff);
  }
  if (type <= 7) out.push((type << 5) | sizeBits);
  else out.push(sizeBits, type - 7); // extended type
  return [...out, ...extra];
}

function uintBytes(value: number): number[] {
  const bytes: number[] = [];
  let v = value;
  while (v > 0) {
    bytes.unshift(v & 0xff);
    v = Math.floor(v / 256);
  }
  return bytes;
}

function encode(value: Value, type?: 'uint16' | 'uint32' | 'uint64'): number[] {
  if (typeof value === 'string') {
    const bytes = [...Buffer.from(value, 'utf8')];
    return [...controlByte(2, bytes.length), ...bytes];
  }
  if (typeof value === 'number') {
    const bytes = uintBytes(value);
    const code = type === 'uint16' ? 5 : type === 'uint64' ? 9 : 6;
    return [...controlByte(code, bytes.length), ...bytes];
  }
  const entries = Object.entries(value);
  const out = controlByte(7, entries.length);
  for (const [k, v] of entries) out.push(...encode(k), ...encode(v, METADATA_TYPES[k]));
  return out;
}

const METADATA_TYPES: Record<string, 'uint16' | 'uint32' | 'uint64'> = {
  node_count: 'uint32',
  record_size: 'uint16',
  ip_version: 'uint16',
  binary_format_major_version: 'uint16',
  binary_format_minor_version: 'uint16',
  build_epoch: 'uint64',
  autonomous_system_number: 'uint32',
};

interface TrieNode {
  kids: [TrieNode | number | null, TrieNode | number | null];
}

/** Builds an IPv4 MMDB from `cidr -> record`; longer prefixes inside shorter ones win. */
export function writeMmdb(
  networks: ReadonlyArray<{ cidr: string; data: Value }>,
  databaseType: string,
): Buffer {
  const data: number[] = [];
  const root: TrieNode = { kids: [null, null] };
  const sorted = [...networks].sort((a, b) => Number(a.cidr.split('/')[1]) - Number(b.cidr.split('/')[1]));
  for (const { cidr, data: value } of sorted) {
    const [base, len] = cidr.split('/') as [string, string];
    const ip = base.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
    const length = Number(len);
    const offset = data.length;
    data.push(...encode(value));
    let node = root;
    for (let depth = 0; depth < length; depth++) {
      const bit = (Math.floor(ip / 2 ** (31 - depth)) & 1) as 0 | 1;
      if (depth === length - 1) {
        node.kids[bit] = offset;
        break;
      }
      const next = node.kids[bit] ?? null;
      if (typeof next === 'object' && next !== null) node = next;
      else {
        // Pass through a shorter prefix's leaf by pushing it one level down.
        const leaf: number | null = next;
        const child: TrieNode = { kids: [leaf, leaf] };
        node.kids[bit] = child;
        node = child;
      }
    }
  }
  // Number internal nodes breadth first.
  const nodes: TrieNode[] = [root];
  for (let i = 0; i < nodes.length; i++)
    for (const kid of (nodes[i] as TrieNode).kids)
      if (typeof kid === 'object' && kid !== null) nodes.push(kid);
  const index = new Map(nodes.map((n, i) => [n, i]));
  const nodeCount = nodes.length;
  const record = (kid: TrieNode | number | null): number =>
    kid === null ? nodeCount : typeof kid === 'number' ? nodeCount + 16 + kid : (index.get(kid) as number);
  const tree = Buffer.alloc(nodeCount * 6);
  nodes.forEach((node, i) => {
    tree.writeUIntBE(record(node.kids[0]), i * 6, 3);
    tree.writeUIntBE(record(node.kids[1]), i * 6 + 3, 3);
  });
  const metadata = encode({
    node_count: nodeCount,
    record_size: 24,
    ip_version: 4,
    database_type: databaseType,
    binary_format_major_version: 2,
    binary_format_minor_version: 0,
    build_epoch: 1_700_000_000,
  });
  return Buffer.concat([
    tree,
    Buffer.alloc(16),
    Buffer.from(data),
    Buffer.from([0xab, 0xcd, 0xef]),
    Buffer.from('MaxMind.com'),
    Buffer.from(metadata),
  ]);
}
