/*
 * fake-cloud-hypervisor: declarations shared by its files.
 *
 * The fake is one single-threaded program driven by one poll loop (main.c).
 * What it imitates, and where it is knowingly not faithful, is described in
 * docs/fakes.md; the fault-injection switches are listed in main.c.
 */
#ifndef FAKECLH_H
#define FAKECLH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <json.h>

#define FMT(a, b) __attribute__((format(printf, a, b)))

/* ---- error chains (util.c) ---------------------------------------------
 * cloud-hypervisor reports an error as the chain of its causes, top error
 * first: on the CLI as "Error: ... chain of errors:\n  0: ...", over REST as
 * a JSON array of strings. */
#define CHAIN_MAX 10
#define CHAIN_MSG 512

struct errchain {
	int n;
	int status;		/* HTTP status the error maps to (0: caller decides) */
	bool bare;		/* an HTTP-level error: no "Error from API" prefix */
	char msg[CHAIN_MAX][CHAIN_MSG];
};

void ec_clear(struct errchain *ec);
void ec_push(struct errchain *ec, const char *fmt, ...) FMT(2, 3);
void ec_prepend(struct errchain *ec, const char *fmt, ...) FMT(2, 3);
void ec_print_cli(const struct errchain *ec);
char *ec_json(const struct errchain *ec);

/* ---- logging (util.c): cloud-hypervisor's log line format -------------- */
enum loglevel { L_ERROR, L_WARN, L_INFO, L_DEBUG, L_TRACE };
void log_setup(int verbosity, int fd);
void logmsg(enum loglevel level, const char *fmt, ...) FMT(2, 3);

/* ---- small helpers (util.c) -------------------------------------------- */
void *xmalloc(size_t n);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) FMT(1, 2);
long long now_ms(void);
const char *json_text(json_object *o);	/* compact, '/' not escaped */
json_object *jget(json_object *o, const char *key);	/* NULL for absent or null */
const char *jstr(json_object *o, const char *key);
int64_t jint(json_object *o, const char *key, int64_t def);
bool jbool(json_object *o, const char *key, bool def);
void jset(json_object *o, const char *key, json_object *v);
int write_all(int fd, const void *buf, size_t len);
const char *oserr(int err);	/* Rust's io::Error text: "<strerror> (os error N)" */
int set_nonblock(int fd);
int unix_listen(const char *path, int backlog);
int unix_connect(const char *path);

/* ---- fault injection and knobs (main.c) -------------------------------- */
struct knobs {
	const char *version;		/* FAKE_CLH_VERSION: build version */
	const char *version_text;	/* FAKE_CLH_VERSION_TEXT: whole --version output */
	const char *features;		/* FAKE_CLH_FEATURES */
	const char *marker;		/* FAKE_CLH_SERIAL_MARKER */
	long boot_delay_ms;		/* FAKE_CLH_BOOT_DELAY_MS */
	const char *fail_at_start;	/* FAKE_CLH_FAIL_AT_START */
	int fail_status;		/* FAKE_CLH_FAIL_STATUS */
	bool hang_api;			/* FAKE_CLH_HANG_API */
	long api_delay_ms;		/* FAKE_CLH_API_DELAY_MS */
	bool ignore_power_button;	/* FAKE_CLH_IGNORE_POWER_BUTTON */
	long crash_after_ms;		/* FAKE_CLH_CRASH_AFTER_MS (-1: never) */
	long poweroff_delay_ms;		/* FAKE_CLH_POWEROFF_DELAY_MS */
	long vhost_timeout_ms;		/* FAKE_CLH_VHOST_TIMEOUT_MS */
	long cpu_removal_ms;		/* FAKE_CLH_CPU_REMOVAL_MS */
	const char *agent;		/* FAKE_CLH_AGENT: on, off, hang */
	long agent_delay_ms;		/* FAKE_CLH_AGENT_DELAY_MS */
	const char *agent_root;		/* FAKE_CLH_AGENT_ROOT */
};
extern struct knobs K;
bool feature_enabled(const char *name);
int features_ordered(const char **out, int max);

/* ---- the loop (main.c) -------------------------------------------------- */
typedef void (*poll_cb)(int fd, short revents, void *ctx);
void loop_add(int fd, short events, poll_cb cb, void *ctx);
void loop_events(int fd, short events);
void loop_del(int fd);

enum timer_id {
	T_API_BIND, T_VHOST_RETRY, T_GUEST_READY, T_CRASH, T_POWEROFF,
	T_CPU_REMOVAL, T_EXIT_FLUSH, T_COUNT
};
void timer_set(enum timer_id id, long ms);
void timer_cancel(enum timer_id id);
bool timer_active(enum timer_id id);
long timer_remaining(enum timer_id id);	/* ms, -1 when inactive */

/* Leave the loop and exit with this status once replies are flushed. */
void vmm_exit(int status);
bool vmm_exiting(void);
extern bool no_shutdown;	/* --no-shutdown */
extern const char *build_version;

/* ---- events (vmio.c): --event-monitor --------------------------------- */
void events_open(int fd);
void event_emit(const char *source, const char *event);
void events_close(void);

/* ---- option_parser (optparse.c) ---------------------------------------- */
struct optkv {
	char key[40];
	bool valueless;
	bool set;
	char *value;		/* NULL when valueless or not set */
};
struct opts {
	int n;
	struct optkv kv[48];
};
/* keys: NULL-terminated; a key starting with '!' is valueless. */
bool opts_parse(struct opts *o, const char *const *keys, const char *input,
		struct errchain *ec);
void opts_free(struct opts *o);
const char *opts_get(const struct opts *o, const char *key); /* NULL if unset/empty */
bool opts_isset(const struct opts *o, const char *key);
bool opt_u64(const struct opts *o, const char *key, uint64_t max, uint64_t *out,
	     bool *present, struct errchain *ec);
bool opt_size(const struct opts *o, const char *key, uint64_t *out, bool *present,
	      struct errchain *ec);
bool opt_toggle(const struct opts *o, const char *key, bool *out, bool *present,
		struct errchain *ec);
json_object *parse_intlist(const char *s, uint64_t max);	/* NULL on error */
json_object *parse_strlist(const char *s);

/* ---- the command line (cli.c) ------------------------------------------ */
enum optkind { K_SINGLE, K_MULTI, K_FLAG, K_COUNT, K_OPTVAL, K_VERSION, K_HELP };
enum optgroup { G_NONE, G_VM, G_VMM, G_PAYLOAD, G_LOG };
struct cliopt {
	const char *name;
	char shortname;
	enum optkind kind;
	enum optgroup group;
	const char *deflt;
	const char *feature;
};
struct cliarg {
	int count;		/* occurrences (flags, -v) */
	int nvals;
	char **vals;		/* points into argv */
};
struct cli {
	struct cliarg *args;	/* indexed like cli_options */
};
extern const struct cliopt cli_options[];
/* Exits (status 2, or 0 for --help/--version) as clap does. */
void cli_parse(struct cli *c, int argc, char **argv);
void cli_free(struct cli *c);
const struct cliarg *cli_get(const struct cli *c, const char *name);
const char *cli_value(const struct cli *c, const char *name); /* single or default */
bool cli_given(const struct cli *c, const char *name);

/* ---- CLI values to a VmConfig (cliconfig.c) ---------------------------- */
json_object *cli_vm_config(const struct cli *c, struct errchain *ec);
json_object *cli_restore_config(const char *value, struct errchain *ec);

/* ---- JSON schemas (schema.c) ------------------------------------------- */
struct schema;
extern const struct schema S_VmConfig, S_DiskConfig, S_NetConfig, S_FsConfig,
	S_PmemConfig, S_DeviceConfig, S_UserDeviceConfig, S_VdpaConfig, S_VsockConfig,
	S_GenericVhostUserConfig, S_VmResize, S_VmResizeDisk, S_VmResizeZone,
	S_VmRemoveDevice, S_VmSnapshotConfig, S_VmCoredumpData, S_RestoreConfig,
	S_ReceiveMigrationData, S_SendMigrationData;
/* A new object: known fields in declaration order with serde defaults filled
 * in, unknown fields dropped. NULL with a serde-style message on error. */
json_object *schema_coerce(const struct schema *s, json_object *in, struct errchain *ec);
/* Parse a request body and coerce it: NULL with ["Failed to deserialize
 * JSON", reason] on error. */
json_object *schema_parse(const struct schema *s, const char *body, size_t len,
			  struct errchain *ec);

/* ---- semantic validation (validate.c) ---------------------------------- */
/* false with ec: "Error validating configuration" chain, status 400 or 409. */
bool config_validate(json_object *cfg, struct errchain *ec);
bool config_backed_by_shared_memory(json_object *cfg);
char *random_mac(void);

/* ---- the VM (vm.c) ------------------------------------------------------ */
enum vm_state { VM_NONE, VM_CREATED, VM_RUNNING, VM_PAUSED };
enum vm_state vm_state(void);
json_object *vm_config(void);

/* Operations that may have to wait (a boot connecting vhost-user backends,
 * a migration) return OP_FAILED (ec filled), OP_DONE, or OP_PENDING: then
 * done() is called later, with ec NULL on success, body NULL for 204. */
enum { OP_FAILED = -1, OP_DONE = 0, OP_PENDING = 1 };
typedef void (*vm_done_cb)(const struct errchain *ec, const char *body);

bool vm_create(json_object *cfg, struct errchain *ec);	/* takes cfg */
int vm_boot(vm_done_cb done, struct errchain *ec);
bool vm_busy(void);	/* waiting for vhost-user backends */
bool vm_shutdown(struct errchain *ec);
int vm_reboot(vm_done_cb done, struct errchain *ec);
bool vm_pause(struct errchain *ec);
bool vm_resume(struct errchain *ec);
bool vm_delete(struct errchain *ec);
bool vmm_shutdown(struct errchain *ec);
bool vm_power_button(struct errchain *ec);
bool vm_nmi(struct errchain *ec);
json_object *vm_info(struct errchain *ec);
json_object *vm_counters(struct errchain *ec);
/* list: "disks", "net", "fs", "vsock", ...; takes dev and the fds. On
 * OP_DONE *body is a PciDeviceInfo (hot plug) or NULL (cold plug). */
int vm_add_device(const char *list, json_object *dev, int *fds, int nfds, char **body,
		  vm_done_cb done, struct errchain *ec);
bool vm_remove_device(const char *id, struct errchain *ec);
bool vm_resize(json_object *req, struct errchain *ec);
bool vm_resize_zone(json_object *req, struct errchain *ec);
bool vm_resize_disk(json_object *req, struct errchain *ec);
void vm_guest_exit(void);
void vm_guest_poweroff(void);	/* the guest powers itself off (guest-shutdown) */
void vm_cpu_removal_done(void);
void vm_cleanup(void);
/* Used by migrate.c: adopt a config and bring the VM up in a state. */
int vm_adopt(json_object *cfg, enum vm_state state, vm_done_cb done, struct errchain *ec);
void vm_forget(void);
void vm_own_fds(const int *fds, int n);

/* ---- guest I/O (vmio.c) ------------------------------------------------- */
bool consoles_create(json_object *cfg, struct errchain *ec);	/* at vm.create */
void consoles_close(void);
void guest_output(const char *text);	/* what the guest prints */
void guest_boot_banner(json_object *cfg);
void guest_ready_marker(void);
/* vhost-user backends: connect every socket, retrying every 100 ms. */
typedef void (*vhost_done_cb)(bool ok, const char *failed_path, int err);
void vhost_connect_all(char **paths, int n, vhost_done_cb done);
void vhost_retry(void);
void vhost_disconnect_all(void);
void vhost_close(const char *path);
/* ---- the hybrid vsock socket (vsock.c) ---------------------------------- */
bool vsock_listen(json_object *vsock, struct errchain *ec);
void vsock_close(void);

/* ---- the guest agent behind it (guestagent.c) -------------------------- */
void agent_boot(json_object *cfg);	/* reads vmlua.agent=vsock:PORT */
void agent_guest_up(void);		/* the guest has printed its marker */
bool agent_listening(uint32_t port);	/* does the guest listen on port? */
void agent_attach(int fd);		/* an established connection to it */
void agent_stop(void);			/* the VM goes: close, kill commands */

/* ---- snapshot, restore, migration (migrate.c) -------------------------- */
bool vm_snapshot(json_object *req, struct errchain *ec);
bool vm_coredump(json_object *req, struct errchain *ec);
int vm_restore(json_object *req, int *fds, int nfds, vm_done_cb done, struct errchain *ec);
bool vm_send_migration(json_object *req, struct errchain *ec);
int vm_receive_migration(json_object *req, vm_done_cb done, struct errchain *ec);
void migrate_cleanup(void);
bool migrate_busy(void);

/* ---- HTTP (http.c) and the REST API (api.c) ---------------------------- */
struct conn;
struct request {
	const char *method;
	const char *path;
	const char *body;	/* NULL: no body */
	size_t body_len;
	int *fds;		/* received with SCM_RIGHTS; the handler owns them */
	int nfds;
};
bool http_listen_path(const char *path, struct errchain *ec);
void http_listen_fd(int fd);
void http_close_all(void);
bool http_flushed(void);
void http_reply(struct conn *c, int status, const char *body);
void http_resume(void);	/* the API is free again: parse queued requests */
void api_handle(struct conn *c, const struct request *r);
bool api_busy(void);
void api_conn_closed(struct conn *c);

#endif
