/*
 * fake-cloud-hypervisor: the VM lifecycle, as cloud-hypervisor's Vmm does it.
 *
 * vm.create only stores the config (and opens the consoles); vm.boot builds
 * the VM. vm.shutdown drops the VM but keeps the config, so vm.info says
 * "Created" again and vm.boot works again; vm.delete drops the config too.
 * Wrong-state requests fail with VmError's messages: "VM is not created" and
 * "VM config is missing" (404), "VM is not running", "VM is already created",
 * invalid state transitions (500).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vm.h"

struct vmstate vm = { .state = VM_NONE };

bool vm_err(struct errchain *ec, int status, const char *msg)
{
	ec_push(ec, "%s", msg);
	ec->status = status;
	return false;
}

enum vm_state vm_state(void)
{
	return vm.state;
}

json_object *vm_config(void)
{
	return vm.cfg;
}

static bool booted(void)
{
	return vm.state == VM_RUNNING || vm.state == VM_PAUSED;
}

bool vm_create(json_object *cfg, struct errchain *ec)
{
	if (vm.cfg) {
		json_object_put(cfg);
		return vm_err(ec, 500, "VM is already created");
	}
	if (!config_validate(cfg, ec)) {
		json_object_put(cfg);
		return false;
	}
	if (!consoles_create(cfg, ec)) {
		json_object_put(cfg);
		ec->status = 500;
		return false;
	}
	vm.cfg = cfg;
	vm.consoles_open = true;
	vm.state = VM_CREATED;
	return true;
}

/* ---- starting the VM ----------------------------------------------------------- */

static bool readable(const char *path, const char *what, struct errchain *ec)
{
	int fd;

	if (!path)
		return true;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		close(fd);
		return true;
	}
	ec_push(ec, "%s", what);
	ec_push(ec, "%s", oserr(errno));
	ec->status = 500;
	return false;
}

/* The payload (unless the guest comes from a snapshot) and device files. */
static bool check_files(bool payload, struct errchain *ec)
{
	json_object *p = jget(vm.cfg, "payload");
	const struct devlist *d;
	size_t i;

	if (payload && (!readable(jstr(p, "kernel"), "Cannot open the kernel image", ec) ||
			!readable(jstr(p, "firmware"), "Cannot open the firmware image", ec) ||
			!readable(jstr(p, "igvm"), "Cannot open the IGVM file", ec) ||
			!readable(jstr(p, "initramfs"), "Cannot open the initramfs image", ec)))
		return false;
	for (d = devlists; d->list; d++)
		for (i = 0; i < dev_count(vm.cfg, d->list); i++)
			if (!dev_check_files(d->list, dev_at(vm.cfg, d->list, i), ec))
				return false;
	return true;
}

static void stop_guest_timers(void)
{
	timer_cancel(T_GUEST_READY);
	timer_cancel(T_CRASH);
	timer_cancel(T_POWEROFF);
	vm.poweroff_queued = false;
	vm.ready_left = vm.crash_left = vm.poweroff_left = -1;
}

static void finish_start(void)
{
	if (vm.start == START_PLUG) {
		dev_plug(vm.plug_list, vm.plug);
		dev_append(vm.cfg, vm.plug_list, vm.plug);
		vm.plug_body = pci_device_info(vm.plug);
		vm.plug = NULL;
		return;
	}
	devices_assign_all();
	vm.ready_left = vm.crash_left = vm.poweroff_left = -1;
	vm.balloon = (uint64_t)jint(jget(vm.cfg, "balloon"), "size", 0);
	vm.boot_ram = (uint64_t)jint(jget(vm.cfg, "memory"), "size", 0);
	vm.state = vm.target;
	if (vm.start == START_ADOPT)
		return;
	event_emit("vm", vm.start == START_REBOOT ? "rebooted" : "booted");
	guest_boot_banner(vm.cfg);
	timer_set(T_GUEST_READY, K.boot_delay_ms);
	if (K.crash_after_ms >= 0)
		timer_set(T_CRASH, K.crash_after_ms);
}

static const char *what_uses(const char *path)
{
	const struct devlist *d;
	size_t i;

	for (d = devlists; d->list && vm.plug_list; d++)
		if (!strcmp(d->list, vm.plug_list))
			return d->what;
	for (d = devlists; d->list; d++)
		for (i = 0; i < dev_count(vm.cfg, d->list); i++) {
			const char *s = dev_vhost_socket(d->list, dev_at(vm.cfg, d->list, i));

			if (s && !strcmp(s, path))
				return d->what;
		}
	return "vhost-user";
}

static void fail_start(struct errchain *ec, const char *path, int err)
{
	ec_push(ec, "Error from device manager");
	ec_push(ec, "Cannot create %s device", what_uses(path));
	ec_push(ec, "Failed connecting the backend after trying for %ld ms: %s: %s",
		K.vhost_timeout_ms, path, oserr(err));
	ec->status = 500;
	if (vm.start == START_PLUG) {
		json_object_put(vm.plug);
		vm.plug = NULL;
		return;
	}
	vsock_close();
	if (vm.start == START_REBOOT || vm.start == START_ADOPT) {
		consoles_close();
		vm.consoles_open = false;
	}
}

static void on_vhost(bool ok, const char *path, int err)
{
	struct errchain ec;
	vm_done_cb done = vm.done;
	char *body;

	ec_clear(&ec);
	if (ok)
		finish_start();
	else
		fail_start(&ec, path, err);
	body = vm.plug_body;
	vm.plug_body = NULL;
	vm.start = START_NONE;
	vm.plug_list = NULL;
	if (vm.start_sync) {
		vm.start_result = ok ? OP_DONE : OP_FAILED;
		vm.start_ec = ec;
		vm.plug_body = body;	/* picked up by the caller */
		return;
	}
	done(ok ? NULL : &ec, body);
	free(body);
}

/* Wait for the vhost-user backends of socks[], then finish the start. The
 * backends may all answer at once: then the result is returned here and
 * done() is not called. */
static int start_waiting(enum start_kind kind, char **socks, int n, vm_done_cb done,
			 struct errchain *ec)
{
	vm.start = kind;
	vm.done = done;
	vm.start_result = OP_PENDING;
	vm.start_sync = true;
	if (n)
		vhost_connect_all(socks, n, on_vhost);
	else
		on_vhost(true, NULL, 0);
	vm.start_sync = false;
	if (vm.start_result == OP_FAILED)
		*ec = vm.start_ec;
	return vm.start_result;
}

static int start(enum start_kind kind, enum vm_state target, vm_done_cb done, struct errchain *ec)
{
	char *socks[64];
	const struct devlist *d;
	size_t i;
	int n = 0, r;

	if (!vm.consoles_open) {
		if (!consoles_create(vm.cfg, ec))
			return OP_FAILED;
		vm.consoles_open = true;
	}
	if (!check_files(kind != START_ADOPT, ec) || !vsock_listen(jget(vm.cfg, "vsock"), ec))
		return OP_FAILED;
	for (d = devlists; d->list; d++)
		for (i = 0; i < dev_count(vm.cfg, d->list) && n < 64; i++) {
			const char *s = dev_vhost_socket(d->list, dev_at(vm.cfg, d->list, i));

			if (s)
				socks[n++] = (char *)s;
		}
	vm.target = target;
	r = start_waiting(kind, socks, n, done, ec);
	free(vm.plug_body);
	vm.plug_body = NULL;
	return r;
}

int vm_boot(vm_done_cb done, struct errchain *ec)
{
	if (booted()) {
		vm_err(ec, 500, "VM is already created");
		return OP_FAILED;
	}
	event_emit("vm", "booting");
	if (!vm.cfg) {
		vm_err(ec, 404, "VM config is missing");
		return OP_FAILED;
	}
	return start(START_BOOT, VM_RUNNING, done, ec);
}

/* Connect a hot-plugged device's vhost-user backend (if any), then add it. */
int vm_start_plug(const char *list, json_object *dev, const char *sock, vm_done_cb done,
		  char **body, struct errchain *ec)
{
	char *socks[1] = { (char *)sock };
	int r;

	vm.plug = dev;
	vm.plug_list = list;
	r = start_waiting(START_PLUG, socks, sock ? 1 : 0, done, ec);
	*body = vm.plug_body;
	vm.plug_body = NULL;
	return r;
}

bool vm_busy(void)
{
	return vm.start != START_NONE;
}

int vm_adopt(json_object *cfg, enum vm_state state, vm_done_cb done, struct errchain *ec)
{
	if (vm.cfg || booted()) {
		json_object_put(cfg);
		vm_err(ec, 500, "VM is already created");
		return OP_FAILED;
	}
	if (!vm_create(cfg, ec))
		return OP_FAILED;
	return start(START_ADOPT, state, done, ec);
}

/* ---- stopping it ---------------------------------------------------------------- */

static void drop_vm(bool emit)
{
	stop_guest_timers();
	vhost_disconnect_all();
	vsock_close();
	consoles_close();
	vm.consoles_open = false;
	devices_release();
	vm.removal_pending = false;
	timer_cancel(T_CPU_REMOVAL);
	vm.state = VM_CREATED;
	if (emit)
		event_emit("vm", "shutdown");
}

bool vm_shutdown(struct errchain *ec)
{
	if (!booted())
		return vm_err(ec, 500, "VM is not running");
	drop_vm(true);
	return true;
}

int vm_reboot(vm_done_cb done, struct errchain *ec)
{
	event_emit("vm", "rebooting");
	if (!booted()) {
		vm_err(ec, 404, "VM is not created");
		return OP_FAILED;
	}
	drop_vm(false);
	return start(START_REBOOT, VM_RUNNING, done, ec);
}

void vm_own_fds(const int *fds, int n)
{
	int i;

	vm.fds = realloc(vm.fds, sizeof *vm.fds * (size_t)(vm.nfds + n + 1));
	for (i = 0; i < n; i++)
		vm.fds[vm.nfds++] = fds[i];
}

static void close_owned_fds(void)
{
	while (vm.nfds)
		close(vm.fds[--vm.nfds]);
	free(vm.fds);
	vm.fds = NULL;
}

/* A start still waiting for its backends is abandoned (the VMM exits). */
static void cancel_start(void)
{
	if (vm.start == START_NONE)
		return;
	vhost_disconnect_all();
	json_object_put(vm.plug);
	vm.plug = NULL;
	vm.plug_list = NULL;
	vm.start = START_NONE;
}

bool vm_delete(struct errchain *ec)
{
	(void)ec;
	cancel_start();
	if (!vm.cfg)
		return true;
	if (booted())
		drop_vm(true);
	consoles_close();
	vm.consoles_open = false;
	close_owned_fds();
	json_object_put(vm.cfg);
	vm.cfg = NULL;
	vm.state = VM_NONE;
	event_emit("vm", "deleted");
	return true;
}

bool vmm_shutdown(struct errchain *ec)
{
	if (!vm_delete(ec))
		return false;
	event_emit("vmm", "shutdown");
	return true;
}

void vm_forget(void)
{
	if (booted())
		drop_vm(false);
	vm_delete(NULL);
}

void vm_cleanup(void)
{
	cancel_start();
	if (booted())
		drop_vm(false);
	vhost_disconnect_all();
	consoles_close();
	close_owned_fds();
	json_object_put(vm.cfg);
	json_object_put(vm.tree);
	vm.cfg = vm.tree = NULL;
	vm.state = VM_NONE;
}

/* ---- pause, resume, buttons ----------------------------------------------------- */

static bool transition_error(struct errchain *ec, const char *verb, const char *from,
			     const char *to)
{
	ec_push(ec, "Cannot %s VM", verb);
	ec_push(ec, "Failed to %s migratable component", verb);
	ec_push(ec, "Invalid transition: InvalidStateTransition(%s, %s)", from, to);
	ec->status = 500;
	return false;
}

static void freeze(enum timer_id id, long *left)
{
	*left = timer_remaining(id);
	timer_cancel(id);
}

static void thaw(enum timer_id id, long *left)
{
	if (*left >= 0)
		timer_set(id, *left);
	*left = -1;
}

bool vm_pause(struct errchain *ec)
{
	if (!booted())
		return vm_err(ec, 500, "VM is not running");
	event_emit("vm", "pausing");
	if (vm.state == VM_PAUSED)
		return transition_error(ec, "pause", "Paused", "Paused");
	freeze(T_GUEST_READY, &vm.ready_left);
	freeze(T_CRASH, &vm.crash_left);
	freeze(T_POWEROFF, &vm.poweroff_left);
	vm.state = VM_PAUSED;
	event_emit("vm", "paused");
	return true;
}

bool vm_resume(struct errchain *ec)
{
	if (!booted())
		return vm_err(ec, 500, "VM is not running");
	event_emit("vm", "resuming");
	if (vm.state == VM_RUNNING)
		return transition_error(ec, "resume", "Running", "Running");
	vm.state = VM_RUNNING;
	thaw(T_GUEST_READY, &vm.ready_left);
	thaw(T_CRASH, &vm.crash_left);
	thaw(T_POWEROFF, &vm.poweroff_left);
	if (vm.poweroff_queued && !timer_active(T_POWEROFF))
		timer_set(T_POWEROFF, K.poweroff_delay_ms);
	vm.poweroff_queued = false;
	event_emit("vm", "resumed");
	return true;
}

/* The guest sees an ACPI power button and powers off a little later. */
bool vm_power_button(struct errchain *ec)
{
	if (!booted())
		return vm_err(ec, 500, "VM is not running");
	if (K.ignore_power_button)
		return true;
	if (vm.state == VM_PAUSED)
		vm.poweroff_queued = true;
	else if (!timer_active(T_POWEROFF))
		timer_set(T_POWEROFF, K.poweroff_delay_ms);
	return true;
}

/* The guest powers itself off (qemu-ga's guest-shutdown runs shutdown -P). */
void vm_guest_poweroff(void)
{
	if (vm.state == VM_PAUSED)
		vm.poweroff_queued = true;
	else if (vm.state == VM_RUNNING && !timer_active(T_POWEROFF))
		timer_set(T_POWEROFF, K.poweroff_delay_ms);
}

bool vm_nmi(struct errchain *ec)
{
	return booted() ? true : vm_err(ec, 500, "VM is not running");
}

/* The guest powered off: without --no-shutdown the VMM exits (status 0);
 * with it only the VM goes, and vm.info says "Created". */
void vm_guest_exit(void)
{
	struct errchain ec;

	if (vm.state != VM_RUNNING)
		return;
	guest_output("[    1.000000] reboot: Power down\n");
	ec_clear(&ec);
	if (no_shutdown) {
		drop_vm(true);
		return;
	}
	vmm_shutdown(&ec);
	vmm_exit(0);
}

/* ---- information ----------------------------------------------------------------- */

static uint64_t memory_actual_size(void)
{
	json_object *mem = jget(vm.cfg, "memory"), *zones = jget(mem, "zones");
	uint64_t total = (uint64_t)jint(mem, "size", 0);
	size_t i;

	for (i = 0; zones && i < json_object_array_length(zones); i++)
		total += (uint64_t)jint(json_object_array_get_idx(zones, i), "size", 0);
	if (!booted())
		return total;
	total += (uint64_t)jint(mem, "hotplugged_size", 0);
	return total > vm.balloon ? total - vm.balloon : 0;
}

json_object *vm_info(struct errchain *ec)
{
	json_object *info, *cfg = NULL;

	if (!vm.cfg) {
		vm_err(ec, 404, "VM is not created");
		return NULL;
	}
	json_object_deep_copy(vm.cfg, &cfg, NULL);
	info = json_object_new_object();
	jset(info, "config", cfg);
	jset(info, "state", json_object_new_string(vm.state == VM_CREATED ? "Created" :
						  vm.state == VM_RUNNING ? "Running" : "Paused"));
	jset(info, "memory_actual_size", json_object_new_uint64(memory_actual_size()));
	if (booted() && vm.tree)
		jset(info, "device_tree", json_object_get(vm.tree));
	return info;
}

json_object *vm_counters(struct errchain *ec)
{
	static const char *const disk[] = { "read_bytes", "read_ops", "write_bytes", "write_ops", NULL };
	static const char *const net[] = { "rx_bytes", "rx_frames", "tx_bytes", "tx_frames", NULL };
	json_object *out;
	int l, k;
	size_t i;

	if (!booted()) {
		vm_err(ec, 500, "VM is not running");
		return NULL;
	}
	out = json_object_new_object();
	for (l = 0; l < 2; l++) {
		const char *list = l ? "net" : "disks";
		const char *const *names = l ? net : disk;

		for (i = 0; i < dev_count(vm.cfg, list); i++) {
			json_object *c = json_object_new_object();

			for (k = 0; names[k]; k++)
				jset(c, names[k], json_object_new_int(0));
			jset(out, jstr(dev_at(vm.cfg, list, i), "id"), c);
		}
	}
	return out;
}
