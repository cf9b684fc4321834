/*
 * fake-vmm: a stand-in hypervisor for tests and benchmarks of the process
 * primitives. It does only what the options say, on a poll() loop:
 *
 *   --socket PATH        bind and listen on a unix socket, accept and close
 *                        connections until exit (the socket is removed)
 *   --delay-ms T         ... but only T ms after start
 *   --ready-file PATH    write CLOCK_MONOTONIC at the bind, in seconds
 *   --exit-file PATH     write CLOCK_MONOTONIC when it decides to exit (the
 *                        SIGTERM/SIGINT read, or --exit-after-ms due)
 *   --qemu               stand in for QEMU in a recipe: the socket is the
 *                        path of -qmp unix:path=P,... (or unix:P,...), every
 *                        other option not listed here is QEMU's and ignored
 *                        with its value (options may come in any order)
 *   --stdout TEXT        print a line on stdout at start
 *   --stderr TEXT        print a line on stderr at start
 *   --exit-after-ms N    exit N ms after start ...
 *   --exit-code C        ... with status C (default 0)
 *   --ignore-term        ignore SIGTERM (to test escalation to SIGKILL)
 *   --list-fds           print the open fds, one per line, and exit 0
 *   --print-monotonic    print CLOCK_MONOTONIC in seconds and exit 0 (a clock
 *                        for specs that run without core.monotonic)
 *
 * SIGTERM and SIGINT make it exit 0 unless ignored.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

struct opts {
	const char *socket, *ready_file, *exit_file, *out, *err;
	long delay_ms, exit_after_ms;
	int exit_code, ignore_term, list_fds, print_monotonic, qemu;
	char qmp_path[108];
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "fake-vmm: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int list_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	if (d == NULL)
		die("/proc/self/fd");
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d))
			printf("%s\n", e->d_name);
	closedir(d);
	return 0;
}

static void write_time(const char *path, double t)
{
	FILE *f = fopen(path, "we");
	if (f == NULL)
		die(path);
	fprintf(f, "%.6f\n", t);
	if (fclose(f) != 0)
		die(path);
}

static int listen_on(const char *path, const char *ready_file)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0 || strlen(path) >= sizeof sa.sun_path)
		die("socket");
	strlcpy(sa.sun_path, path, sizeof sa.sun_path);
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
		die(path);
	double bound = now();
	if (listen(fd, 16) < 0)
		die("listen");
	if (ready_file != NULL)
		write_time(ready_file, bound);
	return fd;
}

/* The socket path of a QEMU -qmp value: unix:path=P,... or unix:P,...
 * (",," is an escaped comma). Other transports are not ours to serve. */
static void qmp_path(const char *v, struct opts *o)
{
	size_t n = 0;

	if (strncmp(v, "unix:", 5) != 0)
		return;
	v += 5;
	if (strncmp(v, "path=", 5) == 0)
		v += 5;
	for (; *v && n + 1 < sizeof o->qmp_path; v++) {
		if (*v == ',' && v[1] != ',')
			break;
		if (*v == ',')
			v++;
		o->qmp_path[n++] = *v;
	}
	o->qmp_path[n] = '\0';
	o->socket = o->qmp_path;
}

/* In --qemu mode: QEMU's options (one dash or two) and their values. */
static int qemu_arg(const char *a, const char *v, struct opts *o)
{
	if (strcmp(a, "-qmp") == 0 || strcmp(a, "--qmp") == 0) {
		if (v != NULL)
			qmp_path(v, o);
		return v != NULL;
	}
	return v != NULL && v[0] != '-';
}

/* One of the fake's own options that take a value: 1 if `a` is one (and
 * v was stored), 0 if not. */
static int own_value_option(const char *a, const char *v, struct opts *o)
{
	static const char *const names[] = {
		"--socket", "--ready-file", "--exit-file", "--stdout", "--stderr",
		"--delay-ms", "--exit-after-ms", "--exit-code",
	};
	size_t k = 0, n = sizeof names / sizeof names[0];

	while (k < n && strcmp(a, names[k]) != 0)
		k++;
	if (k == n)
		return 0;
	if (v == NULL)
		fprintf(stderr, "fake-vmm: %s needs a value\n", a), exit(2);
	switch (k) {
	case 0: o->socket = v; break;
	case 1: o->ready_file = v; break;
	case 2: o->exit_file = v; break;
	case 3: o->out = v; break;
	case 4: o->err = v; break;
	case 5: o->delay_ms = atol(v); break;
	case 6: o->exit_after_ms = atol(v); break;
	default: o->exit_code = atoi(v); break;
	}
	return 1;
}

static void parse(int argc, char **argv, struct opts *o)
{
	/* --qemu may come last (a recipe's extra_params are appended). */
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--qemu") == 0)
			o->qemu = 1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--ignore-term") == 0)
			o->ignore_term = 1;
		else if (strcmp(a, "--list-fds") == 0)
			o->list_fds = 1;
		else if (strcmp(a, "--print-monotonic") == 0)
			o->print_monotonic = 1;
		else if (strcmp(a, "--qemu") == 0)
			continue;
		else if (own_value_option(a, v, o))
			i++;
		else if (o->qemu)
			i += qemu_arg(a, v, o);
		else
			fprintf(stderr, "fake-vmm: unknown option %s\n", a), exit(2);
	}
}

/* Milliseconds until t (seconds, monotonic), -1 for none. */
static int ms_until(double t)
{
	if (t < 0)
		return -1;
	double left = (t - now()) * 1000.0;
	return left <= 0 ? 0 : (int)left + 1;
}

int main(int argc, char **argv)
{
	struct opts o = { .exit_after_ms = -1 };
	double start = now();
	sigset_t sigs;

	parse(argc, argv, &o);
	if (o.list_fds)
		return list_fds();
	if (o.print_monotonic)
		return printf("%.6f\n", start) < 0;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	if (o.ignore_term)
		signal(SIGTERM, SIG_IGN);
	else
		sigaddset(&sigs, SIGTERM);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	int sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	if (sfd < 0)
		die("signalfd");
	if (o.out != NULL)
		printf("%s\n", o.out), fflush(stdout);
	if (o.err != NULL)
		fprintf(stderr, "%s\n", o.err);

	double bind_at = o.socket ? start + (double)o.delay_ms / 1000.0 : -1;
	double exit_at = o.exit_after_ms >= 0 ? start + (double)o.exit_after_ms / 1000.0 : -1;
	struct pollfd pfd[2] = { { .fd = sfd, .events = POLLIN }, { .fd = -1, .events = POLLIN } };
	for (;;) {
		if (bind_at >= 0 && ms_until(bind_at) == 0) {
			pfd[1].fd = listen_on(o.socket, o.ready_file);
			bind_at = -1;
		}
		if (exit_at >= 0 && ms_until(exit_at) == 0)
			break;
		int a = ms_until(bind_at), b = ms_until(exit_at);
		int ms = a < 0 ? b : b < 0 ? a : a < b ? a : b;
		if (poll(pfd, 2, ms) < 0 && errno != EINTR)
			die("poll");
		if (pfd[0].revents & POLLIN) {
			o.exit_code = 0;
			break;
		}
		if (pfd[1].revents & POLLIN) {
			int c = accept4(pfd[1].fd, NULL, NULL, SOCK_CLOEXEC);
			if (c >= 0)
				close(c);
		}
	}
	double exiting = now();
	if (pfd[1].fd >= 0)
		unlink(o.socket);
	if (o.exit_file != NULL)
		write_time(o.exit_file, exiting);
	return o.exit_code;
}
