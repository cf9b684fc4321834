/*
 * Strict JSON parsing and float formatting on top of json-c (see jsontext.h).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "jsontext.h"

/*
 * json-c's strict mode still accepts a few things RFC 8259 does not: the
 * literals NaN and Infinity, single-quoted strings, raw control characters
 * inside strings, "1." and "-01". This scan finds the first of those; the
 * parser finds everything else. Returns its offset and sets *why, or leaves
 * *why NULL.
 */
size_t vl_utf8_seq(const unsigned char *p, size_t left)
{
	unsigned c = p[0];
	size_t n;
	unsigned cp, min;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, cp = c & 0x1f, min = 0x80;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, cp = c & 0x0f, min = 0x800;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, cp = c & 0x07, min = 0x10000;
	else
		return 0;
	if (left < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static size_t scan_number(const char *t, size_t len, size_t i, const char **why)
{
	if (t[i] == '-')
		i++;
	if (i < len && t[i] == '0') {
		if (++i < len && is_digit(t[i])) {
			*why = "invalid number (leading zero)";
			return i;
		}
	} else {
		while (i < len && is_digit(t[i]))
			i++;
	}
	if (i < len && t[i] == '.') {
		if (++i >= len || !is_digit(t[i])) {
			*why = "invalid number (digit expected after '.')";
			return i;
		}
		while (i < len && is_digit(t[i]))
			i++;
	}
	if (i < len && (t[i] == 'e' || t[i] == 'E')) {
		if (++i < len && (t[i] == '+' || t[i] == '-'))
			i++;
		while (i < len && is_digit(t[i]))
			i++;
	}
	*why = NULL;
	return i;
}

/* Does the string that ended before t[i] stand before a ':' (a key)? */
static int is_key(const char *t, size_t len, size_t i)
{
	while (i < len && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r'))
		i++;
	return i < len && t[i] == ':';
}

/* The string starting at t[i] (its '"'): returns the index past it. json-c
 * keeps object keys as C strings, so a key holding \u0000 would be cut
 * there (and could then replace another key): *nul gets the offset of the
 * first such escape, or len. */
static size_t scan_string(const char *t, size_t len, size_t i, size_t *nul, const char **why)
{
	*nul = len;
	for (i++; i < len && t[i] != '"'; i++) {
		unsigned char c = (unsigned char)t[i];
		if (c == '\\') {
			if (*nul == len && len - i > 5 && memcmp(t + i + 1, "u0000", 5) == 0)
				*nul = i;
			i++;
		} else if (c < 0x20) {
			*why = "control character in string";
			return i;
		} else if (c >= 0x80) {
			size_t n = vl_utf8_seq((const unsigned char *)t + i, len - i);
			if (n == 0) {
				*why = "invalid utf-8 string";
				return i;
			}
			i += n - 1;
		}
	}
	return i + 1;
}

static size_t lexical_check(const char *t, size_t len, const char **why)
{
	*why = NULL;
	for (size_t i = 0; i < len;) {
		char c = t[i];
		if (c == '"') {
			size_t nul;
			i = scan_string(t, len, i, &nul, why);
			if (*why != NULL)
				return i;
			if (nul < len && is_key(t, len, i)) {
				*why = "object key with a NUL character (\\u0000)";
				return nul;
			}
		} else if (c == '-' || is_digit(c)) {
			size_t end = scan_number(t, len, i, why);
			if (*why != NULL)
				return end;
			i = end > i ? end : i + 1;
		} else if (c == '\'') {
			*why = "unexpected character";
			return i;
		} else if (c == 'N' || c == 'I') {
			*why = "NaN and Infinity are not JSON";
			return i;
		} else {
			i++;
		}
	}
	return len;
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

	const char *lex_why = NULL;
	size_t lex_at = lexical_check(text, len, &lex_why);
	if (jerr != json_tokener_success) {
		const char *why = jerr == json_tokener_continue ? "unexpected end of data"
								 : json_tokener_error_desc(jerr);
		if (end > len)
			end = len;
		if (lex_why != NULL && lex_at < end) {
			why = lex_why;
			end = lex_at;
		}
		snprintf(err, errsz, "%s at offset %zu", why, end);
		json_object_put(o);
		return NULL;
	}
	if (lex_why != NULL) {
		snprintf(err, errsz, "%s at offset %zu", lex_why, lex_at);
		json_object_put(o);
		return NULL;
	}
	if (end < len) {
		/* Stopped early: an embedded NUL byte ends the text for json-c. */
		snprintf(err, errsz, "unexpected character at offset %zu", end);
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
