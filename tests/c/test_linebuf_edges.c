/*
 * vl_linebuf edge cases: lines of exactly max_line bytes with "\n" or
 * "\r\n", a max_line piece, a lone "\r" at the limit, fill and eof.
 */
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "linebuf.h"

static int next_is(vl_linebuf *b, const char *want)
{
	const char *line;
	size_t n, used;
	if (!vl_linebuf_next_line(b, &line, &n, &used))
		return want == NULL;
	int same = want != NULL && n == strlen(want) && memcmp(line, want, n) == 0;
	vl_linebuf_consume(b, used);
	return same;
}

static void append(vl_linebuf *b, const char *s)
{
	vl_linebuf_append(b, s, strlen(s));
}

int main(void)
{
	vl_linebuf b;

	vl_linebuf_init(&b, 8);
	OK(next_is(&b, NULL), "empty buffer: no line");
	append(&b, "ab");
	OK(next_is(&b, NULL), "no line before the newline");
	append(&b, "c\nde\r\n\n");
	OK(next_is(&b, "abc"), "a line split across appends");
	OK(next_is(&b, "de"), "\\r\\n is stripped");
	OK(next_is(&b, ""), "an empty line");
	OK(next_is(&b, NULL), "then nothing");

	append(&b, "12345678\n");
	OK(next_is(&b, "12345678"), "a line of exactly max_line bytes is one line");
	OK(next_is(&b, NULL), "with no empty line after it");
	append(&b, "12345678\r\n");
	OK(next_is(&b, "12345678"), "also with \\r\\n");
	OK(next_is(&b, NULL), "and nothing after it");

	append(&b, "12345678");
	OK(next_is(&b, NULL), "max_line bytes without a newline: wait for more");
	append(&b, "\r");
	OK(next_is(&b, NULL), "max_line bytes and \\r: still wait");
	append(&b, "\n");
	OK(next_is(&b, "12345678"), "then one line");

	append(&b, "123456789abcdefghij\n");
	OK(next_is(&b, "12345678"), "a longer line comes in max_line pieces");
	OK(next_is(&b, "9abcdefg"), "piece two");
	OK(next_is(&b, "hij"), "the rest ends at the newline");

	append(&b, "tail");
	OK(next_is(&b, NULL), "an unterminated rest waits");
	b.eof = 1;
	OK(next_is(&b, "tail"), "and comes out at eof");
	OK(next_is(&b, NULL), "then nothing");

	/* issue 12 finding 13 (found by fuzzing): max_line bytes and a "\r"
	 * at eof gave one piece of max_line + 1 bytes. */
	b.eof = 0;
	append(&b, "12345678\r");
	OK(next_is(&b, NULL), "max_line bytes and \\r before eof: wait");
	b.eof = 1;
	const char *line;
	size_t n = 0, used = 0;
	int got = vl_linebuf_next_line(&b, &line, &n, &used);
	OK(got && n == 8 && used == 8, "at eof: a piece of max_line bytes, not max_line + 1 (%zu)", n);
	vl_linebuf_consume(&b, used);
	OK(next_is(&b, "\r"), "then the \\r as the rest");
	OK(next_is(&b, NULL), "then nothing");
	vl_linebuf_free(&b);

	int p[2];
	OK(pipe(p) == 0, "pipe");
	vl_linebuf_init(&b, 0);
	OK(b.max_line == 65536, "default max_line is 64 KiB");
	OK(write(p[1], "x\ny", 3) == 3, "write");
	OK(vl_linebuf_fill(&b, p[0]) == 3, "fill reads what is there");
	OK(next_is(&b, "x"), "line from a fill");
	close(p[1]);
	OK(vl_linebuf_fill(&b, p[0]) == 0 && b.eof, "fill at end of file sets eof");
	OK(next_is(&b, "y"), "the rest at eof");
	close(p[0]);
	vl_linebuf_free(&b);
	return tap_done();
}
