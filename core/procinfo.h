/*
 * What /proc shows about a process, to tell whether it is the one a state
 * file names (Lua-free; procinfo.c): its owner, start time and state from
 * stat and status, the program from exe and its arguments from cmdline.
 * Everything is read through one /proc/<pid> directory fd, so it all
 * describes one process even if the pid is reused meanwhile (reads through
 * the fd of a process that is gone fail with ESRCH).
 */
#ifndef VMLUA_PROCINFO_H
#define VMLUA_PROCINFO_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

#include "procstat.h"

struct vl_procinfo {
	struct vl_procstat stat;
	uid_t uid, euid;	/* real and effective, from status */
	int has_exe;		/* exe could be read (not: another user's, a kernel thread) */
	char exe[PATH_MAX];
	size_t cmdline_len;	/* bytes in the caller's cmdline buffer */
	int cmdline_cut;	/* it did not fit */
};

/* Read what is above for pid; the NUL-separated arguments go to cmdline
 * (size bytes). 0, or -1 with errno (ESRCH: no such process; EINVAL: a
 * file that does not read as expected). */
int vl_proc_info(pid_t pid, struct vl_procinfo *out, char *cmdline, size_t size);

/* Parse the real and effective uid from the text of /proc/<pid>/status
 * ("Uid:\t<real>\t<effective>\t<saved>\t<fs>"). 0, or -1/EINVAL. */
int vl_proc_status_parse(const char *buf, size_t len, uid_t *uid, uid_t *euid);

/* The next argument in a cmdline buffer from *off: its start, with its
 * length in *n (without the NUL); NULL at the end. A process may rewrite
 * its arguments, so the last one need not end in a NUL. */
const char *vl_cmdline_next(const char *buf, size_t len, size_t *off, size_t *n);

#endif
