/*
 * seed-launcher: the launch and supervision strategy of the seed (kata's
 * 2019 cloud-hypervisor driver, clh.go), reproduced in C as a baseline for
 * the benchmarks (bench/launch.lua, bench/stop.lua). Not a test fake.
 *
 *   seed-launcher --socket PATH [--poll-ms 50] [--settle-ms 1000]
 *                 [--timeout-ms 10000] [--then detach|watch|stop] -- ARGV...
 *
 * It starts ARGV (stdio on /dev/null), then does what waitVMM does: dial the
 * unix socket every --poll-ms until a connect succeeds (or --timeout-ms
 * passes), then sleep a fixed --settle-ms. It prints, one line each:
 *
 *   pid N                 after the start
 *   ready T               when it considers the VMM up (T: CLOCK_MONOTONIC s)
 *
 * and then, by --then:
 *   detach   exits 0, leaving the VMM running (as `vmlua run --detach` does)
 *   watch    polls for the VMM's exit every --poll-ms (the seed's kill(pid, 0)
 *            loop; here waitpid(WNOHANG), which also reaps), then prints
 *            `exited T STATUS` and exits 0
 *   stop     reads a line on stdin, prints `term T`, sends SIGTERM and polls
 *            for the exit every --poll-ms as the seed's stop does (SIGKILL
 *            after --timeout-ms), then prints `stopped T STATUS`, exits 0
 *
 * --poll-ms 0 waits for the exit on a pidfd instead (one poll(2), no tick):
 * not the seed's strategy but the floor an event-driven supervisor can reach
 * on this machine, for comparison.
 *
 * Exit 1 on failure (the VMM exits early, the socket never accepts), with
 * the VMM killed; 2 on bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

struct opts {
	const char *socket, *then;
	long poll_ms, dial_ms, settle_ms, timeout_ms;
	char **argv;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void usage(void)
{
	fprintf(stderr, "usage: seed-launcher --socket PATH [--poll-ms N] [--settle-ms N] "
			"[--timeout-ms N] [--then detach|watch|stop] -- ARGV...\n");
	exit(2);
}

static void parse(int argc, char **argv, struct opts *o)
{
	int i = 1;
	for (; i < argc && strcmp(argv[i], "--") != 0; i += 2) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (v == NULL)
			usage();
		if (strcmp(a, "--socket") == 0)
			o->socket = v;
		else if (strcmp(a, "--then") == 0)
			o->then = v;
		else if (strcmp(a, "--poll-ms") == 0)
			o->poll_ms = atol(v);
		else if (strcmp(a, "--settle-ms") == 0)
			o->settle_ms = atol(v);
		else if (strcmp(a, "--timeout-ms") == 0)
			o->timeout_ms = atol(v);
		else
			usage();
	}
	if (i + 1 >= argc || o->socket == NULL || strlen(o->socket) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		usage();
	if (strcmp(o->then, "detach") != 0 && strcmp(o->then, "watch") != 0 && strcmp(o->then, "stop") != 0)
		usage();
	o->argv = argv + i + 1;
}

/* One DialUnix: a new socket, connect, close. */
static int dial(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	strlcpy(sa.sun_path, path, sizeof sa.sun_path);
	int r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
	close(fd);
	return r;
}

static pid_t start(char **argv)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;

	posix_spawn_file_actions_init(&fa);
	for (int fd = 0; fd < 3; fd++)
		posix_spawn_file_actions_addopen(&fa, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0);
	int e = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (e != 0) {
		fprintf(stderr, "seed-launcher: cannot start %s: %s\n", argv[0], strerror(e));
		exit(1);
	}
	return pid;
}

static void fail(pid_t pid, const char *msg)
{
	fprintf(stderr, "seed-launcher: %s\n", msg);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	exit(1);
}

/* Poll for the exit every poll_ms for up to timeout_ms (poll_ms 0: wait on
 * a pidfd); -1 if still alive. */
static int poll_exit(pid_t pid, long poll_ms, long timeout_ms, int *status)
{
	if (poll_ms == 0) {
		struct pollfd pfd = { .fd = pidfd_open(pid, 0), .events = POLLIN };
		if (pfd.fd < 0)
			return -1;
		int r = poll(&pfd, 1, timeout_ms > 0x7fffffffL ? -1 : (int)timeout_ms);
		close(pfd.fd);
		return r == 1 && waitpid(pid, status, 0) == pid ? 0 : -1;
	}
	for (long waited = 0;; waited += poll_ms) {
		pid_t r = waitpid(pid, status, WNOHANG);
		if (r == pid)
			return 0;
		if (r < 0 || waited >= timeout_ms)
			return -1;
		sleep_ms(poll_ms);
	}
}

int main(int argc, char **argv)
{
	struct opts o = { .then = "detach", .poll_ms = 50, .settle_ms = 1000, .timeout_ms = 10000 };
	int status = 0;

	parse(argc, argv, &o);
	o.dial_ms = o.poll_ms > 0 ? o.poll_ms : 50;
	pid_t pid = start(o.argv);
	printf("pid %d\n", (int)pid);
	fflush(stdout);

	/* waitVMM: dial every poll_ms until it connects, then sleep settle_ms. */
	for (long waited = 0; dial(o.socket) < 0; waited += o.dial_ms) {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			fprintf(stderr, "seed-launcher: the VMM exited before its socket accepted\n");
			exit(1);
		}
		if (waited >= o.timeout_ms)
			fail(pid, "timeout waiting for the VMM socket");
		sleep_ms(o.dial_ms);
	}
	sleep_ms(o.settle_ms);
	printf("ready %.6f\n", now());
	fflush(stdout);

	if (strcmp(o.then, "detach") == 0)
		return 0;
	if (strcmp(o.then, "stop") == 0) {
		char line[64];
		if (fgets(line, sizeof line, stdin) == NULL)
			fail(pid, "stdin closed before the stop request");
		printf("term %.6f\n", now());
		kill(pid, SIGTERM);
		if (poll_exit(pid, o.poll_ms, o.timeout_ms, &status) < 0) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
		}
		printf("stopped %.6f %d\n", now(), status);
		return 0;
	}
	if (poll_exit(pid, o.poll_ms, 24L * 3600 * 1000, &status) < 0)
		fail(pid, "waitpid failed");
	printf("exited %.6f %d\n", now(), status);
	return 0;
}
