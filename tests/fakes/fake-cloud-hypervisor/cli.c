/*
 * fake-cloud-hypervisor: the clap layer of cloud-hypervisor's command line.
 *
 * clap checks the shape of the command line before cloud-hypervisor looks at
 * any value: unknown flags, missing values, single-value options given twice,
 * --seccomp values, and the rule that a vm-config option needs a payload
 * (--kernel, --firmware or --igvm). clap reports those as "error: ..." with a
 * usage line and exits with status 2; --help and --version exit 0.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakeclh.h"

/* Alphabetical, as in --help. Options behind a cargo feature exist only when
 * FAKE_CLH_FEATURES names that feature. */
const struct cliopt cli_options[] = {
	{ "api-socket", 0, K_SINGLE, G_VMM, NULL, NULL },
	{ "balloon", 0, K_SINGLE, G_VM, NULL, NULL },
	{ "cmdline", 0, K_SINGLE, G_VM, NULL, NULL },
	{ "console", 0, K_SINGLE, G_VM, "tty", NULL },
	{ "cpus", 0, K_SINGLE, G_VM, "boot=1,max_phys_bits=46", NULL },
	{ "dbus-object-path", 0, K_SINGLE, G_VMM, NULL, "dbus_api" },
	{ "dbus-service-name", 0, K_SINGLE, G_VMM, NULL, "dbus_api" },
	{ "dbus-system-bus", 0, K_FLAG, G_VMM, NULL, "dbus_api" },
	{ "debug-console", 0, K_SINGLE, G_VM, "off,iobase=0xe9", NULL },
	{ "device", 0, K_MULTI, G_VM, NULL, NULL },
	{ "disk", 0, K_MULTI, G_VM, NULL, NULL },
	{ "event-monitor", 0, K_SINGLE, G_VMM, NULL, NULL },
	{ "firmware", 0, K_SINGLE, G_PAYLOAD, NULL, NULL },
	{ "fs", 0, K_MULTI, G_VM, NULL, NULL },
	{ "fw-cfg-config", 0, K_SINGLE, G_PAYLOAD, NULL, "fw_cfg" },
	{ "gdb", 0, K_SINGLE, G_VMM, NULL, "guest_debug" },
	{ "generic-vhost-user", 0, K_MULTI, G_VM, NULL, NULL },
	{ "help", 'h', K_HELP, G_NONE, NULL, NULL },
	{ "host-data", 0, K_SINGLE, G_VM, NULL, "sev_snp" },
	{ "igvm", 0, K_SINGLE, G_PAYLOAD, NULL, "igvm" },
	{ "initramfs", 0, K_SINGLE, G_VM, NULL, NULL },
	{ "ivshmem", 0, K_SINGLE, G_VM, NULL, "ivshmem" },
	{ "kernel", 0, K_SINGLE, G_PAYLOAD, NULL, NULL },
	{ "landlock", 0, K_FLAG, G_VM, NULL, NULL },
	{ "landlock-rules", 0, K_MULTI, G_VM, NULL, NULL },
	{ "log-file", 0, K_SINGLE, G_LOG, NULL, NULL },
	{ "log-format", 0, K_SINGLE, G_LOG, NULL, NULL },
	{ "memory", 0, K_SINGLE, G_VM, "size=512M", NULL },
	{ "memory-zone", 0, K_MULTI, G_VM, NULL, NULL },
	{ "net", 0, K_MULTI, G_VM, NULL, NULL },
	{ "no-shutdown", 0, K_FLAG, G_VMM, NULL, NULL },
	{ "numa", 0, K_MULTI, G_VM, NULL, NULL },
	{ "pci-segment", 0, K_MULTI, G_VM, NULL, NULL },
	{ "platform", 0, K_SINGLE, G_VM, NULL, NULL },
	{ "pmem", 0, K_MULTI, G_VM, NULL, NULL },
	{ "pvmemcontrol", 0, K_FLAG, G_VM, NULL, "pvmemcontrol" },
	{ "pvpanic", 0, K_FLAG, G_VM, NULL, NULL },
	{ "rate-limit-group", 0, K_MULTI, G_VM, NULL, NULL },
	{ "restore", 0, K_SINGLE, G_VMM, NULL, NULL },
	{ "rng", 0, K_SINGLE, G_VM, "src=/dev/urandom", NULL },
	{ "rtc", 0, K_OPTVAL, G_VM, NULL, NULL },
	{ "seccomp", 0, K_SINGLE, G_NONE, "true", NULL },
	{ "serial", 0, K_SINGLE, G_VM, "null", NULL },
	{ "tpm", 0, K_SINGLE, G_VM, NULL, NULL },
	{ "user-device", 0, K_MULTI, G_VM, NULL, NULL },
	{ "v", 'v', K_COUNT, G_LOG, NULL, NULL },
	{ "vdpa", 0, K_MULTI, G_VM, NULL, NULL },
	{ "version", 'V', K_VERSION, G_NONE, NULL, NULL },
	{ "vsock", 0, K_SINGLE, G_VM, NULL, NULL },
	{ "watchdog", 0, K_FLAG, G_VM, NULL, NULL },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static const char *const seccomp_values[] = { "true", "false", "log", "errno", NULL };

static void usage(FILE *f)
{
	int i;

	fprintf(f, "Launch a cloud-hypervisor VMM.\n\nUsage: cloud-hypervisor [OPTIONS]\n\nOptions:\n");
	for (i = 0; cli_options[i].name; i++) {
		const struct cliopt *o = &cli_options[i];

		if (o->feature && !feature_enabled(o->feature))
			continue;
		if (o->shortname && o->kind != K_HELP && o->kind != K_VERSION)
			fprintf(f, "  -%c...\n", o->shortname);
		else if (o->shortname)
			fprintf(f, "  -%c, --%s\n", o->shortname, o->name);
		else if (o->kind == K_FLAG)
			fprintf(f, "      --%s\n", o->name);
		else
			fprintf(f, "      --%s <%s>%s\n", o->name, o->name, o->kind == K_MULTI ? "..." : "");
	}
}

static void __attribute__((noreturn)) FMT(2, 3) clap_error(struct cli *c, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "error: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n\nUsage: cloud-hypervisor [OPTIONS]\n\nFor more information, try '--help'.\n");
	cli_free(c);
	exit(2);
}

static int lookup_long(const char *name, size_t len)
{
	int i;

	for (i = 0; cli_options[i].name; i++) {
		const struct cliopt *o = &cli_options[i];

		if (o->shortname && o->kind == K_COUNT)
			continue;	/* -v has no long form */
		if (strlen(o->name) == len && !strncmp(o->name, name, len) &&
		    (!o->feature || feature_enabled(o->feature)))
			return i;
	}
	return -1;
}

static int lookup_short(char ch)
{
	int i;

	for (i = 0; cli_options[i].name; i++)
		if (cli_options[i].shortname == ch)
			return i;
	return -1;
}

static const char *display(int i)
{
	static char buf[96];
	const struct cliopt *o = &cli_options[i];

	if (o->kind == K_FLAG || o->kind == K_HELP || o->kind == K_VERSION)
		snprintf(buf, sizeof buf, "--%s", o->name);
	else
		snprintf(buf, sizeof buf, "--%s <%s>%s", o->name, o->name, o->kind == K_MULTI ? "..." : "");
	return buf;
}

static void add_value(struct cliarg *a, char *v)
{
	char **nv = xmalloc(sizeof *nv * (size_t)(a->nvals + 1));

	if (a->nvals)
		memcpy(nv, a->vals, sizeof *nv * (size_t)a->nvals);
	free(a->vals);
	a->vals = nv;
	a->vals[a->nvals++] = v;
}

static bool looks_like_flag(const char *s)
{
	return s[0] == '-' && s[1] != '\0';
}

/* One "--name[=value]" and the values that follow it; returns args used. */
static int take_long(struct cli *c, int argc, char **argv, int at)
{
	char *arg = argv[at] + 2, *eq = strchr(arg, '=');
	int i = lookup_long(arg, eq ? (size_t)(eq - arg) : strlen(arg)), used = 1;
	const struct cliopt *o;
	struct cliarg *a;

	if (i < 0)
		clap_error(c, "unexpected argument '%s' found", argv[at]);
	o = &cli_options[i];
	a = &c->args[i];
	if (a->count && o->kind != K_MULTI)
		clap_error(c, "the argument '%s' cannot be used multiple times", display(i));
	a->count++;
	if (o->kind == K_FLAG || o->kind == K_HELP || o->kind == K_VERSION) {
		if (eq)
			clap_error(c, "unexpected value '%s' for '--%s' found; no more were expected",
				   eq + 1, o->name);
		return used;
	}
	if (eq)
		add_value(a, eq + 1);
	else if (at + 1 < argc && !looks_like_flag(argv[at + 1]))
		add_value(a, argv[at + used++]);
	else if (o->kind != K_OPTVAL)
		clap_error(c, "a value is required for '%s' but none was supplied", display(i));
	while (o->kind == K_MULTI && !eq && at + used < argc && !looks_like_flag(argv[at + used]))
		add_value(a, argv[at + used++]);
	return used;
}

static void take_short(struct cli *c, const char *arg)
{
	const char *p;

	for (p = arg + 1; *p; p++) {
		int i = lookup_short(*p);

		if (i < 0)
			clap_error(c, "unexpected argument '-%c' found", *p);
		c->args[i].count++;
	}
}

static void check_values(struct cli *c)
{
	const struct cliarg *s = cli_get(c, "seccomp");
	bool vm = false, payload = false;
	int i;

	if (s && s->nvals) {
		for (i = 0; seccomp_values[i] && strcmp(seccomp_values[i], s->vals[0]); i++)
			;
		if (!seccomp_values[i])
			clap_error(c, "invalid value '%s' for '--seccomp <seccomp>'\n  [possible values: true, false, log, errno]",
				   s->vals[0]);
	}
	for (i = 0; cli_options[i].name; i++) {
		if (!c->args[i].count)
			continue;
		vm |= cli_options[i].group == G_VM;
		payload |= cli_options[i].group == G_PAYLOAD;
	}
	if (vm && !payload)
		clap_error(c, "the following required arguments were not provided:\n  <--firmware <firmware>|--kernel <kernel>%s>",
			   feature_enabled("igvm") ? "|--igvm <igvm>" : "");
}

static void print_version(const struct cli *c)
{
	const struct cliarg *v = cli_get(c, "v");

	if (K.version_text) {
		fputs(K.version_text, stdout);
		return;
	}
	printf("cloud-hypervisor %s\nMigration Protocol Versions: 0\n", build_version);
	if (v && v->count) {
		const char *feat[32];
		int i, n = features_ordered(feat, 32);

		printf("Enabled features: [");
		for (i = 0; i < n; i++)
			printf("%s\"%s\"", i ? ", " : "", feat[i]);
		printf("]\n");
	}
}

void cli_parse(struct cli *c, int argc, char **argv)
{
	size_t nopts = sizeof cli_options / sizeof cli_options[0];
	int at = 1;

	c->args = calloc(nopts, sizeof *c->args);
	if (!c->args)
		abort();
	if (argc < 2) {
		usage(stderr);
		cli_free(c);
		exit(2);
	}
	while (at < argc) {
		if (!strncmp(argv[at], "--", 2) && argv[at][2])
			at += take_long(c, argc, argv, at);
		else if (looks_like_flag(argv[at]))
			take_short(c, argv[at++]);
		else
			clap_error(c, "unexpected argument '%s' found", argv[at]);
	}
	if (cli_given(c, "help")) {
		usage(stdout);
		cli_free(c);
		exit(0);
	}
	check_values(c);
	if (cli_given(c, "version")) {
		print_version(c);
		cli_free(c);
		exit(0);
	}
}

void cli_free(struct cli *c)
{
	size_t i;

	if (!c->args)
		return;
	for (i = 0; cli_options[i].name; i++)
		free(c->args[i].vals);
	free(c->args);
	c->args = NULL;
}

const struct cliarg *cli_get(const struct cli *c, const char *name)
{
	int i;

	for (i = 0; cli_options[i].name; i++)
		if (!strcmp(cli_options[i].name, name))
			return &c->args[i];
	return NULL;
}

bool cli_given(const struct cli *c, const char *name)
{
	const struct cliarg *a = cli_get(c, name);

	return a && a->count > 0;
}

const char *cli_value(const struct cli *c, const char *name)
{
	const struct cliarg *a = cli_get(c, name);
	int i;

	if (a && a->nvals)
		return a->vals[0];
	for (i = 0; cli_options[i].name; i++)
		if (!strcmp(cli_options[i].name, name))
			return cli_options[i].deflt;
	return NULL;
}
