/*
 * Lua values <-> json-c objects, shared by core.json (ljson.c), the state
 * store binding (lstate.c) and JSON log lines (llog.c).
 *
 * A conversion can raise (a value JSON cannot hold, out of memory), so the
 * json-c tree being built lives in a "box" userdata that frees it when
 * collected: nothing leaks when Lua unwinds.
 */
#ifndef VMLUA_LJSON_H
#define VMLUA_LJSON_H

#include <stddef.h>

#include <lua.h>

struct json_object;

/* Flags for vl_json_from_lua. */
enum {
	VL_JSON_LOSSY = 1,	/* never raise for a value: render it (for logs) */
};

/* Push a box; returns its slot, which owns the tree stored in it. */
struct json_object **vl_json_newbox(lua_State *L);
/* Free the tree in a box slot now (idempotent). */
void vl_json_box_clear(struct json_object **slot);

/* Convert the Lua value at idx into *slot (a box slot: it owns the tree as
 * soon as it exists). Raises "json: ..." for values JSON cannot hold, unless
 * VL_JSON_LOSSY. Objects are written with sorted keys. */
void vl_json_from_lua(lua_State *L, int idx, struct json_object **slot, int flags);

/* A json-c string of s[0..len): raises "json: cannot encode a string of N
 * bytes" past json-c's INT_MAX limit, or with VL_JSON_LOSSY gives the text
 * "<string of N bytes>" instead. Raises on out of memory. */
struct json_object *vl_json_new_string(lua_State *L, const char *s, size_t len, int flags);

/* Push the Lua value of o (NULL is JSON null -> core.json.null). Arrays and
 * objects get the array/object marks. o stays owned by the caller. */
void vl_json_push(lua_State *L, struct json_object *o);

#endif
