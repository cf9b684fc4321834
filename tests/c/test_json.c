/*
 * The Lua-free JSON helpers: strict parsing with offsets, float formatting.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "jsontext.h"
#include "tap.h"

static int parse_fails(const char *text, const char *want)
{
	char err[256];
	int ok;
	struct json_object *o = vl_json_parse(text, strlen(text), &ok, err, sizeof err);
	json_object_put(o);
	return !ok && o == NULL && strcmp(err, want) == 0;
}

int main(void)
{
	char err[256];
	int ok;

	struct json_object *o = vl_json_parse("{\"a\": [1, 2.5, null]}", 21, &ok, err, sizeof err);
	OK(ok && json_object_is_type(o, json_type_object), "parse an object");
	json_object_put(o);
	o = vl_json_parse("null", 4, &ok, err, sizeof err);
	OK(ok && o == NULL, "null parses to NULL with ok set");
	o = vl_json_parse("7", 1, &ok, err, sizeof err);
	OK(ok && json_object_get_int(o) == 7, "a number at the very end is complete");
	json_object_put(o);

	OK(parse_fails("", "unexpected end of data at offset 0"), "empty");
	OK(parse_fails("{\"a\":", "unexpected end of data at offset 5"), "truncated");
	OK(parse_fails("[1] [2]", "unexpected character at offset 4"), "trailing value");
	OK(parse_fails("[NaN]", "NaN and Infinity are not JSON at offset 1"), "NaN");
	OK(parse_fails("-Infinity", "NaN and Infinity are not JSON at offset 1"), "-Infinity");
	OK(parse_fails("{'a': 1}", "unexpected character at offset 1"), "single quotes");
	OK(parse_fails("[1.]", "invalid number (digit expected after '.') at offset 3"), "1.");
	OK(parse_fails("-012", "invalid number (leading zero) at offset 2"), "-012");
	OK(parse_fails("\"a\nb\"", "control character in string at offset 2"), "raw newline in a string");
	OK(parse_fails("[1, x, NaN]", "unexpected character at offset 4"), "the first error wins");
	OK(parse_fails("{\"a\":1,\"a\\u0000b\":2}", "object key with a NUL character (\\u0000) at offset 9"),
	   "a key with \\u0000 is refused, not cut");
	o = vl_json_parse("{\"a\":\"\\u0000\"}", 14, &ok, err, sizeof err);
	OK(ok && json_object_get_string_len(json_object_object_get(o, "a")) == 1, "a value with \\u0000 is kept");
	json_object_put(o);
	o = vl_json_parse("[\"a\\\\\", \"N\"]", 12, &ok, err, sizeof err);
	OK(ok && json_object_array_length(o) == 2, "an escaped backslash ends a string for the scan: %s",
	   ok ? "ok" : err);
	json_object_put(o);
	o = vl_json_parse("\"\\\"NaN\\\"\"", 9, &ok, err, sizeof err);
	OK(ok && strcmp(json_object_get_string(o), "\"NaN\"") == 0, "NaN inside a string is text");
	json_object_put(o);

	/* Every double reads back as itself, and as a float. */
	char buf[64];
	int all = 1;
	srand(42);
	for (int i = 0; i < 100000 && all; i++) {
		double d;
		unsigned long long bits = ((unsigned long long)rand() << 33) ^ ((unsigned long long)rand() << 2) ^ (unsigned long long)rand();
		memcpy(&d, &bits, sizeof d);
		if (!isfinite(d))
			continue;
		vl_json_format_double(d, buf, sizeof buf);
		all = strtod(buf, NULL) == d && strpbrk(buf, ".eE") != NULL;
	}
	OK(all, "100000 random doubles round-trip (last: %s)", buf);
	vl_json_format_double(0.1, buf, sizeof buf);
	OK(strcmp(buf, "0.1") == 0, "0.1 is written shortest: %s", buf);
	vl_json_format_double(3.0, buf, sizeof buf);
	OK(strcmp(buf, "3.0") == 0, "3.0 keeps its point: %s", buf);
	vl_json_format_double(1e22, buf, sizeof buf);
	OK(strcmp(buf, "1e+22") == 0, "1e22 in exponent form: %s", buf);
	return tap_done();
}
