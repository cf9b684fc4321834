/*
 * The standalone replay of a fuzz target: feeds every file of its corpus
 * (tests/fuzz/corpus/<target>/) and every crash found so far
 * (tests/fuzz/regressions/<target>/) to LLVMFuzzerTestOneInput, once, and
 * reports in TAP for tests/run. Built with gcc in both test flavours (the
 * asan one with ASan+UBSan), so `make test` needs no clang. With arguments,
 * it replays those files instead (to look at one input).
 *
 * A failing input crashes the process: the sanitizer's report, or the
 * target's FUZZ_CHECK, says why, and the handler below names the file.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

#ifndef FUZZ_TARGET
#error "FUZZ_TARGET (the target's name) must be defined"
#endif

__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

static char current[4096];

static void say_which(void)
{
	static const char pre[] = "fuzz replay: the input that failed: ";
	if (write(STDERR_FILENO, pre, sizeof pre - 1) < 0 ||
	    write(STDERR_FILENO, current, strlen(current)) < 0 || write(STDERR_FILENO, "\n", 1) < 0)
		return;
}

static void on_fatal(int sig)
{
	say_which();
	signal(sig, SIG_DFL);
	raise(sig);
}

#if defined(__SANITIZE_ADDRESS__)
void __sanitizer_set_death_callback(void (*callback)(void));
#endif

static int replay_file(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	uint8_t *data = malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
	size_t got = 0;
	while (data != NULL && got < (size_t)st.st_size) {
		ssize_t n = read(fd, data + got, (size_t)st.st_size - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (data == NULL || got != (size_t)st.st_size) {
		free(data);
		return -1;
	}
	snprintf(current, sizeof current, "%s", path);
	LLVMFuzzerTestOneInput(data, got);
	free(data);
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The regular files of dir, sorted (a missing dir has none). */
static char **list_dir(const char *dir, size_t *n)
{
	DIR *d = opendir(dir);
	char **names = NULL;

	*n = 0;
	if (d == NULL)
		return NULL;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		char **more = realloc(names, (*n + 1) * sizeof *names);
		if (more == NULL)
			break;
		names = more;
		names[(*n)++] = strdup(de->d_name);
	}
	closedir(d);
	if (*n > 1)
		qsort(names, *n, sizeof *names, cmp_names);
	return names;
}

static int tap_n;

static void ok(int pass, const char *what)
{
	printf("%s %d - " FUZZ_TARGET ": %s\n", pass ? "ok" : "not ok", ++tap_n, what);
	fflush(stdout);
}

/* Replay every file of dir; one TAP line for all (each=0) or one each. */
static int replay_dir(const char *dir, const char *kind, int each)
{
	size_t n, done = 0;
	char **names = list_dir(dir, &n);
	char path[4096], what[4400];

	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		int r = replay_file(path);
		done += r == 0;
		if (each) {
			snprintf(what, sizeof what, "%s %s", kind, names[i]);
			ok(r == 0, what);
		}
		free(names[i]);
	}
	free(names);
	if (!each) {
		snprintf(what, sizeof what, "%zu %s inputs replayed (%s)", done, kind, dir);
		ok(done == n && n > 0, what);
	}
	return done == n ? 0 : -1;
}

int main(int argc, char **argv)
{
	signal(SIGSEGV, on_fatal);
	signal(SIGABRT, on_fatal);
	signal(SIGBUS, on_fatal);
	signal(SIGFPE, on_fatal);
#if defined(__SANITIZE_ADDRESS__)
	__sanitizer_set_death_callback(say_which);
#endif
	LLVMFuzzerInitialize(&argc, &argv);
	if (argc > 1) {
		for (int i = 1; i < argc; i++)
			ok(replay_file(argv[i]) == 0, argv[i]);
	} else {
		replay_dir(FUZZ_ROOT "/tests/fuzz/corpus/" FUZZ_TARGET, "corpus", 0);
		replay_dir(FUZZ_ROOT "/tests/fuzz/regressions/" FUZZ_TARGET, "regression", 1);
	}
	printf("1..%d\n", tap_n);
	return 0;
}
