/*
 * The fds a process inherited from whoever started it (Lua-free;
 * inherit.c), so that a supervisor forked to outlive its caller can let go
 * of them: a caller waiting for eof on a pipe it handed down (`vmlua run -d
 * R 9>&1 | cat`) must not wait for the sandbox to end.
 */
#ifndef VMLUA_INHERIT_H
#define VMLUA_INHERIT_H

#include <stddef.h>

/* Record the fds from 3 up that are open and not close-on-exec, with their
 * identity (device and inode), the first 256. Once per process: later
 * calls do nothing
 * (vmlua.core calls it when it is first opened, before any Lua code of ours
 * opens files). */
void vl_inherited_record(void);

/* In a forked child: close every recorded fd that is still the same open
 * file and not close-on-exec (so not one that vmlua or Lua code opened
 * since under a reused number), except those in keep[0..nkeep). */
void vl_inherited_close(const int *keep, size_t nkeep);

#endif
