/*
 * Lua-free reading of a file as it grows (follow.c): inotify on the
 * directory for the file's creation or replacement, inotify on the file for
 * writes, truncation detected by size.
 */
#ifndef VMLUA_FOLLOW_H
#define VMLUA_FOLLOW_H

#include <stddef.h>
#include <sys/types.h>

#include "linebuf.h"

typedef struct vl_follow vl_follow;

/* Start following path. from_end: skip what the file holds now (a file
 * created later is read from its start). NULL with errno and err set
 * ("cannot watch directory /x: No such file or directory"). */
vl_follow *vl_follow_open(const char *path, int from_end, char *err, size_t errlen);
void vl_follow_close(vl_follow *f);
/* The inotify fd: readable when the file may have changed. */
int vl_follow_fd(const vl_follow *f);
const char *vl_follow_path(const vl_follow *f);
/* Take in inotify events, then read one chunk of new data into b:
 * >0 bytes, 0 nothing new, -1 with errno. Never sets b->eof. */
ssize_t vl_follow_read(vl_follow *f, vl_linebuf *b);

#endif
