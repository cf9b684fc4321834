/*
 * core.log: one line per record on stderr.
 *
 *   text:  vmlua: info: message key=value key2="two words"
 *   json:  {"ts":1700000000.123,"level":"info","msg":"message","key":"value"}
 *
 *   write(level, message[, fields]), debug/info/warn/error(message[, fields])
 *   set{ level =, format = }, level() -> name, enabled(level) -> boolean
 *
 * Level and format come from VMLUA_LOG / VMLUA_LOG_FORMAT at first use,
 * unless set{} said otherwise. The settings live in a userdata shared as an
 * upvalue by these functions (one per lua_State), not in C globals. A log
 * call never raises for an odd field value: fields are rendered lossily.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <lauxlib.h>

#include "fsutil.h"
#include "jsontext.h"
#include "lbind.h"
#include "ljson.h"
#include "vmlua.h"

enum { L_DEBUG, L_INFO, L_WARN, L_ERROR, L_OFF };
enum { F_TEXT, F_JSON };

static const char *const level_names[] = { "debug", "info", "warn", "error", "off", NULL };
static const char *const format_names[] = { "text", "json", NULL };

typedef struct logger {
	int level;
	int format;
	int ready;		/* the environment has been read */
} logger;

static int find(const char *const names[], const char *s)
{
	for (int i = 0; names[i] != NULL; i++)
		if (strcmp(names[i], s) == 0)
			return i;
	return -1;
}

static void write_line(const char *s, size_t n)
{
	/* One write per record, so that lines from several processes sharing a
	 * log file do not interleave; a failing stderr is not our problem. */
	(void)vl_write_all(STDERR_FILENO, s, n);
}

static void warn_env(const char *var, const char *value, const char *used)
{
	char line[512];
	int n = snprintf(line, sizeof line, "vmlua: warn: %s=%.200s is not valid; using %s\n", var,
			 value, used);
	if (n > 0)
		write_line(line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

static logger *get_logger(lua_State *L)
{
	logger *g = lua_touserdata(L, lua_upvalueindex(1));
	if (g->ready)
		return g;
	g->ready = 1;
	g->level = L_INFO;
	g->format = F_TEXT;
	const char *v = getenv("VMLUA_LOG");
	if (v != NULL && *v) {
		int i = find(level_names, v);
		if (i < 0)
			warn_env("VMLUA_LOG", v, "info");
		else
			g->level = i;
	}
	v = getenv("VMLUA_LOG_FORMAT");
	if (v != NULL && *v) {
		int i = find(format_names, v);
		if (i < 0)
			warn_env("VMLUA_LOG_FORMAT", v, "text");
		else
			g->format = i;
	}
	return g;
}

/* ---- text ---------------------------------------------------------------- */

/* Add s with control characters escaped; quoted (and '"' '\' escaped) when
 * it would not read back as one key=value token. */
static void add_text(luaL_Buffer *b, const char *s, size_t n, int may_quote)
{
	int quote = 0;
	if (may_quote) {
		quote = n == 0;
		for (size_t i = 0; i < n && !quote; i++)
			quote = s[i] == ' ' || s[i] == '=' || s[i] == '"' || (unsigned char)s[i] < 0x20 ||
				s[i] == 0x7f;
	}
	if (quote)
		luaL_addchar(b, '"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\n')
			luaL_addstring(b, "\\n");
		else if (c == '\r')
			luaL_addstring(b, "\\r");
		else if (c == '\t')
			luaL_addstring(b, "\\t");
		else if (c < 0x20 || c == 0x7f) {
			char esc[8];
			snprintf(esc, sizeof esc, "\\x%02x", c);
			luaL_addstring(b, esc);
		} else if (quote && (c == '"' || c == '\\')) {
			luaL_addchar(b, '\\');
			luaL_addchar(b, (char)c);
		} else {
			luaL_addchar(b, (char)c);
		}
	}
	if (quote)
		luaL_addchar(b, '"');
}

static void add_text_fields(luaL_Buffer *b, struct json_object *fields)
{
	json_object_object_foreach(fields, key, val) {
		luaL_addchar(b, ' ');
		add_text(b, key, strlen(key), 1);
		luaL_addchar(b, '=');
		if (json_object_is_type(val, json_type_string)) {
			add_text(b, json_object_get_string(val), (size_t)json_object_get_string_len(val), 1);
		} else {
			size_t n;
			const char *t = json_object_to_json_string_length(val, vl_json_flags(0), &n);
			add_text(b, t ? t : "", t ? n : 0, 1);
		}
	}
}

/* ---- JSON ---------------------------------------------------------------- */

static int add_member(struct json_object *o, const char *key, struct json_object *v)
{
	if (v == NULL)
		return -1;
	if (json_object_object_add(o, key, v) < 0) {
		json_object_put(v);
		return -1;
	}
	return 0;
}

/* {"ts":..,"level":..,"msg":..,<fields>} into *slot (a box slot). */
static void build_json(lua_State *L, struct json_object **slot, int level, const char *msg,
		       size_t len, struct json_object *fields)
{
	struct timespec ts;
	char when[64];

	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(when, sizeof when, "%lld.%03ld", (long long)ts.tv_sec, ts.tv_nsec / 1000000);
	struct json_object *o = *slot = json_object_new_object();
	if (o == NULL ||
	    add_member(o, "ts", json_object_new_double_s((double)ts.tv_sec + ts.tv_nsec / 1e9, when)) < 0 ||
	    add_member(o, "level", json_object_new_string(level_names[level])) < 0 ||
	    add_member(o, "msg", vl_json_new_string(L, msg, len, VL_JSON_LOSSY)) < 0)
		luaL_error(L, "log: out of memory");
	if (fields == NULL)
		return;
	json_object_object_foreach(fields, key, val) {
		char renamed[256];
		const char *k = key;
		/* A field never overwrites ts, level or msg: it becomes _ts, ... */
		if (strcmp(key, "ts") == 0 || strcmp(key, "level") == 0 || strcmp(key, "msg") == 0) {
			snprintf(renamed, sizeof renamed, "_%s", key);
			k = renamed;
		}
		if (add_member(o, k, json_object_get(val)) < 0)
			luaL_error(L, "log: out of memory");
	}
}

/* ---- the record ---------------------------------------------------------- */

static int emit(lua_State *L, int level, int msg_arg)
{
	logger *g = get_logger(L);
	size_t len;
	const char *msg = luaL_checklstring(L, msg_arg, &len);
	int fields_arg = msg_arg + 1;
	if (!lua_isnoneornil(L, fields_arg))
		luaL_checktype(L, fields_arg, LUA_TTABLE);
	if (level < g->level)
		return 0;

	lua_settop(L, fields_arg);
	struct json_object **fields = vl_json_newbox(L);
	if (!lua_isnil(L, fields_arg)) {
		lua_pushvalue(L, fields_arg);
		vl_json_from_lua(L, -1, fields, VL_JSON_LOSSY);
		lua_pop(L, 1);
		if (!json_object_is_type(*fields, json_type_object))	/* a non-empty array */
			vl_json_box_clear(fields);
	}
	luaL_Buffer b;
	if (g->format == F_JSON) {
		struct json_object **line = vl_json_newbox(L);
		build_json(L, line, level, msg, len, *fields);
		size_t n;
		const char *t = json_object_to_json_string_length(*line, vl_json_flags(0), &n);
		luaL_buffinit(L, &b);
		luaL_addlstring(&b, t ? t : "{}", t ? n : 2);
		vl_json_box_clear(line);
	} else {
		luaL_buffinit(L, &b);
		luaL_addstring(&b, "vmlua: ");
		luaL_addstring(&b, level_names[level]);
		luaL_addstring(&b, ": ");
		add_text(&b, msg, len, 0);
		if (*fields != NULL)
			add_text_fields(&b, *fields);
	}
	luaL_addchar(&b, '\n');
	luaL_pushresult(&b);
	vl_json_box_clear(fields);
	size_t n;
	const char *text = lua_tolstring(L, -1, &n);
	write_line(text, n);
	return 0;
}

static int log_write(lua_State *L)
{
	int level = luaL_checkoption(L, 1, NULL, level_names);
	luaL_argcheck(L, level != L_OFF, 1, "'off' is not a level to write at");
	return emit(L, level, 2);
}

static int log_debug(lua_State *L)
{
	return emit(L, L_DEBUG, 1);
}

static int log_info(lua_State *L)
{
	return emit(L, L_INFO, 1);
}

static int log_warn(lua_State *L)
{
	return emit(L, L_WARN, 1);
}

static int log_error(lua_State *L)
{
	return emit(L, L_ERROR, 1);
}

static const char *const set_keys[] = { "level", "format", NULL };

static int log_set(lua_State *L)
{
	logger *g = get_logger(L);
	luaL_checktype(L, 1, LUA_TTABLE);
	vl_check_options(L, 1, set_keys);
	lua_getfield(L, 1, "level");
	lua_getfield(L, 1, "format");
	int level = lua_isnil(L, -2) ? g->level : luaL_checkoption(L, -2, NULL, level_names);
	int format = lua_isnil(L, -1) ? g->format : luaL_checkoption(L, -1, NULL, format_names);
	g->level = level;
	g->format = format;
	lua_pushboolean(L, 1);
	return 1;
}

static int log_level(lua_State *L)
{
	lua_pushstring(L, level_names[get_logger(L)->level]);
	return 1;
}

static int log_enabled(lua_State *L)
{
	logger *g = get_logger(L);
	int level = luaL_checkoption(L, 1, NULL, level_names);
	lua_pushboolean(L, level != L_OFF && level >= g->level);
	return 1;
}

static const luaL_Reg log_funcs[] = {
	{ "write", log_write },
	{ "debug", log_debug },
	{ "info", log_info },
	{ "warn", log_warn },
	{ "error", log_error },
	{ "set", log_set },
	{ "level", log_level },
	{ "enabled", log_enabled },
	{ NULL, NULL },
};

void vl_open_log(lua_State *L)
{
	luaL_newlibtable(L, log_funcs);
	logger *g = lua_newuserdatauv(L, sizeof *g, 0);
	memset(g, 0, sizeof *g);
	luaL_setfuncs(L, log_funcs, 1);
	lua_setfield(L, -2, "log");
}
