/*
 * fake-cloud-hypervisor: what the VM does to the outside world.
 *
 * - the event monitor (--event-monitor): serde_json's pretty form of
 *   {timestamp:{secs,nanos}, source, event, properties}, each followed by a
 *   blank line, as cloud-hypervisor's event_monitor writes them;
 * - the serial port and the virtio console, in modes Off, Null, Tty (our
 *   stdout), File (created and truncated at vm.create and at every reboot),
 *   Pty (a new pseudo-terminal whose path goes into the config) and Socket
 *   (a listening socket; one client gets the output, earlier output is kept);
 * - what the guest prints there: a short boot banner, then the marker line;
 * - vhost-user backends (virtio-fs, ...): connected at boot, retried every
 *   100 ms for up to FAKE_CLH_VHOST_TIMEOUT_MS (the real one: one minute),
 *   held open while the VM runs; no vhost-user message is ever sent;
 * (the hybrid vsock socket is vsock.c, the guest agent behind it guestagent.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fakeclh.h"

/* ---- event monitor ---------------------------------------------------------- */

static int ev_fd = -1;
static struct timespec ev_start;

void events_open(int fd)
{
	ev_fd = fd;
	clock_gettime(CLOCK_MONOTONIC, &ev_start);
}

void event_emit(const char *source, const char *event)
{
	struct timespec now;
	long long ns;
	char buf[512];
	int n;

	if (ev_fd < 0)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ns = (now.tv_sec - ev_start.tv_sec) * 1000000000LL + (now.tv_nsec - ev_start.tv_nsec);
	n = snprintf(buf, sizeof buf,
		     "{\n  \"timestamp\": {\n    \"secs\": %lld,\n    \"nanos\": %lld\n  },\n"
		     "  \"source\": \"%s\",\n  \"event\": \"%s\",\n  \"properties\": null\n}\n\n",
		     ns / 1000000000LL, ns % 1000000000LL, source, event);
	if (n > 0 && write_all(ev_fd, buf, (size_t)n) < 0)
		logmsg(L_WARN, "event monitor: %s", strerror(errno));
}

void events_close(void)
{
	if (ev_fd > 2)
		close(ev_fd);
	ev_fd = -1;
}

/* ---- serial port and console ------------------------------------------------ */

struct sink {
	const char *name;
	char mode[8];
	int fd;			/* File, Tty (dup of stdout), Pty master, Socket client */
	int listen_fd;		/* Socket */
	char *socket_path;
	char *backlog;		/* Socket: output before a client connects */
	size_t backlog_len;
};

static struct sink serial = { "serial", "", -1, -1, NULL, NULL, 0 };
static struct sink console = { "console", "", -1, -1, NULL, NULL, 0 };
static struct sink *guest_console = &serial;

static void sink_write(struct sink *s, const char *text)
{
	size_t len = strlen(text);

	if (s->fd >= 0) {
		/* nobody may read a pty or a socket: never block on them */
		if (!strcmp(s->mode, "Socket"))
			(void)!send(s->fd, text, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		else if (!strcmp(s->mode, "Pty"))
			(void)!write(s->fd, text, len);
		else if (write_all(s->fd, text, len) < 0)
			logmsg(L_WARN, "%s output: %s", s->name, strerror(errno));
		return;
	}
	if (s->listen_fd >= 0 && s->backlog_len + len < 65536) {
		char *nb = xmalloc(s->backlog_len + len + 1);

		if (s->backlog_len)
			memcpy(nb, s->backlog, s->backlog_len);
		memcpy(nb + s->backlog_len, text, len);
		free(s->backlog);
		s->backlog = nb;
		s->backlog_len += len;
	}
}

static void on_sink_client(int fd, short revents, void *ctx)
{
	struct sink *s = ctx;
	char buf[256];

	if (!(revents & (POLLHUP | POLLERR)) && read(fd, buf, sizeof buf) > 0)
		return;	/* guest input is ignored */
	loop_del(fd);
	close(fd);
	s->fd = -1;
}

static void on_sink_accept(int fd, short revents, void *ctx)
{
	struct sink *s = ctx;
	int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	(void)revents;
	if (c < 0)
		return;
	if (s->fd >= 0) {	/* one client at a time */
		close(c);
		return;
	}
	s->fd = c;
	if (s->backlog_len)
		(void)!send(c, s->backlog, s->backlog_len, MSG_NOSIGNAL | MSG_DONTWAIT);
	free(s->backlog);
	s->backlog = NULL;
	s->backlog_len = 0;
	loop_add(c, POLLIN, on_sink_client, s);
}

static bool open_pty(struct sink *s, json_object *cfg, struct errchain *ec)
{
	int fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	char *name;

	if (fd < 0 || grantpt(fd) < 0 || unlockpt(fd) < 0 || !(name = ptsname(fd))) {
		ec_push(ec, "Error creating console devices");
		ec_push(ec, "Cannot create a pty: %s", oserr(errno));
		if (fd >= 0)
			close(fd);
		return false;
	}
	set_nonblock(fd);
	s->fd = fd;
	jset(cfg, "file", json_object_new_string(name));
	return true;
}

static bool sink_open(struct sink *s, json_object *cfg, struct errchain *ec)
{
	const char *mode = jstr(cfg, "mode"), *path = NULL;
	int fd = -1;

	strlcpy(s->mode, mode ? mode : "Null", sizeof s->mode);
	if (!strcmp(s->mode, "File")) {
		path = jstr(cfg, "file");
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_APPEND, 0666);
	} else if (!strcmp(s->mode, "Tty")) {
		fd = fcntl(1, F_DUPFD_CLOEXEC, 3);
	} else if (!strcmp(s->mode, "Pty")) {
		return open_pty(s, cfg, ec);
	} else if (!strcmp(s->mode, "Socket")) {
		path = jstr(cfg, "socket");
		s->listen_fd = unix_listen(path, 1);
		if (s->listen_fd >= 0) {
			s->socket_path = xstrdup(path);
			loop_add(s->listen_fd, POLLIN, on_sink_accept, s);
			return true;
		}
	} else {
		return true;	/* Off, Null */
	}
	if (fd < 0 && (path || !strcmp(s->mode, "Tty"))) {
		ec_push(ec, "Error creating console devices");
		ec_push(ec, "Error creating %s output %s", s->name, path ? path : "tty");
		ec_push(ec, "%s", oserr(errno));
		ec->status = 500;
		return false;
	}
	s->fd = fd;
	return true;
}

static void sink_close(struct sink *s)
{
	if (s->fd >= 0) {
		loop_del(s->fd);
		close(s->fd);
	}
	if (s->listen_fd >= 0) {
		loop_del(s->listen_fd);
		close(s->listen_fd);
		unlink(s->socket_path);
	}
	free(s->socket_path);
	free(s->backlog);
	s->fd = s->listen_fd = -1;
	s->socket_path = s->backlog = NULL;
	s->backlog_len = 0;
}

bool consoles_create(json_object *cfg, struct errchain *ec)
{
	consoles_close();
	if (!sink_open(&serial, jget(cfg, "serial"), ec))
		return false;
	if (!sink_open(&console, jget(cfg, "console"), ec)) {
		sink_close(&serial);
		return false;
	}
	return true;
}

void consoles_close(void)
{
	sink_close(&serial);
	sink_close(&console);
}

void guest_output(const char *text)
{
	sink_write(guest_console, text);
}

/* The guest's console is the last console= on its command line: hvc* is the
 * virtio console, anything else the serial port (also when none is given). */
static struct sink *pick_console(const char *cmdline)
{
	const char *p = cmdline, *last = NULL;

	while (p && (p = strstr(p, "console=")) != NULL) {
		if (p == cmdline || p[-1] == ' ')
			last = p + 8;
		p += 8;
	}
	return last && !strncmp(last, "hvc", 3) ? &console : &serial;
}

void guest_boot_banner(json_object *cfg)
{
	const char *cmdline = jstr(jget(cfg, "payload"), "cmdline");
	char *line;

	guest_console = pick_console(cmdline);
	agent_boot(cfg);
	line = xasprintf("[    0.000000] Linux version 6.1.0-fake (fake-cloud-hypervisor %s) #1 SMP\n"
			 "[    0.000000] Command line: %s\n"
			 "[    0.010000] fake guest: %lld vCPU(s), booting\n",
			 build_version, cmdline ? cmdline : "",
			 (long long)jint(jget(cfg, "cpus"), "boot_vcpus", 1));
	guest_output(line);
	free(line);
}

void guest_ready_marker(void)
{
	char *line = xasprintf("%s\n", K.marker);

	guest_output(line);
	free(line);
	agent_guest_up();
}

/* ---- vhost-user backends --------------------------------------------------- */

static struct {
	char **paths;
	int *fds;
	int n;
	long long deadline;
	vhost_done_cb done;
} pending;

static struct held {
	char *path;
	int fd;
} *held;
static int nheld;

static void pending_free(bool close_fds)
{
	int i;

	for (i = 0; i < pending.n; i++) {
		if (close_fds && pending.fds[i] >= 0)
			close(pending.fds[i]);
		free(pending.paths[i]);
	}
	free(pending.paths);
	free(pending.fds);
	memset(&pending, 0, sizeof pending);
	timer_cancel(T_VHOST_RETRY);
}

static void attempt(void)
{
	vhost_done_cb done = pending.done;
	int i, err = 0, failed = -1;
	char *path;

	for (i = 0; i < pending.n; i++) {
		if (pending.fds[i] >= 0)
			continue;
		pending.fds[i] = unix_connect(pending.paths[i]);
		if (pending.fds[i] < 0 && failed < 0) {
			failed = i;
			err = errno;
		}
	}
	if (failed < 0) {
		held = realloc(held, sizeof *held * (size_t)(nheld + pending.n));
		for (i = 0; i < pending.n; i++) {
			held[nheld++] = (struct held){ pending.paths[i], pending.fds[i] };
			pending.paths[i] = NULL;
		}
		pending_free(false);
		done(true, NULL, 0);
	} else if (now_ms() >= pending.deadline) {
		path = xstrdup(pending.paths[failed]);
		logmsg(L_ERROR, "Failed connecting the backend after trying for %ld ms: %s: %s",
		       K.vhost_timeout_ms, path, oserr(err));
		pending_free(true);
		done(false, path, err);
		free(path);
	} else {
		timer_set(T_VHOST_RETRY, 100);
	}
}

void vhost_connect_all(char **paths, int n, vhost_done_cb done)
{
	int i;

	pending_free(true);
	pending.paths = xmalloc(sizeof *pending.paths * (size_t)(n + 1));
	pending.fds = xmalloc(sizeof *pending.fds * (size_t)(n + 1));
	for (i = 0; i < n; i++) {
		pending.paths[i] = xstrdup(paths[i]);
		pending.fds[i] = -1;
	}
	pending.n = n;
	pending.done = done;
	pending.deadline = now_ms() + K.vhost_timeout_ms;
	attempt();
}

void vhost_retry(void)
{
	if (pending.done)
		attempt();
}

void vhost_close(const char *path)
{
	int i;

	for (i = 0; i < nheld; i++)
		if (!strcmp(held[i].path, path)) {
			close(held[i].fd);
			free(held[i].path);
			held[i] = held[--nheld];
			return;
		}
}

void vhost_disconnect_all(void)
{
	pending_free(true);
	while (nheld) {
		nheld--;
		close(held[nheld].fd);
		free(held[nheld].path);
	}
	free(held);
	held = NULL;
}
