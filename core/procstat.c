/* placeholder: vl_proc_start_time is being written (issue 2). */
#include <errno.h>

#include "vmlua.h"

int vl_proc_start_time(pid_t pid, unsigned long long *start)
{
	(void)pid;
	(void)start;
	errno = ENOSYS;
	return -1;
}
