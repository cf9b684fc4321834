/*
 * core.base64: RFC 4648 base64 (the standard alphabet, with padding), as
 * the QEMU guest agent carries file contents and command output.
 *
 *   base64.encode(s) -> string
 *   base64.decode(s) -> string | nil, "base64: <what> at offset N"
 *
 * The decoder is strict: the length is a multiple of 4, '=' only ends the
 * text (one or two of them), no whitespace. Bytes from a guest are not
 * trusted: any other input is an error, never a crash or a partial result.
 */
#include <lauxlib.h>

#include "vmlua.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_encode(lua_State *L)
{
	size_t n;
	const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &n);
	luaL_Buffer b;
	char *out = luaL_buffinitsize(L, &b, (n + 2) / 3 * 4);
	size_t o = 0, i;

	for (i = 0; i + 2 < n; i += 3) {
		unsigned v = (unsigned)s[i] << 16 | (unsigned)s[i + 1] << 8 | s[i + 2];
		out[o++] = alphabet[v >> 18];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = alphabet[(v >> 6) & 63];
		out[o++] = alphabet[v & 63];
	}
	if (i < n) {
		unsigned v = (unsigned)s[i] << 16 | (i + 1 < n ? (unsigned)s[i + 1] << 8 : 0);
		out[o++] = alphabet[v >> 18];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = i + 1 < n ? alphabet[(v >> 6) & 63] : '=';
		out[o++] = '=';
	}
	luaL_pushresultsize(&b, o);
	return 1;
}

/* The 6-bit value of a base64 character, or -1. */
static int sextet(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

static int bad(lua_State *L, const char *what, size_t offset)
{
	return vl_fail_msg(L, "base64: %s at offset %zu", what, offset);
}

static int b64_decode(lua_State *L)
{
	size_t n;
	const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &n);

	if (n % 4 != 0)
		return bad(L, "length not a multiple of 4", n);
	size_t pad = n > 0 && s[n - 1] == '=' ? (n > 1 && s[n - 2] == '=' ? 2 : 1) : 0;
	luaL_Buffer b;
	char *out = luaL_buffinitsize(L, &b, n / 4 * 3);
	size_t o = 0;

	for (size_t i = 0; i < n; i += 4) {
		int v[4];
		for (int k = 0; k < 4; k++) {
			size_t at = i + (size_t)k;
			v[k] = at >= n - pad ? 0 : sextet(s[at]);
			if (v[k] < 0)
				return bad(L, s[at] == '=' ? "'=' before the end" : "invalid character", at);
		}
		unsigned w = (unsigned)v[0] << 18 | (unsigned)v[1] << 12 | (unsigned)v[2] << 6 | (unsigned)v[3];
		out[o++] = (char)(w >> 16);
		out[o++] = (char)(w >> 8);
		out[o++] = (char)w;
	}
	o -= pad;
	/* The bits a padded group leaves over must be zero (canonical form). */
	if (pad > 0 && (sextet(s[n - pad - 1]) & (pad == 2 ? 15 : 3)) != 0)
		return bad(L, "non-zero bits after the last byte", n - pad - 1);
	luaL_pushresultsize(&b, o);
	return 1;
}

void vl_open_base64(lua_State *L)
{
	static const luaL_Reg fns[] = {
		{ "encode", b64_encode },
		{ "decode", b64_decode },
		{ NULL, NULL },
	};

	luaL_newlib(L, fns);
	lua_setfield(L, -2, "base64");
}
