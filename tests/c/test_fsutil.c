/*
 * fsutil.c: whole-file reads up to a limit (what the state store reads
 * state.json with).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "tap.h"

/* A file of n bytes 'x' in dir; returns it open for reading. */
static int file_of(const char *dir, size_t n)
{
	char path[256];
	snprintf(path, sizeof path, "%s/f%zu", dir, n);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	char *buf = malloc(n + 1);
	if (fd < 0 || buf == NULL)
		exit(1);
	memset(buf, 'x', n);
	if (vl_write_all(fd, buf, n) < 0 || lseek(fd, 0, SEEK_SET) != 0)
		exit(1);
	free(buf);
	unlink(path);
	return fd;
}

static void test_read_all_limit(const char *dir)
{
	char *text = NULL;
	size_t len = 0;

	int fd = file_of(dir, 10);
	int r = vl_read_all(fd, 10, &text, &len);
	OK(r == 0 && len == 10 && text[10] == '\0', "a file of exactly max bytes is read (r %d, errno %d)",
	   r, r < 0 ? errno : 0);
	free(text);
	close(fd);

	fd = file_of(dir, 11);
	errno = 0;
	OK(vl_read_all(fd, 10, &text, &len) < 0 && errno == EFBIG, "one byte more is EFBIG");
	close(fd);

	fd = file_of(dir, 0);
	text = NULL;
	OK(vl_read_all(fd, 10, &text, &len) == 0 && len == 0 && text != NULL && text[0] == '\0',
	   "an empty file gives an empty string");
	free(text);
	close(fd);

	/* A regular file that grew after its fstat: the short-read shortcut
	 * must not cut it at the old size. */
	fd = file_of(dir, 10);
	struct stat st;
	fstat(fd, &st);
	char more[90];
	memset(more, 'y', sizeof more);
	lseek(fd, 0, SEEK_END);
	if (vl_write_all(fd, more, sizeof more) < 0 || lseek(fd, 0, SEEK_SET) != 0)
		exit(1);
	text = NULL;
	len = 0;
	r = vl_read_all_stat(fd, &st, 4096, &text, &len);
	OK(r == 0 && len == 100 && text[99] == 'y' && text[100] == '\0',
	   "a file that grew after its fstat is read whole (%zu bytes)", len);
	free(text);
	close(fd);

	/* /proc files say size 0 and then have content: read as it grows. */
	fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	text = NULL;
	len = 0;
	r = fd >= 0 ? vl_read_all(fd, 4096, &text, &len) : -1;
	OK(r == 0 && len > 10 && strchr(text, ')') != NULL, "a file larger than fstat says is read whole (%zu bytes)",
	   len);
	free(text);
	close(fd);
}

int main(void)
{
	char dir[] = "/tmp/vl-fsutil-XXXXXX";

	if (mkdtemp(dir) == NULL)
		return 1;
	test_read_all_limit(dir);
	rmdir(dir);
	return tap_done();
}
