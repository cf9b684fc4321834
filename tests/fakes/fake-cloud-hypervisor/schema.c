/*
 * fake-cloud-hypervisor: the REST bodies as serde sees them.
 *
 * Each schema lists the fields of one of cloud-hypervisor's config structs in
 * declaration order, with their types and serde defaults. Coercing a body
 * checks types and required fields (serde's "missing field `x`", "invalid
 * type: ..., expected ..."), fills in defaults and drops unknown fields:
 * cloud-hypervisor's structs do not deny unknown fields, and vm.info shows the
 * config re-serialized, so an unknown field is silently lost.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "fakeclh.h"

enum ftype {
	F_BOOL, F_U8, F_U16, F_U32, F_U64, F_I32, F_STR, F_OBJ, F_ARR, F_ENUM, F_ANY
};

struct field {
	const char *name;
	enum ftype type;
	const void *sub;	/* F_OBJ: schema; F_ARR: element field; F_ENUM: names */
	const char *def;	/* default as JSON text; "@mac" a random MAC; NULL: optional */
	bool required;
};

struct schema {
	const char *name;
	const struct field *f;
};

#define OPT(n, t) { n, t, NULL, NULL, false }
#define DEF(n, t, d) { n, t, NULL, d, false }
#define REQ(n, t) { n, t, NULL, NULL, true }
#define OBJ(n, s, d) { n, F_OBJ, &s, d, false }
#define ARR(n, e) { n, F_ARR, &e, NULL, false }
#define ENUM(n, l, d) { n, F_ENUM, l, d, false }
#define END { NULL, 0, NULL, NULL, false }
#define PCI OPT("id", F_STR), DEF("pci_segment", F_U16, "0"), OPT("pci_device_id", F_U8)

static const struct field E_U16 = OPT("", F_U16), E_U32 = OPT("", F_U32),
	E_U64 = OPT("", F_U64), E_I32 = OPT("", F_I32), E_STR = OPT("", F_STR), E_ANY = OPT("", F_ANY);

static const char *const modes[] = { "Off", "Pty", "Tty", "File", "Socket", "Null", NULL };
static const char *const hotplug[] = { "Acpi", "VirtioMem", NULL };
static const char *const coresched[] = { "Vm", "Vcpu", "Off", NULL };
static const char *const imagetypes[] = { "FixedVhd", "Qcow2", "Raw", "Vhdx", "Unknown", NULL };
static const char *const lockgran[] = { "ByteRange", "Full", NULL };
static const char *const vhostmodes[] = { "Client", "Server", NULL };
static const char *const restoremodes[] = { "Copy", "OnDemand", NULL };
static const char *const migmodes[] = { "Precopy", "Postcopy", NULL };
static const char *const timeouts[] = { "Cancel", "Ignore", NULL };

static const struct schema S_TokenBucket = { "TokenBucket", (const struct field[]){
	REQ("size", F_U64), OPT("one_time_burst", F_U64), REQ("refill_time", F_U64), END } };
static const struct schema S_RateLimiter = { "RateLimiterConfig", (const struct field[]){
	OBJ("bandwidth", S_TokenBucket, NULL), OBJ("ops", S_TokenBucket, NULL), END } };
static const struct schema S_Topology = { "CpuTopology", (const struct field[]){
	OPT("threads_per_core", F_U16), OPT("cores_per_die", F_U16),
	OPT("dies_per_package", F_U16), OPT("packages", F_U16), END } };
static const struct schema S_Affinity = { "CpuAffinity", (const struct field[]){
	REQ("vcpu", F_U32), { "host_cpus", F_ARR, &E_U32, NULL, true }, END } };
static const struct field E_Affinity = { "", F_OBJ, &S_Affinity, NULL, false };
static const struct schema S_Features = { "CpuFeatures", (const struct field[]){
	DEF("amx", F_BOOL, "false"), END } };
static const struct schema S_Cpus = { "CpusConfig", (const struct field[]){
	REQ("boot_vcpus", F_U32), REQ("max_vcpus", F_U32), OBJ("topology", S_Topology, NULL),
	DEF("kvm_hyperv", F_BOOL, "false"), DEF("max_phys_bits", F_U8, "46"),
	ARR("affinity", E_Affinity), OBJ("features", S_Features, "{}"),
	DEF("nested", F_BOOL, "true"), ENUM("core_scheduling", coresched, "\"Vm\""),
	OPT("profile", F_ANY), END } };
static const struct schema S_Zone = { "MemoryZoneConfig", (const struct field[]){
	REQ("id", F_STR), REQ("size", F_U64), OPT("file", F_STR), DEF("mergeable", F_BOOL, "false"),
	DEF("shared", F_BOOL, "false"), DEF("hugepages", F_BOOL, "false"),
	OPT("hugepage_size", F_U64), OPT("host_numa_node", F_U32), OPT("hotplug_size", F_U64),
	OPT("hotplugged_size", F_U64), DEF("prefault", F_BOOL, "false"),
	DEF("reserve", F_BOOL, "false"), END } };
static const struct field E_Zone = { "", F_OBJ, &S_Zone, NULL, false };
static const struct schema S_Memory = { "MemoryConfig", (const struct field[]){
	REQ("size", F_U64), DEF("mergeable", F_BOOL, "false"),
	ENUM("hotplug_method", hotplug, "\"Acpi\""), OPT("hotplug_size", F_U64),
	OPT("hotplugged_size", F_U64), DEF("shared", F_BOOL, "false"),
	DEF("hugepages", F_BOOL, "false"), OPT("hugepage_size", F_U64),
	DEF("prefault", F_BOOL, "false"), DEF("reserve", F_BOOL, "false"), ARR("zones", E_Zone),
	DEF("thp", F_BOOL, "true"), END } };
static const struct schema S_Payload = { "PayloadConfig", (const struct field[]){
	OPT("firmware", F_STR), OPT("kernel", F_STR), OPT("cmdline", F_STR),
	OPT("initramfs", F_STR), OPT("igvm", F_STR), OPT("host_data", F_STR), END } };
static const struct schema S_RateLimitGroup = { "RateLimitGroupConfig", (const struct field[]){
	REQ("id", F_STR), { "rate_limiter_config", F_OBJ, &S_RateLimiter, NULL, true }, END } };
static const struct field E_RateLimitGroup = { "", F_OBJ, &S_RateLimitGroup, NULL, false };

const struct schema S_DiskConfig = { "DiskConfig", (const struct field[]){
	OPT("path", F_STR), DEF("readonly", F_BOOL, "false"), DEF("direct", F_BOOL, "false"),
	DEF("iommu", F_BOOL, "false"), DEF("num_queues", F_U64, "1"),
	DEF("queue_size", F_U16, "128"), DEF("vhost_user", F_BOOL, "false"),
	OPT("vhost_socket", F_STR), OPT("rate_limit_group", F_STR),
	OBJ("rate_limiter_config", S_RateLimiter, NULL), PCI, OPT("serial", F_STR),
	ARR("queue_affinity", E_ANY), DEF("backing_files", F_BOOL, "false"),
	DEF("sparse", F_BOOL, "true"), ENUM("image_type", imagetypes, NULL),
	ENUM("lock_granularity", lockgran, NULL), END } };
static const struct field E_Disk = { "", F_OBJ, &S_DiskConfig, NULL, false };
const struct schema S_NetConfig = { "NetConfig", (const struct field[]){
	OPT("tap", F_STR), DEF("ip", F_STR, "\"192.168.249.1\""),
	DEF("mask", F_STR, "\"255.255.255.0\""), DEF("mac", F_STR, "@mac"),
	OPT("host_mac", F_STR), OPT("mtu", F_U16), DEF("iommu", F_BOOL, "false"),
	DEF("num_queues", F_U64, "2"), DEF("queue_size", F_U16, "256"),
	DEF("vhost_user", F_BOOL, "false"), OPT("vhost_socket", F_STR),
	ENUM("vhost_mode", vhostmodes, "\"Client\""), PCI, ARR("fds", E_I32),
	OBJ("rate_limiter_config", S_RateLimiter, NULL), DEF("offload_tso", F_BOOL, "true"),
	DEF("offload_ufo", F_BOOL, "true"), DEF("offload_csum", F_BOOL, "true"), END } };
static const struct field E_Net = { "", F_OBJ, &S_NetConfig, NULL, false };
static const struct schema S_Rng = { "RngConfig", (const struct field[]){
	REQ("src", F_STR), DEF("iommu", F_BOOL, "false"), OPT("id", F_STR), END } };
static const struct schema S_Balloon = { "BalloonConfig", (const struct field[]){
	REQ("size", F_U64), DEF("deflate_on_oom", F_BOOL, "false"),
	DEF("free_page_reporting", F_BOOL, "false"), PCI, DEF("iommu", F_BOOL, "false"), END } };
const struct schema S_FsConfig = { "FsConfig", (const struct field[]){
	REQ("tag", F_STR), REQ("socket", F_STR), DEF("num_queues", F_U64, "1"),
	DEF("queue_size", F_U16, "1024"), PCI, END } };
static const struct field E_Fs = { "", F_OBJ, &S_FsConfig, NULL, false };
const struct schema S_GenericVhostUserConfig = { "GenericVhostUserConfig", (const struct field[]){
	REQ("socket", F_STR), { "queue_sizes", F_ARR, &E_U16, NULL, true },
	REQ("device_type", F_U32), PCI, END } };
static const struct field E_Gvu = { "", F_OBJ, &S_GenericVhostUserConfig, NULL, false };
const struct schema S_PmemConfig = { "PmemConfig", (const struct field[]){
	REQ("file", F_STR), OPT("size", F_U64), DEF("iommu", F_BOOL, "false"),
	DEF("discard_writes", F_BOOL, "false"), PCI, END } };
static const struct field E_Pmem = { "", F_OBJ, &S_PmemConfig, NULL, false };
static const struct schema S_Serial = { "SerialConfig", (const struct field[]){
	OPT("file", F_STR), { "mode", F_ENUM, modes, NULL, true }, OPT("socket", F_STR), END } };
static const struct schema S_Console = { "ConsoleConfig", (const struct field[]){
	OPT("file", F_STR), { "mode", F_ENUM, modes, NULL, true }, DEF("iommu", F_BOOL, "false"),
	OPT("socket", F_STR), PCI, END } };
static const struct schema S_DebugConsole = { "DebugConsoleConfig", (const struct field[]){
	OPT("file", F_STR), { "mode", F_ENUM, modes, NULL, true }, OPT("iobase", F_U16), END } };
const struct schema S_DeviceConfig = { "DeviceConfig", (const struct field[]){
	OPT("path", F_STR), DEF("iommu", F_BOOL, "false"), PCI,
	OPT("x_nv_gpudirect_clique", F_U8), ARR("x_exclude_mmap_bars", E_U64), END } };
static const struct field E_Device = { "", F_OBJ, &S_DeviceConfig, NULL, false };
const struct schema S_UserDeviceConfig = { "UserDeviceConfig", (const struct field[]){
	REQ("socket", F_STR), PCI, END } };
static const struct field E_UserDevice = { "", F_OBJ, &S_UserDeviceConfig, NULL, false };
const struct schema S_VdpaConfig = { "VdpaConfig", (const struct field[]){
	REQ("path", F_STR), DEF("num_queues", F_U64, "1"), DEF("iommu", F_BOOL, "false"), PCI, END } };
static const struct field E_Vdpa = { "", F_OBJ, &S_VdpaConfig, NULL, false };
const struct schema S_VsockConfig = { "VsockConfig", (const struct field[]){
	REQ("cid", F_U64), REQ("socket", F_STR), DEF("iommu", F_BOOL, "false"), PCI, END } };
static const struct schema S_NumaDistance = { "NumaDistance", (const struct field[]){
	REQ("destination", F_U32), REQ("distance", F_U32), END } };
static const struct field E_NumaDistance = { "", F_OBJ, &S_NumaDistance, NULL, false };
static const struct schema S_Numa = { "NumaConfig", (const struct field[]){
	REQ("guest_numa_id", F_U32), ARR("cpus", E_U32), ARR("distances", E_NumaDistance),
	ARR("memory_zones", E_STR), ARR("pci_segments", E_U16), OPT("device_id", F_STR), END } };
static const struct field E_Numa = { "", F_OBJ, &S_Numa, NULL, false };
static const struct schema S_PciSegment = { "PciSegmentConfig", (const struct field[]){
	REQ("pci_segment", F_U16), OPT("mmio32_aperture_weight", F_U32),
	OPT("mmio64_aperture_weight", F_U32), END } };
static const struct field E_PciSegment = { "", F_OBJ, &S_PciSegment, NULL, false };
static const struct schema S_Platform = { "PlatformConfig", (const struct field[]){
	DEF("num_pci_segments", F_U16, "1"), ARR("iommu_segments", E_U16),
	OPT("iommu_address_width_bits", F_U8), OPT("serial_number", F_STR), OPT("uuid", F_STR),
	ARR("oem_strings", E_STR), OPT("system_serial_number", F_STR), OPT("system_uuid", F_STR),
	OPT("system_manufacturer", F_STR), OPT("system_product_name", F_STR),
	OPT("system_version", F_STR), OPT("system_family", F_STR), OPT("system_sku_number", F_STR),
	OPT("chassis_asset_tag", F_STR), OPT("tdx", F_BOOL), OPT("sev_snp", F_BOOL),
	OPT("iommufd", F_BOOL), OPT("vfio_p2p_dma", F_BOOL), END } };
static const struct schema S_Tpm = { "TpmConfig", (const struct field[]){
	REQ("socket", F_STR), END } };
static const struct schema S_Rtc = { "RtcConfig", (const struct field[]){
	PCI, DEF("iommu", F_BOOL, "false"), END } };
static const struct schema S_Landlock = { "LandlockConfig", (const struct field[]){
	REQ("path", F_STR), REQ("access", F_STR), END } };
static const struct field E_Landlock = { "", F_OBJ, &S_Landlock, NULL, false };

const struct schema S_VmConfig = { "VmConfig", (const struct field[]){
	OBJ("cpus", S_Cpus, "{\"boot_vcpus\":1,\"max_vcpus\":1}"),
	OBJ("memory", S_Memory, "{\"size\":536870912}"),
	{ "payload", F_OBJ, &S_Payload, NULL, true },
	ARR("rate_limit_groups", E_RateLimitGroup), ARR("disks", E_Disk), ARR("net", E_Net),
	OBJ("rng", S_Rng, "{\"src\":\"/dev/urandom\"}"), OBJ("balloon", S_Balloon, NULL),
	ARR("fs", E_Fs), ARR("generic_vhost_user", E_Gvu), ARR("pmem", E_Pmem),
	OBJ("serial", S_Serial, "{\"mode\":\"Null\"}"),
	OBJ("console", S_Console, "{\"mode\":\"Tty\"}"),
	OBJ("debug_console", S_DebugConsole, "{\"mode\":\"Off\",\"iobase\":233}"),
	ARR("devices", E_Device), ARR("user_devices", E_UserDevice), ARR("vdpa", E_Vdpa),
	OBJ("vsock", S_VsockConfig, NULL), DEF("pvpanic", F_BOOL, "false"),
	DEF("iommu", F_BOOL, "false"), ARR("numa", E_Numa), DEF("watchdog", F_BOOL, "false"),
	OBJ("rtc", S_Rtc, NULL), ARR("pci_segments", E_PciSegment),
	OBJ("platform", S_Platform, NULL), OBJ("tpm", S_Tpm, NULL),
	DEF("landlock_enable", F_BOOL, "false"), ARR("landlock_rules", E_Landlock), END } };

const struct schema S_VmResize = { "VmResizeData", (const struct field[]){
	OPT("desired_vcpus", F_U32), OPT("desired_ram", F_U64), OPT("desired_balloon", F_U64), END } };
const struct schema S_VmResizeDisk = { "VmResizeDiskData", (const struct field[]){
	REQ("id", F_STR), REQ("desired_size", F_U64), END } };
const struct schema S_VmResizeZone = { "VmResizeZoneData", (const struct field[]){
	REQ("id", F_STR), REQ("desired_ram", F_U64), END } };
const struct schema S_VmRemoveDevice = { "VmRemoveDeviceData", (const struct field[]){
	REQ("id", F_STR), END } };
const struct schema S_VmSnapshotConfig = { "VmSnapshotConfig", (const struct field[]){
	REQ("destination_url", F_STR), END } };
const struct schema S_VmCoredumpData = { "VmCoredumpData", (const struct field[]){
	REQ("destination_url", F_STR), END } };
static const struct schema S_RestoredNet = { "RestoredNetConfig", (const struct field[]){
	REQ("id", F_STR), REQ("num_fds", F_U64), ARR("fds", E_I32), END } };
static const struct field E_RestoredNet = { "", F_OBJ, &S_RestoredNet, NULL, false };
const struct schema S_RestoreConfig = { "RestoreConfig", (const struct field[]){
	REQ("source_url", F_STR), DEF("prefault", F_BOOL, "false"),
	ENUM("memory_restore_mode", restoremodes, "\"Copy\""), DEF("resume", F_BOOL, "false"),
	ARR("net_fds", E_RestoredNet), ARR("zone_updates", E_ANY), END } };
const struct schema S_ReceiveMigrationData = { "VmReceiveMigrationData", (const struct field[]){
	REQ("receiver_url", F_STR), OPT("tls_dir", F_STR), ENUM("memory_mode", migmodes, NULL),
	ARR("zone_updates", E_ANY), END } };
const struct schema S_SendMigrationData = { "VmSendMigrationData", (const struct field[]){
	REQ("destination_url", F_STR), DEF("local", F_BOOL, "false"),
	DEF("downtime_ms", F_U64, "300"), DEF("timeout_s", F_U64, "3600"),
	ENUM("timeout_strategy", timeouts, "\"Cancel\""), DEF("connections", F_U64, "1"),
	OPT("tls_dir", F_STR), ENUM("memory_mode", migmodes, NULL), END } };

/* ---- coercion ------------------------------------------------------------ */

static json_object *coerce(const struct field *f, json_object *v, struct errchain *ec);

/* serde's description of a value that has the wrong type */
static void unexpected(json_object *v, char *buf, size_t n)
{
	switch (json_object_get_type(v)) {
	case json_type_string:
		snprintf(buf, n, "string %s", json_text(v));
		break;
	case json_type_int:
		snprintf(buf, n, "integer `%s`", json_text(v));
		break;
	case json_type_double:
		snprintf(buf, n, "floating point `%s`", json_text(v));
		break;
	case json_type_boolean:
		snprintf(buf, n, "boolean `%s`", json_text(v));
		break;
	case json_type_array:
		snprintf(buf, n, "sequence");
		break;
	case json_type_object:
		snprintf(buf, n, "map");
		break;
	default:
		snprintf(buf, n, "null");
	}
}

static const char *expected(const struct field *f)
{
	static const char *const names[] = {
		"a boolean", "u8", "u16", "u32", "u64", "i32", "a string", "struct", "a sequence",
		"variant identifier", "any value"
	};
	static char buf[96];

	if (f->type == F_OBJ) {
		snprintf(buf, sizeof buf, "struct %s", ((const struct schema *)f->sub)->name);
		return buf;
	}
	return names[f->type];
}

static json_object *type_error(const struct field *f, json_object *v, struct errchain *ec)
{
	char what[200];

	unexpected(v, what, sizeof what);
	ec_push(ec, "invalid type: %s, expected %s", what, expected(f));
	return NULL;
}

static json_object *coerce_int(const struct field *f, json_object *v, struct errchain *ec)
{
	static const uint64_t max[] = { 0, UINT8_MAX, UINT16_MAX, UINT32_MAX, UINT64_MAX, INT32_MAX };
	int64_t i;

	if (!json_object_is_type(v, json_type_int))
		return type_error(f, v, ec);
	i = json_object_get_int64(v);
	if (f->type == F_U64 && i == INT64_MAX && json_object_get_uint64(v) > (uint64_t)INT64_MAX)
		return json_object_new_uint64(json_object_get_uint64(v));
	if ((f->type == F_I32 && (i < INT32_MIN || i > INT32_MAX)) ||
	    (f->type != F_I32 && (i < 0 || (uint64_t)i > max[f->type]))) {
		ec_push(ec, "invalid value: integer `%" PRId64 "`, expected %s", i, expected(f));
		return NULL;
	}
	return json_object_new_int64(i);
}

static json_object *coerce_enum(const struct field *f, json_object *v, struct errchain *ec)
{
	const char *const *names = f->sub;
	char list[256] = "";
	int i;

	if (!json_object_is_type(v, json_type_string))
		return type_error(f, v, ec);
	for (i = 0; names[i]; i++) {
		if (!strcmp(names[i], json_object_get_string(v)))
			return json_object_new_string(names[i]);
		if (i)
			strlcat(list, ", ", sizeof list);
		strlcat(list, "`", sizeof list);
		strlcat(list, names[i], sizeof list);
		strlcat(list, "`", sizeof list);
	}
	ec_push(ec, "unknown variant `%s`, expected one of %s", json_object_get_string(v), list);
	return NULL;
}

static json_object *coerce_array(const struct field *f, json_object *v, struct errchain *ec)
{
	json_object *out;
	size_t i;

	if (!json_object_is_type(v, json_type_array))
		return type_error(f, v, ec);
	out = json_object_new_array();
	for (i = 0; i < json_object_array_length(v); i++) {
		json_object *e = coerce(f->sub, json_object_array_get_idx(v, i), ec);

		if (!e) {
			json_object_put(out);
			return NULL;
		}
		json_object_array_add(out, e);
	}
	return out;
}

static json_object *coerce(const struct field *f, json_object *v, struct errchain *ec)
{
	switch (f->type) {
	case F_BOOL:
		return json_object_is_type(v, json_type_boolean) ?
			json_object_new_boolean(json_object_get_boolean(v)) : type_error(f, v, ec);
	case F_STR:
		return json_object_is_type(v, json_type_string) ?
			json_object_new_string(json_object_get_string(v)) : type_error(f, v, ec);
	case F_OBJ:
		return schema_coerce(f->sub, v, ec);
	case F_ARR:
		return coerce_array(f, v, ec);
	case F_ENUM:
		return coerce_enum(f, v, ec);
	case F_ANY:
		return v ? json_object_get(v) : NULL;
	default:
		return coerce_int(f, v, ec);
	}
}

static json_object *default_value(const struct field *f, struct errchain *ec)
{
	json_object *parsed, *v;
	char *mac;

	if (!strcmp(f->def, "@mac")) {
		mac = random_mac();
		v = json_object_new_string(mac);
		free(mac);
		return v;
	}
	parsed = json_tokener_parse(f->def);
	v = coerce(f, parsed, ec);
	json_object_put(parsed);
	return v;
}

json_object *schema_coerce(const struct schema *s, json_object *in, struct errchain *ec)
{
	const struct field self = { "", F_OBJ, s, NULL, false };
	json_object *out;
	const struct field *f;

	if (!in || !json_object_is_type(in, json_type_object))
		return type_error(&self, in, ec);
	out = json_object_new_object();
	for (f = s->f; f->name; f++) {
		json_object *v = jget(in, f->name), *c;

		if (!v && f->required) {
			ec_push(ec, "missing field `%s`", f->name);
			goto fail;
		}
		if (!v && !f->def)
			continue;
		c = v ? coerce(f, v, ec) : default_value(f, ec);
		if (!c)
			goto fail;
		jset(out, f->name, c);
	}
	return out;
fail:
	json_object_put(out);
	return NULL;
}

json_object *schema_parse(const struct schema *s, const char *body, size_t len,
			  struct errchain *ec)
{
	struct json_tokener *tok = json_tokener_new();
	json_object *in, *out = NULL;
	enum json_tokener_error err;
	size_t used;

	in = json_tokener_parse_ex(tok, body, (int)len);
	err = json_tokener_get_error(tok);
	used = json_tokener_get_parse_end(tok);
	while (used < len && strchr(" \t\r\n", body[used]))
		used++;
	if (!in || err != json_tokener_success)
		ec_push(ec, "%s at line 1 column %zu",
			err == json_tokener_continue ? "EOF while parsing a value" :
			json_tokener_error_desc(err), used + 1);
	else if (used < len)
		ec_push(ec, "trailing characters at line 1 column %zu", used + 1);
	else
		out = schema_coerce(s, in, ec);
	json_tokener_free(tok);
	json_object_put(in);
	if (!out) {
		ec_prepend(ec, "Failed to deserialize JSON");
		ec->status = 400;
		ec->bare = true;
	}
	return out;
}
