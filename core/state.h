/*
 * The state store (Lua-free; lstate.c binds it): one directory per sandbox
 * under a run dir, holding state.json (replaced atomically) and a lock file.
 *
 *   <run_dir>/            0700, ours, not a symlink
 *   <run_dir>/<id>/       0700
 *       state.json        0600, {"schema": 1, ...}
 *       lock              flock(2)ed by whoever manages the sandbox
 */
#ifndef VMLUA_STATE_H
#define VMLUA_STATE_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"

struct json_object;

#define VL_STATE_SCHEMA 1
#define VL_STATE_FILE "state.json"
#define VL_LOCK_FILE "lock"
/* A state file larger than this is refused on load (a few KiB is normal). */
#define VL_STATE_MAX (16u << 20)

typedef struct vl_store {
	/* the run dir, O_DIRECTORY|O_CLOEXEC; -1 when closed (first, for
	 * lstate.c's vl_check_open) */
	int dirfd;
	uid_t uid;		/* geteuid() at open: the owner of what the store acts on */
	char dir[PATH_MAX];
} vl_store;

/* Fault injection for tests: called once the temp file is written, synced
 * and closed, just before it is renamed over state.json. Returning -1 (with
 * errno set) makes the save fail there. The binding never passes a hook. */
typedef struct vl_save_hook {
	int (*before_rename)(void *arg, int sandbox_dirfd, const char *temp_name);
	void *arg;
} vl_save_hook;

/* Open (creating it 0700 if missing) a run dir. Refuses a symlink, a
 * non-directory, a directory owned by another user and one writable by
 * group or others (EPERM, naming the fix); never changes its mode. */
int vl_store_open(vl_store *s, const char *run_dir, vl_error *e);
void vl_store_close(vl_store *s);

/* Every method acts only on entries that are the caller's: a sandbox dir
 * or state.json owned by another uid, or a sandbox dir writable by group or
 * others, is refused with EPERM ("sandbox dir /x/y: owned by uid 65534, not
 * 0"), and vl_store_list leaves entries owned by others out. */

/* Open the sandbox dir of id (O_DIRECTORY|O_NOFOLLOW; created 0700 first
 * when create), checked as above. Returns the fd, or -1 (e->code ENOENT
 * when it is missing). */
int vl_store_open_sandbox(vl_store *s, const char *id, int create, vl_error *e);

/* Path of the sandbox dir of id, created 0700 if missing. */
int vl_store_dir_of(vl_store *s, const char *id, char *out, size_t size, vl_error *e);

/* Replace <id>/state.json with state (a JSON object; "schema" is set to 1 in
 * it) atomically: temp file, fsync, fchmod 0600, rename, fsync the dir. On
 * failure the temp file is removed and the old state is untouched. */
int vl_store_save(vl_store *s, const char *id, struct json_object *state,
		  const vl_save_hook *hook, vl_error *e);

/* Read <id>/state.json: *out gets the object (caller puts it). A missing
 * state is ENOENT "no state for sandbox 'x'"; a corrupt, truncated, huge,
 * non-object, wrong-schema or ill-typed file (vl_state_check) is
 * "state file <path>: <reason>" (code 0). */
int vl_store_load(vl_store *s, const char *id, struct json_object **out, vl_error *e);

/* The loader's checks on text already read (statecheck.c): strict JSON,
 * then vl_state_check. *out gets the object, or -1 with e (code 0). */
int vl_state_parse(const char *text, size_t len, const char *id, const char *path,
		   struct json_object **out, vl_error *e);

/* The type and range of every member vmlua acts on (schema 1; "id" equal to
 * id; "status" a known one; pids integers > 0 with start times >= 0;
 * "processes" an object of such; times finite numbers >= 0; paths strings
 * without NUL bytes, ...). Other members pass. 0, or -1 with
 * "state file <path>: <member>: <value> is not ..." (code 0). */
int vl_state_check(struct json_object *o, const char *id, const char *path, vl_error *e);

/* Sorted ids with a state.json, both the caller's; free with
 * vl_store_list_free. */
int vl_store_list(vl_store *s, char ***ids, size_t *n, vl_error *e);
void vl_store_list_free(char **ids, size_t n);

/* Remove <id>/ and everything in it, following no symlink. */
int vl_store_remove(vl_store *s, const char *id, vl_error *e);

/* flock <id>/lock exclusively; *fd is the lock (close it to unlock).
 * wait: 0 fails at once, > 0 waits that many seconds, < 0 waits forever.
 * Busy: EWOULDBLOCK "sandbox 'x' is locked by another process". After
 * locking, the fd is checked to still be the file at the path (libbsd
 * flopen): a lock file removed or replaced meanwhile is never trusted. */
int vl_store_lock(vl_store *s, const char *id, double wait, int *fd, vl_error *e);

#endif
