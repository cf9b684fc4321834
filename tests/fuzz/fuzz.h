/*
 * What every fuzz target shares: the libFuzzer entry points (also driven by
 * replay.c, the standalone replay that `make test` runs under gcc) and a
 * check that turns a broken invariant into a crash libFuzzer reports.
 */
#ifndef VMLUA_FUZZ_H
#define VMLUA_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional (weak in replay.c): called once before the first input. */
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A new directory for a target's files, removed at exit (tmpdir.c, linked
 * into the C targets). */
const char *fuzz_tmpdir(void);

/* The repository root (the Makefile passes $(CURDIR)), for targets that
 * load the Lua library or make files. */
#ifndef FUZZ_ROOT
#define FUZZ_ROOT "."
#endif

#define FUZZ_CHECK(cond, ...)                                                  \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "fuzz: %s:%d: check failed: %s: ", __FILE__, \
				__LINE__, #cond);                              \
			fprintf(stderr, __VA_ARGS__);                          \
			fputc('\n', stderr);                                   \
			abort();                                               \
		}                                                              \
	} while (0)

#endif
