/*
 * Sandbox ids and unix socket path limits. An id becomes a directory name
 * under the run dir, so it must not be able to name anything else: no
 * slash, no leading dot (no "." or ".."), no NUL, a bounded length.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "paths.h"

static int id_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == '-';
}

static int id_first(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

int vl_check_id(const char *id, size_t len, vl_error *e)
{
	int ok = len >= 1 && len <= VL_ID_MAX && id_first((unsigned char)id[0]);
	for (size_t i = 1; ok && i < len; i++)
		ok = id_char((unsigned char)id[i]);
	if (ok)
		return 0;
	char shown[4 * 80 + 4];
	vl_quote_bytes(shown, sizeof shown, id, len, 80);
	return vl_err(e, EINVAL,
		      "invalid sandbox id '%s': use 1-64 of A-Z a-z 0-9 _ . - starting with a letter or digit",
		      shown);
}

int vl_check_socket_path(const char *path, size_t len, vl_error *e)
{
	if (len == 0)
		return vl_err(e, EINVAL, "socket path is empty");
	if (memchr(path, '\0', len) != NULL)
		return vl_err(e, EINVAL, "socket path contains a NUL byte");
	/* A path needs a terminating NUL in sun_path; an abstract name "@x" is
	 * sent as "\0x" with no terminator, so it may use all 108 bytes. */
	size_t max = path[0] == '@' ? VL_SUN_PATH_MAX + 1 : VL_SUN_PATH_MAX;
	if (len > max)
		return vl_err(e, ENAMETOOLONG,
			      "socket path %.*s is %zu bytes, over the %zu-byte sun_path limit",
			      (int)len, path, len, max);
	return 0;
}

int vl_default_run_dir(char *out, size_t size)
{
	const char *env = getenv("VMLUA_RUN_DIR");
	int n;

	if (env != NULL && *env)
		n = snprintf(out, size, "%s", env);
	else if (geteuid() == 0)
		n = snprintf(out, size, "/run/vmlua");
	else if ((env = getenv("XDG_RUNTIME_DIR")) != NULL && *env)
		n = snprintf(out, size, "%s/vmlua", env);
	else
		n = snprintf(out, size, "/tmp/vmlua-%u", (unsigned)geteuid());
	return n < 0 || (size_t)n >= size ? -1 : 0;
}
