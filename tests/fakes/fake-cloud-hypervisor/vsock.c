/*
 * fake-cloud-hypervisor: the hybrid vsock socket (--vsock cid=,socket=), as
 * cloud-hypervisor's vsock muxer (virtio-devices/src/vsock/unix/muxer.rs)
 * serves host-initiated connections:
 *
 * - the socket is bound at boot (an existing file is an error) and removed
 *   when the VM goes;
 * - on each accepted connection the host writes "CONNECT <port>\n": the
 *   prefix is matched without regard to case, the port is the trimmed text
 *   up to the newline as a u32, the whole command fits in 32 bytes; anything
 *   else, or the peer closing first, closes the connection;
 * - when something in the guest listens on the port (the fake's guest
 *   agent, guestagent.c) the connection is established and the host gets
 *   "OK <hostport>\n", hostport being the local port the muxer allocated
 *   (1 << 30, then counting up); then the bytes flow to the guest as they
 *   are. When nothing listens, the guest answers the connection request
 *   with a reset and the connection is closed without an OK.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fakeclh.h"

#define CMD_MAX 32		/* PARTIALLY_READ_COMMAND_BUF_SIZE */
#define MAX_PENDING 64

static int vsock_fd = -1;
static char *vsock_path;
static uint32_t local_port_last = (1u << 30) - 1;

static struct pending {
	int fd;
	char buf[CMD_MAX];
	size_t len;
} pending[MAX_PENDING];

static void drop_pending(struct pending *p)
{
	loop_del(p->fd);
	close(p->fd);
	p->fd = -1;
}

/* muxer.rs parse_port_from_read_command: 1 port found, 0 read more, -1 invalid. */
static int parse_connect(const struct pending *p, uint32_t *port)
{
	static const char prefix[] = "connect ";
	const char *nl = memchr(p->buf, '\n', p->len);
	char text[CMD_MAX + 1], *end;
	unsigned long v;

	if (p->len < sizeof prefix - 1)
		return nl ? -1 : 0;
	if (strncasecmp(p->buf, prefix, sizeof prefix - 1) != 0)
		return -1;
	if (!nl)
		return p->len == CMD_MAX ? -1 : 0;
	memcpy(text, p->buf + sizeof prefix - 1, (size_t)(nl - p->buf) - (sizeof prefix - 1));
	text[nl - p->buf - (ptrdiff_t)(sizeof prefix - 1)] = '\0';
	errno = 0;
	v = strtoul(text, &end, 10);
	while (*end == ' ' || *end == '\t' || *end == '\r')
		end++;
	if (errno || end == text || *end || v > UINT32_MAX || text[0] == '-')
		return -1;
	*port = (uint32_t)v;
	return 1;
}

static void on_command(int fd, short revents, void *ctx)
{
	struct pending *p = ctx;
	size_t want = p->len < 10 ? 10 - p->len : 1;	/* "connect 0\n", then a byte at a time */
	uint32_t port = 0;
	ssize_t n;
	int r;

	(void)revents;
	n = read(fd, p->buf + p->len, want);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		drop_pending(p);
		return;
	}
	p->len += (size_t)n;
	r = parse_connect(p, &port);
	if (r == 0)
		return;
	if (r < 0 || !agent_listening(port)) {
		logmsg(L_INFO, "vsock: %s connection request", r < 0 ? "invalid" : "refused");
		drop_pending(p);
		return;
	}
	loop_del(fd);
	p->fd = -1;
	local_port_last = ((local_port_last + 1) & ~(1u << 31)) | (1u << 30);
	{
		char ok[32];
		int len = snprintf(ok, sizeof ok, "OK %u\n", local_port_last);

		if (write_all(fd, ok, (size_t)len) < 0) {
			close(fd);
			return;
		}
	}
	agent_attach(fd);
}

static void on_accept(int fd, short revents, void *ctx)
{
	int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	int i;

	(void)revents;
	(void)ctx;
	if (c < 0)
		return;
	for (i = 0; i < MAX_PENDING && pending[i].fd >= 0; i++)
		;
	if (i == MAX_PENDING) {
		close(c);
		return;
	}
	pending[i].fd = c;
	pending[i].len = 0;
	loop_add(c, POLLIN, on_command, &pending[i]);
}

bool vsock_listen(json_object *vsock, struct errchain *ec)
{
	const char *path = jstr(vsock, "socket");
	int i;

	vsock_close();
	if (!path)
		return true;
	vsock_fd = unix_listen(path, 16);
	if (vsock_fd < 0) {
		ec_push(ec, "Error from device manager");
		ec_push(ec, "Cannot create virtio-vsock device");
		ec_push(ec, "Error binding vsock socket %s: %s", path, oserr(errno));
		ec->status = 500;
		return false;
	}
	for (i = 0; i < MAX_PENDING; i++)
		pending[i].fd = -1;
	vsock_path = xstrdup(path);
	loop_add(vsock_fd, POLLIN, on_accept, NULL);
	return true;
}

void vsock_close(void)
{
	int i;

	if (vsock_fd < 0)
		return;
	for (i = 0; i < MAX_PENDING; i++)
		if (pending[i].fd >= 0)
			drop_pending(&pending[i]);
	agent_stop();
	loop_del(vsock_fd);
	close(vsock_fd);
	unlink(vsock_path);
	free(vsock_path);
	vsock_fd = -1;
	vsock_path = NULL;
}
