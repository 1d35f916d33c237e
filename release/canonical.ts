import canonicalizeModule from 'canonicalize';

// The package is CommonJS (`module.exports = fn`) but its typings declare an ES default export; at
// runtime Node hands us the function itself, bundlers may wrap it in `.default`.
type Canonicalize = (value: unknown) => string | undefined;
const canonicalize: Canonicalize =
  typeof canonicalizeModule === 'function'
    ? (canonicalizeModule as Canonicalize)
    : (canonicalizeModule as unknown as { default: Canonicalize }).default;

const encoder = new TextEncoder();

/** RFC 8785 (JCS) canonical JSON of `value` as UTF-8 bytes: the exact bytes signatures cover. */
export function canonicalJson(value: unknown): Uint8Array {
  const text = canonicalize(value);
  if (text === undefined) throw new TypeError('value has no canonical JSON form');
  return encoder.encode(text);
}
