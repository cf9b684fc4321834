/*
 * A growable byte buffer that hands out lines. Used for child pipes,
 * followed files (serial logs) and sockets, so a line split across reads is
 * seen whole and one enormous line cannot exhaust memory.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "linebuf.h"

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
	return vl_linebuf_next_line_max(b, b->max_line, line, n, used);
}

int vl_linebuf_next_line_max(const vl_linebuf *b, size_t limit, const char **line, size_t *n,
			     size_t *used)
{
	if (limit == 0 || limit > b->max_line)
		limit = b->max_line;
	if (b->len == 0)
		return 0;
	/* A line of exactly max_line bytes is still one line, with its "\n" or
	 * "\r\n": look two bytes past the limit for the terminator. */
	size_t scan = b->len < limit + 2 ? b->len : limit + 2;
	const char *nl = memchr(b->data, '\n', scan);
	*line = b->data;
	if (nl != NULL) {
		size_t len = (size_t)(nl - b->data);
		size_t text = len > 0 && b->data[len - 1] == '\r' ? len - 1 : len;
		if (text <= limit) {
			*n = text;
			*used = len + 1;
			return 1;
		}
	}
	/* Longer than max_line for sure: hand out a piece. (limit bytes and a
	 * "\r" may still be a whole line once its "\n" arrives.) */
	if (b->len >= limit + 2 || (b->len == limit + 1 && b->data[limit] != '\r')) {
		*n = *used = limit;
		return 1;
	}
	if (b->eof) {
		*n = *used = b->len < limit ? b->len : limit;
		return 1;
	}
	return 0;
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
