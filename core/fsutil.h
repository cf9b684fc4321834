/*
 * File helpers of the Lua-free layer: whole writes and reads, removing a
 * tree without following symlinks, and looking a program up in PATH.
 */
#ifndef VMLUA_FSUTIL_H
#define VMLUA_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

/* Close fd on an error path and return the errno of the failure being
 * reported (which close may not change): `return vl_err_sys(e,
 * vl_close_keep_errno(fd), ...)`. */
int vl_close_keep_errno(int fd);

/* Write all n bytes (retrying short writes and EINTR). 0, or -1 with errno. */
int vl_write_all(int fd, const void *p, size_t n);

/* Read a whole regular file from fd into a new NUL-terminated buffer (free()
 * it). Refuses files larger than max (EFBIG). 0, or -1 with errno. */
int vl_read_all(int fd, size_t max, char **out, size_t *len);

/* The same for a file the caller has already fstat()ed into *st: saves the
 * second fstat. */
struct stat;
int vl_read_all_stat(int fd, const struct stat *st, size_t max, char **out, size_t *len);

/* Remove name (relative to dirfd) and, if it is a directory, everything
 * below it. Symlinks are removed, never followed; directories on another
 * filesystem than dirfd's are not entered (EXDEV). 0, or -1 with errno and
 * the path that failed (relative to dirfd) in failed[]. */
int vl_remove_tree_at(int dirfd, const char *name, char *failed, size_t failed_size);

/* Look name up in path, a PATH string (NULL: $PATH, or when that is unset
 * or empty "/usr/local/bin:/usr/bin:/bin"). Empty entries are skipped (no
 * implicit "."). 0 with out filled (relative if the entry was), or -1 with
 * errno ENOENT (nothing found), EACCES (only files that are not executable)
 * or ENAMETOOLONG. Used by core.spawn and core.fs.which. */
int vl_find_executable(const char *name, const char *path, char *out, size_t outlen);

#endif
