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
	size_t cap, n = 0;

	if (fstat(fd, &st) < 0)
		return -1;
	if ((uintmax_t)st.st_size > max) {
		errno = EFBIG;
		return -1;
	}
	cap = (size_t)st.st_size + 1;
	char *buf = malloc(cap);
	if (buf == NULL)
		return -1;
	for (;;) {
		if (n + 1 == cap) {
			/* The file grew since fstat: keep reading up to max. */
			if (cap > max) {
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
		ssize_t r = read(fd, buf + n, cap - 1 - n);
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

/* Empty the directory open as fd (prefix: its path, for messages). */
static int empty_dir(int fd, dev_t dev, const char *prefix, char *failed, size_t size, int depth)
{
	int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dup_fd < 0)
		return fail_at(failed, size, NULL, prefix);
	DIR *d = fdopendir(dup_fd);
	if (d == NULL) {
		int e = errno;
		close(dup_fd);
		errno = e;
		return fail_at(failed, size, NULL, prefix);
	}
	int rc = 0;
	struct dirent *de;
	for (errno = 0; rc == 0 && (de = readdir(d)) != NULL; errno = 0) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		struct stat st;
		if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT)
				rc = fail_at(failed, size, prefix, de->d_name);
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			if (unlinkat(fd, de->d_name, 0) < 0 && errno != ENOENT)
				rc = fail_at(failed, size, prefix, de->d_name);
			continue;
		}
		if (st.st_dev != dev || depth > 256) {
			errno = st.st_dev != dev ? EXDEV : ELOOP;
			rc = fail_at(failed, size, prefix, de->d_name);
			continue;
		}
		int sub = openat(fd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0) {
			rc = fail_at(failed, size, prefix, de->d_name);
			continue;
		}
		char path[4096];
		snprintf(path, sizeof path, "%s/%s", prefix, de->d_name);
		rc = empty_dir(sub, dev, path, failed, size, depth + 1);
		close(sub);
		if (rc == 0 && unlinkat(fd, de->d_name, AT_REMOVEDIR) < 0 && errno != ENOENT)
			rc = fail_at(failed, size, prefix, de->d_name);
	}
	int e = errno;
	closedir(d);
	if (rc == 0 && e != 0) {
		errno = e;
		return fail_at(failed, size, NULL, prefix);
	}
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
