/*
 * fake-cloud-hypervisor: VmConfig::parse, from CLI option values to the
 * VmConfig JSON that vm.create would receive.
 *
 * Each option's keys are listed with how their values convert; an option
 * value is parsed by the option parser (unknown keys, "Invalid syntax",
 * "Unable to convert") and errors come back as
 * ["Error parsing --<option>", cause]; the caller adds "Error parsing config".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fakeclh.h"

enum kt {
	KT_STR, KT_BOOL, KT_U8, KT_U16, KT_U32, KT_U64, KT_SIZE, KT_LIST, KT_STRLIST,
	KT_FLAG,	/* valueless key */
	KT_LATER,	/* converted by the option's own code */
	KT_IGNORED	/* accepted, not used */
};

struct keyspec {
	const char *key;
	enum kt type;
	const char *json;	/* JSON field name; NULL: same as key */
};

#define PCIKEYS { "id", KT_STR, NULL }, { "pci_segment", KT_U16, NULL }, \
	{ "pci_device_id", KT_U8, NULL }
#define RATEKEYS { "bw_size", KT_LATER, NULL }, { "bw_one_time_burst", KT_LATER, NULL }, \
	{ "bw_refill_time", KT_LATER, NULL }, { "ops_size", KT_LATER, NULL }, \
	{ "ops_one_time_burst", KT_LATER, NULL }, { "ops_refill_time", KT_LATER, NULL }
#define KEND { NULL, 0, NULL }

static const struct keyspec cpus_keys[] = {
	{ "boot", KT_U32, "boot_vcpus" }, { "max", KT_U32, "max_vcpus" },
	{ "topology", KT_LATER, NULL }, { "kvm_hyperv", KT_BOOL, NULL },
	{ "max_phys_bits", KT_U8, NULL }, { "affinity", KT_LATER, NULL },
	{ "features", KT_LATER, NULL }, { "nested", KT_BOOL, NULL },
	{ "core_scheduling", KT_LATER, NULL }, { "profile", KT_STR, NULL }, KEND };
static const struct keyspec memory_keys[] = {
	{ "size", KT_SIZE, NULL }, { "file", KT_LATER, NULL }, { "mergeable", KT_BOOL, NULL },
	{ "shared", KT_BOOL, NULL }, { "hugepages", KT_BOOL, NULL },
	{ "hugepage_size", KT_SIZE, NULL }, { "hotplug_method", KT_LATER, NULL },
	{ "hotplug_size", KT_SIZE, NULL }, { "hotplugged_size", KT_SIZE, NULL },
	{ "prefault", KT_BOOL, NULL }, { "reserve", KT_BOOL, NULL }, { "thp", KT_BOOL, NULL }, KEND };
static const struct keyspec zone_keys[] = {
	{ "id", KT_STR, NULL }, { "size", KT_SIZE, NULL }, { "file", KT_STR, NULL },
	{ "shared", KT_BOOL, NULL }, { "hugepages", KT_BOOL, NULL },
	{ "hugepage_size", KT_SIZE, NULL }, { "host_numa_node", KT_U32, NULL },
	{ "hotplug_size", KT_SIZE, NULL }, { "hotplugged_size", KT_SIZE, NULL },
	{ "prefault", KT_BOOL, NULL }, { "reserve", KT_BOOL, NULL },
	{ "mergeable", KT_BOOL, NULL }, KEND };
static const struct keyspec disk_keys[] = {
	{ "path", KT_STR, NULL }, { "readonly", KT_BOOL, NULL }, { "direct", KT_BOOL, NULL },
	{ "iommu", KT_BOOL, NULL }, { "num_queues", KT_U64, NULL }, { "queue_size", KT_U16, NULL },
	{ "vhost_user", KT_BOOL, NULL }, { "socket", KT_STR, "vhost_socket" }, RATEKEYS,
	{ "rate_limit_group", KT_STR, NULL }, { "queue_affinity", KT_LATER, NULL },
	{ "serial", KT_STR, NULL }, { "backing_files", KT_BOOL, NULL },
	{ "sparse", KT_BOOL, NULL }, { "image_type", KT_LATER, NULL },
	{ "lock_granularity", KT_LATER, NULL }, { "_disable_io_uring", KT_BOOL, "disable_io_uring" },
	{ "_disable_aio", KT_BOOL, "disable_aio" }, PCIKEYS, KEND };
static const struct keyspec net_keys[] = {
	{ "tap", KT_STR, NULL }, { "ip", KT_STR, NULL }, { "mask", KT_STR, NULL },
	{ "mac", KT_STR, NULL }, { "host_mac", KT_STR, NULL }, { "mtu", KT_U16, NULL },
	{ "fd", KT_LATER, NULL }, { "num_queues", KT_U64, NULL }, { "queue_size", KT_U16, NULL },
	{ "vhost_user", KT_BOOL, NULL }, { "socket", KT_STR, "vhost_socket" },
	{ "vhost_mode", KT_LATER, NULL }, RATEKEYS, { "offload_tso", KT_BOOL, NULL },
	{ "offload_ufo", KT_BOOL, NULL }, { "offload_csum", KT_BOOL, NULL },
	{ "iommu", KT_BOOL, NULL }, PCIKEYS, KEND };
static const struct keyspec fs_keys[] = {
	{ "tag", KT_STR, NULL }, { "socket", KT_STR, NULL }, { "num_queues", KT_U64, NULL },
	{ "queue_size", KT_U16, NULL }, PCIKEYS, KEND };
static const struct keyspec pmem_keys[] = {
	{ "file", KT_STR, NULL }, { "size", KT_SIZE, NULL }, { "iommu", KT_BOOL, NULL },
	{ "discard_writes", KT_BOOL, NULL }, PCIKEYS, KEND };
static const struct keyspec vsock_keys[] = {
	{ "cid", KT_U64, NULL }, { "socket", KT_STR, NULL }, { "iommu", KT_BOOL, NULL },
	PCIKEYS, KEND };
static const struct keyspec device_keys[] = {
	{ "path", KT_STR, NULL }, { "fd", KT_IGNORED, NULL }, { "iommu", KT_BOOL, NULL },
	{ "x_nv_gpudirect_clique", KT_U8, NULL }, { "x_exclude_mmap_bars", KT_LIST, NULL },
	PCIKEYS, KEND };
static const struct keyspec userdev_keys[] = { { "socket", KT_STR, NULL }, PCIKEYS, KEND };
static const struct keyspec vdpa_keys[] = {
	{ "path", KT_STR, NULL }, { "num_queues", KT_U64, NULL }, { "iommu", KT_BOOL, NULL },
	PCIKEYS, KEND };
static const struct keyspec gvu_keys[] = {
	{ "device_type", KT_LATER, NULL }, { "virtio_id", KT_LATER, NULL },
	{ "socket", KT_STR, NULL }, { "queue_sizes", KT_LIST, NULL }, PCIKEYS, KEND };
static const struct keyspec rng_keys[] = {
	{ "src", KT_STR, NULL }, { "iommu", KT_BOOL, NULL }, PCIKEYS, KEND };
static const struct keyspec balloon_keys[] = {
	{ "size", KT_SIZE, NULL }, { "deflate_on_oom", KT_BOOL, NULL },
	{ "free_page_reporting", KT_BOOL, NULL }, { "iommu", KT_BOOL, NULL }, PCIKEYS, KEND };
static const struct keyspec serial_keys[] = {
	{ "off", KT_FLAG, NULL }, { "null", KT_FLAG, NULL }, { "pty", KT_FLAG, NULL },
	{ "tty", KT_FLAG, NULL }, { "file", KT_STR, NULL }, { "socket", KT_STR, NULL }, KEND };
static const struct keyspec console_keys[] = {
	{ "off", KT_FLAG, NULL }, { "null", KT_FLAG, NULL }, { "pty", KT_FLAG, NULL },
	{ "tty", KT_FLAG, NULL }, { "file", KT_STR, NULL }, { "socket", KT_STR, NULL },
	{ "iommu", KT_BOOL, NULL }, PCIKEYS, KEND };
static const struct keyspec debugcon_keys[] = {
	{ "off", KT_FLAG, NULL }, { "pty", KT_FLAG, NULL }, { "tty", KT_FLAG, NULL },
	{ "file", KT_STR, NULL }, { "iobase", KT_LATER, NULL }, KEND };
static const struct keyspec numa_keys[] = {
	{ "guest_numa_id", KT_U32, NULL }, { "cpus", KT_LIST, NULL },
	{ "distances", KT_LATER, NULL }, { "memory_zones", KT_STRLIST, NULL },
	{ "pci_segments", KT_LIST, NULL }, { "device_id", KT_STR, NULL }, KEND };
static const struct keyspec pciseg_keys[] = {
	{ "pci_segment", KT_U16, NULL }, { "mmio32_aperture_weight", KT_U32, NULL },
	{ "mmio64_aperture_weight", KT_U32, NULL }, KEND };
static const struct keyspec platform_keys[] = {
	{ "num_pci_segments", KT_U16, NULL }, { "iommu_segments", KT_LIST, NULL },
	{ "iommu_address_width", KT_U8, "iommu_address_width_bits" },
	{ "iommufd", KT_BOOL, NULL }, { "iommufd_fd", KT_IGNORED, NULL },
	{ "vfio_p2p_dma", KT_BOOL, NULL }, { "serial_number", KT_STR, NULL },
	{ "uuid", KT_STR, NULL }, { "oem_strings", KT_STRLIST, NULL },
	{ "system_manufacturer", KT_STR, NULL }, { "system_product_name", KT_STR, NULL },
	{ "system_version", KT_STR, NULL }, { "system_serial_number", KT_STR, NULL },
	{ "system_uuid", KT_STR, NULL }, { "system_sku_number", KT_STR, NULL },
	{ "system_family", KT_STR, NULL }, { "chassis_asset_tag", KT_STR, NULL }, KEND };
static const struct keyspec rlg_keys[] = { { "id", KT_STR, NULL }, RATEKEYS, KEND };
static const struct keyspec landlock_keys[] = {
	{ "path", KT_STR, NULL }, { "access", KT_STR, NULL }, KEND };
static const struct keyspec tpm_keys[] = { { "socket", KT_STR, NULL }, KEND };
static const struct keyspec rtc_keys[] = { { "iommu", KT_BOOL, NULL }, PCIKEYS, KEND };
static const struct keyspec restore_keys[] = {
	{ "source_url", KT_STR, NULL }, { "prefault", KT_BOOL, NULL },
	{ "memory_restore_mode", KT_LATER, NULL }, { "net_fds", KT_LATER, NULL },
	{ "vfio_fds", KT_IGNORED, NULL }, { "iommufd_fd", KT_IGNORED, NULL },
	{ "resume", KT_BOOL, NULL }, { "zone_updates", KT_IGNORED, NULL }, KEND };

/* ---- one option value ----------------------------------------------------- */

static bool convert_key(const struct opts *o, const struct keyspec *k, json_object *out,
			struct errchain *ec)
{
	static const uint64_t max[] = { [KT_U8] = UINT8_MAX, [KT_U16] = UINT16_MAX,
					[KT_U32] = UINT32_MAX, [KT_U64] = UINT64_MAX };
	const char *name = k->json ? k->json : k->key, *v = opts_get(o, k->key);
	bool present = false, b = false;
	uint64_t u = 0;
	json_object *list;

	switch (k->type) {
	case KT_STR:
		if (v)
			jset(out, name, json_object_new_string(v));
		return true;
	case KT_BOOL:
		if (!opt_toggle(o, k->key, &b, &present, ec))
			return false;
		if (present)
			jset(out, name, json_object_new_boolean(b));
		return true;
	case KT_SIZE:
		if (!opt_size(o, k->key, &u, &present, ec))
			return false;
		break;
	case KT_LIST:
	case KT_STRLIST:
		if (!v)
			return true;
		list = k->type == KT_LIST ? parse_intlist(v, UINT64_MAX) : parse_strlist(v);
		if (!list) {
			ec_push(ec, "Unable to convert %s for %s", v, k->key);
			return false;
		}
		jset(out, name, list);
		return true;
	case KT_U8:
	case KT_U16:
	case KT_U32:
	case KT_U64:
		if (!opt_u64(o, k->key, max[k->type], &u, &present, ec))
			return false;
		break;
	default:
		return true;
	}
	if (present)
		jset(out, name, json_object_new_uint64(u));
	return true;
}

/* Parse "--<option> <value>" with its key table into a new JSON object;
 * the parsed keys stay in *o for the option's own conversions. */
static json_object *parse_option(const char *option, const struct keyspec *keys,
				 const char *value, struct opts *o, struct errchain *ec)
{
	char names_buf[64][44];
	const char *names[64];
	json_object *out;
	int i;

	for (i = 0; keys[i].key && i < 63; i++) {
		snprintf(names_buf[i], sizeof names_buf[i], "%s%s",
			 keys[i].type == KT_FLAG ? "!" : "", keys[i].key);
		names[i] = names_buf[i];
	}
	names[i] = NULL;
	if (!opts_parse(o, names, value, ec))
		goto fail;
	out = json_object_new_object();
	for (i = 0; keys[i].key; i++)
		if (!convert_key(o, &keys[i], out, ec)) {
			json_object_put(out);
			goto fail;
		}
	return out;
fail:
	opts_free(o);
	ec_prepend(ec, "Error parsing --%s", option);
	return NULL;
}

static bool missing(struct errchain *ec, const char *option, const char *key)
{
	ec_push(ec, "Error parsing --%s: %s missing", option, key);
	return false;
}

/* "Unable to convert" for a value that an option's own code rejects */
static bool bad_value(struct errchain *ec, const char *option, const char *key, const char *v)
{
	ec_push(ec, "Error parsing --%s", option);
	ec_push(ec, "Unable to convert %s for %s", v, key);
	return false;
}

static bool set_enum(json_object *out, const struct opts *o, const char *option,
		     const char *key, const char *const *cli, const char *const *json,
		     struct errchain *ec)
{
	const char *v = opts_get(o, key);
	int i;

	if (!v)
		return true;
	for (i = 0; cli[i]; i++)
		if (!strcasecmp(v, cli[i])) {
			jset(out, key, json_object_new_string(json[i]));
			return true;
		}
	return bad_value(ec, option, key, v);
}

/* bw_* and ops_* into "rate_limiter_config": a bucket needs size and refill
 * time, both non-zero. */
static bool rate_limiter(const struct opts *o, json_object *out, struct errchain *ec)
{
	static const char *const pfx[] = { "bw", "ops" }, *const names[] = { "bandwidth", "ops" };
	json_object *rl = NULL;
	int i;

	for (i = 0; i < 2; i++) {
		char k[3][32];
		uint64_t v[3] = { 0, 0, 0 };
		bool present;
		json_object *b;
		int j;

		snprintf(k[0], sizeof k[0], "%s_size", pfx[i]);
		snprintf(k[1], sizeof k[1], "%s_one_time_burst", pfx[i]);
		snprintf(k[2], sizeof k[2], "%s_refill_time", pfx[i]);
		for (j = 0; j < 3; j++)
			if (!opt_u64(o, k[j], UINT64_MAX, &v[j], &present, ec))
				goto fail;
		if (!v[0] || !v[2])
			continue;
		b = json_object_new_object();
		jset(b, "size", json_object_new_uint64(v[0]));
		jset(b, "one_time_burst", json_object_new_uint64(v[1]));
		jset(b, "refill_time", json_object_new_uint64(v[2]));
		if (!rl)
			rl = json_object_new_object();
		jset(rl, names[i], b);
	}
	if (rl)
		jset(out, "rate_limiter_config", rl);
	return true;
fail:
	json_object_put(rl);
	return false;
}

/* One "k@v" of a tuple list into {kname: k, vname: v}; NULL if malformed. */
static json_object *parse_tuple(char *item, const char *kname, bool key_int,
				const char *vname, bool val_list)
{
	char *at = strchr(item, '@');
	json_object *t, *k = NULL, *v;

	if (!at || at == item)
		return NULL;
	*at = '\0';
	v = parse_intlist(at + 1, UINT32_MAX);
	if (key_int)
		k = parse_intlist(item, UINT32_MAX);
	if (!v || (key_int && (!k || json_object_array_length(k) != 1)) ||
	    (!val_list && json_object_array_length(v) != 1)) {
		json_object_put(k);
		json_object_put(v);
		return NULL;
	}
	t = json_object_new_object();
	jset(t, kname, key_int ? json_object_get(json_object_array_get_idx(k, 0)) :
	     json_object_new_string(item));
	jset(t, vname, val_list ? json_object_get(v) : json_object_get(json_object_array_get_idx(v, 0)));
	json_object_put(k);
	json_object_put(v);
	return t;
}

/* "[k@v,...]" where v is an integer or an integer list */
static json_object *parse_tuples(const char *s, const char *kname, bool key_int,
				 const char *vname, bool val_list)
{
	size_t n = strlen(s);
	char *body, *p, *save = NULL;
	json_object *out;
	int depth = 0;

	if (n < 2 || s[0] != '[' || s[n - 1] != ']')
		return NULL;
	body = xstrdup(s + 1);
	body[n - 2] = '\0';
	for (p = body; *p; p++) {	/* top-level commas become '\n' */
		depth += (*p == '[') - (*p == ']');
		if (*p == ',' && depth == 0)
			*p = '\n';
	}
	out = json_object_new_array();
	for (p = strtok_r(body, "\n", &save); p; p = strtok_r(NULL, "\n", &save)) {
		json_object *t = parse_tuple(p, kname, key_int, vname, val_list);

		if (!t) {
			json_object_put(out);
			out = NULL;
			break;
		}
		json_object_array_add(out, t);
	}
	free(body);
	return out;
}

static bool tuples_key(json_object *out, const struct opts *o, const char *option,
		       const char *key, const char *json, const char *kname, bool key_int,
		       const char *vname, bool val_list, struct errchain *ec)
{
	const char *v = opts_get(o, key);
	json_object *t;

	if (!v)
		return true;
	t = parse_tuples(v, kname, key_int, vname, val_list);
	if (!t)
		return bad_value(ec, option, key, v);
	jset(out, json, t);
	return true;
}

/* ---- option-specific conversions ----------------------------------------- */

static bool cpus_extra(json_object *c, const struct opts *o, struct errchain *ec)
{
	static const char *const cs_cli[] = { "vm", "vcpu", "off", NULL };
	static const char *const cs_json[] = { "Vm", "Vcpu", "Off", NULL };
	const char *topo = opts_get(o, "topology"), *feat = opts_get(o, "features");
	unsigned t[4];
	char tail;

	if (!jget(c, "boot_vcpus"))
		jset(c, "boot_vcpus", json_object_new_int(1));
	if (!jget(c, "max_vcpus"))
		jset(c, "max_vcpus", json_object_get(jget(c, "boot_vcpus")));
	if (topo) {
		json_object *to;

		if (sscanf(topo, "%u:%u:%u:%u%c", &t[0], &t[1], &t[2], &t[3], &tail) != 4)
			return bad_value(ec, "cpus", "topology", topo);
		to = json_object_new_object();
		jset(to, "threads_per_core", json_object_new_int((int)t[0]));
		jset(to, "cores_per_die", json_object_new_int((int)t[1]));
		jset(to, "dies_per_package", json_object_new_int((int)t[2]));
		jset(to, "packages", json_object_new_int((int)t[3]));
		jset(c, "topology", to);
	}
	if (feat) {
		if (strcmp(feat, "amx") && strcmp(feat, "[amx]"))
			return bad_value(ec, "cpus", "features", feat);
		jset(c, "features", json_tokener_parse("{\"amx\":true}"));
	}
	if (!tuples_key(c, o, "cpus", "affinity", "affinity", "vcpu", true, "host_cpus", true, ec))
		return false;
	return set_enum(c, o, "cpus", "core_scheduling", cs_cli, cs_json, ec);
}

static bool memory_extra(json_object *m, const struct opts *o, struct errchain *ec)
{
	static const char *const hp_cli[] = { "acpi", "virtio-mem", NULL };
	static const char *const hp_json[] = { "Acpi", "VirtioMem", NULL };

	if (opts_isset(o, "file"))
		logmsg(L_WARN, "'file' in --memory is ignored; use shared=on or --memory-zone file=");
	if (!jget(m, "size"))
		jset(m, "size", json_object_new_int64(512LL << 20));
	return set_enum(m, o, "memory", "hotplug_method", hp_cli, hp_json, ec);
}

static bool disk_extra(json_object *d, const struct opts *o, struct errchain *ec)
{
	static const char *const it_cli[] = { "raw", "qcow2", "vhd", "vhdx", NULL };
	static const char *const it_json[] = { "Raw", "Qcow2", "FixedVhd", "Vhdx", NULL };
	static const char *const lg_cli[] = { "byte-range", "full", NULL };
	static const char *const lg_json[] = { "ByteRange", "Full", NULL };

	if (!rate_limiter(o, d, ec)) {
		ec_prepend(ec, "Error parsing --disk");
		return false;
	}
	if (!set_enum(d, o, "disk", "image_type", it_cli, it_json, ec) ||
	    !set_enum(d, o, "disk", "lock_granularity", lg_cli, lg_json, ec))
		return false;
	if (!jget(d, "image_type"))
		jset(d, "image_type", json_object_new_string("Unknown"));
	return tuples_key(d, o, "disk", "queue_affinity", "queue_affinity", "queue_index", true,
			  "host_cpus", true, ec);
}

static bool net_extra(json_object *n, const struct opts *o, struct errchain *ec)
{
	static const char *const vm_cli[] = { "client", "server", NULL };
	static const char *const vm_json[] = { "Client", "Server", NULL };
	const char *fd = opts_get(o, "fd");

	if (!rate_limiter(o, n, ec)) {
		ec_prepend(ec, "Error parsing --net");
		return false;
	}
	if (fd) {
		json_object *fds = parse_intlist(fd, INT32_MAX);

		if (!fds)
			return bad_value(ec, "net", "fd", fd);
		jset(n, "fds", fds);
	}
	return set_enum(n, o, "net", "vhost_mode", vm_cli, vm_json, ec);
}

static bool rlg_extra(json_object *g, const struct opts *o, struct errchain *ec)
{
	if (!rate_limiter(o, g, ec)) {
		ec_prepend(ec, "Error parsing --rate-limit-group");
		return false;
	}
	if (!jget(g, "rate_limiter_config"))
		jset(g, "rate_limiter_config", json_object_new_object());
	return true;
}

static bool gvu_extra(json_object *g, const struct opts *o, struct errchain *ec)
{
	static const struct { const char *name; int id; } types[] = {
		{ "net", 1 }, { "block", 2 }, { "console", 3 }, { "rng", 4 }, { "gpu", 16 },
		{ "vsock", 19 }, { "sound", 25 }, { "fs", 26 }, { "gpio", 41 }, { NULL, 0 }
	};
	const char *t = opts_get(o, "device_type");
	json_object *l;
	int i;

	if (!t)
		t = opts_get(o, "virtio_id");
	if (!t)
		return missing(ec, "generic-vhost-user", "device_type");
	for (i = 0; types[i].name && strcmp(types[i].name, t); i++)
		;
	if (types[i].name) {
		jset(g, "device_type", json_object_new_int(types[i].id));
	} else {
		l = parse_intlist(t, UINT32_MAX);
		if (!l || json_object_array_length(l) != 1) {
			json_object_put(l);
			return bad_value(ec, "generic-vhost-user", "device_type", t);
		}
		jset(g, "device_type", json_object_get(json_object_array_get_idx(l, 0)));
		json_object_put(l);
	}
	if (!jget(g, "queue_sizes"))
		return missing(ec, "generic-vhost-user", "queue_sizes");
	return true;
}

static bool numa_extra(json_object *n, const struct opts *o, struct errchain *ec)
{
	return tuples_key(n, o, "numa", "distances", "distances", "destination", true,
			  "distance", false, ec);
}

static bool console_mode(json_object *c, const struct opts *o, const char *option,
			 struct errchain *ec)
{
	static const char *const flags[] = { "off", "pty", "tty", "null", NULL };
	static const char *const modes[] = { "Off", "Pty", "Tty", "Null", NULL };
	int i;

	for (i = 0; flags[i]; i++)
		if (opts_isset(o, flags[i])) {
			jset(c, "mode", json_object_new_string(modes[i]));
			return true;
		}
	if (opts_isset(o, "file"))
		jset(c, "mode", json_object_new_string("File"));
	else if (opts_isset(o, "socket"))
		jset(c, "mode", json_object_new_string("Socket"));
	else
		ec_push(ec, "Error parsing --%s: invalid console mode given", option);
	return jget(c, "mode") != NULL;
}

static bool serial_extra(json_object *c, const struct opts *o, struct errchain *ec)
{
	return console_mode(c, o, "serial", ec);
}

static bool console_extra(json_object *c, const struct opts *o, struct errchain *ec)
{
	return console_mode(c, o, "console", ec);
}

static bool debugcon_extra(json_object *c, const struct opts *o, struct errchain *ec)
{
	const char *io = opts_get(o, "iobase");
	char *end;
	long v;

	if (!console_mode(c, o, "debug-console", ec))
		return false;
	v = io ? strtol(io, &end, 16) : 0xe9;
	if (io && (*end || v < 0 || v > 0xffff))
		return bad_value(ec, "debug-console", "iobase", io);
	jset(c, "iobase", json_object_new_int((int)v));
	return true;
}

/* ---- the option table ----------------------------------------------------- */

typedef bool (*extra_fn)(json_object *obj, const struct opts *o, struct errchain *ec);

struct optmap {
	const char *option;
	const struct keyspec *keys;
	const char *field;	/* VmConfig field */
	bool multi;
	const char *required[3];
	extra_fn extra;
};

static const struct optmap optmap[] = {
	{ "rate-limit-group", rlg_keys, "rate_limit_groups", true, { "id" }, rlg_extra },
	{ "cpus", cpus_keys, "cpus", false, { NULL }, cpus_extra },
	{ "memory", memory_keys, "memory", false, { NULL }, memory_extra },
	{ "memory-zone", zone_keys, NULL, true, { "id", "size" }, NULL },
	{ "disk", disk_keys, "disks", true, { NULL }, disk_extra },
	{ "net", net_keys, "net", true, { NULL }, net_extra },
	{ "rng", rng_keys, "rng", false, { NULL }, NULL },
	{ "balloon", balloon_keys, "balloon", false, { "size" }, NULL },
	{ "fs", fs_keys, "fs", true, { "tag", "socket" }, NULL },
	{ "generic-vhost-user", gvu_keys, "generic_vhost_user", true, { "socket" }, gvu_extra },
	{ "pmem", pmem_keys, "pmem", true, { "file" }, NULL },
	{ "serial", serial_keys, "serial", false, { NULL }, serial_extra },
	{ "console", console_keys, "console", false, { NULL }, console_extra },
	{ "debug-console", debugcon_keys, "debug_console", false, { NULL }, debugcon_extra },
	{ "device", device_keys, "devices", true, { "path" }, NULL },
	{ "user-device", userdev_keys, "user_devices", true, { "socket" }, NULL },
	{ "vdpa", vdpa_keys, "vdpa", true, { "path" }, NULL },
	{ "vsock", vsock_keys, "vsock", false, { "cid", "socket" }, NULL },
	{ "numa", numa_keys, "numa", true, { "guest_numa_id" }, numa_extra },
	{ "pci-segment", pciseg_keys, "pci_segments", true, { "pci_segment" }, NULL },
	{ "platform", platform_keys, "platform", false, { NULL }, NULL },
	{ "tpm", tpm_keys, "tpm", false, { "socket" }, NULL },
	{ "rtc", rtc_keys, "rtc", false, { NULL }, NULL },
	{ "landlock-rules", landlock_keys, "landlock_rules", true, { "path", "access" }, NULL },
	{ NULL, NULL, NULL, false, { NULL }, NULL },
};

static void append(json_object *cfg, const char *field, json_object *v)
{
	json_object *a = jget(cfg, field);

	if (!a) {
		a = json_object_new_array();
		jset(cfg, field, a);
	}
	json_object_array_add(a, v);
}

static bool one_value(json_object *cfg, const struct optmap *m, const char *v,
		      struct errchain *ec)
{
	struct opts o;
	json_object *obj = parse_option(m->option, m->keys, v, &o, ec);
	int i;

	if (!obj)
		return false;
	for (i = 0; i < 3 && m->required[i]; i++)
		if (!opts_get(&o, m->required[i]) &&
		    !(!strcmp(m->option, "device") && opts_get(&o, "fd"))) {
			missing(ec, m->option, m->required[i]);
			goto fail;
		}
	if (m->extra && !m->extra(obj, &o, ec))
		goto fail;
	opts_free(&o);
	if (!m->field)	/* --memory-zone */
		append(jget(cfg, "memory"), "zones", obj);
	else if (m->multi)
		append(cfg, m->field, obj);
	else
		jset(cfg, m->field, obj);
	return true;
fail:
	opts_free(&o);
	json_object_put(obj);
	return false;
}

static bool all_options(const struct cli *c, json_object *cfg, struct errchain *ec)
{
	const struct optmap *m;
	int i;

	for (m = optmap; m->option; m++) {
		const struct cliarg *a = cli_get(c, m->option);

		if (!a || (!a->nvals && !a->count)) {
			const char *d = cli_value(c, m->option);

			if (d && !one_value(cfg, m, d, ec))
				return false;
			continue;
		}
		if (!a->nvals && !one_value(cfg, m, "", ec))	/* bare --rtc */
			return false;
		for (i = 0; i < a->nvals; i++)
			if (!one_value(cfg, m, a->vals[i], ec))
				return false;
	}
	return true;
}

json_object *cli_vm_config(const struct cli *c, struct errchain *ec)
{
	static const char *const payload_keys[] = {
		"kernel", "firmware", "igvm", "initramfs", "cmdline", "host-data", NULL
	};
	json_object *cfg = json_object_new_object(), *payload = json_object_new_object(), *out;
	int i;

	jset(cfg, "payload", payload);
	for (i = 0; payload_keys[i]; i++) {
		const char *v = cli_value(c, payload_keys[i]);

		if (v)
			jset(payload, !strcmp(payload_keys[i], "host-data") ? "host_data" :
			     payload_keys[i], json_object_new_string(v));
	}
	jset(cfg, "pvpanic", json_object_new_boolean(cli_given(c, "pvpanic")));
	jset(cfg, "watchdog", json_object_new_boolean(cli_given(c, "watchdog")));
	jset(cfg, "landlock_enable", json_object_new_boolean(cli_given(c, "landlock")));
	out = NULL;
	if (all_options(c, cfg, ec))
		out = schema_coerce(&S_VmConfig, cfg, ec);
	json_object_put(cfg);
	if (out && !config_validate(out, ec)) {
		json_object_put(out);
		out = NULL;
	}
	if (!out)
		ec_prepend(ec, "Error parsing config");
	return out;
}

json_object *cli_restore_config(const char *value, struct errchain *ec)
{
	static const char *const rm_cli[] = { "copy", "ondemand", NULL };
	static const char *const rm_json[] = { "Copy", "OnDemand", NULL };
	struct opts o;
	json_object *r = parse_option("restore", restore_keys, value, &o, ec), *out = NULL;
	json_object *nf;
	size_t i;

	if (!r)
		goto done;
	if (!opts_get(&o, "source_url"))
		missing(ec, "restore", "source_url");
	else if (set_enum(r, &o, "restore", "memory_restore_mode", rm_cli, rm_json, ec) &&
		 tuples_key(r, &o, "restore", "net_fds", "net_fds", "id", false, "fds", true, ec))
		out = r;
	opts_free(&o);
	nf = out ? jget(out, "net_fds") : NULL;
	for (i = 0; nf && i < json_object_array_length(nf); i++) {
		json_object *e = json_object_array_get_idx(nf, i);

		jset(e, "num_fds", json_object_new_int((int)json_object_array_length(jget(e, "fds"))));
	}
	if (out) {
		out = schema_coerce(&S_RestoreConfig, r, ec);
	}
	json_object_put(r);
done:
	if (!out)
		ec_prepend(ec, "Error parsing restore");
	return out;
}
