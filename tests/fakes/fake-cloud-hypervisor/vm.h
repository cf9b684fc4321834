/* fake-cloud-hypervisor: the VM's state, shared by vm.c and devices.c. */
#ifndef FAKECLH_VM_H
#define FAKECLH_VM_H

#include "fakeclh.h"

/* What a start waits for (vhost-user backends) and how it ends. */
enum start_kind { START_NONE, START_BOOT, START_REBOOT, START_ADOPT, START_PLUG };

struct vmstate {
	json_object *cfg;	/* the VmConfig; NULL: not created */
	enum vm_state state;
	bool consoles_open;
	json_object *tree;	/* device_tree of the booted VM */
	uint32_t slots;		/* PCI slots used on segment 0 */
	int name_counter;	/* DeviceManager::next_device_name */
	int *fds;		/* tap fds received with vm.add-net */
	int nfds;
	uint64_t balloon;
	uint64_t boot_ram;	/* memory.size when the VM started */
	bool removal_pending;	/* a vCPU removal is pending: vm.resize gets 429 */
	bool poweroff_queued;	/* power button pressed while paused */
	long ready_left, crash_left, poweroff_left;	/* guest timers frozen by pause */

	enum start_kind start;	/* an operation waiting for vhost-user backends */
	bool start_sync;	/* ... still inside the call that started it */
	int start_result;
	struct errchain start_ec;
	vm_done_cb done;
	enum vm_state target;
	json_object *plug;	/* START_PLUG: the device, and its list */
	const char *plug_list;
	char *plug_body;
};

extern struct vmstate vm;

/* Both error "kinds" the API maps: ["VM is not created"] 404 and friends. */
bool vm_err(struct errchain *ec, int status, const char *msg);

/* devices.c */
struct devlist {
	const char *list;	/* VmConfig field */
	const char *prefix;	/* DeviceManager name prefix */
	const char *what;	/* "virtio-fs" in "Cannot create virtio-fs device" */
};
extern const struct devlist devlists[];
size_t dev_count(json_object *cfg, const char *list);
json_object *dev_at(json_object *cfg, const char *list, size_t i);
const char *dev_vhost_socket(const char *list, json_object *dev);
bool dev_check_files(const char *list, json_object *dev, struct errchain *ec);
void dev_plug(const char *list, json_object *dev);	/* id, slot, tree entry */
void dev_append(json_object *cfg, const char *list, json_object *dev);
int vm_start_plug(const char *list, json_object *dev, const char *sock, vm_done_cb done,
		  char **body, struct errchain *ec);
void devices_assign_all(void);
void devices_release(void);
char *pci_device_info(json_object *dev);

#endif
