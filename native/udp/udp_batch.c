// Batched UDP socket for Node (Linux): recvmmsg + UDP_GRO on receive, sendmmsg + UDP_SEGMENT (GSO)
// on send, driven by a libuv poll handle. node:dgram costs one syscall, one libuv callback, one
// Buffer and one JS call per datagram; here a wake-up hands JS one ArrayBuffer with many datagrams
// and a flush sends a whole burst in one syscall. runtime/node/udp-native.ts is the only user.
//
// Shared memory with JS (created here, kept alive by references):
//   rxMeta: RX_SLOTS records of RX_META_INTS int32: offset, length, segment size (0 = one datagram),
//           family (4/6), port, then 16 raw address bytes (IPv4 uses the first 4).
//   txData: TX_BYTES of datagram bytes, back to back.
//   txMeta: TX_MAX records of TX_META_INTS int32: length, family, port, then 16 raw address bytes.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif
#ifndef SOL_UDP
#define SOL_UDP 17
#endif

#define RX_SLOTS 32
#define RX_SLOT_BYTES 65536
#define RX_META_INTS 9
#define RX_ROUNDS 8
#define DELIVER_BYTES 65536
#define TX_BYTES (512 * 1024)
#define TX_MAX 512
#define TX_META_INTS 7
#define GSO_MAX_SEGMENTS 64
#define GSO_MAX_BYTES 60000

typedef struct {
  uv_poll_t poll;
  napi_env env;
  napi_ref on_batch;
  napi_ref self_refs[3];
  napi_async_context async;
  int fd;
  int family;
  int closed;
  int gso_ok;
  // The struct is freed once both libuv has closed the poll handle and JS has dropped the external,
  // so a stray call on a closed socket's handle never reads freed memory.
  int uv_closed;
  int finalized;
  int32_t *rx_meta;
  uint8_t *tx_data;
  int32_t *tx_meta;
  uint8_t *rx_buf;
  struct mmsghdr rx_msgs[RX_SLOTS];
  struct iovec rx_iov[RX_SLOTS];
  struct sockaddr_storage rx_addr[RX_SLOTS];
  char rx_ctrl[RX_SLOTS][CMSG_SPACE(sizeof(int))];
} sock_t;

static void on_finalize(napi_env env, void *data, void *hint);

#define CHECK(call)                                                                                \
  do {                                                                                             \
    if ((call) != napi_ok) {                                                                       \
      napi_throw_error(env, "ERR_NATIVE_UDP", #call " failed");                                    \
      return NULL;                                                                                 \
    }                                                                                              \
  } while (0)

// Errors carry the errno name as `code`, as node:dgram's do (callers test for EADDRINUSE).
static napi_value throw_errno(napi_env env, const char *what, int err) {
  char message[160];
  const char *code = err == EADDRINUSE      ? "EADDRINUSE"
                     : err == EACCES        ? "EACCES"
                     : err == EADDRNOTAVAIL ? "EADDRNOTAVAIL"
                     : err == EINVAL        ? "EINVAL"
                     : err == EAFNOSUPPORT  ? "EAFNOSUPPORT"
                                            : "ERR_NATIVE_UDP";
  snprintf(message, sizeof message, "%s %s", what, strerror(err));
  napi_throw_error(env, code, message);
  return NULL;
}

// Address from (family, port, 16 raw bytes); returns the sockaddr length, 0 if the family is unknown.
static socklen_t to_sockaddr(int sock_family, int family, int port, const uint8_t *raw,
                             struct sockaddr_storage *out) {
  memset(out, 0, sizeof *out);
  if (sock_family == AF_INET && family == 4) {
    struct sockaddr_in *a = (struct sockaddr_in *)out;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    memcpy(&a->sin_addr, raw, 4);
    return sizeof *a;
  }
  if (sock_family == AF_INET6 && (family == 6 || family == 4)) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)out;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((uint16_t)port);
    if (family == 6) memcpy(&a->sin6_addr, raw, 16);
    else {
      // An IPv4 peer from a dual-stack socket: the v4-mapped form.
      a->sin6_addr.s6_addr[10] = 0xff;
      a->sin6_addr.s6_addr[11] = 0xff;
      memcpy(&a->sin6_addr.s6_addr[12], raw, 4);
    }
    return sizeof *a;
  }
  return 0;
}

static void from_sockaddr(const struct sockaddr_storage *in, int32_t *meta) {
  uint8_t *raw = (uint8_t *)&meta[5];
  memset(raw, 0, 16);
  if (in->ss_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)in;
    meta[3] = 4;
    meta[4] = ntohs(a->sin_port);
    memcpy(raw, &a->sin_addr, 4);
  } else if (in->ss_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)in;
    const uint8_t *b = a->sin6_addr.s6_addr;
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    meta[4] = ntohs(a->sin6_port);
    if (memcmp(b, mapped, 12) == 0) {
      meta[3] = 4;
      memcpy(raw, b + 12, 4);
    } else {
      meta[3] = 6;
      memcpy(raw, b, 16);
    }
  } else {
    meta[3] = 0;
    meta[4] = 0;
  }
}

// Hands JS messages [first, first + count) as one ArrayBuffer; rxMeta record 0 describes `first`.
static void deliver(sock_t *s, int first, int count) {
  napi_env env = s->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  size_t total = 0;
  for (int i = first; i < first + count; i++) total += s->rx_msgs[i].msg_len;
  void *data = NULL;
  napi_value buffer, callback, recv, argv[2], result;
  if (napi_create_arraybuffer(env, total, &data, &buffer) != napi_ok) goto done;
  size_t offset = 0;
  for (int i = first; i < first + count; i++) {
    struct msghdr *h = &s->rx_msgs[i].msg_hdr;
    size_t len = s->rx_msgs[i].msg_len;
    int32_t *meta = &s->rx_meta[(i - first) * RX_META_INTS];
    memcpy((uint8_t *)data + offset, s->rx_buf + (size_t)i * RX_SLOT_BYTES, len);
    meta[0] = (int32_t)offset;
    meta[1] = (int32_t)len;
    meta[2] = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c != NULL; c = CMSG_NXTHDR(h, c)) {
      if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
        int seg;
        memcpy(&seg, CMSG_DATA(c), sizeof seg);
        if (seg > 0 && (size_t)seg < len) meta[2] = seg;
      }
    }
    from_sockaddr(&s->rx_addr[i], meta);
    offset += len;
  }
  if (napi_get_reference_value(env, s->on_batch, &callback) != napi_ok) goto done;
  napi_get_global(env, &recv);
  argv[0] = buffer;
  napi_create_int32(env, count, &argv[1]);
  if (napi_make_callback(env, s->async, recv, callback, 2, argv, &result) == napi_pending_exception) {
    napi_value error;
    napi_get_and_clear_last_exception(env, &error);
    napi_fatal_exception(env, error);
  }
done:
  napi_close_handle_scope(env, scope);
}

static void on_readable(uv_poll_t *handle, int status, int events) {
  sock_t *s = (sock_t *)handle->data;
  for (int round = 0; round < RX_ROUNDS && !s->closed; round++) {
    for (int i = 0; i < RX_SLOTS; i++) {
      s->rx_iov[i].iov_base = s->rx_buf + (size_t)i * RX_SLOT_BYTES;
      s->rx_iov[i].iov_len = RX_SLOT_BYTES;
      struct msghdr *h = &s->rx_msgs[i].msg_hdr;
      h->msg_name = &s->rx_addr[i];
      h->msg_namelen = sizeof s->rx_addr[i];
      h->msg_iov = &s->rx_iov[i];
      h->msg_iovlen = 1;
      h->msg_control = s->rx_ctrl[i];
      h->msg_controllen = sizeof s->rx_ctrl[i];
      h->msg_flags = 0;
    }
    int n = recvmmsg(s->fd, s->rx_msgs, RX_SLOTS, MSG_DONTWAIT, NULL);
    if (n <= 0) {
      // EAGAIN: drained. Other errors (an ICMP error queued on the socket) are consumed by the call.
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (n == 0) break;
      continue;
    }
    // At most DELIVER_BYTES per call into JS: the microtask turn after each call is where the
    // transport sends its ACKs, and a whole recvmmsg of GRO messages can hold 2 MB of packets.
    for (int first = 0; first < n && !s->closed;) {
      int count = 0;
      size_t bytes = 0;
      while (first + count < n && (count == 0 || bytes + s->rx_msgs[first + count].msg_len <= DELIVER_BYTES))
        bytes += s->rx_msgs[first + count++].msg_len;
      deliver(s, first, count);
      first += count;
    }
    if (n < RX_SLOTS) break;
  }
}

// open(host, port, family, onBatch) -> [external, rxMeta, txData, txMeta, boundPort]
static napi_value sock_open(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char host[64];
  size_t host_len;
  int32_t port, family;
  CHECK(napi_get_value_string_utf8(env, argv[0], host, sizeof host, &host_len));
  CHECK(napi_get_value_int32(env, argv[1], &port));
  CHECK(napi_get_value_int32(env, argv[2], &family));
  napi_valuetype type;
  CHECK(napi_typeof(env, argv[3], &type));
  if (type != napi_function) {
    napi_throw_type_error(env, "ERR_NATIVE_UDP", "onBatch must be a function");
    return NULL;
  }
  if (port < 0 || port > 65535) {
    napi_throw_range_error(env, "ERR_NATIVE_UDP", "port out of range");
    return NULL;
  }
  struct sockaddr_storage addr;
  memset(&addr, 0, sizeof addr);
  socklen_t addr_len;
  int af = family == 6 ? AF_INET6 : AF_INET;
  if (af == AF_INET) {
    struct sockaddr_in *a = (struct sockaddr_in *)&addr;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &a->sin_addr) != 1) return throw_errno(env, "bad IPv4 address", EINVAL);
    addr_len = sizeof *a;
  } else {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&addr;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((uint16_t)port);
    if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1) return throw_errno(env, "bad IPv6 address", EINVAL);
    addr_len = sizeof *a;
  }
  int fd = socket(af, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  if (af == AF_INET6) {
    int off = 0;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
  }
  if (bind(fd, (struct sockaddr *)&addr, addr_len) != 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "bind", err);
  }
  int size = 8 * 1024 * 1024, one = 1;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  // GRO is an optimisation: without it every datagram arrives on its own, which is still correct.
  setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof one);
  struct sockaddr_storage bound;
  socklen_t bound_len = sizeof bound;
  getsockname(fd, (struct sockaddr *)&bound, &bound_len);
  int bound_port = ntohs(af == AF_INET ? ((struct sockaddr_in *)&bound)->sin_port
                                       : ((struct sockaddr_in6 *)&bound)->sin6_port);

  sock_t *s = calloc(1, sizeof *s);
  if (s == NULL) {
    close(fd);
    return throw_errno(env, "calloc", ENOMEM);
  }
  s->rx_buf = malloc((size_t)RX_SLOTS * RX_SLOT_BYTES);
  if (s->rx_buf == NULL) {
    free(s);
    close(fd);
    return throw_errno(env, "malloc", ENOMEM);
  }
  s->env = env;
  s->fd = fd;
  s->family = af;
  s->gso_ok = 1;
  napi_value rx_meta, tx_data, tx_meta, external, name, resource, out, port_value;
  CHECK(napi_create_arraybuffer(env, RX_SLOTS * RX_META_INTS * 4, (void **)&s->rx_meta, &rx_meta));
  CHECK(napi_create_arraybuffer(env, TX_BYTES, (void **)&s->tx_data, &tx_data));
  CHECK(napi_create_arraybuffer(env, TX_MAX * TX_META_INTS * 4, (void **)&s->tx_meta, &tx_meta));
  CHECK(napi_create_reference(env, rx_meta, 1, &s->self_refs[0]));
  CHECK(napi_create_reference(env, tx_data, 1, &s->self_refs[1]));
  CHECK(napi_create_reference(env, tx_meta, 1, &s->self_refs[2]));
  CHECK(napi_create_reference(env, argv[3], 1, &s->on_batch));
  CHECK(napi_create_string_utf8(env, "swarmlane:udp", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_create_object(env, &resource));
  CHECK(napi_async_init(env, resource, name, &s->async));
  CHECK(napi_create_external(env, s, on_finalize, NULL, &external));

  uv_loop_t *loop;
  CHECK(napi_get_uv_event_loop(env, &loop));
  s->poll.data = s;
  if (uv_poll_init(loop, &s->poll, fd) != 0 || uv_poll_start(&s->poll, UV_READABLE, on_readable) != 0) {
    close(fd);
    return throw_errno(env, "uv_poll", EIO);
  }
  CHECK(napi_create_array_with_length(env, 5, &out));
  CHECK(napi_create_int32(env, bound_port, &port_value));
  CHECK(napi_set_element(env, out, 0, external));
  CHECK(napi_set_element(env, out, 1, rx_meta));
  CHECK(napi_set_element(env, out, 2, tx_data));
  CHECK(napi_set_element(env, out, 3, tx_meta));
  CHECK(napi_set_element(env, out, 4, port_value));
  return out;
}

static sock_t *unwrap(napi_env env, napi_value value) {
  void *data = NULL;
  if (napi_get_value_external(env, value, &data) != napi_ok) return NULL;
  return (sock_t *)data;
}

static int same_peer(const int32_t *a, const int32_t *b) {
  return a[1] == b[1] && a[2] == b[2] && memcmp(&a[3], &b[3], 16) == 0;
}

// flush(external, count) -> datagrams that could not be sent. Consecutive datagrams to one peer
// with one size (the last may be shorter) go out as one GSO message while the kernel accepts them.
static napi_value sock_flush(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], result;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  sock_t *s = unwrap(env, argv[0]);
  int32_t count;
  CHECK(napi_get_value_int32(env, argv[1], &count));
  if (s == NULL || count < 0 || count > TX_MAX) {
    napi_throw_error(env, "ERR_NATIVE_UDP", "bad flush arguments");
    return NULL;
  }
  int failed = 0;
  if (s->closed) failed = count;
  struct mmsghdr msgs[64];
  struct iovec iovs[64];
  struct sockaddr_storage addrs[64];
  char ctrl[64][CMSG_SPACE(sizeof(uint16_t))];
  int firsts[64], counts[64];
  size_t offsets[TX_MAX + 1];
  offsets[0] = 0;
  for (int i = 0; i < count; i++) {
    int32_t len = s->tx_meta[i * TX_META_INTS];
    if (len < 0) len = 0;
    offsets[i + 1] = offsets[i] + (size_t)len;
    if (offsets[i + 1] > TX_BYTES) {
      napi_throw_error(env, "ERR_NATIVE_UDP", "flush beyond the send buffer");
      return NULL;
    }
  }
  int next = s->closed ? count : 0;
  while (next < count) {
    int m = 0;
    while (m < 64 && next < count) {
      const int32_t *meta = &s->tx_meta[next * TX_META_INTS];
      int group = 1;
      size_t seg = (size_t)meta[0], total = seg;
      if (s->gso_ok && seg > 0) {
        while (next + group < count && group < GSO_MAX_SEGMENTS) {
          const int32_t *other = &s->tx_meta[(next + group) * TX_META_INTS];
          size_t len = (size_t)other[0];
          if (!same_peer(meta, other) || len > seg || len == 0 || total + len > GSO_MAX_BYTES) break;
          group++;
          total += len;
          if (len < seg) break;  // a shorter segment must be the last one
        }
      }
      socklen_t alen = to_sockaddr(s->family, meta[1], meta[2], (const uint8_t *)&meta[3], &addrs[m]);
      if (alen == 0) {  // unknown family: drop this datagram
        failed++;
        next++;
        continue;
      }
      struct msghdr *h = &msgs[m].msg_hdr;
      memset(h, 0, sizeof *h);
      iovs[m].iov_base = s->tx_data + offsets[next];
      iovs[m].iov_len = total;
      h->msg_name = &addrs[m];
      h->msg_namelen = alen;
      h->msg_iov = &iovs[m];
      h->msg_iovlen = 1;
      if (group > 1) {
        h->msg_control = ctrl[m];
        h->msg_controllen = sizeof ctrl[m];
        struct cmsghdr *c = CMSG_FIRSTHDR(h);
        c->cmsg_level = SOL_UDP;
        c->cmsg_type = UDP_SEGMENT;
        c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        uint16_t seg16 = (uint16_t)seg;
        memcpy(CMSG_DATA(c), &seg16, sizeof seg16);
      }
      firsts[m] = next;
      counts[m] = group;
      next += group;
      m++;
    }
    int done = 0;
    while (done < m) {
      int n = sendmmsg(s->fd, msgs + done, (unsigned)(m - done), MSG_DONTWAIT);
      if (n > 0) {
        done += n;
        continue;
      }
      int err = errno;
      if (err == EINTR) continue;
      if (counts[done] > 1 && (err == EIO || err == EINVAL || err == ENOPROTOOPT || err == EOPNOTSUPP)) {
        // No GSO on this path or kernel: resend the rest one datagram at a time.
        s->gso_ok = 0;
        next = firsts[done];
        m = done;
        break;
      }
      if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS) {
        // Send buffer full: UDP is best effort, the rest of this flush is dropped.
        failed += count - firsts[done];
        next = count;
        m = done;
        break;
      }
      failed += counts[done];  // this message is refused (unreachable, too large): skip it
      done++;
    }
  }
  CHECK(napi_create_int32(env, failed, &result));
  return result;
}

static void release(sock_t *s) {
  if (!s->uv_closed || !s->finalized) return;
  free(s->rx_buf);
  free(s);
}

static void on_closed(uv_handle_t *handle) {
  sock_t *s = (sock_t *)handle->data;
  s->uv_closed = 1;
  release(s);
}

static void on_finalize(napi_env env, void *data, void *hint) {
  sock_t *s = (sock_t *)data;
  s->finalized = 1;
  // Not closed yet cannot happen (the callback reference keeps the external alive until close),
  // but if it did, the open socket keeps its memory.
  if (s->closed) release(s);
}

static napi_value sock_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  sock_t *s = unwrap(env, argv[0]);
  if (s == NULL || s->closed) return NULL;
  s->closed = 1;
  uv_poll_stop(&s->poll);
  close(s->fd);
  napi_delete_reference(env, s->on_batch);
  for (int i = 0; i < 3; i++) napi_delete_reference(env, s->self_refs[i]);
  napi_async_destroy(env, s->async);
  uv_close((uv_handle_t *)&s->poll, on_closed);
  return NULL;
}

// ntop(family, Uint8Array(16)) -> text form of an address (IPv6 only needs it; rare, so not hot).
static napi_value sock_ntop(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], result;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t family;
  CHECK(napi_get_value_int32(env, argv[0], &family));
  void *data;
  size_t length;
  napi_typedarray_type type;
  napi_value ab;
  size_t byte_offset;
  CHECK(napi_get_typedarray_info(env, argv[1], &type, &length, &data, &ab, &byte_offset));
  if (type != napi_uint8_array || length < 16) {
    napi_throw_type_error(env, "ERR_NATIVE_UDP", "need a Uint8Array of 16 bytes");
    return NULL;
  }
  char text[INET6_ADDRSTRLEN];
  if (inet_ntop(family == 6 ? AF_INET6 : AF_INET, data, text, sizeof text) == NULL)
    return throw_errno(env, "inet_ntop", errno);
  CHECK(napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &result));
  return result;
}

// pton(text) -> Uint8Array of 4 or 16 bytes, or null when the text is not an IP literal. Not hot:
// the JS side caches per host.
static napi_value sock_pton(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result, ab;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char text[INET6_ADDRSTRLEN + 16];
  size_t length;
  if (napi_get_value_string_utf8(env, argv[0], text, sizeof text, &length) != napi_ok ||
      length >= sizeof text - 1) {
    napi_get_null(env, &result);
    return result;
  }
  uint8_t raw[16];
  size_t size = 0;
  if (inet_pton(AF_INET, text, raw) == 1) size = 4;
  else if (inet_pton(AF_INET6, text, raw) == 1) size = 16;
  if (size == 0) {
    napi_get_null(env, &result);
    return result;
  }
  void *data;
  CHECK(napi_create_arraybuffer(env, size, &data, &ab));
  memcpy(data, raw, size);
  CHECK(napi_create_typedarray(env, napi_uint8_array, size, ab, 0, &result));
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"open", NULL, sock_open, NULL, NULL, NULL, napi_default, NULL},
      {"flush", NULL, sock_flush, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, sock_close, NULL, NULL, NULL, napi_default, NULL},
      {"ntop", NULL, sock_ntop, NULL, NULL, NULL, napi_default, NULL},
      {"pton", NULL, sock_pton, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_value limits;
  if (napi_define_properties(env, exports, 5, props) != napi_ok) return NULL;
  napi_create_object(env, &limits);
  const char *names[] = {"rxSlots", "rxMetaInts", "txBytes", "txMax", "txMetaInts"};
  int values[] = {RX_SLOTS, RX_META_INTS, TX_BYTES, TX_MAX, TX_META_INTS};
  for (int i = 0; i < 5; i++) {
    napi_value v;
    napi_create_int32(env, values[i], &v);
    napi_set_named_property(env, limits, names[i], v);
  }
  napi_set_named_property(env, exports, "limits", limits);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
