/*
 * JSON text <-> json-c objects, with the rules vmlua holds everywhere
 * (core.json and the state store): strict RFC 8259 input, UTF-8 checked,
 * no trailing characters, no NaN/Infinity, bounded nesting, errors that say
 * where. Lua-free; ljson.c converts json-c objects to and from Lua values.
 */
#ifndef VMLUA_JSONTEXT_H
#define VMLUA_JSONTEXT_H

#include <stddef.h>

struct json_object;

/* Deepest nesting accepted by the parser and the encoder. */
#define VL_JSON_MAX_DEPTH 200

/* Parse text[0..len) as exactly one JSON value. text[len] must be '\0' (as in
 * Lua strings), so that a number at the very end is complete. Returns a new
 * object (JSON null gives NULL too: check *ok), or NULL with *ok = 0 and
 * "<reason> at offset N" in err. */
struct json_object *vl_json_parse(const char *text, size_t len, int *ok, char *err, size_t errsz);

/* Length of the valid UTF-8 sequence at p (1-4), or 0 if it is not one:
 * overlong forms, surrogates and code points over U+10FFFF are invalid. The
 * one definition of UTF-8 for decoding and encoding. */
size_t vl_utf8_seq(const unsigned char *p, size_t left);

/* The shortest "%.*g" rendering of a finite double that reads back as the
 * same value, always with a '.', 'e' or 'E' so it reads back as a float. */
void vl_json_format_double(double d, char *buf, size_t size);

/* Serialisation flags for compact and pretty output. */
int vl_json_flags(int pretty);

#endif
