/*
 * Errors of the Lua-free C layer (paths.c, state.c, sock.c, fsutil.c):
 * a message ready for the user and the errno behind it (0 when there is
 * none), which the bindings turn into `nil, msg[, errno]` (vl_push_error,
 * lbind.h).
 */
#ifndef VMLUA_ERROR_H
#define VMLUA_ERROR_H

typedef struct vl_error {
	int code;		/* errno, or 0 for a failure without one */
	char msg[1536];
} vl_error;

/* Set "<formatted>" and code; returns -1 so callers can `return vl_err(...)`. */
int vl_err(vl_error *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Set "<formatted>: strerror(code)" and code; returns -1. */
int vl_err_sys(vl_error *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Render bytes for a message: printable ASCII as is, anything else as \xNN,
 * cut after max bytes with "...". Always NUL-terminates out. */
void vl_quote_bytes(char *out, size_t size, const char *s, size_t len, size_t max);

#endif
