/*
 * fake-cloud-hypervisor: snapshot, restore, coredump and live migration,
 * in the plausible-minimum way.
 *
 * - vm.snapshot needs a paused VM and a file:// directory; it writes
 *   config.json (the VmConfig), state.json (what the VM's state depends on:
 *   the memory size, the vCPUs, the devices by id) and an empty
 *   memory-ranges.
 * - vm.restore reads config.json back into a new VM, paused (or running
 *   with resume=true), once state.json confirms it: a config.json that no
 *   longer matches its state.json (another memory size, vCPU count or set of
 *   devices), or a state.json that cannot be read, is refused, as
 *   cloud-hypervisor restores memory, vCPUs and devices by id from the
 *   snapshot's state. net_fds hands it tap fds received with SCM_RIGHTS,
 *   whose count must match (else 400 ["Bad Request"]).
 * - vm.coredump (feature guest_debug) needs a paused VM; it writes a file.
 * - migration over unix:<path> only: the sender connects and writes
 *   {"config": ..., "state": ...}; the receiver listens, reads it and starts
 *   the VM. A successful sender exits (status 0), as cloud-hypervisor does.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vm.h"

static bool migrate_err(struct errchain *ec, const char *top, const char *cause, const char *detail)
{
	ec_push(ec, "%s", top);
	ec_push(ec, "%s", cause);
	if (detail)
		ec_push(ec, "%s", detail);
	ec->status = 500;
	return false;
}

static bool booted(void)
{
	return vm_state() == VM_RUNNING || vm_state() == VM_PAUSED;
}

/* "file:///dir" to "/dir"; NULL (with an error) for another scheme. */
static const char *file_url(const char *url, const char *top, struct errchain *ec)
{
	if (url && !strncmp(url, "file://", 7))
		return url + 7;
	migrate_err(ec, top, "URL scheme is not file", url);
	return NULL;
}

static bool write_file(const char *dir, const char *name, const char *text, struct errchain *ec,
		       const char *top)
{
	char *path = xasprintf("%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666), e = errno;

	if (fd < 0 || write_all(fd, text, strlen(text)) < 0) {
		e = errno;
		migrate_err(ec, top, path, oserr(e));
	}
	if (fd >= 0)
		close(fd);
	free(path);
	return !ec->n;
}

/* What a VM's saved state depends on in its config: the guest memory's
 * size (zones included), the boot vCPUs and the devices by id. */
static json_object *state_summary(json_object *cfg)
{
	json_object *o = json_object_new_object(), *ids = json_object_new_array(), *zones;
	int64_t memory = jint(jget(cfg, "memory"), "size", 0);
	const struct devlist *d;
	size_t i;

	zones = jget(jget(cfg, "memory"), "zones");
	for (i = 0; zones && i < json_object_array_length(zones); i++)
		memory += jint(json_object_array_get_idx(zones, i), "size", 0);
	for (d = devlists; d->list; d++)
		for (i = 0; i < dev_count(cfg, d->list); i++) {
			const char *id = jstr(dev_at(cfg, d->list, i), "id");

			json_object_array_add(ids, json_object_new_string(id ? id : ""));
		}
	jset(o, "memory_size", json_object_new_int64(memory));
	jset(o, "boot_vcpus", json_object_new_int64(jint(jget(cfg, "cpus"), "boot_vcpus", 1)));
	jset(o, "devices", ids);
	return o;
}

/* The first member where two summaries differ, or NULL. */
static const char *summary_differs(json_object *saved, json_object *now)
{
	static const char *const keys[] = { "memory_size", "boot_vcpus", "devices", NULL };
	int i;

	for (i = 0; keys[i]; i++)
		if (!jget(saved, keys[i]) ||
		    strcmp(json_object_to_json_string(jget(saved, keys[i])),
			   json_object_to_json_string(jget(now, keys[i]))))
			return keys[i];
	return NULL;
}

bool vm_snapshot(json_object *req, struct errchain *ec)
{
	const char *dir;
	char *state;
	bool ok;

	if (!booted()) {
		ec_push(ec, "VM is not running");
		ec->status = 500;
		return false;
	}
	if (vm_state() != VM_PAUSED)
		return migrate_err(ec, "Error snapshotting VM", "Failed to snapshot migratable component",
				   "Trying to snapshot while VM is running");
	dir = file_url(jstr(req, "destination_url"), "Error sending the snapshot", ec);
	if (!dir)
		return false;
	event_emit("vm", "snapshotting");
	{
		json_object *summary = state_summary(vm_config());

		state = xasprintf("{\"fake_cloud_hypervisor\":{\"state\":\"Paused\",\"version\":\"%s\"},"
				  "\"vm\":%s}", build_version, json_object_to_json_string(summary));
		json_object_put(summary);
	}
	ok = write_file(dir, "config.json", json_text(vm_config()), ec, "Error sending the snapshot") &&
	     write_file(dir, "state.json", state, ec, "Error sending the snapshot") &&
	     write_file(dir, "memory-ranges", "", ec, "Error sending the snapshot");
	free(state);
	if (ok)
		event_emit("vm", "snapshotted");
	return ok;
}

bool vm_coredump(json_object *req, struct errchain *ec)
{
	const char *path;

	if (!booted()) {
		ec_push(ec, "VM is not running");
		ec->status = 500;
		return false;
	}
	if (vm_state() != VM_PAUSED)
		return migrate_err(ec, "Error coredumping VM", "Trying to coredump while VM is running", NULL);
	path = file_url(jstr(req, "destination_url"), "Error coredumping VM", ec);
	if (!path)
		return false;
	return write_file("", path, "\177ELF fake-cloud-hypervisor coredump\n", ec, "Error coredumping VM");
}

/* ---- restore ------------------------------------------------------------------------ */

static vm_done_cb restore_done_cb;

static void restored(const struct errchain *ec, const char *body)
{
	vm_done_cb done = restore_done_cb;

	restore_done_cb = NULL;
	if (!ec)
		event_emit("vm", "restored");
	done(ec, body);
}

/* The snapshot's state.json must describe the VM config.json describes. */
static bool state_matches(const char *dir, json_object *cfg, struct errchain *ec)
{
	char *path = xasprintf("%s/state.json", dir);
	json_object *state = json_object_from_file(path), *now;
	const char *differs;

	if (!state || !jget(state, "vm")) {
		migrate_err(ec, "Error restoring VM", "Cannot read the snapshot's state.json", path);
		json_object_put(state);
		free(path);
		return false;
	}
	now = state_summary(cfg);
	differs = summary_differs(jget(state, "vm"), now);
	if (differs)
		migrate_err(ec, "Error restoring VM", "The snapshot's config.json does not match its state.json",
			    differs);
	json_object_put(now);
	json_object_put(state);
	free(path);
	return !differs;
}

static json_object *read_config(const char *dir, struct errchain *ec)
{
	char *path = xasprintf("%s/config.json", dir);
	json_object *raw = json_object_from_file(path), *cfg = NULL;

	if (!raw)
		migrate_err(ec, "Error restoring VM", "Cannot read the snapshot's config.json",
			    path);
	else
		cfg = schema_coerce(&S_VmConfig, raw, ec);
	json_object_put(raw);
	free(path);
	if (cfg && !state_matches(dir, cfg, ec)) {
		json_object_put(cfg);
		cfg = NULL;
	}
	return cfg;
}

/* Give the restored NICs (by id) the fds received with the request. */
static bool attach_net_fds(json_object *cfg, json_object *net_fds, int *fds, int nfds)
{
	size_t i, j;
	int used = 0, k;

	for (i = 0; net_fds && i < json_object_array_length(net_fds); i++)
		used += (int)jint(json_object_array_get_idx(net_fds, i), "num_fds", 0);
	if (used != nfds)
		return false;
	used = 0;
	for (i = 0; net_fds && i < json_object_array_length(net_fds); i++) {
		json_object *e = json_object_array_get_idx(net_fds, i), *net = jget(cfg, "net"), *a;
		int n = (int)jint(e, "num_fds", 0);

		for (j = 0; net && j < json_object_array_length(net); j++) {
			json_object *nic = json_object_array_get_idx(net, j);

			if (!jstr(nic, "id") || strcmp(jstr(nic, "id"), jstr(e, "id")) || !jget(nic, "fds"))
				continue;
			a = json_object_new_array();
			for (k = 0; k < n; k++)
				json_object_array_add(a, json_object_new_int(fds[used + k]));
			jset(nic, "fds", a);
		}
		used += n;
	}
	return true;
}

int vm_restore(json_object *req, int *fds, int nfds, vm_done_cb done, struct errchain *ec)
{
	const char *dir;
	json_object *cfg;
	int i, r;

	if (vm_config()) {
		for (i = 0; i < nfds; i++)
			close(fds[i]);
		ec_push(ec, "VM is already created");
		ec->status = 500;
		return OP_FAILED;
	}
	dir = file_url(jstr(req, "source_url"), "Error restoring VM", ec);
	cfg = dir ? read_config(dir, ec) : NULL;
	if (cfg && !attach_net_fds(cfg, jget(req, "net_fds"), fds, nfds)) {
		json_object_put(cfg);
		ec_clear(ec);
		ec_push(ec, "Bad Request");	/* HttpError::BadRequest */
		ec->status = 400;
		ec->bare = true;
		cfg = NULL;
	}
	if (!cfg) {
		for (i = 0; i < nfds; i++)
			close(fds[i]);
		return OP_FAILED;
	}
	vm_own_fds(fds, nfds);
	event_emit("vm", "restoring");
	restore_done_cb = done;
	r = vm_adopt(cfg, jbool(req, "resume", false) ? VM_RUNNING : VM_PAUSED, restored, ec);
	if (r != OP_PENDING)
		restore_done_cb = NULL;
	if (r == OP_DONE)
		event_emit("vm", "restored");
	return r;
}

/* ---- live migration ------------------------------------------------------------------- */

static const char *unix_url(const char *url, const char *top, struct errchain *ec)
{
	if (url && !strncmp(url, "unix:", 5) && url[5])
		return url + 5;
	if (url && !strncmp(url, "tcp:", 4))
		migrate_err(ec, top, "Invalid migration configuration",
			    "fake-cloud-hypervisor does not simulate tcp: migration");
	else
		migrate_err(ec, top, "Invalid migration configuration",
			    "URL must use tcp:<host>:<port> or unix:<path>.");
	return NULL;
}

bool vm_send_migration(json_object *req, struct errchain *ec)
{
	const char *path;
	json_object *msg;
	int fd;
	bool ok;

	if (!booted())
		return migrate_err(ec, "Failed to send migratable component", "VM is not running", NULL);
	path = unix_url(jstr(req, "destination_url"), "Failed to send migratable component", ec);
	if (!path)
		return false;
	fd = unix_connect(path);
	if (fd < 0)
		return migrate_err(ec, "Failed to send migratable component", path, oserr(errno));
	msg = json_object_new_object();
	jset(msg, "config", json_object_get(vm_config()));
	jset(msg, "state", json_object_new_string(vm_state() == VM_PAUSED ? "Paused" : "Running"));
	ok = write_all(fd, json_text(msg), strlen(json_text(msg))) == 0;
	if (!ok)
		migrate_err(ec, "Failed to send migratable component", path, oserr(errno));
	json_object_put(msg);
	close(fd);
	if (ok) {	/* the VM lives on at the destination */
		event_emit("vm", "migration-send-finished");
		vm_forget();
		vmm_exit(0);
	}
	return ok;
}

static struct {
	int listen_fd, fd;
	char *path;
	char *buf;
	size_t len;
	vm_done_cb done;
} rx = { -1, -1, NULL, NULL, 0, NULL };

static void rx_stop(void)
{
	if (rx.listen_fd >= 0) {
		loop_del(rx.listen_fd);
		close(rx.listen_fd);
		unlink(rx.path);
	}
	if (rx.fd >= 0) {
		loop_del(rx.fd);
		close(rx.fd);
	}
	free(rx.path);
	free(rx.buf);
	rx.listen_fd = rx.fd = -1;
	rx.path = rx.buf = NULL;
	rx.len = 0;
	rx.done = NULL;
}

static void rx_finish(void)
{
	vm_done_cb done = rx.done;
	json_object *msg = json_tokener_parse(rx.buf ? rx.buf : ""), *cfg;
	enum vm_state target;
	struct errchain ec;
	int r;

	ec_clear(&ec);
	cfg = msg ? schema_coerce(&S_VmConfig, jget(msg, "config"), &ec) : NULL;
	target = jstr(msg, "state") && !strcmp(jstr(msg, "state"), "Paused") ? VM_PAUSED : VM_RUNNING;
	ec_clear(&ec);
	rx.done = NULL;
	rx_stop();
	json_object_put(msg);
	if (!cfg) {
		event_emit("vm", "migration-receive-failed");
		migrate_err(&ec, "Failed to complete migration", "Migration was aborted", NULL);
		done(&ec, NULL);
		return;
	}
	r = vm_adopt(cfg, target, done, &ec);
	if (r == OP_PENDING)
		return;
	if (r == OP_DONE)
		event_emit("vm", "migration-receive-finished");
	done(r == OP_DONE ? NULL : &ec, NULL);
}

static void on_rx_data(int fd, short revents, void *ctx)
{
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof buf);

	(void)revents;
	(void)ctx;
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0) {
		rx.buf = realloc(rx.buf, rx.len + (size_t)n + 1);
		memcpy(rx.buf + rx.len, buf, (size_t)n);
		rx.len += (size_t)n;
		rx.buf[rx.len] = '\0';
		return;
	}
	rx_finish();
}

static void on_rx_accept(int fd, short revents, void *ctx)
{
	(void)revents;
	(void)ctx;
	rx.fd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (rx.fd < 0)
		return;
	loop_del(rx.listen_fd);
	close(rx.listen_fd);
	unlink(rx.path);
	rx.listen_fd = -1;
	event_emit("vm", "migration-receive-started");
	loop_add(rx.fd, POLLIN, on_rx_data, NULL);
}

int vm_receive_migration(json_object *req, vm_done_cb done, struct errchain *ec)
{
	const char *path;

	if (booted()) {
		migrate_err(ec, "Failed to receive migratable component",
			    "Can't receive a migration when a VM is already created", NULL);
		return OP_FAILED;
	}
	path = unix_url(jstr(req, "receiver_url"), "Failed to receive migratable component", ec);
	if (!path)
		return OP_FAILED;
	rx.listen_fd = unix_listen(path, 1);
	if (rx.listen_fd < 0) {
		migrate_err(ec, "Failed to receive migratable component", path, oserr(errno));
		return OP_FAILED;
	}
	rx.path = xstrdup(path);
	rx.done = done;
	loop_add(rx.listen_fd, POLLIN, on_rx_accept, NULL);
	event_emit("vm", "migration-receive-ready");
	return OP_PENDING;
}

bool migrate_busy(void)
{
	return rx.done != NULL;
}

void migrate_cleanup(void)
{
	rx_stop();
}
