/*
 * fake-cloud-hypervisor: the REST API's routes (/api/v1/...), as
 * cloud-hypervisor's http_endpoint.rs dispatches them.
 *
 * - GET only for vmm.ping, vm.info and vm.counters; PUT for the rest. A
 *   wrong GET/PUT gets 400 ["Bad Request"]; another method on an action
 *   route gets 400 with an empty body. An unknown path gets 404 ["Not Found"].
 * - Actions without a body (vm.boot, ...) reject a body; actions with one
 *   need one. A body that serde rejects: 400 ["Failed to deserialize JSON",
 *   reason].
 * - An API error: ["Error from API", "<what could not be done>", causes...]
 *   with 404 for "VM is not created"/"VM config is missing" and unknown
 *   device ids, 409 for duplicate ids and paths, 400 for other invalid
 *   configs, 500 for the rest (wrong-state errors included: the yaml's 405 is
 *   never sent); vm.resize during a vCPU removal: 429 ["Too Many Requests"].
 * - Success: 200 with a JSON body or 204; vmm.shutdown answers 200 with an
 *   empty body, then the VMM exits.
 * - One request at a time: while one waits (a boot connecting vhost-user
 *   backends, a migration), the others wait too.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fakeclh.h"

struct result {
	int op;		/* OP_FAILED, OP_DONE, OP_PENDING */
	char *body;	/* OP_DONE: 200 with this body; NULL: 204 */
	struct errchain ec;
};

typedef void (*handler)(json_object *req, const struct request *r, struct result *res);

enum style {
	S_PING, S_INFO,			/* GET; anything else ["Bad Request"] */
	S_VMM_SHUTDOWN, S_CREATE,	/* PUT; anything else ["Bad Request"] */
	S_GET,				/* GET action (vm.counters) */
	S_PUT,				/* PUT action, no body */
	S_PUT_BODY			/* PUT action with a body */
};

struct route {
	const char *path;
	enum style style;
	const char *what;	/* the ApiError's message */
	const struct schema *schema;
	handler fn;
	const char *feature;
};

static bool busy;
static struct conn *pending_conn;
static const char *pending_what;

/* ---- handlers ------------------------------------------------------------------- */

static void done_if(struct result *res, bool ok)
{
	res->op = ok ? OP_DONE : OP_FAILED;
}

static void body_json(struct result *res, json_object *o)
{
	res->op = o ? OP_DONE : OP_FAILED;
	if (o) {
		res->body = xstrdup(json_text(o));
		json_object_put(o);
	}
}

static void api_done(const struct errchain *ec, const char *body);

static void h_ping(json_object *req, const struct request *r, struct result *res)
{
	json_object *o = json_object_new_object(), *f = json_object_new_array();
	char *version = xstrdup(build_version), *v = version + (version[0] == 'v');
	const char *feat[32];
	int i, n = features_ordered(feat, 32);

	(void)req;
	(void)r;
	v[strcspn(v, "-")] = '\0';
	for (i = 0; i < n; i++)
		json_object_array_add(f, json_object_new_string(feat[i]));
	jset(o, "build_version", json_object_new_string(build_version));
	jset(o, "version", json_object_new_string(v));
	jset(o, "pid", json_object_new_int64(getpid()));
	jset(o, "features", f);
	free(version);
	body_json(res, o);
}

static void h_vmm_shutdown(json_object *req, const struct request *r, struct result *res)
{
	(void)req;
	(void)r;
	done_if(res, vmm_shutdown(&res->ec));
	if (res->op == OP_DONE) {
		res->body = xstrdup("");	/* 200 with an empty body */
		vmm_exit(0);
	}
}

static void h_create(json_object *req, const struct request *r, struct result *res)
{
	json_object *net = jget(req, "net");
	size_t i;

	(void)r;
	for (i = 0; net && i < json_object_array_length(net); i++)
		if (jget(json_object_array_get_idx(net, i), "fds")) {
			logmsg(L_WARN, "Ignoring FDs sent via the HTTP request body");
			json_object_object_del(json_object_array_get_idx(net, i), "fds");
		}
	done_if(res, vm_create(json_object_get(req), &res->ec));
}

static void h_info(json_object *req, const struct request *r, struct result *res)
{
	(void)req;
	(void)r;
	body_json(res, vm_info(&res->ec));
}

static void h_counters(json_object *req, const struct request *r, struct result *res)
{
	(void)req;
	(void)r;
	body_json(res, vm_counters(&res->ec));
}

#define SIMPLE(name, call) \
	static void name(json_object *req, const struct request *r, struct result *res) \
	{ (void)req; (void)r; done_if(res, call(&res->ec)); }
SIMPLE(h_delete, vm_delete)
SIMPLE(h_shutdown, vm_shutdown)
SIMPLE(h_pause, vm_pause)
SIMPLE(h_resume, vm_resume)
SIMPLE(h_power_button, vm_power_button)
SIMPLE(h_nmi, vm_nmi)

static void h_boot(json_object *req, const struct request *r, struct result *res)
{
	(void)req;
	(void)r;
	res->op = vm_boot(api_done, &res->ec);
}

static void h_reboot(json_object *req, const struct request *r, struct result *res)
{
	(void)req;
	(void)r;
	res->op = vm_reboot(api_done, &res->ec);
}

#define WITH_BODY(name, call) \
	static void name(json_object *req, const struct request *r, struct result *res) \
	{ (void)r; done_if(res, call(req, &res->ec)); }
WITH_BODY(h_resize, vm_resize)
WITH_BODY(h_resize_zone, vm_resize_zone)
WITH_BODY(h_resize_disk, vm_resize_disk)
WITH_BODY(h_snapshot, vm_snapshot)
WITH_BODY(h_coredump, vm_coredump)
WITH_BODY(h_send_migration, vm_send_migration)

static void h_remove_device(json_object *req, const struct request *r, struct result *res)
{
	(void)r;
	done_if(res, vm_remove_device(jstr(req, "id"), &res->ec));
}

static void h_restore(json_object *req, const struct request *r, struct result *res)
{
	res->op = vm_restore(req, r->fds, r->nfds, api_done, &res->ec);
}

static void h_receive_migration(json_object *req, const struct request *r, struct result *res)
{
	(void)r;
	res->op = vm_receive_migration(req, api_done, &res->ec);
}

static void add(const char *list, json_object *req, const struct request *r, struct result *res)
{
	res->op = vm_add_device(list, json_object_get(req), r->fds, r->nfds, &res->body, api_done,
				&res->ec);
}

#define ADD(name, list) \
	static void name(json_object *req, const struct request *r, struct result *res) \
	{ add(list, req, r, res); }
ADD(h_add_disk, "disks")
ADD(h_add_net, "net")
ADD(h_add_fs, "fs")
ADD(h_add_pmem, "pmem")
ADD(h_add_device, "devices")
ADD(h_add_user_device, "user_devices")
ADD(h_add_vdpa, "vdpa")
ADD(h_add_vsock, "vsock")
ADD(h_add_gvu, "generic_vhost_user")

static const struct route routes[] = {
	{ "/vmm.ping", S_PING, NULL, NULL, h_ping, NULL },
	{ "/vmm.shutdown", S_VMM_SHUTDOWN, "The VMM could not shutdown", NULL, h_vmm_shutdown, NULL },
	{ "/vm.create", S_CREATE, "The VM could not be created", &S_VmConfig, h_create, NULL },
	{ "/vm.info", S_INFO, "The VM info is not available", NULL, h_info, NULL },
	{ "/vm.counters", S_GET, "The VM info is not available", NULL, h_counters, NULL },
	{ "/vm.boot", S_PUT, "The VM could not boot", NULL, h_boot, NULL },
	{ "/vm.delete", S_PUT, "The VM could not be deleted", NULL, h_delete, NULL },
	{ "/vm.shutdown", S_PUT, "The VM could not shutdown", NULL, h_shutdown, NULL },
	{ "/vm.reboot", S_PUT, "The VM could not reboot", NULL, h_reboot, NULL },
	{ "/vm.pause", S_PUT, "The VM could not be paused", NULL, h_pause, NULL },
	{ "/vm.resume", S_PUT, "The VM could not resume", NULL, h_resume, NULL },
	{ "/vm.power-button", S_PUT, "Error triggering power button", NULL, h_power_button, NULL },
	{ "/vm.nmi", S_PUT, "Error triggering NMI", NULL, h_nmi, NULL },
	{ "/vm.resize", S_PUT_BODY, "The VM could not be resized", &S_VmResize, h_resize, NULL },
	{ "/vm.resize-disk", S_PUT_BODY, "The disk could not be resized", &S_VmResizeDisk, h_resize_disk, NULL },
	{ "/vm.resize-zone", S_PUT_BODY, "The memory zone could not be resized", &S_VmResizeZone, h_resize_zone, NULL },
	{ "/vm.add-device", S_PUT_BODY, "The device could not be added to the VM", &S_DeviceConfig, h_add_device, NULL },
	{ "/vm.add-disk", S_PUT_BODY, "The disk could not be added to the VM", &S_DiskConfig, h_add_disk, NULL },
	{ "/vm.add-fs", S_PUT_BODY, "The fs could not be added to the VM", &S_FsConfig, h_add_fs, NULL },
	{ "/vm.add-generic-vhost-user", S_PUT_BODY, "The generic vhost-user device could not be added to the VM", &S_GenericVhostUserConfig, h_add_gvu, NULL },
	{ "/vm.add-pmem", S_PUT_BODY, "The pmem device could not be added to the VM", &S_PmemConfig, h_add_pmem, NULL },
	{ "/vm.add-net", S_PUT_BODY, "The network device could not be added to the VM", &S_NetConfig, h_add_net, NULL },
	{ "/vm.add-vsock", S_PUT_BODY, "The vsock device could not be added to the VM", &S_VsockConfig, h_add_vsock, NULL },
	{ "/vm.add-vdpa", S_PUT_BODY, "The vDPA device could not be added to the VM", &S_VdpaConfig, h_add_vdpa, NULL },
	{ "/vm.add-user-device", S_PUT_BODY, "The user device could not be added to the VM", &S_UserDeviceConfig, h_add_user_device, NULL },
	{ "/vm.remove-device", S_PUT_BODY, "The device could not be removed from the VM", &S_VmRemoveDevice, h_remove_device, NULL },
	{ "/vm.snapshot", S_PUT_BODY, "The VM could not be snapshotted", &S_VmSnapshotConfig, h_snapshot, NULL },
	{ "/vm.coredump", S_PUT_BODY, "The VM could not be coredumped", &S_VmCoredumpData, h_coredump, "guest_debug" },
	{ "/vm.restore", S_PUT_BODY, "The VM could not be restored", &S_RestoreConfig, h_restore, NULL },
	{ "/vm.send-migration", S_PUT_BODY, "Error starting migration sender", &S_SendMigrationData, h_send_migration, NULL },
	{ "/vm.receive-migration", S_PUT_BODY, "Error starting migration receiver", &S_ReceiveMigrationData, h_receive_migration, NULL },
	{ NULL, 0, NULL, NULL, NULL, NULL },
};

/* ---- dispatch --------------------------------------------------------------------- */

static void reply_chain(struct conn *c, int status, const char *msg)
{
	struct errchain ec;
	char *body;

	ec_clear(&ec);
	ec_push(&ec, "%s", msg);
	body = ec_json(&ec);
	http_reply(c, status, body);
	free(body);
}

static void reply_error(struct conn *c, const char *what, struct errchain *ec)
{
	int status = ec->status ? ec->status : 500;
	char *body;

	if (status == 429) {
		reply_chain(c, 429, "Too Many Requests");
		return;
	}
	if (what && !ec->bare) {
		ec_prepend(ec, "%s", what);
		ec_prepend(ec, "Error from API");
	}
	body = ec_json(ec);
	http_reply(c, status, body);
	free(body);
}

static void api_done(const struct errchain *ec, const char *body)
{
	struct errchain e;

	busy = false;
	if (pending_conn && ec) {
		e = *ec;
		reply_error(pending_conn, pending_what, &e);
	} else if (pending_conn) {
		http_reply(pending_conn, body ? 200 : 204, body);
	}
	pending_conn = NULL;
	http_resume();
}

static const struct route *find_route(const char *path)
{
	const struct route *rt;

	if (strncmp(path, "/api/v1/", 8))
		return NULL;
	for (rt = routes; rt->path; rt++)
		if (!strcmp(rt->path, path + 7) && (!rt->feature || feature_enabled(rt->feature)))
			return rt;
	return NULL;
}

/* The method and body rules; false when the request was answered here. */
static bool accepted(struct conn *c, const struct route *rt, const struct request *r)
{
	bool get = !strcmp(r->method, "GET"), put = !strcmp(r->method, "PUT");

	switch (rt->style) {
	case S_PING:
	case S_INFO:
		if (get)
			return true;
		break;
	case S_VMM_SHUTDOWN:
		if (put)
			return true;
		break;
	case S_CREATE:
		if (put && !r->body) {
			http_reply(c, 400, "");
			return false;
		}
		if (put)
			return true;
		break;
	case S_GET:
		if (get)
			return true;
		if (!put) {
			http_reply(c, 400, "");
			return false;
		}
		break;
	case S_PUT:
	case S_PUT_BODY:
		if (!get && !put) {
			http_reply(c, 400, "");
			return false;
		}
		if (put && !r->body == (rt->style == S_PUT))
			return true;
		break;
	}
	reply_chain(c, 400, "Bad Request");
	return false;
}

static void close_fds(const struct request *r)
{
	int i;

	for (i = 0; i < r->nfds; i++)
		close(r->fds[i]);
}

void api_handle(struct conn *c, const struct request *r)
{
	const struct route *rt = find_route(r->path);
	bool takes_fds = rt && (rt->fn == h_add_net || rt->fn == h_restore);
	struct result res = { .op = OP_FAILED };
	json_object *req = NULL;

	if (!rt || !accepted(c, rt, r)) {
		if (!rt)
			reply_chain(c, 404, "Not Found");
		close_fds(r);
		return;
	}
	if (!takes_fds)
		close_fds(r);
	if (rt->schema && !(req = schema_parse(rt->schema, r->body, r->body_len, &res.ec))) {
		if (takes_fds)
			close_fds(r);
		reply_error(c, NULL, &res.ec);
		return;
	}
	logmsg(L_INFO, "API request event: %s %s", r->method, r->path);
	rt->fn(req, r, &res);
	json_object_put(req);
	if (res.op == OP_PENDING) {
		busy = true;
		pending_conn = c;
		pending_what = rt->what;
	} else if (res.op == OP_FAILED) {
		reply_error(c, rt->what, &res.ec);
	} else {
		http_reply(c, res.body ? 200 : 204, res.body);
	}
	free(res.body);
}

bool api_busy(void)
{
	return busy || vm_busy() || migrate_busy();
}

void api_conn_closed(struct conn *c)
{
	if (pending_conn == c)
		pending_conn = NULL;
}
