/*
 * fake-cloud-hypervisor: cloud-hypervisor's option_parser crate.
 *
 * One argv element holds "key=value" pairs separated by ','; commas inside
 * "..." or [...] do not split. An unknown key is "Unknown option: <key>", a
 * key that needs a value but has no '=' is "Invalid syntax: <element>", a
 * value that does not convert is "Unable to convert <value> for <key>". A
 * later duplicate key overwrites an earlier one.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fakeclh.h"

static char *trim_dup(const char *s, size_t n)
{
	char *r;

	while (n && isspace((unsigned char)*s)) {
		s++;
		n--;
	}
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	r = xmalloc(n + 1);
	memcpy(r, s, n);
	r[n] = '\0';
	return r;
}

/* Split at top-level commas; false for unbalanced quotes or brackets. */
static bool split_commas(const char *in, char ***items, int *count)
{
	char *s = trim_dup(in, strlen(in));
	size_t i, start = 0, len = strlen(s);
	int depth = 0, n = 0;
	bool quoted = false;
	char **v = xmalloc(sizeof *v * (len + 2));

	for (i = 0; i <= len; i++) {
		char c = s[i];

		if (c == '"')
			quoted = !quoted;
		else if (quoted)
			continue;
		else if (c == '[')
			depth++;
		else if (c == ']' && --depth < 0)
			break;
		else if ((c == ',' && depth == 0) || c == '\0') {
			v[n++] = trim_dup(s + start, i - start);
			start = i + 1;
		}
	}
	free(s);
	if (quoted || depth != 0) {
		while (n)
			free(v[--n]);
		free(v);
		return false;
	}
	*items = v;
	*count = n;
	return true;
}

static struct optkv *find(const struct opts *o, const char *key)
{
	int i;

	for (i = 0; i < o->n; i++)
		if (strcmp(o->kv[i].key, key) == 0)
			return (struct optkv *)&o->kv[i];
	return NULL;
}

static bool parse_items(struct opts *o, char **items, int n, struct errchain *ec)
{
	int i;

	for (i = 0; i < n; i++) {
		char *eq = strchr(items[i], '=');
		struct optkv *kv;

		if (eq)
			*eq = '\0';
		kv = find(o, items[i]);
		if (!kv) {
			ec_push(ec, "Unknown option: %s", items[i]);
			return false;
		}
		kv->set = true;
		if (kv->valueless)
			continue;
		if (!eq) {
			ec_push(ec, "Invalid syntax: %s", items[i]);
			return false;
		}
		free(kv->value);
		kv->value = trim_dup(eq + 1, strlen(eq + 1));
	}
	return true;
}

bool opts_parse(struct opts *o, const char *const *keys, const char *input,
		struct errchain *ec)
{
	char **items = NULL;
	int n = 0, i;
	bool ok;

	memset(o, 0, sizeof *o);
	for (i = 0; keys[i] && o->n < (int)(sizeof o->kv / sizeof o->kv[0]); i++) {
		o->kv[o->n].valueless = keys[i][0] == '!';
		strlcpy(o->kv[o->n++].key, keys[i] + (keys[i][0] == '!'), sizeof o->kv[0].key);
	}
	if (!input || !*input)
		return true;
	if (!split_commas(input, &items, &n)) {
		ec_push(ec, "Invalid syntax: %s", input);
		return false;
	}
	if (n == 1 && items[0][0] == '\0')
		n = 0;	/* blank input */
	ok = parse_items(o, items, n, ec);
	for (i = 0; i < n; i++)
		free(items[i]);
	free(items);
	return ok;
}

void opts_free(struct opts *o)
{
	int i;

	for (i = 0; i < o->n; i++) {
		free(o->kv[i].value);
		o->kv[i].value = NULL;
	}
}

/* The value with its double quotes removed; NULL when unset or empty. */
const char *opts_get(const struct opts *o, const char *key)
{
	struct optkv *kv = find(o, key);
	char *r, *w;

	if (!kv || !kv->value || !*kv->value)
		return NULL;
	for (r = w = kv->value; *r; r++)
		if (*r != '"')
			*w++ = *r;
	*w = '\0';
	return kv->value;
}

bool opts_isset(const struct opts *o, const char *key)
{
	struct optkv *kv = find(o, key);

	return kv && kv->set;
}

static bool parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (*s == '+')
		s++;
	if (!isdigit((unsigned char)*s))
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return false;
	*out = v;
	return true;
}

static const char *raw(const struct opts *o, const char *key)
{
	struct optkv *kv = find(o, key);

	return kv && kv->value && *kv->value ? kv->value : NULL;
}

bool opt_u64(const struct opts *o, const char *key, uint64_t max, uint64_t *out,
	     bool *present, struct errchain *ec)
{
	const char *v = raw(o, key);

	*present = v != NULL;
	if (!v)
		return true;
	if (parse_u64(v, max, out))
		return true;
	ec_push(ec, "Unable to convert %s for %s", v, key);
	return false;
}

/* ByteSized: K, M, G suffixes are binary; a bare number is bytes. */
bool opt_size(const struct opts *o, const char *key, uint64_t *out, bool *present,
	      struct errchain *ec)
{
	const char *v = raw(o, key);
	char buf[64];
	size_t n;
	int shift = 0;

	*present = v != NULL;
	if (!v)
		return true;
	n = strlcpy(buf, v, sizeof buf);
	if (n && n < sizeof buf) {
		if (buf[n - 1] == 'K')
			shift = 10;
		else if (buf[n - 1] == 'M')
			shift = 20;
		else if (buf[n - 1] == 'G')
			shift = 30;
		while (n && (buf[n - 1] == 'K' || buf[n - 1] == 'M' || buf[n - 1] == 'G'))
			buf[--n] = '\0';
		if (parse_u64(buf, UINT64_MAX, out)) {
			*out <<= shift;
			return true;
		}
	}
	ec_push(ec, "Unable to convert %s for %s", v, key);
	return false;
}

bool opt_toggle(const struct opts *o, const char *key, bool *out, bool *present,
		struct errchain *ec)
{
	const char *v = raw(o, key);

	*present = v != NULL;
	if (!v)
		return true;
	if (!strcasecmp(v, "on") || !strcasecmp(v, "true")) {
		*out = true;
		return true;
	}
	if (!strcasecmp(v, "off") || !strcasecmp(v, "false")) {
		*out = false;
		return true;
	}
	ec_push(ec, "Unable to convert %s for %s", v, key);
	return false;
}

/* IntegerList: "[0,2-4]" gives [0,2,3,4]; NULL when malformed. */
json_object *parse_intlist(const char *s, uint64_t max)
{
	char *copy = xstrdup(s), *p = copy, *tok, *save = NULL;
	json_object *a = json_object_new_array();
	size_t n = strlen(p);

	while (*p == '[')
		p++;
	while (n && (copy[n - 1] == ']'))
		copy[--n] = '\0';
	for (tok = strtok_r(p, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *dash = strchr(tok, '-');
		uint64_t lo, hi, i;

		if (dash)
			*dash = '\0';
		if (!parse_u64(tok, max, &lo) || (dash && (!parse_u64(dash + 1, max, &hi) || hi <= lo)))
			goto bad;
		if (!dash)
			hi = lo;
		for (i = lo; i <= hi; i++)
			json_object_array_add(a, json_object_new_int64((int64_t)i));
	}
	free(copy);
	return a;
bad:
	free(copy);
	json_object_put(a);
	return NULL;
}

json_object *parse_strlist(const char *s)
{
	char *copy = xstrdup(s), *p = copy, *tok, *save = NULL;
	json_object *a = json_object_new_array();
	size_t n = strlen(p);

	while (*p == '[')
		p++;
	while (n && copy[n - 1] == ']')
		copy[--n] = '\0';
	for (tok = strtok_r(p, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		json_object_array_add(a, json_object_new_string(tok));
	free(copy);
	return a;
}
