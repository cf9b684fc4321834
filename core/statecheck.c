/*
 * The members of a loaded state object that vmlua reads and acts on, checked
 * for type and range (see state.h, vl_state_check). A state file is written
 * by vmlua, but a bug, a crash between versions or a hand edit can leave an
 * ill-typed one: it must load as corrupt, so that ps, gc and inspect go on
 * with the other sandboxes, and never reach the code that signals pids.
 * Members not named here are the Lua side's business and pass unchecked.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "jsontext.h"
#include "paths.h"
#include "state.h"

/* What a member must be. */
enum rule {
	R_ID,		/* the entry's own id */
	R_STATUS,	/* one of statuses[] */
	R_TEXT,		/* a string without NUL bytes */
	R_TIME,		/* a finite number >= 0 (seconds) */
	R_PID,		/* an integer > 0 */
	R_PROCESS,	/* { pid: R_PID, start_time: integer >= 0, ... } */
	R_PROCESSES,	/* an object of R_PROCESS */
	R_PATHS,	/* an object or array of R_TEXT */
	R_STOP_POLICY,	/* an array of { step, name: R_TEXT, grace: R_TIME } */
	R_CONTAINER,	/* an object or an array */
};

struct member {
	const char *name;
	enum rule rule;
};

static const struct member members[] = {
	{ "id", R_ID },
	{ "status", R_STATUS },
	{ "hypervisor", R_TEXT },
	{ "recipe", R_TEXT },
	{ "dir", R_TEXT },
	{ "serial_log", R_TEXT },
	{ "control_socket", R_TEXT },
	{ "error", R_TEXT },
	{ "created", R_TIME },
	{ "updated", R_TIME },
	{ "ready_at", R_TIME },
	{ "ready_mono", R_TIME },
	{ "ready_seconds", R_TIME },
	{ "failed_at", R_TIME },
	{ "stopped_at", R_TIME },
	{ "exit_noticed_mono", R_TIME },
	{ "pid", R_PID },
	{ "supervisor", R_PROCESS },
	{ "processes", R_PROCESSES },
	{ "sockets", R_PATHS },
	{ "stop_policy", R_STOP_POLICY },
	{ "args", R_CONTAINER },
	{ "exit", R_CONTAINER },
	{ "stop", R_CONTAINER },
};

/* A sandbox's statuses, and those of a template's manifest in the template
 * store (kind "template": vmlua.sandbox.templates), which is a state store
 * too. */
static const char *const sandbox_statuses[] = { "new", "starting", "running", "stopping", "stopped", "failed", NULL };
static const char *const template_statuses[] = { "saving", "ready", NULL };

struct ctx {
	const char *path;	/* the state file, for messages */
	const char *id;
	vl_error *e;
	int is_template;	/* kind "template": a template's manifest */
};

/* "state file <path>: <where>: <value> <what>", the value as compact JSON
 * (json-c escapes control characters) cut after about 40 bytes. */
static int bad(const struct ctx *c, const char *where, struct json_object *v, const char *what)
{
	const char *text = json_object_to_json_string_ext(v, vl_json_flags(0));
	size_t n = text ? strlen(text) : 0;
	const char *more = "";

	if (n > 40) {
		for (n = 40; n > 0 && ((unsigned char)text[n] & 0xc0) == 0x80; n--)
			;	/* not inside a UTF-8 sequence */
		more = "...";
	}
	return vl_err(c->e, 0, "state file %s: %s: %.*s%s %s", c->path, where, (int)n, text ? text : "",
		      more, what);
}

static int is_text(struct json_object *v)
{
	return json_object_is_type(v, json_type_string) &&
	       strlen(json_object_get_string(v)) == (size_t)json_object_get_string_len(v);
}

static int is_time(struct json_object *v)
{
	if (json_object_is_type(v, json_type_int))
		return json_object_get_int64(v) >= 0;
	if (!json_object_is_type(v, json_type_double))
		return 0;
	double d = json_object_get_double(v);
	return isfinite(d) && d >= 0;
}

/* A JSON integer in [lo, INT64_MAX] (json-c keeps larger ones as uint64). */
static int is_int_from(struct json_object *v, int64_t lo)
{
	if (!json_object_is_type(v, json_type_int))
		return 0;
	int64_t i = json_object_get_int64(v);
	return i >= lo && !(i == INT64_MAX && json_object_get_uint64(v) > (uint64_t)INT64_MAX);
}

static int is_pid(struct json_object *v)
{
	return is_int_from(v, 1) && json_object_get_int64(v) <= INT32_MAX;
}

static int check_process(const struct ctx *c, const char *where, struct json_object *v)
{
	char sub[VL_ID_MAX + 512];
	struct json_object *m;

	if (!json_object_is_type(v, json_type_object))
		return bad(c, where, v, "is not an object with pid and start_time");
	snprintf(sub, sizeof sub, "%s.pid", where);
	if (!json_object_object_get_ex(v, "pid", &m) || !is_pid(m))
		return bad(c, sub, m, "is not a process id (an integer > 0)");
	snprintf(sub, sizeof sub, "%s.start_time", where);
	if (!json_object_object_get_ex(v, "start_time", &m) || !is_int_from(m, 0))
		return bad(c, sub, m, "is not a start time (an integer >= 0)");
	return 0;
}

static int check_processes(const struct ctx *c, const char *where, struct json_object *v)
{
	char sub[512];

	if (!json_object_is_type(v, json_type_object))
		return bad(c, where, v, "is not an object of processes");
	json_object_object_foreach(v, name, p) {
		char shown[64];
		vl_quote_bytes(shown, sizeof shown, name, strlen(name), 40);
		snprintf(sub, sizeof sub, "%s.%s", where, shown);
		if (check_process(c, sub, p) < 0)
			return -1;
	}
	return 0;
}

static int check_paths(const struct ctx *c, const char *where, struct json_object *v)
{
	if (json_object_is_type(v, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(v); i++)
			if (!is_text(json_object_array_get_idx(v, i)))
				return bad(c, where, v, "holds a value that is not a path");
		return 0;
	}
	if (!json_object_is_type(v, json_type_object))
		return bad(c, where, v, "is not an object of paths");
	json_object_object_foreach(v, name, p) {
		(void)name;
		if (!is_text(p))
			return bad(c, where, v, "holds a value that is not a path");
	}
	return 0;
}

static int check_stop_policy(const struct ctx *c, const char *where, struct json_object *v)
{
	struct json_object *m;

	if (!json_object_is_type(v, json_type_array))
		return bad(c, where, v, "is not an array of steps");
	for (size_t i = 0; i < json_object_array_length(v); i++) {
		struct json_object *step = json_object_array_get_idx(v, i);
		int ok = json_object_is_type(step, json_type_object);
		if (ok && json_object_object_get_ex(step, "step", &m))
			ok = is_text(m);
		if (ok && json_object_object_get_ex(step, "name", &m))
			ok = is_text(m);
		if (ok && json_object_object_get_ex(step, "grace", &m))
			ok = is_time(m);
		if (!ok)
			return bad(c, where, step, "is not a step { step, name, grace >= 0 }");
	}
	return 0;
}

static int check_status(const struct ctx *c, struct json_object *v)
{
	const char *const *statuses = c->is_template ? template_statuses : sandbox_statuses;

	if (is_text(v))
		for (int i = 0; statuses[i] != NULL; i++)
			if (strcmp(statuses[i], json_object_get_string(v)) == 0)
				return 0;
	return bad(c, "status", v, c->is_template ? "is not a template status (saving, ready)"
					       : "is not a status (new, starting, running, stopping, stopped, failed)");
}

static int check_member(const struct ctx *c, const struct member *m, struct json_object *v)
{
	switch (m->rule) {
	case R_ID:
		if (is_text(v) && strcmp(json_object_get_string(v), c->id) == 0)
			return 0;
		return bad(c, m->name, v, "is not this sandbox's id");
	case R_STATUS:
		return check_status(c, v);
	case R_TEXT:
		return is_text(v) ? 0 : bad(c, m->name, v, "is not a string");
	case R_TIME:
		return is_time(v) ? 0 : bad(c, m->name, v, "is not a time (a number >= 0)");
	case R_PID:
		return is_pid(v) ? 0 : bad(c, m->name, v, "is not a process id (an integer > 0)");
	case R_PROCESS:
		return check_process(c, m->name, v);
	case R_PROCESSES:
		return check_processes(c, m->name, v);
	case R_PATHS:
		return check_paths(c, m->name, v);
	case R_STOP_POLICY:
		return check_stop_policy(c, m->name, v);
	case R_CONTAINER:
		if (json_object_is_type(v, json_type_object) || json_object_is_type(v, json_type_array))
			return 0;
		return bad(c, m->name, v, "is not an object or an array");
	}
	return 0;
}

int vl_state_check(struct json_object *o, const char *id, const char *path, vl_error *e)
{
	struct ctx c = { path, id, e, 0 };
	struct json_object *v;

	if (!json_object_is_type(o, json_type_object))
		return vl_err(e, 0, "state file %s: not a JSON object", path);
	c.is_template = json_object_object_get_ex(o, "kind", &v) && is_text(v) &&
			strcmp(json_object_get_string(v), "template") == 0;
	if (!json_object_object_get_ex(o, "schema", &v))
		return vl_err(e, 0, "state file %s: no schema field (expected %d)", path, VL_STATE_SCHEMA);
	if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) != VL_STATE_SCHEMA)
		return vl_err(e, 0, "state file %s: schema %s is not supported (expected %d)", path,
			      json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN), VL_STATE_SCHEMA);
	for (size_t i = 0; i < sizeof members / sizeof members[0]; i++)
		if (json_object_object_get_ex(o, members[i].name, &v) && check_member(&c, &members[i], v) < 0)
			return -1;
	return 0;
}

int vl_state_parse(const char *text, size_t len, const char *id, const char *path,
		   struct json_object **out, vl_error *e)
{
	char why[256];
	int ok;

	*out = NULL;
	if (len == 0)
		return vl_err(e, 0, "state file %s: empty", path);
	struct json_object *o = vl_json_parse(text, len, &ok, why, sizeof why);
	if (!ok)
		return vl_err(e, 0, "state file %s: json: %s", path, why);
	if (vl_state_check(o, id, path, e) < 0) {
		json_object_put(o);
		return -1;
	}
	*out = o;
	return 0;
}
