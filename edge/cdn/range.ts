/**
 * HTTP Range header parsing (RFC 9110 §14), single byte range only. A multi-range request is answered
 * with the whole object (allowed by RFC 9110: a server may ignore Range), which every client we care
 * about (curl, aria2c, agents) handles.
 */
export type RangeResult =
  | { kind: 'none' }
  | { kind: 'range'; start: number; end: number /* inclusive */ }
  | { kind: 'unsatisfiable' };

export function parseRange(header: string | undefined, size: number): RangeResult {
  if (header === undefined) return { kind: 'none' };
  const match = /^\s*bytes\s*=\s*(.+)$/i.exec(header);
  if (!match) return { kind: 'none' }; // unknown unit: ignore, per RFC
  const specs = match[1]!.split(',').map((s) => s.trim());
  if (specs.length !== 1) return { kind: 'none' };
  const spec = /^(\d*)-(\d*)$/.exec(specs[0]!);
  if (!spec) return { kind: 'none' }; // syntactically invalid: ignore
  const [, first, last] = spec;
  if (first === '' && last === '') return { kind: 'none' };
  if (first === '') {
    // suffix range: the last N bytes
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'range', start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (last !== '' && Number(last) < start) return { kind: 'none' }; // invalid: ignore
  if (start >= size) return { kind: 'unsatisfiable' };
  return { kind: 'range', start, end };
}

/** `If-None-Match` weak comparison (RFC 9110 §13.1.2): `*` or any listed tag equal ignoring `W/`. */
export function etagMatches(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  if (header.trim() === '*') return true;
  const strip = (tag: string): string => tag.trim().replace(/^W\//, '');
  const target = strip(etag);
  return header.split(',').some((tag) => strip(tag) === target);
}
