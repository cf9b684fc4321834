/*
 * A growable byte buffer that hands out lines. Used for child pipes,
 * followed files (serial logs) and sockets, so a line split across reads is
 * seen whole and one enormous line cannot exhaust memory.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmlua.h"

enum { READ_CHUNK = 16384 };

void vl_linebuf_init(vl_linebuf *b, size_t max_line)
{
	memset(b, 0, sizeof *b);
	b->max_line = max_line ? max_line : 65536;
}

void vl_linebuf_free(vl_linebuf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

static int reserve(vl_linebuf *b, size_t extra)
{
	if (b->cap - b->len >= extra)
		return 0;
	size_t want = b->cap ? b->cap : 4096;
	while (want - b->len < extra) {
		if (want > (size_t)-1 / 2) {
			errno = ENOMEM;
			return -1;
		}
		want *= 2;
	}
	char *p = realloc(b->data, want);
	if (p == NULL) {
		errno = ENOMEM;
		return -1;
	}
	b->data = p;
	b->cap = want;
	return 0;
}

int vl_linebuf_append(vl_linebuf *b, const char *p, size_t n)
{
	if (n == 0)
		return 0;
	if (reserve(b, n) < 0)
		return -1;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

ssize_t vl_linebuf_fill(vl_linebuf *b, int fd)
{
	if (reserve(b, READ_CHUNK) < 0)
		return -1;
	ssize_t n;
	do
		n = read(fd, b->data + b->len, b->cap - b->len);
	while (n < 0 && errno == EINTR);
	if (n == 0)
		b->eof = 1;
	if (n > 0)
		b->len += (size_t)n;
	return n;
}

int vl_linebuf_next_line(const vl_linebuf *b, const char **line, size_t *n, size_t *used)
{
	if (b->len == 0)
		return 0;
	/* A "\n" right after a max_line piece still ends that line. */
	size_t scan = b->len <= b->max_line ? b->len : b->max_line + 1;
	const char *nl = memchr(b->data, '\n', scan);
	size_t len;
	if (nl != NULL) {
		len = (size_t)(nl - b->data);
		*used = len + 1;
	} else if (b->len > b->max_line) {
		/* Only once the byte after the piece is known not to be "\n". */
		len = b->max_line;
		*used = len;
	} else if (b->eof) {
		len = b->len;
		*used = len;
	} else {
		return 0;
	}
	if (len > 0 && b->data[len - 1] == '\r' && nl != NULL)
		len--;
	*line = b->data;
	*n = len;
	return 1;
}

void vl_linebuf_consume(vl_linebuf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}
