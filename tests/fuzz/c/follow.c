/*
 * Fuzz target: the file follower (follow.c) reading a file that is
 * written, truncated, replaced and removed under it, by operations the
 * input gives: each byte picks one (append the next bytes, truncate and
 * write, replace by rename, remove, read), a second byte its length.
 * Checked: no byte is read twice or made up (what comes out is at most
 * what went in), and while the file only grows, exactly what was written
 * comes out, in order.
 *
 * One follower serves every input: closing an inotify instance that has
 * had watches costs an RCU grace period (~15 ms), which would make the
 * target 100 times slower. Each input starts by replacing the file with an
 * empty one and reading until the follower has moved to it.
 *
 * Each operation touches the file system: inputs of a few dozen operations
 * reach all of the follower's paths and keep the target fast.
 * fuzz-options: -max_len=128
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "follow.h"
#include "fuzz.h"
#include "linebuf.h"

static vl_follow *f;
static char file[96], tmp[96];

static void cleanup(void)
{
	vl_follow_close(f);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[256];

	(void)argc;
	(void)argv;
	const char *base = fuzz_tmpdir();
	snprintf(file, sizeof file, "%s/log", base);
	snprintf(tmp, sizeof tmp, "%s/log.new", base);
	f = vl_follow_open(file, 0, err, sizeof err);
	FUZZ_CHECK(f != NULL, "%s", err);
	atexit(cleanup);
	return 0;
}

static void write_file(const char *path, int flags, const uint8_t *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | flags, 0600);
	FUZZ_CHECK(fd >= 0 && vl_write_all(fd, p, n) == 0, "write %s: %s", path, strerror(errno));
	close(fd);
}

/* Read everything there is now; returns the bytes read. */
static size_t read_all(vl_linebuf *b)
{
	size_t total = 0;
	for (;;) {
		ssize_t n = vl_follow_read(f, b);
		FUZZ_CHECK(n >= 0, "read: %s", strerror(errno));
		if (n == 0)
			return total;
		total += (size_t)n;
	}
}

/* A new empty file under the name, and the follower on it. */
static void start_fresh(vl_linebuf *b)
{
	write_file(tmp, O_TRUNC, (const uint8_t *)"", 0);
	FUZZ_CHECK(rename(tmp, file) == 0, "rename: %s", strerror(errno));
	read_all(b);
	read_all(b);
	vl_linebuf_consume(b, b->len);
}

/* Read what there is into seen[*got..]; never more than was written. */
static void take(vl_linebuf *b, uint8_t *seen, size_t *got, size_t written)
{
	size_t r = read_all(b);
	FUZZ_CHECK(*got + r <= written, "%zu bytes read of %zu written", *got + r, written);
	if (r > 0)
		memcpy(seen + *got, b->data, r);
	*got += r;
	vl_linebuf_consume(b, b->len);
}

enum { OP_APPEND, OP_TRUNCATE, OP_REPLACE, OP_REMOVE, OP_READ, OPS };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	vl_linebuf b;
	size_t written = 0, got = 0;
	int only_grows = 1;

	if (f == NULL)
		LLVMFuzzerInitialize(NULL, NULL);
	vl_linebuf_init(&b, 1 << 20);
	start_fresh(&b);
	uint8_t *seen = malloc(size + 1), *put = malloc(size + 1);
	size_t nput = 0;
	for (size_t i = 0; i + 1 < size;) {
		int op = data[i] % OPS;
		size_t n = data[i + 1] % 32;
		i += 2;
		if (n > size - i)
			n = size - i;
		switch (op) {
		case OP_APPEND:
			write_file(file, O_APPEND, data + i, n);
			break;
		case OP_TRUNCATE:
			write_file(file, O_TRUNC, data + i, n);
			only_grows = 0;
			break;
		case OP_REPLACE:
			write_file(tmp, O_TRUNC, data + i, n);
			FUZZ_CHECK(rename(tmp, file) == 0, "rename: %s", strerror(errno));
			only_grows = 0;
			break;
		case OP_REMOVE:
			unlink(file);
			only_grows = 0;
			n = 0;
			break;
		default:
			n = 0;
			break;
		}
		if (op <= OP_REPLACE) {
			memcpy(put + nput, data + i, n);
			nput += n;
			written += n;
		}
		i += n;
		take(&b, seen, &got, written);
	}
	take(&b, seen, &got, written);
	if (only_grows) {
		FUZZ_CHECK(got == written, "a growing file: %zu read, %zu written", got, written);
		FUZZ_CHECK(memcmp(seen, put, got) == 0, "what was written, in order");
	}
	free(seen);
	free(put);
	vl_linebuf_free(&b);
	return 0;
}
