/*
 * A growable byte buffer that hands out lines (Lua-free; linebuf.c): shared
 * by child pipes, followed files and sockets.
 */
#ifndef VMLUA_LINEBUF_H
#define VMLUA_LINEBUF_H

#include <stddef.h>
#include <sys/types.h>

typedef struct vl_linebuf {
	char *data;
	size_t len;		/* bytes buffered */
	size_t cap;
	size_t max_line;	/* a longer line is returned in pieces of this size */
	int eof;		/* the source reported end of file */
} vl_linebuf;

void vl_linebuf_init(vl_linebuf *b, size_t max_line);
void vl_linebuf_free(vl_linebuf *b);
/* One read(2) from fd into the buffer. Returns bytes read; 0 at end of
 * file (sets eof); -1 with errno on error (EAGAIN when nothing to read). */
ssize_t vl_linebuf_fill(vl_linebuf *b, int fd);
/* Append bytes (for sources that are not a plain read). 0 or -1/ENOMEM. */
int vl_linebuf_append(vl_linebuf *b, const char *p, size_t n);
/* Find the next line: a "\n"-terminated line, a max_line piece, or the
 * unterminated rest once eof is set. On 1, *line and *n give the text without
 * its "\n" or "\r\n" and *used the bytes to pass to vl_linebuf_consume. */
int vl_linebuf_next_line(const vl_linebuf *b, const char **line, size_t *n, size_t *used);
/* The same with pieces of at most limit bytes (1..max_line) in place of
 * max_line, for a reader that wants shorter lines than the buffer's. */
int vl_linebuf_next_line_max(const vl_linebuf *b, size_t limit, const char **line, size_t *n,
			     size_t *used);
void vl_linebuf_consume(vl_linebuf *b, size_t n);

#endif
