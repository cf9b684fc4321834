/*
 * fake-cloud-hypervisor: the guest's QEMU guest agent behind the hybrid
 * vsock, as the guest kit runs it (qemu-ga -m vsock-listen on the port of
 * the kernel parameter vmlua.agent=vsock:PORT, from when the guest prints
 * its marker), speaking qemu-ga 7.2's protocol (qga/qapi-schema.json):
 *
 * - requests are a stream of JSON objects; a 0xFF byte resets the parser
 *   and is answered with qemu-ga's "JSON parse error, stray '\uFFFD'";
 *   replies end in "\n", carry the request's "id", and the reply to
 *   guest-sync-delimited starts with a 0xFF byte;
 * - one client is served at a time; later connections wait (their CONNECT
 *   got its OK: the guest's kernel accepted them) until it leaves;
 * - commands: guest-sync(-delimited), guest-ping, guest-info,
 *   guest-shutdown (the guest powers off; no reply), guest-exec and
 *   guest-exec-status (the command runs on the host, in FAKE_CLH_AGENT_ROOT
 *   if set; stdout and stderr captured up to 16 MiB each, then cut and
 *   flagged), guest-file-open/-read/-write/-close (guest paths under
 *   FAKE_CLH_AGENT_ROOT if set; handles from 1000; reads 4096 bytes unless
 *   told a count); anything else is CommandNotFound.
 *
 * FAKE_CLH_AGENT=off: nothing listens (a guest without the agent);
 * FAKE_CLH_AGENT=hang: it listens and reads but never answers.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fakeclh.h"

#define MAX_CLIENTS 16
#define MAX_EXECS 64
#define MAX_FILES 64
#define OUTPUT_CAP (16 * 1024 * 1024)	/* GUEST_EXEC_MAX_OUTPUT */
#define READ_MAX (48 * 1024 * 1024)	/* QGA_READ_COUNT_MAX */

static long port = -1;			/* vmlua.agent=vsock:PORT, -1: none */
static long long listen_at = -1;	/* when the guest listens, -1: not yet */

/* ---- base64 ---------------------------------------------------------------- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *b64_encode(const unsigned char *s, size_t n)
{
	char *out = xmalloc((n + 2) / 3 * 4 + 1), *o = out;
	size_t i;

	for (i = 0; i + 2 < n; i += 3) {
		unsigned v = (unsigned)s[i] << 16 | (unsigned)s[i + 1] << 8 | s[i + 2];
		*o++ = b64[v >> 18], *o++ = b64[(v >> 12) & 63], *o++ = b64[(v >> 6) & 63], *o++ = b64[v & 63];
	}
	if (i < n) {
		unsigned v = (unsigned)s[i] << 16 | (i + 1 < n ? (unsigned)s[i + 1] << 8 : 0);
		*o++ = b64[v >> 18], *o++ = b64[(v >> 12) & 63];
		*o++ = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

/* glib's g_base64_decode: skips what is not base64, stops at '='. */
static unsigned char *b64_decode(const char *s, size_t *n)
{
	size_t len = strlen(s);
	unsigned char *out = xmalloc(len / 4 * 3 + 3);
	unsigned v = 0;
	int bits = 0;

	*n = 0;
	for (; *s && *s != '='; s++) {
		const char *p = strchr(b64, *s);

		if (!p)
			continue;
		v = v << 6 | (unsigned)(p - b64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[(*n)++] = (unsigned char)(v >> bits);
		}
	}
	return out;
}

/* ---- clients ----------------------------------------------------------------- */

struct client {
	int fd;
	json_tokener *tok;
	char *out;		/* replies not yet written */
	size_t out_len, out_off;
};

static struct client *clients[MAX_CLIENTS];	/* clients[0] is served, the rest wait */
static int nclients;

static void client_events(struct client *c, bool head)
{
	short ev = head ? POLLIN : 0;

	if (c->out_len > c->out_off)
		ev |= POLLOUT;
	loop_events(c->fd, ev);
}

static int client_index(const struct client *c)
{
	int i;

	for (i = 0; i < nclients && clients[i] != c; i++)
		;
	return i;
}

static void drop_client(struct client *c)
{
	int i = client_index(c);

	loop_del(c->fd);
	close(c->fd);
	json_tokener_free(c->tok);
	free(c->out);
	free(c);
	memmove(&clients[i], &clients[i + 1], sizeof clients[0] * (size_t)(nclients - i - 1));
	nclients--;
	if (i == 0 && nclients > 0)
		client_events(clients[0], true);	/* the next one is served */
}

static void send_text(struct client *c, const char *text, size_t len, bool delimit)
{
	size_t need = c->out_len - c->out_off + len + 2;
	char *buf = xmalloc(need);
	size_t n = c->out_len - c->out_off;

	if (n > 0)
		memcpy(buf, c->out + c->out_off, n);
	if (delimit)
		buf[n++] = (char)0xff;
	memcpy(buf + n, text, len);
	n += len;
	buf[n++] = '\n';
	free(c->out);
	c->out = buf;
	c->out_len = n;
	c->out_off = 0;
	client_events(c, c == clients[0]);
}

static void reply(struct client *c, json_object *id, json_object *ret, bool delimit)
{
	json_object *r = json_object_new_object();

	jset(r, "return", ret);
	if (id)
		jset(r, "id", json_object_get(id));
	send_text(c, json_text(r), strlen(json_text(r)), delimit);
	json_object_put(r);
}

static void reply_error(struct client *c, json_object *id, const char *class, const char *fmt, ...) FMT(4, 5);
static void reply_error(struct client *c, json_object *id, const char *class, const char *fmt, ...)
{
	json_object *r = json_object_new_object(), *e = json_object_new_object();
	char desc[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(desc, sizeof desc, fmt, ap);
	va_end(ap);
	jset(e, "class", json_object_new_string(class));
	jset(e, "desc", json_object_new_string(desc));
	jset(r, "error", e);
	if (id)
		jset(r, "id", json_object_get(id));
	send_text(c, json_text(r), strlen(json_text(r)), false);
	json_object_put(r);
}

/* ---- guest-exec ---------------------------------------------------------------- */

struct output {
	int fd;
	char *data;
	size_t len;
	bool truncated;
};

static struct exec {
	pid_t pid;		/* 0: free slot */
	int pidfd;
	int in_fd;
	unsigned char *in;
	size_t in_len, in_off;
	struct output out, err;
	bool capture, done;
	int status;
} execs[MAX_EXECS];

static void on_output(int fd, short revents, void *ctx)
{
	struct output *o = ctx;
	char buf[65536];
	ssize_t n = read(fd, buf, sizeof buf);

	(void)revents;
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		loop_del(fd);
		close(fd);
		o->fd = -1;
		return;
	}
	if (o->len + (size_t)n > OUTPUT_CAP) {
		n = (ssize_t)(OUTPUT_CAP - o->len);
		o->truncated = true;
	}
	if (n > 0) {
		o->data = realloc(o->data, o->len + (size_t)n);
		if (!o->data)
			abort();
		memcpy(o->data + o->len, buf, (size_t)n);
		o->len += (size_t)n;
	}
}

static void close_input(struct exec *e)
{
	if (e->in_fd >= 0) {
		loop_del(e->in_fd);
		close(e->in_fd);
	}
	e->in_fd = -1;
	free(e->in);
	e->in = NULL;
}

static void on_input(int fd, short revents, void *ctx)
{
	struct exec *e = ctx;
	ssize_t n = write(fd, e->in + e->in_off, e->in_len - e->in_off);

	(void)revents;
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0)
		e->in_off += (size_t)n;
	if (n < 0 || e->in_off == e->in_len)
		close_input(e);
}

static void on_exit_event(int fd, short revents, void *ctx)
{
	struct exec *e = ctx;
	int st;

	(void)revents;
	if (waitpid(e->pid, &st, WNOHANG) != e->pid)
		return;
	loop_del(fd);
	close(fd);
	e->pidfd = -1;
	e->status = st;
	e->done = true;
}

static int pipe_nb(int p[2])
{
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	return 0;
}

/* In the child: the command, or its errno through `report`. */
static void __attribute__((noreturn)) child(char **argv, char **env, int in, int out, int err, int report)
{
	int e;

	signal(SIGPIPE, SIG_DFL);
	dup2(in, 0);
	dup2(out, 1);
	dup2(err, 2);
	if (K.agent_root && chdir(K.agent_root) < 0)
		_exit(127);
	if (env) {
		clearenv();
		for (; *env; env++)
			putenv(*env);
	}
	execvp(argv[0], argv);
	e = errno;
	(void)!write(report, &e, sizeof e);
	_exit(127);
}

static char **str_list(json_object *first, json_object *arr)
{
	size_t n = arr ? json_object_array_length(arr) : 0, i, k = 0;
	char **v = xmalloc(sizeof *v * (n + 2));

	if (first)
		v[k++] = (char *)json_object_get_string(first);
	for (i = 0; i < n; i++)
		v[k++] = (char *)json_object_get_string(json_object_array_get_idx(arr, i));
	v[k] = NULL;
	return v;
}

static void cmd_exec(struct client *c, json_object *id, json_object *args)
{
	json_object *path = jget(args, "path"), *input = jget(args, "input-data");
	bool capture = jbool(args, "capture-output", false);
	int in[2], out[2], err[2], report[2], slot, e = 0;
	char **argv, **env;
	pid_t pid;

	for (slot = 0; slot < MAX_EXECS && execs[slot].pid; slot++)
		;
	if (!path || !json_object_is_type(path, json_type_string) || slot == MAX_EXECS) {
		reply_error(c, id, "GenericError", slot == MAX_EXECS ? "too many processes" :
			    "Parameter 'path' is missing");
		return;
	}
	argv = str_list(path, jget(args, "arg"));
	env = jget(args, "env") ? str_list(NULL, jget(args, "env")) : NULL;
	pipe_nb(in), pipe_nb(out), pipe_nb(err), pipe_nb(report);
	pid = fork();
	if (pid == 0) {
		int dn = open("/dev/null", O_RDWR);

		child(argv, env, input ? in[0] : dn, capture ? out[1] : dn, capture ? err[1] : dn, report[1]);
	}
	close(in[0]), close(out[1]), close(err[1]), close(report[1]);
	if (pid > 0 && read(report[0], &e, sizeof e) == (ssize_t)sizeof e) {
		waitpid(pid, NULL, 0);
		close(in[1]), close(out[0]), close(err[0]);
		reply_error(c, id, "GenericError", "Guest agent command failed, error was "
			    "'Failed to execute child process \xe2\x80\x9c%s\xe2\x80\x9d (%s)'",
			    json_object_get_string(path), strerror(e));
		pid = -1;
	}
	close(report[0]);
	free(argv);
	free(env);
	if (pid <= 0)
		return;
	struct exec *x = &execs[slot];
	memset(x, 0, sizeof *x);
	x->pid = pid;
	x->capture = capture;
	x->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	loop_add(x->pidfd, POLLIN, on_exit_event, x);
	x->out.fd = out[0], x->err.fd = err[0];
	set_nonblock(out[0]), set_nonblock(err[0]);
	loop_add(out[0], POLLIN, on_output, &x->out);
	loop_add(err[0], POLLIN, on_output, &x->err);
	x->in_fd = in[1];
	if (input) {
		x->in = b64_decode(json_object_get_string(input), &x->in_len);
		set_nonblock(in[1]);
		loop_add(in[1], POLLOUT, on_input, x);
		if (x->in_len == 0)
			close_input(x);
	} else {
		close_input(x);
	}
	json_object *r = json_object_new_object();
	jset(r, "pid", json_object_new_int64(pid));
	reply(c, id, r, false);
}

static void add_output(json_object *r, const char *data_key, const char *cut_key, struct output *o)
{
	if (o->len > 0) {
		char *s = b64_encode((const unsigned char *)o->data, o->len);

		jset(r, data_key, json_object_new_string(s));
		free(s);
	}
	jset(r, cut_key, json_object_new_boolean(o->truncated));
}

static void cmd_exec_status(struct client *c, json_object *id, json_object *args)
{
	int64_t pid = jint(args, "pid", -1);
	struct exec *x = NULL;
	json_object *r;
	int i;

	for (i = 0; i < MAX_EXECS; i++)
		if (execs[i].pid && execs[i].pid == pid)
			x = &execs[i];
	if (!x) {
		reply_error(c, id, "GenericError", "Invalid parameter 'pid'");
		return;
	}
	r = json_object_new_object();
	bool exited = x->done && x->out.fd < 0 && x->err.fd < 0;
	jset(r, "exited", json_object_new_boolean(exited));
	if (exited) {
		if (WIFEXITED(x->status))
			jset(r, "exitcode", json_object_new_int(WEXITSTATUS(x->status)));
		else if (WIFSIGNALED(x->status))
			jset(r, "signal", json_object_new_int(WTERMSIG(x->status)));
		if (x->capture) {
			add_output(r, "out-data", "out-truncated", &x->out);
			add_output(r, "err-data", "err-truncated", &x->err);
		}
		close_input(x);
		free(x->out.data);
		free(x->err.data);
		memset(x, 0, sizeof *x);
	}
	reply(c, id, r, false);
}

static void exec_stop_all(void)
{
	int i;

	for (i = 0; i < MAX_EXECS; i++) {
		struct exec *x = &execs[i];

		if (!x->pid)
			continue;
		if (!x->done) {
			kill(x->pid, SIGKILL);
			waitpid(x->pid, NULL, 0);
		}
		if (x->pidfd >= 0) {
			loop_del(x->pidfd);
			close(x->pidfd);
		}
		for (struct output *o = &x->out; o; o = o == &x->out ? &x->err : NULL)
			if (o->fd >= 0) {
				loop_del(o->fd);
				close(o->fd);
			}
		close_input(x);
		free(x->out.data);
		free(x->err.data);
		memset(x, 0, sizeof *x);
	}
}

/* ---- guest-file-* -------------------------------------------------------------- */

static struct gfile {
	int64_t handle;		/* 0: free */
	FILE *f;
} files[MAX_FILES];
static int64_t next_handle = 1000;

static char *guest_path(const char *p)
{
	return K.agent_root ? xasprintf("%s/%s", K.agent_root, p) : xstrdup(p);
}

static struct gfile *find_file(struct client *c, json_object *id, json_object *args)
{
	int64_t h = jint(args, "handle", -1);
	int i;

	for (i = 0; i < MAX_FILES; i++)
		if (files[i].handle && files[i].handle == h)
			return &files[i];
	reply_error(c, id, "GenericError", "handle '%lld' has not been found", (long long)h);
	return NULL;
}

static void cmd_file_open(struct client *c, json_object *id, json_object *args)
{
	const char *path = jstr(args, "path"), *mode = jstr(args, "mode");
	char *real;
	FILE *f;
	int i;

	if (!mode)
		mode = "r";
	for (i = 0; i < MAX_FILES && files[i].handle; i++)
		;
	if (!path || i == MAX_FILES) {
		reply_error(c, id, "GenericError", "Parameter 'path' is missing");
		return;
	}
	real = guest_path(path);
	f = fopen(real, mode);
	free(real);
	if (!f) {
		reply_error(c, id, "GenericError", "failed to open file '%s' (mode: '%s'): %s", path, mode,
			    strerror(errno));
		return;
	}
	files[i].handle = next_handle++;
	files[i].f = f;
	reply(c, id, json_object_new_int64(files[i].handle), false);
}

static void cmd_file_read(struct client *c, json_object *id, json_object *args)
{
	struct gfile *g = find_file(c, id, args);
	int64_t count = jint(args, "count", 4096);
	unsigned char *buf;
	size_t n;

	if (!g)
		return;
	if (count < 0 || count > READ_MAX) {
		reply_error(c, id, "GenericError", "value '%lld' is invalid for argument count", (long long)count);
		return;
	}
	buf = xmalloc((size_t)count + 1);
	n = fread(buf, 1, (size_t)count, g->f);
	char *s = b64_encode(buf, n);
	json_object *r = json_object_new_object();
	jset(r, "count", json_object_new_int64((int64_t)n));
	jset(r, "buf-b64", json_object_new_string(s));
	jset(r, "eof", json_object_new_boolean(feof(g->f) != 0));
	free(s);
	free(buf);
	reply(c, id, r, false);
}

static void cmd_file_write(struct client *c, json_object *id, json_object *args)
{
	struct gfile *g = find_file(c, id, args);
	const char *data = jstr(args, "buf-b64");
	unsigned char *buf;
	size_t n, w;

	if (!g)
		return;
	buf = b64_decode(data ? data : "", &n);
	w = fwrite(buf, 1, n, g->f);
	free(buf);
	json_object *r = json_object_new_object();
	jset(r, "count", json_object_new_int64((int64_t)w));
	jset(r, "eof", json_object_new_boolean(feof(g->f) != 0));
	reply(c, id, r, false);
}

static void cmd_file_close(struct client *c, json_object *id, json_object *args)
{
	struct gfile *g = find_file(c, id, args);

	if (!g)
		return;
	fclose(g->f);
	g->handle = 0;
	g->f = NULL;
	reply(c, id, json_object_new_object(), false);
}

static void files_close_all(void)
{
	int i;

	for (i = 0; i < MAX_FILES; i++)
		if (files[i].handle) {
			fclose(files[i].f);
			files[i].handle = 0;
		}
}

/* ---- dispatch ------------------------------------------------------------------ */

static const char *const commands[] = {
	"guest-sync-delimited", "guest-sync", "guest-ping", "guest-info", "guest-shutdown",
	"guest-exec", "guest-exec-status", "guest-file-open", "guest-file-read",
	"guest-file-write", "guest-file-close", NULL
};

static void cmd_info(struct client *c, json_object *id)
{
	json_object *r = json_object_new_object(), *list = json_object_new_array();
	int i;

	for (i = 0; commands[i]; i++) {
		json_object *e = json_object_new_object();

		jset(e, "enabled", json_object_new_boolean(1));
		jset(e, "name", json_object_new_string(commands[i]));
		jset(e, "success-response", json_object_new_boolean(strcmp(commands[i], "guest-shutdown") != 0));
		json_object_array_add(list, e);
	}
	jset(r, "version", json_object_new_string("7.2.22"));
	jset(r, "supported_commands", list);
	reply(c, id, r, false);
}

static void dispatch(struct client *c, json_object *req)
{
	const char *cmd = jstr(req, "execute");
	json_object *id = jget(req, "id"), *args = jget(req, "arguments");

	if (!cmd) {
		reply_error(c, id, "GenericError", "Expected '%s' in QMP input", "execute");
	} else if (!strcmp(cmd, "guest-sync-delimited") || !strcmp(cmd, "guest-sync")) {
		reply(c, id, json_object_new_int64(jint(args, "id", 0)), cmd[10] == '-');
	} else if (!strcmp(cmd, "guest-ping")) {
		reply(c, id, json_object_new_object(), false);
	} else if (!strcmp(cmd, "guest-info")) {
		cmd_info(c, id);
	} else if (!strcmp(cmd, "guest-shutdown")) {
		vm_guest_poweroff();	/* success: no reply */
	} else if (!strcmp(cmd, "guest-exec")) {
		cmd_exec(c, id, args);
	} else if (!strcmp(cmd, "guest-exec-status")) {
		cmd_exec_status(c, id, args);
	} else if (!strcmp(cmd, "guest-file-open")) {
		cmd_file_open(c, id, args);
	} else if (!strcmp(cmd, "guest-file-read")) {
		cmd_file_read(c, id, args);
	} else if (!strcmp(cmd, "guest-file-write")) {
		cmd_file_write(c, id, args);
	} else if (!strcmp(cmd, "guest-file-close")) {
		cmd_file_close(c, id, args);
	} else {
		reply_error(c, id, "CommandNotFound", "The command %s has not been found", cmd);
	}
}

/* Feed request bytes to the client's JSON parser, running each request. */
static void feed(struct client *c, const char *p, size_t n)
{
	while (n > 0) {
		const char *ff = memchr(p, 0xff, n);
		size_t part = ff ? (size_t)(ff - p) : n;

		while (part > 0) {
			json_object *req = json_tokener_parse_ex(c->tok, p, (int)part);
			enum json_tokener_error jerr = json_tokener_get_error(c->tok);
			size_t used = json_tokener_get_parse_end(c->tok);

			if (req) {
				if (json_object_is_type(req, json_type_object))
					dispatch(c, req);
				else
					reply_error(c, NULL, "GenericError", "QMP input must be a JSON object");
				json_object_put(req);
				json_tokener_reset(c->tok);
			} else if (jerr != json_tokener_continue) {
				reply_error(c, NULL, "GenericError", "JSON parse error, %s",
					    json_tokener_error_desc(jerr));
				json_tokener_reset(c->tok);
				used = part;
			}
			if (used == 0 || used > part)
				used = part;
			p += used, n -= used, part -= used;
		}
		if (ff) {	/* the sentinel: reset, as qemu-ga's lexer does */
			json_tokener_reset(c->tok);
			reply_error(c, NULL, "GenericError", "JSON parse error, stray '\\uFFFD'");
			p++, n--;
		}
	}
}

static void on_client(int fd, short revents, void *ctx)
{
	struct client *c = ctx;
	bool head = c == clients[0];

	if (revents & POLLOUT) {
		ssize_t w = write(fd, c->out + c->out_off, c->out_len - c->out_off);

		if (w < 0 && errno != EAGAIN && errno != EINTR) {
			drop_client(c);
			return;
		}
		if (w > 0)
			c->out_off += (size_t)w;
		if (c->out_off == c->out_len) {
			free(c->out);
			c->out = NULL;
			c->out_len = c->out_off = 0;
		}
		client_events(c, head);
	}
	if (revents & (POLLIN | POLLHUP | POLLERR)) {
		char buf[65536];
		ssize_t n = read(fd, buf, sizeof buf);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0 || !head) {	/* a waiting client only hears of a hang-up */
			drop_client(c);
			return;
		}
		if (strcmp(K.agent, "hang") != 0)
			feed(c, buf, (size_t)n);
	}
}

/* ---- the guest's side ---------------------------------------------------------- */

void agent_boot(json_object *cfg)
{
	const char *cmdline = jstr(jget(cfg, "payload"), "cmdline");
	const char *p = cmdline;

	port = -1;
	listen_at = -1;
	while (p && (p = strstr(p, "vmlua.agent=vsock:")) != NULL) {
		if (p == cmdline || p[-1] == ' ')
			port = strtol(p + 18, NULL, 10);
		p += 18;
	}
}

void agent_guest_up(void)
{
	if (port >= 0 && strcmp(K.agent, "off") != 0)
		listen_at = now_ms() + K.agent_delay_ms;
}

bool agent_listening(uint32_t p)
{
	return port >= 0 && (uint32_t)port == p && listen_at >= 0 && now_ms() >= listen_at &&
	       vm_state() == VM_RUNNING;
}

void agent_attach(int fd)
{
	struct client *c;

	if (nclients == MAX_CLIENTS) {
		close(fd);
		return;
	}
	c = xmalloc(sizeof *c);
	memset(c, 0, sizeof *c);
	clients[nclients++] = c;
	c->fd = fd;
	c->tok = json_tokener_new();
	set_nonblock(fd);
	loop_add(fd, 0, on_client, c);
	client_events(c, nclients == 1);
}

void agent_stop(void)
{
	while (nclients > 0)
		drop_client(clients[nclients - 1]);
	exec_stop_all();
	files_close_all();
	listen_at = -1;
}
