/*
 * Host network interfaces for sandboxes (Lua-free; lnet.c binds it as
 * core.net): persistent tap devices through /dev/net/tun, and links and
 * IPv4 addresses through rtnetlink. No shell and no iproute2: every change
 * is one netlink request whose acknowledgement carries the kernel's errno.
 */
#ifndef VMLUA_NET_H
#define VMLUA_NET_H

#include <stddef.h>

#include "error.h"

#define VL_IFNAME_MAX 15	/* IFNAMSIZ - 1 */
#define VL_TUN_DEVICE "/dev/net/tun"

/* What the kernel says about one interface. */
typedef struct vl_link {
	int index;
	char name[VL_IFNAME_MAX + 1];
	char kind[32];		/* IFLA_INFO_KIND ("tun", "veth", ...); "" when none */
	unsigned flags;		/* IFF_UP, IFF_RUNNING, ... */
	unsigned mtu;
	unsigned char mac[6];
	int has_mac;
} vl_link;

/* One address of an interface. */
typedef struct vl_addr {
	int index;
	int family;		/* AF_INET or AF_INET6 */
	int prefix;
	char text[46];		/* INET6_ADDRSTRLEN */
} vl_addr;

/* 0 when name can be an interface name (1-15 bytes, no '/', ':', space or
 * control byte, not "." or ".."); else -1 with EINVAL in e. */
int vl_check_ifname(const char *name, vl_error *e);

/* Create the persistent tap `name` through device (NULL: /dev/net/tun),
 * owned by uid owner and gid group (-1: no owner/group set), without
 * packet information (IFF_NO_PI). Returns its index (> 0), or -1: EEXIST
 * when an interface of that name exists, the errno of the open or the
 * ioctl otherwise (EPERM without CAP_NET_ADMIN). A failure leaves nothing. */
int vl_tap_create(const char *device, const char *name, long owner, long group, vl_error *e);

/* The interface `index` (> 0), or by `name` when index is 0. 0, or -1 with
 * ENODEV when there is none. */
int vl_link_get(int index, const char *name, vl_link *out, vl_error *e);

/* Bring the interface up (up != 0) or down. 0 or -1. */
int vl_link_set_up(int index, int up, vl_error *e);

/* Delete the interface. 0 or -1 (ENODEV when gone already). */
int vl_link_delete(int index, vl_error *e);

/* Add the IPv4 address cidr ("10.0.0.1/24") to the interface. 0 or -1
 * (EINVAL for a malformed cidr, EEXIST when it has it already). */
int vl_addr_add(int index, const char *cidr, vl_error *e);

/* Every address of every interface (IPv4 and IPv6), in a new array (free()
 * it) of *n entries. 0 or -1. */
int vl_addr_list(vl_addr **out, size_t *n, vl_error *e);

/* 1 when this process has CAP_NET_ADMIN in its effective set, else 0. */
int vl_can_net_admin(void);

#endif
