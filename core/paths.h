/*
 * Sandbox ids and the paths built from them (Lua-free; lpaths.c binds it).
 */
#ifndef VMLUA_PATHS_H
#define VMLUA_PATHS_H

#include <stddef.h>

#include "error.h"

#define VL_ID_MAX 64
/* sun_path holds 108 bytes including the terminating NUL. */
#define VL_SUN_PATH_MAX 107

/* 0 when id (len bytes) is 1-64 of A-Z a-z 0-9 _ . - starting with a letter
 * or digit; else -1 with the message in e (EINVAL). */
int vl_check_id(const char *id, size_t len, vl_error *e);

/* 0 when a unix socket path of len bytes fits in sun_path; else -1 with
 * "socket path P is N bytes, over the 107-byte sun_path limit" (ENAMETOOLONG).
 * An abstract name (leading '@') may use all 108 bytes. */
int vl_check_socket_path(const char *path, size_t len, vl_error *e);

/* The default run dir: $VMLUA_RUN_DIR, /run/vmlua for root,
 * $XDG_RUNTIME_DIR/vmlua, /tmp/vmlua-<uid>. 0, or -1 if it does not fit. */
int vl_default_run_dir(char *out, size_t size);

#endif
