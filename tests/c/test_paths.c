/*
 * Sandbox ids, the sun_path limit and the default run dir.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "paths.h"
#include "tap.h"

static int id_ok(const char *id, size_t len)
{
	vl_error e;
	return vl_check_id(id, len, &e) == 0;
}

static void test_ids(void)
{
	char s65[66], s64[65];
	memset(s65, 'a', 65);
	s65[65] = '\0';
	memset(s64, 'b', 64);
	s64[64] = '\0';

	OK(id_ok("demo", 4), "plain id");
	OK(id_ok("a", 1), "one character");
	OK(id_ok("9Z_.-x", 6), "digits, letters, _ . -");
	OK(id_ok(s64, 64), "64 characters");
	OK(!id_ok(s65, 65), "65 characters refused");
	OK(!id_ok("", 0), "empty refused");
	OK(!id_ok(".hidden", 7), "leading dot refused");
	OK(!id_ok("..", 2), "\"..\" refused");
	OK(!id_ok(".", 1), "\".\" refused");
	OK(!id_ok("-x", 2), "leading dash refused");
	OK(!id_ok("_x", 2), "leading underscore refused");
	OK(!id_ok("a/b", 3), "slash refused");
	OK(!id_ok("a\0b", 3), "embedded NUL refused");
	OK(!id_ok("a b", 3), "space refused");
	OK(!id_ok("caf\xc3\xa9", 5), "non-ASCII refused");

	vl_error e;
	vl_check_id("a\0b\n", 4, &e);
	OK(e.code == EINVAL && strcmp(e.msg, "invalid sandbox id 'a\\x00b\\x0a': use 1-64 of A-Z a-z 0-9 _ . - "
				    "starting with a letter or digit") == 0,
	   "message shows unprintable bytes: %s", e.msg);
	char long_id[300];
	memset(long_id, 'x', sizeof long_id);
	vl_check_id(long_id, sizeof long_id, &e);
	OK(strstr(e.msg, "xxx...'") != NULL && strlen(e.msg) < 250, "a long id is cut in the message");
}

static void test_socket_paths(void)
{
	vl_error e;
	char p[200];

	memset(p, 'p', sizeof p);
	p[0] = '/';
	OK(vl_check_socket_path(p, 107, &e) == 0, "107 bytes fit");
	OK(vl_check_socket_path(p, 108, &e) < 0 && e.code == ENAMETOOLONG, "108 bytes do not");
	char want[300];
	snprintf(want, sizeof want, "socket path %.120s is 120 bytes, over the 107-byte sun_path limit", p);
	OK(vl_check_socket_path(p, 120, &e) < 0 && strcmp(e.msg, want) == 0,
	   "message names the path and its length");
	p[0] = '@';
	OK(vl_check_socket_path(p, 108, &e) == 0, "an abstract name may use 108 bytes");
	OK(vl_check_socket_path(p, 109, &e) < 0 && strstr(e.msg, "108-byte") != NULL,
	   "but not 109: %s", e.msg);
	OK(vl_check_socket_path("", 0, &e) < 0 && e.code == EINVAL, "empty path refused");
	OK(vl_check_socket_path("/a\0b", 4, &e) < 0 && strstr(e.msg, "NUL") != NULL, "NUL refused");
}

static void test_run_dir(void)
{
	char d[256];

	setenv("VMLUA_RUN_DIR", "/srv/vm", 1);
	OK(vl_default_run_dir(d, sizeof d) == 0 && strcmp(d, "/srv/vm") == 0, "VMLUA_RUN_DIR wins");
	setenv("VMLUA_RUN_DIR", "", 1);
	setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1);
	if (geteuid() == 0) {
		OK(vl_default_run_dir(d, sizeof d) == 0 && strcmp(d, "/run/vmlua") == 0,
		   "root: /run/vmlua (%s)", d);
		if (seteuid(1000) == 0) {
			OK(vl_default_run_dir(d, sizeof d) == 0 && strcmp(d, "/run/user/1000/vmlua") == 0,
			   "user: $XDG_RUNTIME_DIR/vmlua (%s)", d);
			unsetenv("XDG_RUNTIME_DIR");
			OK(vl_default_run_dir(d, sizeof d) == 0 && strcmp(d, "/tmp/vmlua-1000") == 0,
			   "user without XDG_RUNTIME_DIR: /tmp/vmlua-<uid> (%s)", d);
			OK(seteuid(0) == 0, "back to root");
		} else {
			OK(0, "seteuid(1000)");
		}
	} else {
		OK(vl_default_run_dir(d, sizeof d) == 0 && strcmp(d, "/run/user/1000/vmlua") == 0,
		   "user: $XDG_RUNTIME_DIR/vmlua (%s)", d);
	}
	char small[4];
	setenv("VMLUA_RUN_DIR", "/a/long/dir", 1);
	OK(vl_default_run_dir(small, sizeof small) < 0, "too small a buffer is an error");
}

int main(void)
{
	test_ids();
	test_socket_paths();
	test_run_dir();
	return tap_done();
}
