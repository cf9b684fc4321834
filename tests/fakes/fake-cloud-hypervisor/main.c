/*
 * fake-cloud-hypervisor: a stand-in for cloud-hypervisor in vmlua's tests.
 *
 * It parses cloud-hypervisor's command line (same options, keys, errors and
 * exit statuses), serves its REST API on the --api-socket (micro_http's
 * framing and quirks, the real routes, methods, status codes and error
 * chains), keeps a VM state machine, connects to vhost-user backends at boot,
 * writes a boot banner and a readiness marker to the guest console, and
 * exits as the real one does (vmm.shutdown, guest power-off, SIGTERM/SIGINT).
 * No guest runs. docs/fakes.md lists what is faithful and what is not.
 *
 * Environment (fault injection and knobs):
 *   FAKE_CLH_VERSION=v54.0.0       build version (--version, vmm.ping)
 *   FAKE_CLH_VERSION_TEXT=...      print exactly this for --version
 *   FAKE_CLH_FEATURES=io_uring,kvm cargo features (gate --igvm, --gdb, ...)
 *   FAKE_CLH_SERIAL_MARKER=VMLUA-GUEST-READY   line the guest prints when ready
 *   FAKE_CLH_BOOT_DELAY_MS=0       delay between the boot banner and the marker
 *   FAKE_CLH_FAIL_AT_START=msg     print msg on stderr and exit at once
 *   FAKE_CLH_FAIL_STATUS=1         ... with this status
 *   FAKE_CLH_HANG_API=1            accept API connections, never answer
 *   FAKE_CLH_API_DELAY_MS=0        bind the API socket this much later
 *   FAKE_CLH_IGNORE_POWER_BUTTON=1 the guest ignores vm.power-button
 *   FAKE_CLH_POWEROFF_DELAY_MS=50  guest power-off after vm.power-button
 *   FAKE_CLH_CRASH_AFTER_MS=n      abort (SIGABRT) n ms after the VM starts running
 *   FAKE_CLH_VHOST_TIMEOUT_MS=60000  give up connecting vhost-user backends
 *   FAKE_CLH_CPU_REMOVAL_MS=0      a vCPU removal stays pending this long (429)
 *   FAKE_CLH_AGENT=on              the guest's qemu-ga behind the hybrid vsock:
 *                                  on, off (no agent), hang (never answers)
 *   FAKE_CLH_AGENT_DELAY_MS=0      it listens this long after the marker
 *   FAKE_CLH_AGENT_ROOT=           guest paths and commands are under this dir
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "fakeclh.h"

struct knobs K;
bool no_shutdown;
const char *build_version;

/* ---- knobs ------------------------------------------------------------------ */

static const char *env_str(const char *name, const char *def)
{
	const char *v = getenv(name);

	return v && *v ? v : def;
}

static long env_long(const char *name, long def)
{
	const char *v = getenv(name);
	char *end;
	long n;

	if (!v || !*v)
		return def;
	n = strtol(v, &end, 10);
	return *end ? def : n;
}

static void knobs_load(void)
{
	K.version = env_str("FAKE_CLH_VERSION", "v54.0.0");
	K.version_text = env_str("FAKE_CLH_VERSION_TEXT", NULL);
	K.features = env_str("FAKE_CLH_FEATURES", "io_uring,kvm");
	K.marker = env_str("FAKE_CLH_SERIAL_MARKER", "VMLUA-GUEST-READY");
	K.boot_delay_ms = env_long("FAKE_CLH_BOOT_DELAY_MS", 0);
	K.fail_at_start = env_str("FAKE_CLH_FAIL_AT_START", NULL);
	K.fail_status = (int)env_long("FAKE_CLH_FAIL_STATUS", 1);
	K.hang_api = env_long("FAKE_CLH_HANG_API", 0) != 0;
	K.api_delay_ms = env_long("FAKE_CLH_API_DELAY_MS", 0);
	K.ignore_power_button = env_long("FAKE_CLH_IGNORE_POWER_BUTTON", 0) != 0;
	K.poweroff_delay_ms = env_long("FAKE_CLH_POWEROFF_DELAY_MS", 50);
	K.crash_after_ms = env_long("FAKE_CLH_CRASH_AFTER_MS", -1);
	K.vhost_timeout_ms = env_long("FAKE_CLH_VHOST_TIMEOUT_MS", 60000);
	K.cpu_removal_ms = env_long("FAKE_CLH_CPU_REMOVAL_MS", 0);
	K.agent = env_str("FAKE_CLH_AGENT", "on");
	K.agent_delay_ms = env_long("FAKE_CLH_AGENT_DELAY_MS", 0);
	K.agent_root = env_str("FAKE_CLH_AGENT_ROOT", NULL);
	build_version = K.version;
}

bool feature_enabled(const char *name)
{
	size_t n = strlen(name);
	const char *p = K.features;

	while (p && *p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len == n && !strncmp(p, name, n))
			return true;
		p = end ? end + 1 : NULL;
	}
	return false;
}

/* The enabled features in vmm::feature_list()'s order (unknown ones last). */
int features_ordered(const char **out, int max)
{
	static const char *const order[] = {
		"dbus_api", "dhat-heap", "fw_cfg", "guest_debug", "igvm", "io_uring", "kvm",
		"mshv", "sev_snp", "tdx", "tracing", "ivshmem", NULL
	};
	static char buf[256];
	char *tok, *save = NULL;
	int n = 0, i;

	for (i = 0; order[i] && n < max; i++)
		if (feature_enabled(order[i]))
			out[n++] = order[i];
	strlcpy(buf, K.features, sizeof buf);
	for (tok = strtok_r(buf, ",", &save); tok && n < max; tok = strtok_r(NULL, ",", &save)) {
		for (i = 0; order[i] && strcmp(order[i], tok); i++)
			;
		if (!order[i])
			out[n++] = tok;
	}
	return n;
}

/* ---- the poll loop ---------------------------------------------------------- */

#define MAX_SOURCES 160

static struct source {
	int fd;
	short events;
	poll_cb cb;
	void *ctx;
} sources[MAX_SOURCES];
static int nsources;

void loop_add(int fd, short events, poll_cb cb, void *ctx)
{
	if (nsources == MAX_SOURCES) {
		logmsg(L_ERROR, "too many file descriptors to watch");
		close(fd);
		return;
	}
	sources[nsources++] = (struct source){ fd, events, cb, ctx };
}

void loop_events(int fd, short events)
{
	int i;

	for (i = 0; i < nsources; i++)
		if (sources[i].fd == fd)
			sources[i].events = events;
}

void loop_del(int fd)
{
	int i;

	for (i = 0; i < nsources; i++)
		if (sources[i].fd == fd) {
			sources[i] = sources[--nsources];
			return;
		}
}

static long long deadlines[T_COUNT];	/* 0: inactive */
static int timer_fd = -1;

void timer_set(enum timer_id id, long ms)
{
	deadlines[id] = now_ms() + (ms > 0 ? ms : 0);
	if (!deadlines[id])
		deadlines[id] = 1;
}

void timer_cancel(enum timer_id id)
{
	deadlines[id] = 0;
}

bool timer_active(enum timer_id id)
{
	return deadlines[id] != 0;
}

long timer_remaining(enum timer_id id)
{
	long long left = deadlines[id] - now_ms();

	if (!deadlines[id])
		return -1;
	return left > 0 ? (long)left : 0;
}

static void timer_rearm(void)
{
	struct itimerspec its = { { 0, 0 }, { 0, 0 } };
	long long first = 0, now = now_ms();
	int i;

	for (i = 0; i < T_COUNT; i++)
		if (deadlines[i] && (!first || deadlines[i] < first))
			first = deadlines[i];
	if (first) {
		long long ms = first > now ? first - now : 0;

		its.it_value.tv_sec = ms / 1000;
		its.it_value.tv_nsec = (ms % 1000) * 1000000 + 1;	/* never 0: that disarms */
	}
	timerfd_settime(timer_fd, 0, &its, NULL);
}

/* ---- exit ------------------------------------------------------------------ */

static int exit_status = -1;
static char *api_socket_path;
static bool api_bound;		/* we created the socket file: remove it at exit */
static bool flush_expired;

void vmm_exit(int status)
{
	if (exit_status >= 0)
		return;
	exit_status = status;
	timer_set(T_EXIT_FLUSH, 1000);
}

bool vmm_exiting(void)
{
	return exit_status >= 0;
}

static void crash(void)
{
	fprintf(stderr, "\nthread 'vcpu0' panicked at fake-cloud-hypervisor:\n"
		"fake crash (FAKE_CLH_CRASH_AFTER_MS=%ld)\n"
		"note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n",
		K.crash_after_ms);
	signal(SIGABRT, SIG_DFL);
	raise(SIGABRT);
	_exit(134);
}

static void bind_api(void);

static void on_timer(int fd, short revents, void *ctx)
{
	uint64_t expirations;
	long long now = now_ms();
	int i;

	(void)revents;
	(void)ctx;
	if (read(fd, &expirations, sizeof expirations) < 0 && errno != EAGAIN)
		logmsg(L_WARN, "timerfd: %s", strerror(errno));
	for (i = 0; i < T_COUNT; i++) {
		if (!deadlines[i] || deadlines[i] > now)
			continue;
		deadlines[i] = 0;
		switch ((enum timer_id)i) {
		case T_API_BIND: bind_api(); break;
		case T_VHOST_RETRY: vhost_retry(); break;
		case T_GUEST_READY: guest_ready_marker(); break;
		case T_CRASH: crash(); break;
		case T_POWEROFF: vm_guest_exit(); break;
		case T_CPU_REMOVAL: vm_cpu_removal_done(); break;
		case T_EXIT_FLUSH: flush_expired = true; break;
		case T_COUNT: break;
		}
	}
}

/* SIGTERM and SIGINT write the VMM's exit event: a clean shutdown. */
static void on_signal(int fd, short revents, void *ctx)
{
	struct signalfd_siginfo si;
	struct errchain ec;

	(void)revents;
	(void)ctx;
	if (read(fd, &si, sizeof si) != (ssize_t)sizeof si)
		return;
	logmsg(L_INFO, "Received signal %u, shutting down", si.ssi_signo);
	ec_clear(&ec);
	if (!vmm_exiting() && !vmm_shutdown(&ec))
		logmsg(L_WARN, "VM shutdown on signal: %s", ec.n ? ec.msg[0] : "?");
	vmm_exit(0);
}

/* ---- start-up ----------------------------------------------------------------- */

static struct cli cli;
static int api_fd_arg = -1;

static void __attribute__((noreturn)) die_chain(struct errchain *ec)
{
	ec_print_cli(ec);
	if (api_bound)
		unlink(api_socket_path);
	cli_free(&cli);
	exit(1);
}

/* --api-socket path=<p> | fd=<n> | <p>: key errors are ignored, as the real
 * one does, and then the whole value is the path. */
static void parse_api_socket(void)
{
	static const char *const keys[] = { "path", "fd", NULL };
	const char *v = cli_value(&cli, "api-socket");
	struct errchain ec;
	struct opts o;

	if (!v)
		return;
	ec_clear(&ec);
	if (!opts_parse(&o, keys, v, &ec)) {
		opts_free(&o);
		memset(&o, 0, sizeof o);
	}
	if (opts_get(&o, "fd")) {
		char *end;
		long fd = strtol(opts_get(&o, "fd"), &end, 10);

		if (*end || end == opts_get(&o, "fd") || fd < 0 || fd > INT32_MAX) {
			ec_clear(&ec);
			ec_push(&ec, "Error parsing --api-socket");
			ec_push(&ec, "invalid digit found in string");
			opts_free(&o);
			die_chain(&ec);
		}
		api_fd_arg = (int)fd;
	} else {
		api_socket_path = xstrdup(opts_get(&o, "path") ? opts_get(&o, "path") : v);
	}
	opts_free(&o);
}

static void open_log(void)
{
	const struct cliarg *v = cli_get(&cli, "v");
	const char *path = cli_value(&cli, "log-file");
	int fd = 2;

	if (path) {
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
		if (fd < 0) {
			struct errchain ec;

			ec_clear(&ec);
			ec_push(&ec, "Error creating log file");
			ec_push(&ec, "%s", oserr(errno));
			die_chain(&ec);
		}
	}
	log_setup(v ? v->count : 0, fd);
}

static void open_event_monitor(void)
{
	static const char *const keys[] = { "path", "fd", NULL };
	const char *v = cli_value(&cli, "event-monitor");
	struct errchain ec;
	struct opts o;
	uint64_t fdnum;
	bool present;
	int fd = -1;

	if (!v)
		return;
	ec_clear(&ec);
	if (!opts_parse(&o, keys, v, &ec) || !opt_u64(&o, "fd", INT32_MAX, &fdnum, &present, &ec)) {
		opts_free(&o);
		ec_prepend(&ec, "Error parsing --event-monitor");
		die_chain(&ec);
	}
	if (present)
		fd = (int)fdnum;
	else if (opts_get(&o, "path"))
		fd = open(opts_get(&o, "path"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	else
		ec_push(&ec, "Error parsing --event-monitor: path or fd required");
	if (!ec.n && fd < 0) {
		ec_push(&ec, "Error doing event monitor I/O");
		ec_push(&ec, "%s", oserr(errno));
	}
	opts_free(&o);
	if (ec.n)
		die_chain(&ec);
	events_open(fd);
}

static void bind_api(void)
{
	struct errchain ec;

	ec_clear(&ec);
	if (api_fd_arg >= 0) {
		http_listen_fd(api_fd_arg);
		return;
	}
	if (api_socket_path && !http_listen_path(api_socket_path, &ec)) {
		ec_prepend(&ec, "Failed to start the VMM thread");
		die_chain(&ec);
	}
	api_bound = api_socket_path != NULL;
}

static void cli_boot_done(const struct errchain *ec, const char *body)
{
	struct errchain e;

	(void)body;
	if (!ec) {
		http_resume();	/* requests that came in meanwhile */
		return;
	}
	e = *ec;
	ec_prepend(&e, "The VM could not boot");
	ec_prepend(&e, "Error booting VM");
	ec_print_cli(&e);
	vmm_shutdown(&e);
	vmm_exit(1);
}

static void cli_restore_done(const struct errchain *ec, const char *body)
{
	struct errchain e;

	(void)body;
	if (!ec) {
		http_resume();
		return;
	}
	e = *ec;
	ec_prepend(&e, "The VM could not be restored");
	ec_prepend(&e, "Error restoring VM");
	ec_print_cli(&e);
	vmm_exit(1);
}

/* With a payload on the command line the VM is created and booted at once;
 * with --restore it is restored; otherwise the VMM waits for the API. */
static void start_vm(void)
{
	bool payload = cli_given(&cli, "kernel") || cli_given(&cli, "firmware") ||
		cli_given(&cli, "igvm");
	struct errchain ec;
	json_object *cfg;

	ec_clear(&ec);
	if (payload) {
		cfg = cli_vm_config(&cli, &ec);
		if (!cfg)
			die_chain(&ec);
		if (!vm_create(cfg, &ec)) {
			ec_prepend(&ec, "The VM could not be created");
			ec_prepend(&ec, "Error creating VM");
			die_chain(&ec);
		}
		if (vm_boot(cli_boot_done, &ec) == OP_FAILED)
			cli_boot_done(&ec, NULL);
	} else if (cli_given(&cli, "restore")) {
		cfg = cli_restore_config(cli_value(&cli, "restore"), &ec);
		if (!cfg)
			die_chain(&ec);
		if (vm_restore(cfg, NULL, 0, cli_restore_done, &ec) == OP_FAILED)
			cli_restore_done(&ec, NULL);
		json_object_put(cfg);
	}
}

static int setup_fds(void)
{
	sigset_t mask;
	int sfd;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);	/* as every Rust program */
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (sfd < 0 || timer_fd < 0) {
		perror("fake-cloud-hypervisor: signalfd/timerfd");
		exit(1);
	}
	loop_add(sfd, POLLIN, on_signal, NULL);
	loop_add(timer_fd, POLLIN, on_timer, NULL);
	return sfd;
}

static void run_loop(void)
{
	struct pollfd pfd[MAX_SOURCES];
	struct source snap[MAX_SOURCES];
	int i, n;

	while (!vmm_exiting() || (!flush_expired && !http_flushed())) {
		timer_rearm();
		n = nsources;
		memcpy(snap, sources, sizeof snap[0] * (size_t)n);
		for (i = 0; i < n; i++)
			pfd[i] = (struct pollfd){ snap[i].fd, snap[i].events, 0 };
		if (poll(pfd, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue;
			perror("fake-cloud-hypervisor: poll");
			exit(1);
		}
		for (i = 0; i < n; i++) {
			int j;

			if (!pfd[i].revents)
				continue;
			for (j = 0; j < nsources; j++)	/* still registered? */
				if (sources[j].fd == snap[i].fd && sources[j].cb == snap[i].cb)
					break;
			if (j < nsources)
				snap[i].cb(snap[i].fd, pfd[i].revents, snap[i].ctx);
		}
	}
}

int main(int argc, char **argv)
{
	int sfd, status;

	umask(077);
	knobs_load();
	cli_parse(&cli, argc, argv);
	if (K.fail_at_start) {
		fprintf(stderr, "%s\n", K.fail_at_start);
		cli_free(&cli);
		return K.fail_status;
	}
	no_shutdown = cli_given(&cli, "no-shutdown");
	parse_api_socket();
	open_log();
	open_event_monitor();
	sfd = setup_fds();
	event_emit("vmm", "starting");
	logmsg(L_INFO, "%s starting", build_version);
	if (K.api_delay_ms > 0 && (api_socket_path || api_fd_arg >= 0))
		timer_set(T_API_BIND, K.api_delay_ms);
	else
		bind_api();
	start_vm();
	run_loop();

	status = exit_status;
	http_close_all();
	migrate_cleanup();
	vm_cleanup();
	events_close();
	close(sfd);
	close(timer_fd);
	if (api_bound)
		unlink(api_socket_path);
	free(api_socket_path);
	cli_free(&cli);
	if (status == 0)
		logmsg(L_INFO, "Cloud Hypervisor exited successfully");
	return status;
}
