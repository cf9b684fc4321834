/*
 * Monotonic time and deadlines, shared by both layers: absolute
 * CLOCK_MONOTONIC seconds, -1 for "no deadline".
 */
#ifndef VMLUA_CLOCK_H
#define VMLUA_CLOCK_H

#include <math.h>
#include <time.h>

/* CLOCK_MONOTONIC in seconds. */
static inline double vl_monotonic(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Absolute deadline for a timeout in seconds (-1, forever, stays -1). */
static inline double vl_deadline(double timeout)
{
	return timeout < 0 ? -1 : vl_monotonic() + timeout;
}

/* Milliseconds until deadline for poll(): -1 without one, 0 once due,
 * rounded up so that poll never returns before the deadline. */
static inline int vl_remaining_ms(double deadline)
{
	if (deadline < 0)
		return -1;
	double left = deadline - vl_monotonic();
	if (left <= 0)
		return 0;
	double ms = ceil(left * 1000.0);
	return ms > 1e9 ? 1000000000 : (int)ms;
}

#endif
