/* fake-cloud-hypervisor: error chains, logging, JSON and socket helpers. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "fakeclh.h"

/* ---- error chains ------------------------------------------------------- */

void ec_clear(struct errchain *ec)
{
	ec->n = 0;
	ec->status = 0;
	ec->bare = false;
}

void ec_push(struct errchain *ec, const char *fmt, ...)
{
	va_list ap;

	if (ec->n >= CHAIN_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(ec->msg[ec->n++], CHAIN_MSG, fmt, ap);
	va_end(ap);
}

void ec_prepend(struct errchain *ec, const char *fmt, ...)
{
	va_list ap;

	if (ec->n >= CHAIN_MAX)
		ec->n = CHAIN_MAX - 1;
	memmove(ec->msg[1], ec->msg[0], (size_t)ec->n * CHAIN_MSG);
	va_start(ap, fmt);
	vsnprintf(ec->msg[0], CHAIN_MSG, fmt, ap);
	va_end(ap);
	ec->n++;
}

/* cloud_hypervisor::cli_print_error_chain */
void ec_print_cli(const struct errchain *ec)
{
	int i;

	logmsg(L_ERROR, "Fatal error: %s", ec->n ? ec->msg[0] : "?");
	if (ec->n <= 1) {
		fprintf(stderr, "Error: Cloud Hypervisor exited with the following error:\n  %s\n",
			ec->n ? ec->msg[0] : "");
		return;
	}
	fprintf(stderr, "Error: Cloud Hypervisor exited with the following chain of errors:\n");
	for (i = 0; i < ec->n; i++)
		fprintf(stderr, "  %d: %s\n", i, ec->msg[i]);
}

char *ec_json(const struct errchain *ec)
{
	json_object *a = json_object_new_array();
	char *s;
	int i;

	for (i = 0; i < ec->n; i++)
		json_object_array_add(a, json_object_new_string(ec->msg[i]));
	s = xstrdup(json_text(a));
	json_object_put(a);
	return s;
}

/* ---- logging -------------------------------------------------------------
 * "cloud-hypervisor: {secs:>10.6}s: <thread> LEVEL:file:line -- msg\r\n",
 * level warn by default, -v info, -vv debug, -vvv trace. */

static int log_level = L_WARN;
static int log_fd = 2;
static long long log_start;

void log_setup(int verbosity, int fd)
{
	log_level = L_WARN + (verbosity > 3 ? 3 : verbosity);
	log_fd = fd;
	log_start = now_ms();
}

void logmsg(enum loglevel level, const char *fmt, ...)
{
	static const char *const names[] = { "ERROR", "WARN", "INFO", "DEBUG", "TRACE" };
	char msg[1024], line[1200];
	long long t = now_ms() - log_start;
	va_list ap;
	int n;

	if ((int)level > log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	n = snprintf(line, sizeof line, "cloud-hypervisor: %10.6fs: <vmm> %s:fake-cloud-hypervisor -- %s\r\n",
		     (double)t / 1000.0, names[level], msg);
	if (n > 0)
		write_all(log_fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

/* ---- memory and strings -------------------------------------------------- */

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p) {
		fprintf(stderr, "fake-cloud-hypervisor: out of memory\n");
		abort();
	}
	return p;
}

char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;

	return memcpy(xmalloc(n), s, n);
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	s = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- JSON ---------------------------------------------------------------- */

const char *json_text(json_object *o)
{
	return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
					      JSON_C_TO_STRING_NOSLASHESCAPE);
}

json_object *jget(json_object *o, const char *key)
{
	json_object *v = NULL;

	if (!o || !json_object_is_type(o, json_type_object))
		return NULL;
	if (!json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;		/* json-c represents null as NULL */
}

const char *jstr(json_object *o, const char *key)
{
	json_object *v = jget(o, key);

	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

int64_t jint(json_object *o, const char *key, int64_t def)
{
	json_object *v = jget(o, key);

	return v && json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : def;
}

bool jbool(json_object *o, const char *key, bool def)
{
	json_object *v = jget(o, key);

	return v && json_object_is_type(v, json_type_boolean) ? json_object_get_boolean(v) : def;
}

void jset(json_object *o, const char *key, json_object *v)
{
	json_object_object_add(o, key, v);
}

/* ---- file descriptors and sockets ---------------------------------------- */

int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

const char *oserr(int err)
{
	static char buf[4][160];
	static int next;
	char *b = buf[next++ % 4];

	snprintf(b, sizeof buf[0], "%s (os error %d)", strerror(err), err);
	return b;
}

int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static int unix_addr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof *sa);
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sa->sun_path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strlcpy(sa->sun_path, path, sizeof sa->sun_path);
	return 0;
}

int unix_listen(const char *path, int backlog)
{
	struct sockaddr_un sa;
	int fd, e;

	if (unix_addr(path, &sa) < 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, backlog) < 0) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int unix_connect(const char *path)
{
	struct sockaddr_un sa;
	int fd, e;

	if (unix_addr(path, &sa) < 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}
