/**
 * Watches the bytes a peer sends and reports a BitTorrent message longer than `maxMessage`.
 * bittorrent-protocol buffers a whole message before parsing it, whatever length the prefix claims,
 * so a peer announcing a 4 GiB message could make us hold gigabytes: the connection is closed first.
 *
 *   handshake: 1 + 19 + 8 + 20 + 20 = 68 bytes, then messages: <length u32 BE><length bytes>
 */
const HANDSHAKE = 68;

export interface FrameGuard {
  /** Feeds received bytes; false once the peer announced a message over the limit. */
  feed(chunk: Uint8Array): boolean;
  /** After a successful feed: bytes of that chunk up to the end of the last message it completed (0: none). */
  readonly completeUpTo: number;
}

export function createFrameGuard(maxMessage: number): FrameGuard {
  let handshakeLeft = HANDSHAKE;
  /** Bytes of the current message body still to skip. */
  let bodyLeft = 0;
  /** Length prefix bytes gathered so far (a prefix may straddle chunks). */
  let prefix = 0;
  let prefixBytes = 0;
  let violated = false;
  let completeUpTo = 0;
  return {
    get completeUpTo() {
      return completeUpTo;
    },
    feed(chunk) {
      if (violated) return false;
      let i = 0;
      let complete = 0;
      if (handshakeLeft > 0) {
        const take = Math.min(handshakeLeft, chunk.length);
        handshakeLeft -= take;
        i = take;
        if (handshakeLeft === 0) complete = i;
      }
      while (i < chunk.length) {
        if (bodyLeft > 0) {
          const take = Math.min(bodyLeft, chunk.length - i);
          bodyLeft -= take;
          i += take;
          if (bodyLeft === 0) complete = i;
          continue;
        }
        prefix = prefix * 256 + chunk[i]!;
        prefixBytes++;
        i++;
        if (prefixBytes === 4) {
          if (prefix > maxMessage) {
            violated = true;
            return false;
          }
          bodyLeft = prefix;
          prefix = 0;
          prefixBytes = 0;
          // A keep-alive (length 0) is complete with its prefix.
          if (bodyLeft === 0) complete = i;
        }
      }
      completeUpTo = complete;
      return true;
    },
  };
}
