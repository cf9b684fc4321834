/*
 * /proc/<pid>/stat (Lua-free; procstat.c): the fields that name a process
 * uniquely and tell whether it still runs.
 */
#ifndef VMLUA_PROCSTAT_H
#define VMLUA_PROCSTAT_H

#include <stddef.h>
#include <sys/types.h>

/* /proc/<pid>/stat fields 3 (state), 5 (process group) and 22 (start
 * time, clock ticks since boot). */
struct vl_procstat {
	char state;
	pid_t pgrp;
	unsigned long long start;
};

/* Parse the text of a /proc/<pid>/stat (len bytes, no terminator needed).
 * Field 2 (comm) may hold spaces and ')', so the fields are counted after
 * the last ')'. 0, or -1 with errno EINVAL. */
int vl_proc_stat_parse(const char *buf, size_t len, struct vl_procstat *out);

/* Read and parse /proc/<pid>/stat. 0 or -1/errno (EINVAL: malformed). */
int vl_proc_stat(pid_t pid, struct vl_procstat *out);
/* Field 22 alone. 0 or -1/errno. */
int vl_proc_start_time(pid_t pid, unsigned long long *start);

#endif
