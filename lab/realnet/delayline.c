/*
 * A user-space delay line between two TAP devices (the TUN driver in Ethernet mode): every frame
 * read from one TAP is written to the other `delay_us` later, in both directions. Each TAP is a
 * port of a bridge, so the pair is a transparent wire with latency. This kernel has no netem, so
 * latency on an emulated path is added here; rate (tbf) and loss (nft numgen) stay in the kernel.
 *
 * usage: delayline TAP_A TAP_B DELAY_US
 * Prints "ready" once both TAPs exist, then runs until SIGTERM/SIGINT or stdin closes.
 * Frames are queued FIFO per direction (the delay is constant); a direction holds at most
 * MAX_QUEUE frames, beyond which new frames are dropped (like a full router buffer).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define MAX_QUEUE 65536
#define MAX_PACKET 65536

struct slot {
  uint64_t due_ns;
  uint32_t len;
  unsigned char *data;
};

static volatile sig_atomic_t stop = 0;
static void on_signal(int sig) { (void)sig; stop = 1; }

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct direction {
  int in_fd, out_fd;
  struct slot *queue;
  size_t head, count;
  unsigned long long forwarded, dropped;
};

static int open_tap(const char *name) {
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK);
  if (fd < 0) { perror("open /dev/net/tun"); exit(1); }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) { perror("TUNSETIFF"); exit(1); }
  return fd;
}

/* Writes every due frame of a direction; returns ns until its next frame is due, or UINT64_MAX. */
static uint64_t release(struct direction *d, uint64_t now) {
  while (d->count > 0 && d->queue[d->head].due_ns <= now) {
    struct slot *s = &d->queue[d->head];
    if (write(d->out_fd, s->data, s->len) >= 0) d->forwarded++;
    else d->dropped++;
    free(s->data);
    s->data = NULL;
    d->head = (d->head + 1) % MAX_QUEUE;
    d->count--;
  }
  return d->count > 0 ? d->queue[d->head].due_ns - now : UINT64_MAX;
}

static void take(struct direction *d, unsigned char *buf, uint64_t delay_ns) {
  for (;;) {
    ssize_t len = read(d->in_fd, buf, MAX_PACKET);
    if (len <= 0) return;
    if (d->count == MAX_QUEUE) { d->dropped++; continue; }
    unsigned char *copy = malloc((size_t)len);
    if (!copy) { d->dropped++; continue; }
    memcpy(copy, buf, (size_t)len);
    size_t tail = (d->head + d->count) % MAX_QUEUE;
    d->queue[tail].due_ns = now_ns() + delay_ns;
    d->queue[tail].len = (uint32_t)len;
    d->queue[tail].data = copy;
    d->count++;
  }
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: delayline TAP_A TAP_B DELAY_US\n");
    return 2;
  }
  uint64_t delay_ns = (uint64_t)strtoull(argv[3], NULL, 10) * 1000ull;
  int a = open_tap(argv[1]);
  int b = open_tap(argv[2]);
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  signal(SIGPIPE, SIG_IGN);
  struct direction ab = {.in_fd = a, .out_fd = b, .queue = calloc(MAX_QUEUE, sizeof(struct slot))};
  struct direction ba = {.in_fd = b, .out_fd = a, .queue = calloc(MAX_QUEUE, sizeof(struct slot))};
  unsigned char *buf = malloc(MAX_PACKET);
  if (!ab.queue || !ba.queue || !buf) return 1;
  printf("ready\n");
  fflush(stdout);

  struct pollfd fds[3] = {{.fd = a, .events = POLLIN}, {.fd = b, .events = POLLIN}, {.fd = 0, .events = POLLIN}};
  while (!stop) {
    uint64_t now = now_ns();
    uint64_t wait = release(&ab, now);
    uint64_t wait2 = release(&ba, now);
    if (wait2 < wait) wait = wait2;
    struct timespec timeout;
    struct timespec *tp = NULL;
    if (wait != UINT64_MAX) {
      timeout.tv_sec = (time_t)(wait / 1000000000ull);
      timeout.tv_nsec = (long)(wait % 1000000000ull);
      tp = &timeout;
    }
    int n = ppoll(fds, 3, tp, NULL);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("ppoll");
      break;
    }
    if (fds[2].revents & (POLLIN | POLLHUP)) {
      /* stdin closed or written to: our parent is done with us. */
      char c;
      if (read(0, &c, 1) <= 0) break;
    }
    if (fds[0].revents & POLLIN) take(&ab, buf, delay_ns);
    if (fds[1].revents & POLLIN) take(&ba, buf, delay_ns);
  }
  fprintf(stderr, "delayline: forwarded %llu/%llu dropped %llu/%llu\n", ab.forwarded, ba.forwarded,
          ab.dropped, ba.dropped);
  return 0;
}
