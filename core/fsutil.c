/*
 * Whole reads and writes, and a symlink-safe recursive remove (see fsutil.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"

int vl_close_keep_errno(int fd)
{
	int err = errno;

	if (fd >= 0)
		close(fd);
	errno = err;
	return err;
}

int vl_write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

int vl_read_all(int fd, size_t max, char **out, size_t *len)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -1;
	return vl_read_all_stat(fd, &st, max, out, len);
}

int vl_read_all_stat(int fd, const struct stat *st, size_t max, char **out, size_t *len)
{
	size_t cap, n = 0;

	if ((uintmax_t)st->st_size > max) {
		errno = EFBIG;
		return -1;
	}
	/* Room for the NUL and one byte more, so that the read that sees the
	 * end of a file of exactly max bytes has somewhere to go. */
	cap = (size_t)st->st_size + 2;
	char *buf = malloc(cap);
	if (buf == NULL)
		return -1;
	for (;;) {
		if (n + 1 == cap) {
			/* The file grew since fstat: keep reading up to max. */
			if (n > max) {
				free(buf);
				errno = EFBIG;
				return -1;
			}
			char *p = realloc(buf, cap * 2);
			if (p == NULL) {
				free(buf);
				return -1;
			}
			buf = p;
			cap *= 2;
		}
		size_t want = cap - 1 - n;
		ssize_t r = read(fd, buf + n, want);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			free(buf);
			errno = e;
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		/* A regular file's read comes up short only at its end: no need
		 * for one more read to see EOF. (procfs and friends report size
		 * 0 and are read until read() says 0.) */
		if (S_ISREG(st->st_mode) && st->st_size > 0 && (size_t)r < want)
			break;
	}
	if (n > max) {
		free(buf);
		errno = EFBIG;
		return -1;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

static int fail_at(char *failed, size_t size, const char *prefix, const char *name)
{
	int e = errno;
	if (prefix != NULL && *prefix)
		snprintf(failed, size, "%s/%s", prefix, name);
	else
		snprintf(failed, size, "%s", name);
	errno = e;
	return -1;
}

/* Remove one entry of the directory fd: a file or link, or a directory on
 * the same filesystem, recursively. */
static int empty_dir(int fd, dev_t dev, const char *prefix, char *failed, size_t size, int depth);

static int remove_entry(int fd, dev_t dev, const char *prefix, const char *name, char *failed,
			size_t size, int depth)
{
	struct stat st;

	if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : fail_at(failed, size, prefix, name);
	if (!S_ISDIR(st.st_mode)) {
		if (unlinkat(fd, name, 0) < 0 && errno != ENOENT)
			return fail_at(failed, size, prefix, name);
		return 0;
	}
	if (st.st_dev != dev || depth > 256) {
		errno = st.st_dev != dev ? EXDEV : ELOOP;
		return fail_at(failed, size, prefix, name);
	}
	int sub = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sub < 0)
		return fail_at(failed, size, prefix, name);
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", prefix, name);
	int rc = empty_dir(sub, dev, path, failed, size, depth + 1);
	int err = errno;
	close(sub);
	if (rc < 0) {
		errno = err;
		return -1;
	}
	if (unlinkat(fd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return fail_at(failed, size, prefix, name);
	return 0;
}

/* Empty the directory open as fd (prefix: its path, for messages).
 * 0, or -1 with errno and failed[] set by the first failure. */
static int empty_dir(int fd, dev_t dev, const char *prefix, char *failed, size_t size, int depth)
{
	int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	DIR *d = dup_fd < 0 ? NULL : fdopendir(dup_fd);
	if (d == NULL) {
		int e = errno;
		if (dup_fd >= 0)
			close(dup_fd);
		errno = e;
		return fail_at(failed, size, NULL, prefix);
	}
	int rc = 0, err = 0;
	for (;;) {
		errno = 0;
		struct dirent *de = readdir(d);
		if (de == NULL) {
			if (errno != 0) {
				err = errno;
				rc = fail_at(failed, size, NULL, prefix);
			}
			break;
		}
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (remove_entry(fd, dev, prefix, de->d_name, failed, size, depth) < 0) {
			err = errno;
			rc = -1;
			break;
		}
	}
	closedir(d);
	errno = err;
	return rc;
}

int vl_remove_tree_at(int dirfd, const char *name, char *failed, size_t size)
{
	struct stat st, parent;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || fstat(dirfd, &parent) < 0)
		return fail_at(failed, size, NULL, name);
	if (!S_ISDIR(st.st_mode)) {
		if (unlinkat(dirfd, name, 0) < 0)
			return fail_at(failed, size, NULL, name);
		return 0;
	}
	if (st.st_dev != parent.st_dev) {
		errno = EXDEV;
		return fail_at(failed, size, NULL, name);
	}
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return fail_at(failed, size, NULL, name);
	int rc = empty_dir(fd, st.st_dev, name, failed, size, 0);
	int e = errno;
	close(fd);
	if (rc < 0) {
		errno = e;
		return -1;
	}
	if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0)
		return fail_at(failed, size, NULL, name);
	return 0;
}

int vl_find_executable(const char *name, const char *path, char *out, size_t outlen)
{
	int denied = 0, toolong = 0;

	if (path == NULL) {
		path = getenv("PATH");
		if (path == NULL || *path == '\0')
			path = "/usr/local/bin:/usr/bin:/bin";
	}
	for (const char *p = path; *p;) {
		const char *end = strchrnul(p, ':');
		size_t len = (size_t)(end - p);
		if (len > 0) {
			int n = snprintf(out, outlen, "%.*s/%s", (int)len, p, name);
			struct stat st;
			if (n < 0 || (size_t)n >= outlen)
				toolong = 1;
			else if (stat(out, &st) == 0 && S_ISREG(st.st_mode)) {
				/* execve checks the effective ids */
				if (faccessat(AT_FDCWD, out, X_OK, AT_EACCESS) == 0)
					return 0;
				denied = 1;
			}
		}
		p = *end ? end + 1 : end;
	}
	errno = denied ? EACCES : toolong ? ENAMETOOLONG : ENOENT;
	return -1;
}
