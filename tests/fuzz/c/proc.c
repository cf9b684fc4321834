/*
 * Fuzz target: the /proc parsers (procstat.c, procinfo.c) on arbitrary
 * text: stat (fields counted after the last ')'), status (the Uid: line)
 * and cmdline (NUL-separated arguments). Checked: they stay inside the
 * text, and cmdline's arguments cover it exactly.
 *
 * fuzz-options: -max_len=4096
 */
#include <string.h>

#include "fuzz.h"
#include "procinfo.h"
#include "procstat.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* an exact-size copy: ASan sees any read past the end */
	char *text = malloc(size ? size : 1);
	memcpy(text, data, size);

	struct vl_procstat st;
	if (vl_proc_stat_parse(text, size, &st) == 0)
		FUZZ_CHECK(memchr(text, ')', size) != NULL, "stat parsed without a ')'");

	uid_t uid, euid;
	if (vl_proc_status_parse(text, size, &uid, &euid) == 0)
		FUZZ_CHECK(memmem(text, size, "Uid:", 4) != NULL, "status parsed without Uid:");

	size_t off = 0, n, total = 0, args = 0;
	const char *arg;
	while ((arg = vl_cmdline_next(text, size, &off, &n)) != NULL) {
		FUZZ_CHECK(arg >= text && arg + n <= text + size, "an argument inside the text");
		FUZZ_CHECK(memchr(arg, '\0', n) == NULL, "an argument without a NUL");
		total += n + 1;
		args++;
	}
	FUZZ_CHECK(size == 0 ? total == 0 : (total == size || total == size + 1),
		   "the arguments cover the text (%zu of %zu in %zu)", total, size, args);
	free(text);
	return 0;
}
