/*
 * fake-cloud-hypervisor: devices, hot plug and resizing.
 *
 * Devices without an id are named at boot (or at hot plug) as the
 * DeviceManager does, with one counter for all: _disk0, _net1, _fs2, ...; each
 * gets a PCI slot on segment 0, reported as PciDeviceInfo{id, bdf} with bdf
 * "0000:00:SS.0". Adding a device validates the config with the device added:
 * a duplicate id is 409, another invalid config 400; before boot the device
 * only goes into the config (204), after boot it is plugged (200).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vm.h"

/* In DeviceManager's creation order. */
const struct devlist devlists[] = {
	{ "disks", "_disk", "virtio-block" },
	{ "net", "_net", "virtio-net" },
	{ "fs", "_fs", "virtio-fs" },
	{ "pmem", "_pmem", "virtio-pmem" },
	{ "vsock", "_vsock", "virtio-vsock" },
	{ "vdpa", "_vdpa", "vDPA" },
	{ "generic_vhost_user", "_generic_vhost_user", "generic vhost-user" },
	{ "devices", "_vfio", "VFIO" },
	{ "user_devices", "_vfio_user", "vfio-user" },
	{ NULL, NULL, NULL },
};

size_t dev_count(json_object *cfg, const char *list)
{
	json_object *v = jget(cfg, list);

	if (!v)
		return 0;
	return json_object_is_type(v, json_type_array) ? json_object_array_length(v) : 1;
}

json_object *dev_at(json_object *cfg, const char *list, size_t i)
{
	json_object *v = jget(cfg, list);

	return json_object_is_type(v, json_type_array) ? json_object_array_get_idx(v, i) : v;
}

void dev_append(json_object *cfg, const char *list, json_object *dev)
{
	json_object *a = jget(cfg, list);

	if (!strcmp(list, "vsock")) {
		jset(cfg, list, dev);
		return;
	}
	if (!a) {
		a = json_object_new_array();
		jset(cfg, list, a);
	}
	json_object_array_add(a, dev);
}

/* The vhost-user socket cloud-hypervisor connects to for this device. */
const char *dev_vhost_socket(const char *list, json_object *dev)
{
	if (!strcmp(list, "fs") || !strcmp(list, "generic_vhost_user") ||
	    !strcmp(list, "user_devices"))
		return jstr(dev, "socket");
	if ((!strcmp(list, "disks") || !strcmp(list, "net")) && jbool(dev, "vhost_user", false) &&
	    strcmp(jstr(dev, "vhost_mode") ? jstr(dev, "vhost_mode") : "Client", "Server"))
		return jstr(dev, "vhost_socket");
	return NULL;
}

/* A big-endian integer of n bytes at p. */
static unsigned long long be(const unsigned char *p, int n)
{
	unsigned long long v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* A disk that is qcow2 (image_type Qcow2, or no type and the qcow2 magic,
 * as detect_image_type does) opens as QcowDiskSync: a backing file needs
 * backing_files=on (otherwise the nesting depth is 0 and the error becomes
 * BackingFilesDisabled) and must open read-only; type Qcow2 on a file
 * without the magic is "Invalid magic". */
static bool check_qcow2(int fd, json_object *dev, struct errchain *ec)
{
	const char *type = jstr(dev, "image_type");
	unsigned char h[20];
	char backing[4096];

	ssize_t n = pread(fd, h, sizeof h, 0);
	bool magic = n >= 4 && !memcmp(h, "QFI\xfb", 4);
	if (type && strcmp(type, "Qcow2") && strcmp(type, "Unknown"))
		return true;
	if (!magic && !(type && !strcmp(type, "Qcow2")))
		return true;
	const char *cause = NULL;
	unsigned long long off = n == (ssize_t)sizeof h ? be(h + 8, 8) : 0;
	unsigned long long len = n == (ssize_t)sizeof h ? be(h + 16, 4) : 0;
	if (!magic)
		cause = "Invalid magic";
	else if (off != 0 && !jbool(dev, "backing_files", false))
		cause = "Backing file support is disabled";
	else if (off != 0 && len < sizeof backing && pread(fd, backing, len, (off_t)off) == (ssize_t)len) {
		backing[len] = '\0';
		int bfd = open(backing, O_RDONLY | O_CLOEXEC);
		if (bfd >= 0) {
			close(bfd);
			return true;
		}
		ec_push(ec, "Error from device manager");
		ec_push(ec, "Failed to create QcowDiskSync");
		ec_push(ec, "Backing file I/O error: %s", backing);
		ec_push(ec, "%s", oserr(errno));
		ec->status = 500;
		return false;
	}
	if (!cause)
		return true;
	ec_push(ec, "Error from device manager");
	ec_push(ec, "Failed to create QcowDiskSync");
	ec_push(ec, "%s", cause);
	ec->status = 500;
	return false;
}

/* Disk images must open (read-write unless readonly; a qcow2 image and its
 * backing file as check_qcow2 says); a pmem file must exist unless a size is
 * given. */
bool dev_check_files(const char *list, json_object *dev, struct errchain *ec)
{
	const char *path = NULL, *what = NULL;
	int flags = O_RDONLY, fd;

	if (!strcmp(list, "disks") && !jbool(dev, "vhost_user", false)) {
		path = jstr(dev, "path");
		what = "virtio-block";
		flags = jbool(dev, "readonly", false) ? O_RDONLY : O_RDWR;
	} else if (!strcmp(list, "pmem") && !jget(dev, "size")) {
		path = jstr(dev, "file");
		what = "virtio-pmem";
	}
	if (!path)
		return true;
	fd = open(path, flags | O_CLOEXEC);
	if (fd >= 0) {
		bool ok = strcmp(what, "virtio-block") || check_qcow2(fd, dev, ec);
		close(fd);
		return ok;
	}
	ec_push(ec, "Error from device manager");
	ec_push(ec, "Cannot create %s device", what);
	ec_push(ec, "Failed to open %s", path);
	ec_push(ec, "%s", oserr(errno));
	ec->status = 500;
	return false;
}

/* ---- names, slots, the device tree ------------------------------------------ */

static bool id_in_use(const char *id)
{
	const struct devlist *d;
	size_t i;

	for (d = devlists; d->list; d++)
		for (i = 0; i < dev_count(vm.cfg, d->list); i++) {
			const char *other = jstr(dev_at(vm.cfg, d->list, i), "id");

			if (other && !strcmp(other, id))
				return true;
		}
	return false;
}

static int take_slot(void)
{
	int s;

	for (s = 1; s < 32; s++)
		if (!(vm.slots & (1u << s))) {
			vm.slots |= 1u << s;
			return s;
		}
	return 31;	/* full: cloud-hypervisor would fail; the fake reuses */
}

static void tree_add(const char *id, int slot)
{
	json_object *n = json_object_new_object();
	char bdf[16];

	if (!vm.tree)
		vm.tree = json_object_new_object();
	snprintf(bdf, sizeof bdf, "0000:00:%02x.0", slot);
	jset(n, "id", json_object_new_string(id));
	jset(n, "resources", json_object_new_array());
	jset(n, "children", json_object_new_array());
	jset(n, "pci_bdf", json_object_new_string(bdf));
	jset(vm.tree, id, n);
}

void dev_plug(const char *list, json_object *dev)
{
	const struct devlist *d;

	for (d = devlists; d->list && strcmp(d->list, list); d++)
		;
	if (!jstr(dev, "id")) {
		char name[64];

		do
			snprintf(name, sizeof name, "%s%d", d->prefix, vm.name_counter++);
		while (id_in_use(name));
		jset(dev, "id", json_object_new_string(name));
	}
	tree_add(jstr(dev, "id"), take_slot());
}

/* At boot: the console, rng and balloon take slots too. */
void devices_assign_all(void)
{
	const struct devlist *d;
	size_t i;

	json_object_put(vm.tree);
	vm.tree = NULL;
	vm.slots = 0;
	if (strcmp(jstr(jget(vm.cfg, "console"), "mode") ? jstr(jget(vm.cfg, "console"), "mode") : "Off", "Off"))
		tree_add("__console", take_slot());
	for (d = devlists; d->list; d++) {
		for (i = 0; i < dev_count(vm.cfg, d->list); i++)
			dev_plug(d->list, dev_at(vm.cfg, d->list, i));
		if (!strcmp(d->list, "net"))
			tree_add("__rng", take_slot());
		if (!strcmp(d->list, "vsock") && jget(vm.cfg, "balloon"))
			tree_add("__balloon", take_slot());
	}
}

void devices_release(void)
{
	json_object_put(vm.tree);
	vm.tree = NULL;
	vm.slots = 0;
}

char *pci_device_info(json_object *dev)
{
	const char *id = jstr(dev, "id");
	json_object *node = jget(vm.tree, id), *o = json_object_new_object();
	char *s;

	jset(o, "id", json_object_new_string(id));
	jset(o, "bdf", json_object_new_string(jstr(node, "pci_bdf") ? jstr(node, "pci_bdf") : ""));
	s = xstrdup(json_text(o));
	json_object_put(o);
	return s;
}

/* ---- hot plug ------------------------------------------------------------------ */

static void own_fds(json_object *dev, int *fds, int nfds)
{
	json_object *a;
	int i;

	if (jget(dev, "fds")) {
		logmsg(L_WARN, "Ignoring FDs sent via the HTTP request body");
		json_object_object_del(dev, "fds");
	}
	if (!nfds)
		return;
	a = json_object_new_array();
	vm.fds = realloc(vm.fds, sizeof *vm.fds * (size_t)(vm.nfds + nfds));
	for (i = 0; i < nfds; i++) {
		vm.fds[vm.nfds++] = fds[i];
		json_object_array_add(a, json_object_new_int(fds[i]));
	}
	jset(dev, "fds", a);
}

static void disown_fds(json_object *dev)
{
	json_object *a = jget(dev, "fds");
	size_t i;
	int k;

	for (i = 0; a && i < json_object_array_length(a); i++) {
		int fd = json_object_get_int(json_object_array_get_idx(a, i));

		for (k = 0; k < vm.nfds; k++)
			if (vm.fds[k] == fd) {
				close(fd);
				vm.fds[k] = vm.fds[--vm.nfds];
				break;
			}
	}
}

static bool validate_with(const char *list, json_object *dev, struct errchain *ec)
{
	json_object *copy = NULL, *devcopy = NULL;
	bool ok;

	if (!strcmp(list, "vsock") && jget(vm.cfg, "vsock"))
		return vm_err(ec, 500, "Too many virtio-vsock devices");
	json_object_deep_copy(vm.cfg, &copy, NULL);
	json_object_deep_copy(dev, &devcopy, NULL);
	dev_append(copy, list, devcopy);
	ok = config_validate(copy, ec);
	json_object_put(copy);
	return ok;
}

int vm_add_device(const char *list, json_object *dev, int *fds, int nfds, char **body,
		  vm_done_cb done, struct errchain *ec)
{
	bool net = !strcmp(list, "net");
	int i;

	*body = NULL;
	if (!net || !vm.cfg)
		for (i = 0; i < nfds; i++)
			close(fds[i]);
	if (!vm.cfg) {
		json_object_put(dev);
		vm_err(ec, 404, "VM is not created");
		return OP_FAILED;
	}
	if (net)
		own_fds(dev, fds, nfds);
	if (!validate_with(list, dev, ec) ||
	    ((vm.state == VM_RUNNING || vm.state == VM_PAUSED) && !dev_check_files(list, dev, ec)) ||
	    (!strcmp(list, "vsock") && vm.state != VM_CREATED && !vsock_listen(dev, ec))) {
		disown_fds(dev);
		json_object_put(dev);
		return OP_FAILED;
	}
	if (vm.state == VM_CREATED) {
		dev_append(vm.cfg, list, dev);
		return OP_DONE;
	}
	return vm_start_plug(list, dev, dev_vhost_socket(list, dev), done, body, ec);
}

bool vm_remove_device(const char *id, struct errchain *ec)
{
	const struct devlist *d;
	size_t i;

	if (!vm.cfg)
		return vm_err(ec, 404, "VM is not created");
	for (d = devlists; d->list; d++)
		for (i = 0; i < dev_count(vm.cfg, d->list); i++) {
			json_object *dev = dev_at(vm.cfg, d->list, i);
			const char *sock = dev_vhost_socket(d->list, dev);

			if (!jstr(dev, "id") || strcmp(jstr(dev, "id"), id))
				continue;
			disown_fds(dev);
			if (sock && vm.state != VM_CREATED)
				vhost_close(sock);
			if (!strcmp(d->list, "vsock")) {
				vsock_close();
				json_object_object_del(vm.cfg, "vsock");
			} else {
				json_object_array_del_idx(jget(vm.cfg, d->list), i, 1);
			}
			if (vm.tree)
				json_object_object_del(vm.tree, id);
			return true;
		}
	ec_push(ec, "No device with id \"%s\" to remove", id);
	ec->status = 404;
	return false;
}

/* ---- resizing --------------------------------------------------------------- */

void vm_cpu_removal_done(void)
{
	vm.removal_pending = false;
}

static bool resize_vcpus(json_object *cpus, int64_t want, struct errchain *ec)
{
	int64_t cur = jint(cpus, "boot_vcpus", 1), max = jint(cpus, "max_vcpus", 1);

	if (want > max || want < 1) {
		ec_push(ec, "Error from CPU manager");
		ec_push(ec, "Cannot resize to %lld vCPUs: outside 1..%lld", (long long)want, (long long)max);
		ec->status = 500;
		return false;
	}
	if (want < cur && K.cpu_removal_ms > 0) {
		vm.removal_pending = true;
		timer_set(T_CPU_REMOVAL, K.cpu_removal_ms);
	}
	jset(cpus, "boot_vcpus", json_object_new_int64(want));
	return true;
}

static bool mem_error(struct errchain *ec, const char *msg)
{
	ec_push(ec, "Memory manager error");
	return vm_err(ec, 500, msg);
}

/* ACPI hotplug grows memory.size; virtio-mem sets hotplugged_size. Either
 * way no more than hotplug_size above the size the VM booted with. */
static bool resize_ram(json_object *mem, uint64_t want, struct errchain *ec)
{
	uint64_t size = (uint64_t)jint(mem, "size", 0);
	uint64_t limit = vm.boot_ram + (uint64_t)jint(mem, "hotplug_size", 0);
	const char *method = jstr(mem, "hotplug_method");

	if (!jget(mem, "hotplug_size"))
		return mem_error(ec, "Memory hotplug is not enabled (no hotplug_size)");
	if (want > limit)
		return mem_error(ec, "Invalid amount of memory to hotplug");
	if (!method || !strcmp(method, "Acpi")) {
		if (want < size)
			return mem_error(ec, "Cannot shrink memory with ACPI hotplug");
		jset(mem, "size", json_object_new_uint64(want));
		return true;
	}
	if (want < size)
		return mem_error(ec, "Cannot shrink below the boot memory size");
	if (want == size)
		json_object_object_del(mem, "hotplugged_size");
	else
		jset(mem, "hotplugged_size", json_object_new_uint64(want - size));
	return true;
}

bool vm_resize(json_object *req, struct errchain *ec)
{
	json_object *vcpus = jget(req, "desired_vcpus"), *ram = jget(req, "desired_ram");
	json_object *balloon = jget(req, "desired_balloon"), *bc = jget(vm.cfg, "balloon");

	if (!vm.cfg)
		return vm_err(ec, 404, "VM is not created");
	if (vm.removal_pending) {
		ec->status = 429;
		return false;
	}
	if (vm.state == VM_CREATED) {
		if (vcpus)
			jset(jget(vm.cfg, "cpus"), "boot_vcpus", json_object_get(vcpus));
		if (ram)
			jset(jget(vm.cfg, "memory"), "size", json_object_get(ram));
		if (balloon && bc)
			jset(bc, "size", json_object_get(balloon));
		return true;
	}
	if (vcpus && !resize_vcpus(jget(vm.cfg, "cpus"), json_object_get_int64(vcpus), ec))
		return false;
	if (ram && !resize_ram(jget(vm.cfg, "memory"), (uint64_t)json_object_get_int64(ram), ec))
		return false;
	if (balloon && !bc) {
		ec_push(ec, "Error from device manager");
		return vm_err(ec, 500, "No balloon device");
	}
	if (balloon) {
		vm.balloon = (uint64_t)json_object_get_int64(balloon);
		jset(bc, "size", json_object_get(balloon));
	}
	return true;
}

static json_object *find_zone(const char *id)
{
	json_object *zones = jget(jget(vm.cfg, "memory"), "zones");
	size_t i;

	for (i = 0; zones && i < json_object_array_length(zones); i++)
		if (!strcmp(jstr(json_object_array_get_idx(zones, i), "id"), id))
			return json_object_array_get_idx(zones, i);
	return NULL;
}

bool vm_resize_zone(json_object *req, struct errchain *ec)
{
	json_object *zone;
	uint64_t want = (uint64_t)jint(req, "desired_ram", 0), size;

	if (!vm.cfg)
		return vm_err(ec, 404, "VM is not created");
	zone = find_zone(jstr(req, "id"));
	if (!zone)
		return mem_error(ec, "Unknown memory zone");
	if (vm.state == VM_CREATED) {
		jset(zone, "size", json_object_new_uint64(want));
		return true;
	}
	size = (uint64_t)jint(zone, "size", 0);
	if (!jget(zone, "hotplug_size") || want < size ||
	    want > size + (uint64_t)jint(zone, "hotplug_size", 0))
		return mem_error(ec, "Invalid amount of memory to hotplug in this zone");
	if (want == size)
		json_object_object_del(zone, "hotplugged_size");
	else
		jset(zone, "hotplugged_size", json_object_new_uint64(want - size));
	return true;
}

/* A running VM's disk grows: the image file is extended. */
bool vm_resize_disk(json_object *req, struct errchain *ec)
{
	const char *id = jstr(req, "id"), *path;
	uint64_t want = (uint64_t)jint(req, "desired_size", 0);
	json_object *disk = NULL;
	struct stat st;
	size_t i;

	if (!vm.cfg)
		return vm_err(ec, 404, "VM is not created");
	if (vm.state == VM_CREATED)
		return vm_err(ec, 500, "Cannot resize disk of a VM that is not running");
	for (i = 0; i < dev_count(vm.cfg, "disks"); i++)
		if (jstr(dev_at(vm.cfg, "disks", i), "id") && !strcmp(jstr(dev_at(vm.cfg, "disks", i), "id"), id))
			disk = dev_at(vm.cfg, "disks", i);
	if (!disk) {
		ec_push(ec, "No disk with id \"%s\"", id);
		ec->status = 404;
		return false;
	}
	path = jstr(disk, "path");
	if (!path || stat(path, &st) < 0 || (uint64_t)st.st_size > want)
		return vm_err(ec, 500, "Failed resizing disk: the new size is smaller than the current size");
	if (truncate(path, (off_t)want) < 0) {
		ec_push(ec, "Failed resizing disk");
		return vm_err(ec, 500, oserr(errno));
	}
	return true;
}
