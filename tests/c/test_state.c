/*
 * The state store in C: run dir checks, atomic replacement (a writer killed
 * between writing the temp file and the rename), corrupt files, locking
 * between processes, removal without following symlinks.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "fsutil.h"
#include "state.h"
#include "tap.h"

static char base[64];

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void path_of(char *out, size_t size, const char *rel)
{
	snprintf(out, size, "%s/%s", base, rel);
}

static void write_file(const char *rel, const char *data, size_t len)
{
	char p[256];
	path_of(p, sizeof p, rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, data, len) != (ssize_t)len) {
		perror(p);
		exit(2);
	}
	close(fd);
}

static int count_entries(const char *rel, const char *prefix)
{
	char p[256];
	path_of(p, sizeof p, rel);
	DIR *d = opendir(p);
	int n = 0;
	for (struct dirent *de; d != NULL && (de = readdir(d)) != NULL;)
		n += strncmp(de->d_name, prefix, strlen(prefix)) == 0;
	if (d != NULL)
		closedir(d);
	return n;
}

static struct json_object *state_with(const char *key, int value)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, key, json_object_new_int(value));
	return o;
}

static int load_int(vl_store *s, const char *id, const char *key, vl_error *e)
{
	struct json_object *o, *v;
	if (vl_store_load(s, id, &o, e) < 0)
		return -1;
	int r = json_object_object_get_ex(o, key, &v) ? json_object_get_int(v) : -2;
	json_object_put(o);
	return r;
}

/* ---- run dir ------------------------------------------------------------- */

static void test_open(void)
{
	vl_store s;
	vl_error e;
	char p[256], q[256];
	struct stat st;

	path_of(p, sizeof p, "run");
	OK(vl_store_open(&s, p, &e) == 0, "open creates a missing run dir");
	OK(stat(p, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0700, "run dir is 0700");
	vl_store_close(&s);

	chmod(p, 0755);
	OK(vl_store_open(&s, p, &e) == 0, "open a 0755 run dir");
	OK(stat(p, &st) == 0 && (st.st_mode & 07777) == 0755, "its mode is left as it is");
	vl_store_close(&s);

	chmod(p, 01777);
	OK(vl_store_open(&s, p, &e) < 0 && e.code == EPERM && strstr(e.msg, "writable by group or others (mode 1777)") &&
	   strstr(e.msg, "fix it with: chmod 0700 "), "a run dir others can write to is refused: %s", e.msg);
	OK(stat(p, &st) == 0 && (st.st_mode & 07777) == 01777, "and never chmod-ed");
	chmod(p, 0700);

	path_of(q, sizeof q, "link");
	symlink(p, q);
	OK(vl_store_open(&s, q, &e) < 0 && e.code == ELOOP && strstr(e.msg, "is a symlink"),
	   "symlink refused: %s", e.msg);

	path_of(q, sizeof q, "plain");
	write_file("plain", "x", 1);
	OK(vl_store_open(&s, q, &e) < 0 && e.code == ENOTDIR && strstr(e.msg, "not a directory"),
	   "file refused: %s", e.msg);

	path_of(q, sizeof q, "theirs");
	mkdir(q, 0700);
	if (chown(q, 1000, 1000) == 0) {
		OK(vl_store_open(&s, q, &e) < 0 && e.code == EPERM &&
		   strstr(e.msg, "owned by uid 1000, not 0"), "other owner refused: %s", e.msg);
	} else {
		OK(0, "chown to uid 1000 (the tests run as root)");
	}

	path_of(q, sizeof q, "missing/run");
	OK(vl_store_open(&s, q, &e) < 0 && e.code == ENOENT, "missing parent: %s", e.msg);
}

/* ---- save and load ------------------------------------------------------- */

static void test_save_load(vl_store *s)
{
	vl_error e;
	char p[256];
	struct stat st;

	struct json_object *o = state_with("pid", 42);
	OK(vl_store_save(s, "a1", o, NULL, &e) == 0, "save");
	json_object_put(o);
	OK(load_int(s, "a1", "pid", &e) == 42, "load what was saved");
	OK(load_int(s, "a1", "schema", &e) == 1, "schema 1 written");
	path_of(p, sizeof p, "run/a1/state.json");
	OK(stat(p, &st) == 0 && (st.st_mode & 07777) == 0600, "state.json is 0600");
	path_of(p, sizeof p, "run/a1");
	OK(stat(p, &st) == 0 && (st.st_mode & 07777) == 0700, "sandbox dir is 0700");
	OK(count_entries("run/a1", "state.json.") == 0, "no temp file left behind");

	o = state_with("pid", 43);
	OK(vl_store_save(s, "a1", o, NULL, &e) == 0 && load_int(s, "a1", "pid", &e) == 43,
	   "save replaces");
	json_object_put(o);

	o = json_object_new_array();
	OK(vl_store_save(s, "a1", o, NULL, &e) < 0 && e.code == EINVAL, "array refused: %s", e.msg);
	json_object_put(o);

	struct json_object *r = NULL;
	OK(vl_store_load(s, "nope", &r, &e) < 0 && e.code == ENOENT && r == NULL &&
	   strcmp(e.msg, "no state for sandbox 'nope'") == 0, "missing: %s", e.msg);
	OK(vl_store_load(s, "a1", &r, &e) == 0 && r != NULL, "load returns an object");
	json_object_put(r);

	char dir[PATH_MAX];
	OK(vl_store_dir_of(s, "b2", dir, sizeof dir, &e) == 0 && strstr(dir, "/run/b2") != NULL,
	   "dir_of: %s", dir);
	OK(vl_store_load(s, "b2", &r, &e) < 0 && e.code == ENOENT, "dir without state: ENOENT");
}

/* ---- atomicity ----------------------------------------------------------- */

static int kill_self(void *arg, int dirfd, const char *tmp)
{
	(void)arg;
	(void)dirfd;
	(void)tmp;
	raise(SIGKILL);
	return 0;
}

static int fail_eio(void *arg, int dirfd, const char *tmp)
{
	struct stat st;
	*(int *)arg = fstatat(dirfd, tmp, &st, 0) == 0 && st.st_size > 0;
	errno = EIO;
	return -1;
}

static void test_atomic(vl_store *s)
{
	vl_error e;
	struct json_object *o = state_with("gen", 1);
	vl_store_save(s, "at", o, NULL, &e);
	json_object_put(o);

	pid_t pid = fork();
	if (pid == 0) {
		vl_save_hook hook = { kill_self, NULL };
		struct json_object *o2 = state_with("gen", 2);
		vl_store_save(s, "at", o2, &hook, &e);
		_exit(0);
	}
	int status;
	waitpid(pid, &status, 0);
	OK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "writer killed before the rename");
	OK(count_entries("run/at", "state.json.") == 1, "its temp file is still there");
	OK(load_int(s, "at", "gen", &e) == 1, "the old state is whole and loadable");

	char **ids;
	size_t n;
	OK(vl_store_list(s, &ids, &n, &e) == 0, "list");
	int at = 0;
	for (size_t i = 0; i < n; i++)
		at += strcmp(ids[i], "at") == 0;
	OK(at == 1, "the sandbox is listed once (temp files are not states)");
	vl_store_list_free(ids, n);

	int had_data = 0;
	vl_save_hook hook = { fail_eio, &had_data };
	o = state_with("gen", 3);
	OK(vl_store_save(s, "at", o, &hook, &e) < 0 && e.code == EIO &&
	   strstr(e.msg, "before rename: Input/output error"), "failed save reports: %s", e.msg);
	json_object_put(o);
	OK(had_data, "the temp file was complete before the rename");
	OK(count_entries("run/at", "state.json.") == 1, "a failed save removes its temp file");
	OK(load_int(s, "at", "gen", &e) == 1, "and leaves the old state");
}

/* ---- corrupt files ------------------------------------------------------- */

static void expect_corrupt(vl_store *s, const char *data, size_t len, const char *reason)
{
	vl_error e;
	struct json_object *o = NULL;
	char want[512];

	mkdir(strcat(strcpy(want, base), "/run/bad"), 0700);
	write_file("run/bad/state.json", data, len);
	snprintf(want, sizeof want, "state file %s/run/bad/state.json: %s", base, reason);
	int rc = vl_store_load(s, "bad", &o, &e);
	OK(rc < 0 && o == NULL && strncmp(e.msg, want, strlen(want)) == 0 && e.code == 0,
	   "corrupt file (%s): %s", reason, e.msg);
}

static void test_corrupt(vl_store *s)
{
	expect_corrupt(s, "", 0, "empty");
	expect_corrupt(s, "{\"schema\": 1, \"pid\": 4", 22, "json: unexpected end of data at offset 22");
	expect_corrupt(s, "{\"schema\": 1} trailing", 22, "json: unexpected character at offset 14");
	expect_corrupt(s, "\x7f" "ELF\x01\x02", 6, "json: unexpected character at offset 0");
	expect_corrupt(s, "[1, 2]", 6, "not a JSON object");
	expect_corrupt(s, "\"text\"", 6, "not a JSON object");
	expect_corrupt(s, "{\"pid\": 1}", 10, "no schema field (expected 1)");
	expect_corrupt(s, "{\"schema\": 2}", 13, "schema 2 is not supported (expected 1)");
	expect_corrupt(s, "{\"schema\": \"1\"}", 15, "schema \"1\" is not supported");
	expect_corrupt(s, "{\"schema\": 1, \"a\": NaN}", 23, "json: NaN and Infinity are not JSON at offset 19");

	size_t big = VL_STATE_MAX + 1;
	char *huge = malloc(big);
	memset(huge, ' ', big);
	huge[0] = '{';
	expect_corrupt(s, huge, big, "too large");
	free(huge);

	char deep[1000];
	memset(deep, '[', sizeof deep);
	expect_corrupt(s, deep, sizeof deep, "json: nesting too deep");

	vl_error e;
	struct json_object *o = NULL;
	char p[256], q[256];
	path_of(p, sizeof p, "run/bad/state.json");
	unlink(p);
	path_of(q, sizeof q, "plain");
	symlink(q, p);
	OK(vl_store_load(s, "bad", &o, &e) < 0 && strstr(e.msg, "is a symlink"),
	   "symlinked state file refused: %s", e.msg);
	unlink(p);
	mkfifo(p, 0600);
	OK(vl_store_load(s, "bad", &o, &e) < 0 && strstr(e.msg, "not a regular file"),
	   "a FIFO does not hang the reader: %s", e.msg);
}

/* ---- locks --------------------------------------------------------------- */

/* A child that locks id (no wait), writes its result byte to the parent and
 * holds the lock until the parent closes `hold`. */
static pid_t racer(vl_store *s, const char *id, int report, int hold, int hold_w)
{
	pid_t pid = fork();
	if (pid == 0) {
		vl_error e;
		close(hold_w);
		int fd;
		char r = vl_store_lock(s, id, 0, &fd, &e) == 0 ? 'L' : e.code == EWOULDBLOCK ? 'B' : 'E';
		if (write(report, &r, 1) != 1)
			_exit(3);
		char c;
		while (read(hold, &c, 1) > 0)
			;
		_exit(0);
	}
	return pid;
}

static void test_lock_race(vl_store *s)
{
	int rep[2], hold[2];
	pipe2(rep, O_CLOEXEC);
	pipe2(hold, O_CLOEXEC);
	pid_t a = racer(s, "race", rep[1], hold[0], hold[1]);
	pid_t b = racer(s, "race", rep[1], hold[0], hold[1]);
	char r[2] = { 0, 0 };
	OK(read(rep[0], &r[0], 1) == 1 && read(rep[0], &r[1], 1) == 1, "both racers report");
	OK((r[0] == 'L' && r[1] == 'B') || (r[0] == 'B' && r[1] == 'L'),
	   "exactly one wins, the other gets EWOULDBLOCK (%c%c)", r[0], r[1]);

	vl_error e;
	int fd;
	double t0 = now();
	OK(vl_store_lock(s, "race", 0.3, &fd, &e) < 0 && e.code == EWOULDBLOCK &&
	   strcmp(e.msg, "sandbox 'race' is locked by another process") == 0,
	   "a timed wait gives up: %s", e.msg);
	OK(now() - t0 >= 0.29, "after its timeout (%.3f s)", now() - t0);

	close(hold[1]);
	waitpid(a, NULL, 0);
	waitpid(b, NULL, 0);
	OK(vl_store_lock(s, "race", 0, &fd, &e) == 0, "free once the holders exit");
	close(fd);
	close(rep[0]);
	close(rep[1]);
	close(hold[0]);
}

static void test_lock_wait(vl_store *s)
{
	int ready[2];
	pipe2(ready, O_CLOEXEC);
	pid_t pid = fork();
	if (pid == 0) {
		vl_error e;
		int fd;
		if (vl_store_lock(s, "w", 0, &fd, &e) < 0)
			_exit(1);
		char c = 'L';
		if (write(ready[1], &c, 1) != 1)
			_exit(3);
		usleep(200000);	/* a deliberate delay: hold the lock 200 ms */
		_exit(0);	/* exiting releases it */
	}
	char c;
	OK(read(ready[0], &c, 1) == 1, "holder has the lock");
	vl_error e;
	int fd;
	double t0 = now();
	OK(vl_store_lock(s, "w", 5, &fd, &e) == 0, "waiter gets the lock after the holder exits");
	double waited = now() - t0;
	OK(waited > 0.1 && waited < 0.6, "woken by the release, not a poll tick (%.3f s)", waited);
	close(fd);
	waitpid(pid, NULL, 0);

	pid = fork();
	if (pid == 0) {
		vl_error e2;
		int fd2;
		if (vl_store_lock(s, "w", 0, &fd2, &e2) < 0)
			_exit(1);
		c = 'L';
		if (write(ready[1], &c, 1) != 1)
			_exit(3);
		usleep(200000);
		close(fd2);	/* unlock by closing, then stay alive */
		pause();
		_exit(0);
	}
	OK(read(ready[0], &c, 1) == 1, "holder has the lock again");
	t0 = now();
	OK(vl_store_lock(s, "w", -1, &fd, &e) == 0, "wait forever gets it after an unlock");
	waited = now() - t0;
	OK(waited > 0.1 && waited < 0.6, "woken by the close (%.3f s)", waited);
	close(fd);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(ready[0]);
	close(ready[1]);
}

/* The holder swaps the lock file under a waiter: it unlinks the file it
 * holds, creates and locks a new one, then closes the old one. The waiter
 * wakes with the old inode locked and must notice it is not the lock. */
static void test_lock_replaced(vl_store *s)
{
	int ready[2], done[2];
	char p[256];
	pipe2(ready, O_CLOEXEC);
	pipe2(done, O_CLOEXEC);
	path_of(p, sizeof p, "run/swap/lock");

	pid_t pid = fork();
	if (pid == 0) {
		vl_error e;
		int old;
		close(done[1]);
		if (vl_store_lock(s, "swap", 0, &old, &e) < 0)
			_exit(1);
		char c = 'L';
		if (write(ready[1], &c, 1) != 1)
			_exit(3);
		usleep(100000);	/* a deliberate delay: let the parent start waiting */
		unlink(p);
		int fresh = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		flock(fresh, LOCK_EX);
		close(old);
		while (read(done[0], &c, 1) > 0)
			;
		_exit(0);
	}
	close(done[0]);
	char c;
	OK(read(ready[0], &c, 1) == 1, "holder has the lock");
	vl_error e;
	int fd;
	int rc = vl_store_lock(s, "swap", 0.6, &fd, &e);
	OK(rc < 0 && e.code == EWOULDBLOCK,
	   "a lock on a removed lock file is not trusted: %s", rc < 0 ? e.msg : "locked!");
	close(done[1]);
	waitpid(pid, NULL, 0);
	OK(vl_store_lock(s, "swap", 0, &fd, &e) == 0, "the new lock file is free once released");
	struct stat a, b;
	OK(fstat(fd, &a) == 0 && stat(p, &b) == 0 && a.st_ino == b.st_ino,
	   "and the lock is on the file at the path");
	close(fd);
	close(ready[0]);
	close(ready[1]);
}

/* ---- list and remove ----------------------------------------------------- */

static void test_list_remove(vl_store *s)
{
	vl_error e;
	char p[256], outside[256];
	char **ids;
	size_t n;

	vl_store_close(s);
	path_of(p, sizeof p, "run2");
	vl_store_open(s, p, &e);
	const char *names[] = { "zeta", "alpha", "m-1" };
	for (int i = 0; i < 3; i++) {
		struct json_object *o = state_with("i", i);
		vl_store_save(s, names[i], o, NULL, &e);
		json_object_put(o);
	}
	char dir[PATH_MAX];
	vl_store_dir_of(s, "nostate", dir, sizeof dir, &e);
	path_of(p, sizeof p, "run2/.hidden");
	mkdir(p, 0700);
	path_of(p, sizeof p, "run2/linked");
	path_of(outside, sizeof outside, "run2/alpha");
	symlink(outside, p);

	int rc = vl_store_list(s, &ids, &n, &e);
	OK(rc == 0 && n == 3 && strcmp(ids[0], "alpha") == 0 &&
	   strcmp(ids[1], "m-1") == 0 && strcmp(ids[2], "zeta") == 0,
	   "list: sorted ids with a state, no symlinks, no odd names (%zu)", n);
	vl_store_list_free(ids, n);

	/* A sandbox dir with a subdir, a socket-ish file and a symlink out. */
	path_of(outside, sizeof outside, "precious");
	write_file("precious", "keep", 4);
	path_of(p, sizeof p, "run2/zeta/sub");
	mkdir(p, 0700);
	write_file("run2/zeta/sub/log", "x", 1);
	path_of(p, sizeof p, "run2/zeta/out");
	symlink(outside, p);
	path_of(p, sizeof p, "run2/zeta/outdir");
	symlink(base, p);
	OK(vl_store_remove(s, "zeta", &e) == 0, "remove");
	path_of(p, sizeof p, "run2/zeta");
	struct stat st;
	OK(lstat(p, &st) < 0 && errno == ENOENT, "the sandbox dir is gone");
	OK(stat(outside, &st) == 0 && st.st_size == 4, "the symlink's target is untouched");
	OK(vl_store_remove(s, "zeta", &e) < 0 && e.code == ENOENT &&
	   strcmp(e.msg, "no state for sandbox 'zeta'") == 0, "remove again: %s", e.msg);
	OK(vl_store_remove(s, "linked", &e) == 0 && lstat(p, &st) < 0 &&
	   stat(strcat(strcpy(p, base), "/run2/alpha/state.json"), &st) == 0,
	   "removing a symlinked sandbox removes the link only");
	OK(vl_store_remove(s, "../run", &e) < 0 && e.code == EINVAL, "bad id: %s", e.msg);
	int fd = -1;
	OK(vl_store_lock(s, "", 0, &fd, &e) < 0 && e.code == EINVAL && fd == -1,
	   "lock with an empty id refused");
}

int main(void)
{
	snprintf(base, sizeof base, "/tmp/vl-state-%d", (int)getpid());
	mkdir(base, 0700);
	setvbuf(stdout, NULL, _IONBF, 0);

	test_open();
	vl_store s;
	vl_error e;
	char p[256];
	path_of(p, sizeof p, "run");
	if (!OK(vl_store_open(&s, p, &e) == 0, "open the run dir: %s", e.msg))
		return tap_done();
	test_save_load(&s);
	test_atomic(&s);
	test_corrupt(&s);
	test_lock_race(&s);
	test_lock_wait(&s);
	test_lock_replaced(&s);
	test_list_remove(&s);
	vl_store_close(&s);

	char failed[256];
	int parent = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	OK(vl_remove_tree_at(parent, base + 5, failed, sizeof failed) == 0, "clean up %s", base);
	close(parent);
	return tap_done();
}
