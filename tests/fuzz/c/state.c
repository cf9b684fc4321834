/*
 * Fuzz target: the state loader. The input is written as a sandbox's
 * state.json in a run dir of our own (a fresh directory under /dev/shm or
 * /tmp) and loaded with vl_store_load: the file's reading and size checks,
 * strict JSON, the schema and the checks of every member vmlua acts on
 * (statecheck.c). Checked: a load either gives an object that passes
 * vl_state_check again, or fails as corrupt (code 0) with the file's path
 * in the message; vl_state_parse on the same bytes agrees.
 *
 * fuzz-options: -max_len=8192
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "fsutil.h"
#include "fuzz.h"
#include "state.h"

static vl_store store;
static char path[256];
static int ready;

static void cleanup(void)
{
	vl_store_close(&store);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	vl_error e;
	char run[96];

	(void)argc;
	(void)argv;
	snprintf(run, sizeof run, "%s/run", fuzz_tmpdir());
	FUZZ_CHECK(vl_store_open(&store, run, &e) == 0, "%s", e.msg);
	char dir[160];
	FUZZ_CHECK(vl_store_dir_of(&store, "s", dir, sizeof dir, &e) == 0, "%s", e.msg);
	snprintf(path, sizeof path, "%s/state.json", dir);
	atexit(cleanup);
	ready = 1;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	vl_error e, pe;
	struct json_object *o = NULL, *p = NULL;

	if (!ready)
		LLVMFuzzerInitialize(NULL, NULL);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FUZZ_CHECK(fd >= 0 && vl_write_all(fd, data, size) == 0, "write %s", path);
	close(fd);

	int loaded = vl_store_load(&store, "s", &o, &e) == 0;
	char *text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	int parsed = vl_state_parse(text, size, "s", path, &p, &pe) == 0;
	free(text);
	FUZZ_CHECK(loaded == parsed, "load %d, parse %d: %s / %s", loaded, parsed, e.msg, pe.msg);
	if (loaded) {
		FUZZ_CHECK(json_object_is_type(o, json_type_object), "an object");
		FUZZ_CHECK(vl_state_check(o, "s", path, &e) == 0, "checks again: %s", e.msg);
		FUZZ_CHECK(json_object_equal(o, p), "load and parse agree");
	} else {
		FUZZ_CHECK(e.code == 0 && strncmp(e.msg, "state file ", 11) == 0 && strstr(e.msg, path) != NULL,
			   "corrupt, with the path: [%d] %s", e.code, e.msg);
		FUZZ_CHECK(strcmp(e.msg, pe.msg) == 0, "the same reason: %s / %s", e.msg, pe.msg);
	}
	json_object_put(o);
	json_object_put(p);
	return 0;
}
