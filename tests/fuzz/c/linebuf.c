/*
 * Fuzz target: the line buffer (linebuf.c) shared by pipes, followed files
 * and sockets. The first byte picks max_line (1..64), the second a smaller
 * limit for vl_linebuf_next_line_max; the rest comes in chunks whose sizes
 * the input also gives. After every chunk, and at eof, lines are taken out.
 * Checked: a line never exceeds its limit, what is consumed is the line and
 * at most its "\n" or "\r\n", and everything that went in comes out, in
 * order.
 *
 * fuzz-options: -max_len=4096
 */
#include <string.h>

#include "fuzz.h"
#include "linebuf.h"

struct out {
	uint8_t *data;
	size_t len;
};

/* Take out every line the buffer hands out now; append what they consumed. */
static void drain(vl_linebuf *b, size_t limit, struct out *o)
{
	const char *line;
	size_t n, used;

	while (limit ? vl_linebuf_next_line_max(b, limit, &line, &n, &used)
		     : vl_linebuf_next_line(b, &line, &n, &used)) {
		size_t max = limit ? limit : b->max_line;
		FUZZ_CHECK(n <= max, "a line of %zu bytes, the limit is %zu", n, max);
		FUZZ_CHECK(used >= n && used <= b->len && used > 0, "used %zu of %zu for %zu", used, b->len, n);
		FUZZ_CHECK(line == b->data, "a line starts the buffer");
		size_t term = used - n;
		FUZZ_CHECK(term == 0 || (term == 1 && line[n] == '\n') ||
			   (term == 2 && line[n] == '\r' && line[n + 1] == '\n'),
			   "only \\n or \\r\\n is dropped (%zu bytes)", term);
		FUZZ_CHECK(term > 0 || memchr(line, '\n', n) == NULL, "a piece holds no newline");
		memcpy(o->data + o->len, line, used);
		o->len += used;
		vl_linebuf_consume(b, used);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	size_t max_line = 1 + data[0] % 64;
	size_t limit = data[1] % 2 ? 1 + data[1] % max_line : 0;
	vl_linebuf b;
	struct out o = { malloc(size), 0 };
	size_t in = 0;

	vl_linebuf_init(&b, max_line);
	for (size_t i = 2; i < size;) {
		size_t chunk = 1 + data[i] % 16;
		i++;
		if (chunk > size - i)
			chunk = size - i;
		FUZZ_CHECK(vl_linebuf_append(&b, (const char *)data + i, chunk) == 0, "append");
		i += chunk;
		in += chunk;
		drain(&b, limit, &o);
	}
	b.eof = 1;
	drain(&b, limit, &o);
	FUZZ_CHECK(b.len == 0, "%zu bytes left at eof", b.len);
	FUZZ_CHECK(o.len == in, "%zu bytes out of %zu in", o.len, in);
	/* what came out is what went in, chunk headers left out */
	size_t k = 0;
	for (size_t i = 2; i < size;) {
		size_t chunk = 1 + data[i] % 16;
		i++;
		if (chunk > size - i)
			chunk = size - i;
		FUZZ_CHECK(memcmp(o.data + k, data + i, chunk) == 0, "the bytes come out in order");
		k += chunk;
		i += chunk;
	}
	free(o.data);
	vl_linebuf_free(&b);
	return 0;
}
