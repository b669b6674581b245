/*
 * The watchers' client of scripts/bench_watch.ts with `--client native`:
 * opens COUNT HTTP/1.1 streams (connection i to PORTS[i % n]), sends each
 * REQUEST, and reads every byte of every stream until told to stop,
 * counting bytes per stream and the reads that returned data. It does
 * what the Deno client does (read all, count, parse nothing) with one
 * epoll loop and plain read(2) calls, so that the benchmark's own client
 * takes less of the CPU the servers share with it.
 *
 *   watch_reader HOST PORT[,PORT...] COUNT REQUEST
 *
 * stdout: "open" once every stream has sent its first bytes; then, for
 * each "stats" line on stdin, "READS BYTES0 BYTES1 ...". EOF on stdin or
 * "quit" ends it. A stream the server closes stays closed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static char buf[64 * 1024];

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: watch_reader HOST PORT[,PORT...] COUNT REQUEST\n");
    return 2;
  }
  const char *host = argv[1];
  int ports[16], nports = 0;
  for (char *p = strtok(argv[2], ","); p && nports < 16; p = strtok(NULL, ","))
    ports[nports++] = atoi(p);
  int count = atoi(argv[3]);
  const char *request = argv[4];
  size_t reqlen = strlen(request);
  int *fds = calloc(count, sizeof(int));
  unsigned long long *bytes = calloc(count, sizeof(unsigned long long));
  unsigned long long reads = 0;
  int ep = epoll_create1(0);
  for (int i = 0; i < count; i++) {
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons(ports[i % nports]);
    inet_pton(AF_INET, host, &a.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
      perror("connect");
      return 1;
    }
    if (write(fd, request, reqlen) != (ssize_t)reqlen) {
      perror("write");
      return 1;
    }
    fcntl(fd, F_SETFL, O_NONBLOCK);
    fds[i] = fd;
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (unsigned)i};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  }
  struct epoll_event in = {.events = EPOLLIN, .data.u32 = (unsigned)count};
  epoll_ctl(ep, EPOLL_CTL_ADD, 0, &in);
  int started = 0, announced = 0;
  char line[64];
  size_t linelen = 0;
  struct epoll_event evs[256];
  for (;;) {
    int n = epoll_wait(ep, evs, 256, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("epoll_wait");
      return 1;
    }
    for (int k = 0; k < n; k++) {
      unsigned i = evs[k].data.u32;
      if (i == (unsigned)count) { /* stdin: commands */
        ssize_t r = read(0, line + linelen, sizeof line - 1 - linelen);
        if (r <= 0) return 0;
        linelen += r;
        line[linelen] = 0;
        char *nl;
        while ((nl = strchr(line, '\n')) != NULL) {
          *nl = 0;
          if (strcmp(line, "quit") == 0) return 0;
          if (strcmp(line, "stats") == 0) {
            printf("%llu", reads);
            for (int j = 0; j < count; j++) printf(" %llu", bytes[j]);
            printf("\n");
            fflush(stdout);
          }
          size_t rest = linelen - (nl + 1 - line);
          memmove(line, nl + 1, rest);
          linelen = rest;
          line[linelen] = 0;
        }
        continue;
      }
      for (;;) {
        ssize_t r = read(fds[i], buf, sizeof buf);
        if (r > 0) {
          if (bytes[i] == 0 && ++started == count && !announced) {
            announced = 1;
            printf("open\n");
            fflush(stdout);
          }
          bytes[i] += (unsigned long long)r;
          reads++;
          continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) break;
        epoll_ctl(ep, EPOLL_CTL_DEL, fds[i], NULL); /* closed or failed */
        close(fds[i]);
        break;
      }
    }
  }
}
