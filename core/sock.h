/*
 * Unix stream sockets for the Lua-free layer: connect and listen by path
 * (a leading '@' names an abstract socket), whole sends with deadlines, and
 * receiving with SCM_RIGHTS fds. Every fd is CLOEXEC and non-blocking;
 * deadlines are as in clock.h. lsocket.c binds it.
 */
#ifndef VMLUA_SOCK_H
#define VMLUA_SOCK_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>

#include "error.h"

/* Most fds one message may carry (the kernel's SCM_MAX_FD). */
#define VL_MAX_FDS 253

/* fds received and not yet handed out. A peer can attach fds to any
 * byte: no more than max are kept (0, the start: none), the rest are
 * closed as they arrive. */
typedef struct vl_fdq {
	int *fds;
	size_t n, cap;
	size_t max;
} vl_fdq;

void vl_fdq_close_all(vl_fdq *q);

int vl_sock_addr(const char *path, size_t len, struct sockaddr_un *sun, socklen_t *slen,
		 vl_error *e);

/* Connected socket, or -1: "connect P: <strerror>", or "timeout" (ETIMEDOUT). */
int vl_sock_connect(const char *path, size_t len, double deadline, vl_error *e);

/* Listening socket bound to path with the given mode (not for abstract
 * names). A stale socket file is removed first; a live one (something
 * accepts on it) is EADDRINUSE and anything else at the path EEXIST.
 * *st receives the socket file's identity (for removing it on close). */
int vl_sock_listen(const char *path, size_t len, int backlog, unsigned mode, struct stat *st,
		   vl_error *e);

/* Wait until fd is ready for events: 0, or -1 with errno (ETIMEDOUT once
 * the deadline has passed). */
int vl_wait_fd(int fd, short events, double deadline);

/* Send all n bytes; with fds (nfds > 0), the first sendmsg carries them.
 * 0, or -1 with errno (ETIMEDOUT when the deadline passed). No SIGPIPE. */
int vl_sock_send(int fd, const char *p, size_t n, const int *fds, size_t nfds, double deadline);

/* One non-blocking recvmsg: bytes read (0 at end of stream), or -1 with
 * errno (EAGAIN: nothing yet). fds that arrive are appended to q while it
 * holds fewer than q->max, and closed otherwise. */
ssize_t vl_sock_recv(int fd, char *buf, size_t n, vl_fdq *q);

/* systemd's sd_notify: send state as one datagram to $NOTIFY_SOCKET (a
 * path or an abstract '@' name). 1 sent, 0 when NOTIFY_SOCKET is unset or
 * empty, -1 with e. */
int vl_sd_notify(const char *state, size_t len, vl_error *e);

#endif
