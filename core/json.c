/*
 * Strict JSON parsing and float formatting on top of json-c (see json.h).
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "json.h"

/* json-c accepts the literals NaN, Infinity and -Infinity even in strict
 * mode. Find the first one outside a string to report where it is. */
static size_t find_nonfinite_literal(const char *text, size_t len)
{
	int in_string = 0;

	for (size_t i = 0; i < len; i++) {
		char c = text[i];
		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = 0;
		} else if (c == '"') {
			in_string = 1;
		} else if (c == 'N' || c == 'I') {
			return i;
		}
	}
	return 0;
}

/* 1 when the tree holds a double that came from a NaN/Infinity literal. */
static int has_nonfinite(struct json_object *o, int depth)
{
	if (depth > VL_JSON_MAX_DEPTH + 1)
		return 0;
	switch (json_object_get_type(o)) {
	case json_type_double:
		return !isfinite(json_object_get_double(o)) &&
		       strpbrk(json_object_get_string(o), "NI") != NULL;
	case json_type_array:
		for (size_t i = 0, n = json_object_array_length(o); i < n; i++)
			if (has_nonfinite(json_object_array_get_idx(o, i), depth + 1))
				return 1;
		return 0;
	case json_type_object: {
		json_object_object_foreach(o, key, val) {
			(void)key;
			if (has_nonfinite(val, depth + 1))
				return 1;
		}
		return 0;
	}
	default:
		return 0;
	}
}

struct json_object *vl_json_parse(const char *text, size_t len, int *ok, char *err, size_t errsz)
{
	*ok = 0;
	if (len >= INT_MAX) {
		snprintf(err, errsz, "text too long (%zu bytes) at offset 0", len);
		return NULL;
	}
	struct json_tokener *tok = json_tokener_new_ex(VL_JSON_MAX_DEPTH);
	if (tok == NULL) {
		snprintf(err, errsz, "out of memory at offset 0");
		return NULL;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	/* len + 1 passes the terminating NUL: "the end of input". */
	struct json_object *o = json_tokener_parse_ex(tok, text, (int)len + 1);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	size_t end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);

	if (jerr != json_tokener_success) {
		const char *why = jerr == json_tokener_continue ? "unexpected end of data"
								 : json_tokener_error_desc(jerr);
		snprintf(err, errsz, "%s at offset %zu", why, end > len ? len : end);
		json_object_put(o);
		return NULL;
	}
	if (end < len) {
		/* Stopped early: an embedded NUL byte ends the text for json-c. */
		snprintf(err, errsz, "unexpected character at offset %zu", end);
		json_object_put(o);
		return NULL;
	}
	if (has_nonfinite(o, 0)) {
		snprintf(err, errsz, "NaN and Infinity are not JSON at offset %zu",
			 find_nonfinite_literal(text, len));
		json_object_put(o);
		return NULL;
	}
	*ok = 1;
	return o;
}

void vl_json_format_double(double d, char *buf, size_t size)
{
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, size, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	if (strpbrk(buf, ".eE") == NULL) {
		size_t n = strlen(buf);
		if (n + 3 <= size)
			memcpy(buf + n, ".0", 3);
	}
}

int vl_json_flags(int pretty)
{
	return (pretty ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED : JSON_C_TO_STRING_PLAIN) |
	       JSON_C_TO_STRING_NOSLASHESCAPE;
}
