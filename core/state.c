/*
 * The state store: run dir checks, crash-safe state.json replacement,
 * checked loading, listing and removal (see state.h). Locking is in
 * statelock.c.
 *
 * Everything below the run dir is reached with *at() calls relative to
 * directory fds opened O_NOFOLLOW, so a symlink planted in the run dir
 * cannot redirect a write or a removal.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <json-c/json.h>
#include <linux/openat2.h>

#include "fsutil.h"
#include "jsontext.h"
#include "paths.h"
#include "state.h"

/* A directory or file of the store must be the caller's, and a directory
 * must not be writable by group or others, who could plant or replace what
 * is in it. Nothing is ever chmod-ed: the fix is the owner's decision. */
static int check_ours(uid_t uid, const struct stat *st, const char *what, const char *path, vl_error *e)
{
	if (st->st_uid != uid)
		return vl_err(e, EPERM, "%s %s: owned by uid %u, not %u", what, path, (unsigned)st->st_uid,
			      (unsigned)uid);
	if (S_ISDIR(st->st_mode) && (st->st_mode & 022) != 0)
		return vl_err(e, EPERM, "%s %s: writable by group or others (mode %04o); fix it with: chmod 0700 %s",
			      what, path, (unsigned)(st->st_mode & 07777), path);
	return 0;
}

int vl_store_open(vl_store *s, const char *run_dir, vl_error *e)
{
	struct stat st;

	s->dirfd = -1;
	s->uid = geteuid();
	if (strlen(run_dir) >= sizeof s->dir)
		return vl_err(e, ENAMETOOLONG, "run dir %.64s...: path too long", run_dir);
	strlcpy(s->dir, run_dir, sizeof s->dir);
	if (*run_dir == '\0')
		return vl_err(e, EINVAL, "run dir: empty path");
	/* "/run/vmlua/" names the same dir as "/run/vmlua": keep paths tidy. */
	for (size_t n = strlen(s->dir); n > 1 && s->dir[n - 1] == '/'; n--)
		s->dir[n - 1] = '\0';
	run_dir = s->dir;

	if (lstat(run_dir, &st) < 0) {
		if (errno != ENOENT)
			return vl_err_sys(e, errno, "run dir %s", run_dir);
		if (mkdir(run_dir, 0700) < 0 && errno != EEXIST)
			return vl_err_sys(e, errno, "run dir %s", run_dir);
	} else if (S_ISLNK(st.st_mode)) {
		return vl_err(e, ELOOP, "run dir %s: is a symlink", run_dir);
	} else if (!S_ISDIR(st.st_mode)) {
		return vl_err(e, ENOTDIR, "run dir %s: not a directory", run_dir);
	}

	int fd = open(run_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		int err = errno;
		if (err == ELOOP)
			return vl_err(e, err, "run dir %s: is a symlink", run_dir);
		if (err == ENOTDIR)
			return vl_err(e, err, "run dir %s: not a directory", run_dir);
		return vl_err_sys(e, err, "run dir %s", run_dir);
	}
	if (fstat(fd, &st) < 0)
		return vl_err_sys(e, vl_close_keep_errno(fd), "run dir %s", run_dir);
	if (check_ours(s->uid, &st, "run dir", run_dir, e) < 0) {
		close(fd);
		return -1;
	}
	s->dirfd = fd;
	return 0;
}

void vl_store_close(vl_store *s)
{
	if (s->dirfd >= 0)
		close(s->dirfd);
	s->dirfd = -1;
}

/* The sandbox dir (open as dirfd, or -1: looked up by name), checked with
 * check_ours; with its state.json, if there is one, when both is set. */
static int check_entry(vl_store *s, const char *id, int dirfd, int both, vl_error *e)
{
	char path[PATH_MAX + VL_ID_MAX + sizeof "/" VL_STATE_FILE + 1];
	char rel[VL_ID_MAX + sizeof "/" VL_STATE_FILE];
	struct stat st;

	snprintf(path, sizeof path, "%s/%s", s->dir, id);
	if (dirfd >= 0 ? fstat(dirfd, &st) < 0 : fstatat(s->dirfd, id, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return vl_err_sys(e, errno, "sandbox dir %s", path);
	if (check_ours(s->uid, &st, "sandbox dir", path, e) < 0)
		return -1;
	if (!both)
		return 0;
	snprintf(rel, sizeof rel, "%s/" VL_STATE_FILE, id);
	int r = dirfd >= 0 ? fstatat(dirfd, VL_STATE_FILE, &st, AT_SYMLINK_NOFOLLOW)
			   : fstatat(s->dirfd, rel, &st, AT_SYMLINK_NOFOLLOW);
	snprintf(path, sizeof path, "%s/%s", s->dir, rel);
	if (r < 0)
		return errno == ENOENT ? 0 : vl_err_sys(e, errno, "state file %s", path);
	return check_ours(s->uid, &st, "state file", path, e);
}

int vl_store_open_sandbox(vl_store *s, const char *id, int create, vl_error *e)
{
	if (vl_check_id(id, strlen(id), e) < 0)
		return -1;
	if (create && mkdirat(s->dirfd, id, 0700) < 0 && errno != EEXIST)
		return vl_err_sys(e, errno, "sandbox dir %s/%s", s->dir, id);
	int fd = openat(s->dirfd, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		int err = errno;
		struct stat st;
		/* Linux says ENOTDIR, not ELOOP, for a symlink opened with
		 * O_DIRECTORY | O_NOFOLLOW: look, to name the cause. */
		if (err == ENOTDIR && fstatat(s->dirfd, id, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISLNK(st.st_mode))
			err = ELOOP;
		if (err == ELOOP || err == ENOTDIR)
			return vl_err(e, err, "sandbox dir %s/%s: %s", s->dir, id,
				      err == ELOOP ? "is a symlink" : "not a directory");
		return vl_err_sys(e, err, "sandbox dir %s/%s", s->dir, id);
	}
	if (check_entry(s, id, fd, 1, e) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int vl_store_dir_of(vl_store *s, const char *id, char *out, size_t size, vl_error *e)
{
	int fd = vl_store_open_sandbox(s, id, 1, e);
	if (fd < 0)
		return -1;
	close(fd);
	int n = snprintf(out, size, "%s/%s", s->dir, id);
	if (n < 0 || (size_t)n >= size)
		return vl_err(e, ENAMETOOLONG, "sandbox dir %s/%s: path too long", s->dir, id);
	return 0;
}

/* ---- save ---------------------------------------------------------------- */

/* Create a fresh temp file "state.json.XXXXXX" in dirfd. */
static int create_temp(int dirfd, char *name, size_t size)
{
	for (int tries = 0; tries < 100; tries++) {
		snprintf(name, size, VL_STATE_FILE ".%06x", (unsigned)arc4random_uniform(0x1000000));
		int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd >= 0 || errno != EEXIST)
			return fd;
	}
	errno = EEXIST;
	return -1;
}

/* Write text to a new temp file in dirfd and publish it as state.json.
 * Returns 0, or -1 with *op naming the step that failed and errno set. */
static int write_and_publish(int dirfd, const char *text, size_t len, const vl_save_hook *hook,
			     const char **op)
{
	char tmp[64];
	int fd = create_temp(dirfd, tmp, sizeof tmp);
	if (fd < 0) {
		*op = "create temp file";
		return -1;
	}
	int rc = -1;
	if (vl_write_all(fd, text, len) < 0 || vl_write_all(fd, "\n", 1) < 0)
		*op = "write";
	else if (fchmod(fd, 0600) < 0)
		*op = "fchmod";
	else if (fsync(fd) < 0)
		*op = "fsync";
	else
		rc = 0;
	int err = errno;
	if (close(fd) < 0 && rc == 0) {
		err = errno;
		*op = "close";
		rc = -1;
	}
	if (rc == 0 && hook != NULL && hook->before_rename != NULL &&
	    hook->before_rename(hook->arg, dirfd, tmp) < 0) {
		err = errno;
		*op = "before rename";
		rc = -1;
	}
	if (rc == 0 && renameat(dirfd, tmp, dirfd, VL_STATE_FILE) < 0) {
		err = errno;
		*op = "rename";
		rc = -1;
	}
	if (rc < 0) {
		unlinkat(dirfd, tmp, 0);
		errno = err;
		return -1;
	}
	/* The rename is durable once the directory is. */
	if (fsync(dirfd) < 0) {
		*op = "fsync dir";
		return -1;
	}
	return 0;
}

int vl_store_save(vl_store *s, const char *id, struct json_object *state,
		  const vl_save_hook *hook, vl_error *e)
{
	if (!json_object_is_type(state, json_type_object))
		return vl_err(e, EINVAL, "state for sandbox '%s' must be a JSON object", id);
	int dirfd = vl_store_open_sandbox(s, id, 1, e);
	if (dirfd < 0)
		return -1;
	struct json_object *schema = json_object_new_int(VL_STATE_SCHEMA);
	size_t len = 0;
	const char *text = NULL;
	if (schema != NULL && json_object_object_add(state, "schema", schema) == 0)
		text = json_object_to_json_string_length(state, vl_json_flags(1), &len);
	else
		json_object_put(schema);
	if (text == NULL) {
		close(dirfd);
		return vl_err_sys(e, ENOMEM, "state file %s/%s/" VL_STATE_FILE, s->dir, id);
	}
	const char *op = "";
	int rc = write_and_publish(dirfd, text, len, hook, &op);
	int err = vl_close_keep_errno(dirfd);
	if (rc < 0)
		return vl_err_sys(e, err, "state file %s/%s/" VL_STATE_FILE ": %s", s->dir, id, op);
	return 0;
}

/* ---- load ---------------------------------------------------------------- */

static int no_state(vl_error *e, const char *id)
{
	return vl_err(e, ENOENT, "no state for sandbox '%s'", id);
}

/* O_NONBLOCK: a FIFO planted as state.json must not hang us. */
#define STATE_OPEN_FLAGS (O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)

/* Open <id>/state.json below the run dir without following a symlink on
 * the way. openat2's RESOLVE_NO_SYMLINKS does it in one call (`ps` opens a
 * thousand of these); when that fails for any reason (an old kernel, no
 * state, a symlink) the step-by-step path below runs and gives the precise
 * message. */
static int open_state_file(vl_store *s, const char *id, const char *path, vl_error *e)
{
#ifdef SYS_openat2
	char rel[VL_ID_MAX + sizeof "/" VL_STATE_FILE];
	struct open_how how = {
		.flags = STATE_OPEN_FLAGS,
		.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH,
	};
	snprintf(rel, sizeof rel, "%s/" VL_STATE_FILE, id);
	int fast = (int)syscall(SYS_openat2, s->dirfd, rel, &how, sizeof how);
	/* The run dir is ours and no one else may write to it, so the entry
	 * checked by name is the one just opened (the file itself is checked
	 * by the caller's fstat). */
	if (fast >= 0 && check_entry(s, id, -1, 0, e) < 0) {
		close(fast);
		return -1;
	}
	if (fast >= 0)
		return fast;
#endif
	int dirfd = vl_store_open_sandbox(s, id, 0, e);
	if (dirfd < 0)
		return e->code == ENOENT ? no_state(e, id) : -1;
	int fd = openat(dirfd, VL_STATE_FILE, STATE_OPEN_FLAGS);
	int err = vl_close_keep_errno(dirfd);
	if (fd >= 0)
		return fd;
	if (err == ENOENT)
		return no_state(e, id);
	if (err == ELOOP)
		return vl_err(e, err, "state file %s: is a symlink", path);
	return vl_err_sys(e, err, "state file %s", path);
}

int vl_store_load(vl_store *s, const char *id, struct json_object **out, vl_error *e)
{
	char path[PATH_MAX + 128];

	*out = NULL;
	if (vl_check_id(id, strlen(id), e) < 0)
		return -1;
	snprintf(path, sizeof path, "%s/%s/" VL_STATE_FILE, s->dir, id);
	int fd = open_state_file(s, id, path, e);
	if (fd < 0)
		return -1;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return vl_err_sys(e, vl_close_keep_errno(fd), "state file %s", path);
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return vl_err(e, 0, "state file %s: not a regular file", path);
	}
	if (check_ours(s->uid, &st, "state file", path, e) < 0) {
		close(fd);
		return -1;
	}
	char *text;
	size_t len;
	if (vl_read_all_stat(fd, &st, VL_STATE_MAX, &text, &len) < 0) {
		int err = vl_close_keep_errno(fd);
		if (err == EFBIG)
			return vl_err(e, 0, "state file %s: too large (over %u bytes)", path, VL_STATE_MAX);
		return vl_err_sys(e, err, "state file %s", path);
	}
	close(fd);
	int rc = vl_state_parse(text, len, id, path, out, e);
	free(text);
	return rc;
}

/* ---- list, remove -------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void vl_store_list_free(char **ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

/* 1 when de (an entry of the run dir) is a sandbox of ours with a state
 * file: a real directory (not a symlink to one) and a regular file, both
 * owned by the caller. Another user's entries are theirs to list. */
static int has_state(const vl_store *s, const struct dirent *de)
{
	int dirfd = s->dirfd;
	struct stat st;
	char rel[VL_ID_MAX + sizeof "/" VL_STATE_FILE];
	vl_error ignored;
	const char *name = de->d_name;

	if (vl_check_id(name, strlen(name), &ignored) < 0 || (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN))
		return 0;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != s->uid)
		return 0;
	snprintf(rel, sizeof rel, "%s/" VL_STATE_FILE, name);
	return fstatat(dirfd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
	       st.st_uid == s->uid;
}

int vl_store_list(vl_store *s, char ***ids, size_t *n, vl_error *e)
{
	*ids = NULL;
	*n = 0;
	int fd = openat(s->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (d == NULL)
		return vl_err_sys(e, vl_close_keep_errno(fd), "run dir %s", s->dir);
	size_t cap = 0;
	struct dirent *de;
	int err = 0;
	while ((de = readdir(d)) != NULL) {
		if (!has_state(s, de))
			continue;
		if (*n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			char **p = realloc(*ids, ncap * sizeof *p);
			if (p == NULL) {
				err = ENOMEM;
				break;
			}
			*ids = p;
			cap = ncap;
		}
		if (((*ids)[*n] = strdup(de->d_name)) == NULL) {
			err = ENOMEM;
			break;
		}
		(*n)++;
	}
	closedir(d);
	if (err != 0) {
		vl_store_list_free(*ids, *n);
		*ids = NULL;
		*n = 0;
		return vl_err_sys(e, err, "run dir %s", s->dir);
	}
	if (*n > 1)
		qsort(*ids, *n, sizeof **ids, cmp_str);
	return 0;
}

int vl_store_remove(vl_store *s, const char *id, vl_error *e)
{
	char failed[PATH_MAX];

	if (vl_check_id(id, strlen(id), e) < 0)
		return -1;
	/* By name: a symlink planted as <id> is removed itself (if it is ours). */
	if (check_entry(s, id, -1, 1, e) < 0)
		return e->code == ENOENT ? no_state(e, id) : -1;
	if (vl_remove_tree_at(s->dirfd, id, failed, sizeof failed) < 0) {
		int err = errno;
		if (err == ENOENT && strcmp(failed, id) == 0)
			return no_state(e, id);
		return vl_err_sys(e, err, "remove %s/%s", s->dir, failed);
	}
	return 0;
}
