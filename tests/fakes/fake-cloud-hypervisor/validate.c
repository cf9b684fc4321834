/*
 * fake-cloud-hypervisor: VmConfig::validate.
 *
 * The checks a launcher is most likely to trip over: no kernel, max < boot
 * vCPUs, both consoles on the tty, vhost-user (virtio-fs) without shared
 * memory, a vsock CID below 3, duplicate device ids or VFIO paths. Errors
 * come as ["Error validating configuration", reason]; duplicates map to 409
 * over REST, everything else to 400.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "fakeclh.h"

static const char *const device_lists[] = {
	"disks", "net", "fs", "pmem", "devices", "user_devices", "vdpa", "generic_vhost_user", NULL
};

static bool fail(struct errchain *ec, int status, const char *msg, const char *arg)
{
	ec_push(ec, "Error validating configuration");
	if (arg)
		ec_push(ec, msg, arg);
	else
		ec_push(ec, "%s", msg);
	ec->status = status;
	return false;
}

bool config_backed_by_shared_memory(json_object *cfg)
{
	json_object *mem = jget(cfg, "memory"), *zones = jget(mem, "zones");
	size_t i;

	if (jbool(mem, "shared", false) || jbool(mem, "hugepages", false))
		return true;
	if (jint(mem, "size", 0) != 0 || !zones || !json_object_array_length(zones))
		return false;
	for (i = 0; i < json_object_array_length(zones); i++) {
		json_object *z = json_object_array_get_idx(zones, i);

		if (!jbool(z, "shared", false) && !jbool(z, "hugepages", false))
			return false;
	}
	return true;
}

static bool uses_vhost_user(json_object *cfg)
{
	static const char *const lists[] = { "disks", "net", NULL };
	json_object *fs = jget(cfg, "fs"), *gvu = jget(cfg, "generic_vhost_user");
	size_t i;
	int l;

	if ((fs && json_object_array_length(fs)) || (gvu && json_object_array_length(gvu)))
		return true;
	for (l = 0; lists[l]; l++) {
		json_object *a = jget(cfg, lists[l]);

		for (i = 0; a && i < json_object_array_length(a); i++)
			if (jbool(json_object_array_get_idx(a, i), "vhost_user", false))
				return true;
	}
	return false;
}

static bool check_cpus(json_object *cpus, struct errchain *ec)
{
	json_object *topo = jget(cpus, "topology");
	int64_t boot = jint(cpus, "boot_vcpus", 1), max = jint(cpus, "max_vcpus", 1);
	static const char *const parts[] = { "threads_per_core", "cores_per_die", "dies_per_package", "packages" };
	int64_t product = 1;
	int i;

	if (boot == 0)
		return fail(ec, 400, "Boot CPUs must be at least 1", NULL);
	if (max < boot)
		return fail(ec, 400, "Max CPUs lower than boot CPUs", NULL);
	if (!topo)
		return true;
	for (i = 0; i < 4; i++) {
		int64_t v = jint(topo, parts[i], 1);

		if (v == 0)
			return fail(ec, 400, "No part of the CPU topology can be zero", NULL);
		product *= v;
	}
	if (product != max)
		return fail(ec, 400, "Product of CPU topology parts does not match maximum vCPUs", NULL);
	return true;
}

static bool check_console(json_object *c, const char *what, struct errchain *ec)
{
	const char *mode = jstr(c, "mode");

	if (mode && !strcmp(mode, "File") && !jstr(c, "file"))
		return fail(ec, 400, "Path missing when using file console mode (%s)", what);
	if (mode && !strcmp(mode, "Socket") && !jstr(c, "socket"))
		return fail(ec, 400, "Path missing when using socket console mode (%s)", what);
	return true;
}

static bool check_disks_and_net(json_object *cfg, struct errchain *ec)
{
	json_object *disks = jget(cfg, "disks"), *net = jget(cfg, "net");
	size_t i;

	for (i = 0; disks && i < json_object_array_length(disks); i++) {
		json_object *d = json_object_array_get_idx(disks, i);
		bool vu = jbool(d, "vhost_user", false);

		if (vu && !jstr(d, "vhost_socket"))
			return fail(ec, 400, "No socket provided when using vhost-user", NULL);
		if (vu && jstr(d, "path"))
			return fail(ec, 400, "Disk path and vhost socket both provided", NULL);
		if (!vu && !jstr(d, "path"))
			return fail(ec, 400, "Disk path missing", NULL);
	}
	for (i = 0; net && i < json_object_array_length(net); i++) {
		json_object *n = json_object_array_get_idx(net, i), *fds = jget(n, "fds");
		int64_t q = jint(n, "num_queues", 2);

		if (q < 2)
			return fail(ec, 400, "Number of queues to virtio_net less than 2", NULL);
		if (fds && (int64_t)json_object_array_length(fds) * 2 != q)
			return fail(ec, 400, "Number of queues to virtio_net does not match the number of input FDs", NULL);
		if (jbool(n, "vhost_user", false) && !jstr(n, "vhost_socket"))
			return fail(ec, 400, "No socket provided when using vhost-user", NULL);
	}
	return true;
}

/* Device ids must be unique over every device list; VFIO paths too. */
static bool check_unique(json_object *cfg, struct errchain *ec)
{
	const char *seen[256], *paths[64];
	int nseen = 0, npaths = 0, l, k;
	json_object *vs = jget(cfg, "vsock");
	size_t i;

	if (jstr(vs, "id"))
		seen[nseen++] = jstr(vs, "id");
	for (l = 0; device_lists[l]; l++) {
		json_object *a = jget(cfg, device_lists[l]);

		for (i = 0; a && i < json_object_array_length(a); i++) {
			json_object *d = json_object_array_get_idx(a, i);
			const char *id = jstr(d, "id"), *path = jstr(d, "path");

			for (k = 0; id && k < nseen; k++)
				if (!strcmp(seen[k], id))
					return fail(ec, 409, "Identifier %s is not unique", id);
			if (id && nseen < 256)
				seen[nseen++] = id;
			if (strcmp(device_lists[l], "devices") || !path)
				continue;
			for (k = 0; k < npaths; k++)
				if (!strcmp(paths[k], path))
					return fail(ec, 409, "Duplicate device path: %s", path);
			if (npaths < 64)
				paths[npaths++] = path;
		}
	}
	return true;
}

bool config_validate(json_object *cfg, struct errchain *ec)
{
	json_object *payload = jget(cfg, "payload"), *vsock = jget(cfg, "vsock");
	const char *sm = jstr(jget(cfg, "serial"), "mode"), *cm = jstr(jget(cfg, "console"), "mode");
	char buf[32];

	if (!jstr(payload, "kernel") && !jstr(payload, "firmware") && !jstr(payload, "igvm"))
		return fail(ec, 400, "No kernel specified", NULL);
	if (!check_cpus(jget(cfg, "cpus"), ec))
		return false;
	if (sm && cm && !strcmp(sm, "Tty") && !strcmp(cm, "Tty"))
		return fail(ec, 400, "Console mode tty specified for both serial and console", NULL);
	if (!check_console(jget(cfg, "serial"), "serial", ec) ||
	    !check_console(jget(cfg, "console"), "console", ec))
		return false;
	if (uses_vhost_user(cfg) && !config_backed_by_shared_memory(cfg))
		return fail(ec, 400, "Using vhost-user requires using shared memory or huge pages", NULL);
	if (vsock && jint(vsock, "cid", 0) < 3) {
		snprintf(buf, sizeof buf, "%lld", (long long)jint(vsock, "cid", 0));
		return fail(ec, 400, "Invalid vsock CID %s: CIDs below 3 are reserved", buf);
	}
	if (!check_disks_and_net(cfg, ec))
		return false;
	return check_unique(cfg, ec);
}

/* MacAddr::local_random: a random, locally administered, unicast MAC. */
char *random_mac(void)
{
	unsigned char b[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

	if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b)
		b[5] ^= (unsigned char)now_ms();
	b[0] = (unsigned char)((b[0] & 0xfe) | 0x02);
	return xasprintf("%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
}
