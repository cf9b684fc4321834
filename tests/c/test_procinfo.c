/*
 * The /proc parsers on given text (stat, status, cmdline), and
 * vl_proc_info on ourselves.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "procinfo.h"
#include "procstat.h"
#include "tap.h"

static int stat_ok(const char *text, size_t len, char state, pid_t pgrp, unsigned long long start)
{
	struct vl_procstat st;
	return vl_proc_stat_parse(text, len, &st) == 0 && st.state == state && st.pgrp == pgrp && st.start == start;
}

static int stat_bad(const char *text, size_t len)
{
	struct vl_procstat st;
	errno = 0;
	return vl_proc_stat_parse(text, len, &st) < 0 && errno == EINVAL;
}

#define S(lit) lit, sizeof lit - 1

int main(void)
{
	OK(stat_ok(S("7 (a) b) S 1 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 12345 1 2 3\n"), 'S', 42, 12345),
	   "stat: comm with ') ', fields after the last ')'");
	OK(stat_ok(S("7 (x\0y) R 1 5 5 0 -1 0 0 0 0 0 0 0 0 0 0 0 1 0 99"), 'R', 5, 99),
	   "stat: a NUL in comm, no newline at the end");
	OK(stat_bad(S("7 (x) R 1 5 5 0 -1 0 0 0 0 0 0 0 0 0 0 0 1 0")), "stat: field 22 missing");
	OK(stat_bad(S("7 (x) R 1 5 5 0 -1 0 0 0 0 0 0 0 0 0 0 0 1 0 99999999999999999999")),
	   "stat: a start time that does not fit");
	OK(stat_bad(S("7 (x) R 1 -5 5 0 -1 0 0 0 0 0 0 0 0 0 0 0 1 0 9")), "stat: a negative group");
	OK(stat_bad(S("7 (x) R 1 5 5 0 -1 0 0 0 0 0 0 0 0 0 0 0 1 0 9x")), "stat: junk after a number");
	OK(stat_bad(S("no parenthesis")) && stat_bad(S(")")) && stat_bad(S(") ")) && stat_bad("", 0),
	   "stat: truncated texts");

	uid_t uid = 1, euid = 1;
	OK(vl_proc_status_parse(S("Name:\tx\nUid:\t1000\t0\t0\t0\nGid:\t0\n"), &uid, &euid) == 0 && uid == 1000 &&
	   euid == 0, "status: real and effective uid");
	OK(vl_proc_status_parse(S("Uid: 5 6"), &uid, &euid) == 0 && uid == 5 && euid == 6,
	   "status: first line, spaces, no newline");
	OK(vl_proc_status_parse(S("Name:\tUid:\t1\t2\n"), &uid, &euid) < 0, "status: Uid: must start a line");
	OK(vl_proc_status_parse(S("Uid:\t1\n"), &uid, &euid) < 0, "status: one uid only");
	OK(vl_proc_status_parse(S("Uid:\t99999999999\t0\n"), &uid, &euid) < 0, "status: a uid that does not fit");
	OK(vl_proc_status_parse("", 0, &uid, &euid) < 0, "status: empty");

	const char cmd[] = "a\0bc\0\0d";
	size_t off = 0, n;
	const char *arg;
	int good = (arg = vl_cmdline_next(cmd, sizeof cmd - 1, &off, &n)) && n == 1 && *arg == 'a';
	good = good && (arg = vl_cmdline_next(cmd, sizeof cmd - 1, &off, &n)) && n == 2 && memcmp(arg, "bc", 2) == 0;
	good = good && (arg = vl_cmdline_next(cmd, sizeof cmd - 1, &off, &n)) && n == 0;
	good = good && (arg = vl_cmdline_next(cmd, sizeof cmd - 1, &off, &n)) && n == 1 && *arg == 'd';
	good = good && vl_cmdline_next(cmd, sizeof cmd - 1, &off, &n) == NULL;
	OK(good, "cmdline: arguments, an empty one, the last without a NUL");
	off = 0;
	OK(vl_cmdline_next("", 0, &off, &n) == NULL, "cmdline: empty");

	struct vl_procinfo info;
	char buf[4096];
	OK(vl_proc_info(getpid(), &info, buf, sizeof buf) == 0 && info.uid == getuid() && info.euid == geteuid() &&
	   info.stat.state == 'R' && info.has_exe && strstr(info.exe, "test_procinfo") != NULL &&
	   info.cmdline_len > 0 && strstr(buf, "test_procinfo") != NULL && !info.cmdline_cut,
	   "ourselves: %s", info.exe);
	OK(vl_proc_info(getpid(), &info, buf, 4) == 0 && info.cmdline_len == 4 && info.cmdline_cut,
	   "a cmdline cut to the buffer");
	errno = 0;
	OK(vl_proc_info(0x7ffffff0, &info, buf, sizeof buf) < 0 && errno == ESRCH, "no such process: ESRCH");
	return tap_done();
}
