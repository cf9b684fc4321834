/*
 * Deadlines for the Lua-free layer: absolute CLOCK_MONOTONIC seconds, -1 for
 * "no deadline" (the same convention as vl_deadline() in util.c).
 */
#ifndef VMLUA_CLOCK_H
#define VMLUA_CLOCK_H

#include <math.h>
#include <time.h>

static inline double vl_clock_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Milliseconds until deadline for poll(): -1 without one, 0 once due,
 * rounded up so that poll never returns before the deadline. */
static inline int vl_clock_left_ms(double deadline)
{
	if (deadline < 0)
		return -1;
	double left = deadline - vl_clock_now();
	if (left <= 0)
		return 0;
	double ms = ceil(left * 1000.0);
	return ms > 1e9 ? 1000000000 : (int)ms;
}

#endif
