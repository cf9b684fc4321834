/*
 * vl_linebuf: lines across reads, "\r\n", long lines in max_line pieces,
 * the unterminated rest at eof.
 */
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "linebuf.h"

static int next(vl_linebuf *b, char *out, size_t size)
{
	const char *line;
	size_t n, used;
	if (!vl_linebuf_next_line(b, &line, &n, &used))
		return 0;
	if (n >= size)
		n = size - 1;
	memcpy(out, line, n);
	out[n] = '\0';
	vl_linebuf_consume(b, used);
	return 1;
}

int main(void)
{
	vl_linebuf b;
	char out[64];

	vl_linebuf_init(&b, 8);
	vl_linebuf_append(&b, "one\r\ntw", 7);
	OK(next(&b, out, sizeof out) && strcmp(out, "one") == 0, "\\r\\n stripped (%s)", out);
	OK(!next(&b, out, sizeof out), "a partial line waits");
	vl_linebuf_append(&b, "o\n", 2);
	OK(next(&b, out, sizeof out) && strcmp(out, "two") == 0, "joined across appends (%s)", out);

	vl_linebuf_append(&b, "12345678\n", 9);
	OK(next(&b, out, sizeof out) && strcmp(out, "12345678") == 0, "a line of exactly max_line (%s)", out);
	OK(!next(&b, out, sizeof out) && b.len == 0, "... gives no empty piece after it");

	vl_linebuf_append(&b, "123456789abc", 12);
	OK(next(&b, out, sizeof out) && strcmp(out, "12345678") == 0, "a longer line: a max_line piece (%s)", out);
	OK(!next(&b, out, sizeof out), "the rest waits for its newline");
	vl_linebuf_append(&b, "\n", 1);
	OK(next(&b, out, sizeof out) && strcmp(out, "9abc") == 0, "then the rest (%s)", out);

	int p[2];
	if (pipe(p) < 0)
		return 1;
	if (write(p[1], "last", 4) != 4)
		return 1;
	close(p[1]);
	OK(vl_linebuf_fill(&b, p[0]) == 4 && !next(&b, out, sizeof out), "no newline yet, no eof yet");
	OK(vl_linebuf_fill(&b, p[0]) == 0 && b.eof, "eof from read");
	OK(next(&b, out, sizeof out) && strcmp(out, "last") == 0, "the unterminated rest at eof (%s)", out);
	OK(!next(&b, out, sizeof out), "then nothing");
	close(p[0]);
	vl_linebuf_free(&b);
	return tap_done();
}
