/*
 * A minimal TAP producer for the C tests: ok/not ok lines and a plan.
 * tests/run counts the lines.
 */
#ifndef VMLUA_TAP_H
#define VMLUA_TAP_H

#include <stdio.h>
#include <stdlib.h>
#include <stdarg.h>
#include <string.h>

static int tap_n, tap_failed;

#define OK(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, #cond, __VA_ARGS__)

__attribute__((format(printf, 5, 6)))
static inline int tap_ok(int pass, const char *file, int line, const char *expr, const char *fmt, ...)
{
	va_list ap;
	tap_n++;
	if (!pass)
		tap_failed++;
	printf("%s %d - ", pass ? "ok" : "not ok", tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!pass)
		printf("#   failed at %s:%d: %s\n", file, line, expr);
	fflush(stdout);
	return pass;
}

static inline int tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

#endif
