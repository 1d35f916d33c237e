// bittorrent-protocol 5 ships no typings (and @types/bittorrent-protocol describes v3). peer.ts narrows
// the Wire to the members it uses (WireLike), so the module itself is declared loosely here.
declare module 'bittorrent-protocol' {
  const Wire: new (type?: string, peEnabled?: number) => unknown;
  export default Wire;
}
