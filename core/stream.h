/*
 * vmlua.Stream internals shared by lstream.c (the handle, core.follow),
 * lspawn.c (child pipes), ldaemon.c (the readiness pipe) and lwait.c (line
 * and readable conditions).
 */
#ifndef VMLUA_STREAM_H
#define VMLUA_STREAM_H

#include <sys/types.h>

#include "follow.h"
#include "vmlua.h"

enum vl_stream_kind { VL_STREAM_CLOSED, VL_STREAM_READ, VL_STREAM_WRITE, VL_STREAM_FOLLOW };

typedef struct vl_stream {
	enum vl_stream_kind kind;
	int fd;			/* pipe end (READ, WRITE); -1 for FOLLOW */
	vl_follow *follow;	/* FOLLOW */
	vl_linebuf buf;		/* READ, FOLLOW */
} vl_stream;

enum { VL_MAX_LINE = 65536 };

/* Push a new, closed Stream. */
vl_stream *vl_stream_new(lua_State *L);
/* Give a closed Stream a pipe end (which it then owns). */
void vl_stream_open_pipe(vl_stream *s, int fd, int writable);
/* The open Stream at idx; raises for another type or a closed stream. */
vl_stream *vl_check_stream(lua_State *L, int idx);
/* The fd to poll for input: the pipe, or the inotify fd of a followed
 * file; -1 once the pipe has reached eof (nothing more will come). */
int vl_stream_pollfd(const vl_stream *s);
/* One non-blocking read into the buffer: >0 bytes, 0 nothing new (or eof,
 * then s->buf.eof is set), -1 with errno on error. */
ssize_t vl_stream_pump(vl_stream *s);
/* The next complete line in the buffer (see vl_linebuf_next_line). */
int vl_stream_peek_line(const vl_stream *s, const char **line, size_t *n, size_t *used);
void vl_stream_consume(vl_stream *s, size_t n);
/* Nothing buffered and nothing more will come. */
int vl_stream_drained(const vl_stream *s);
/* Release the fds and memory; idempotent. */
void vl_stream_close(vl_stream *s);

#endif
