/*
 * Taps and rtnetlink (see net.h). One netlink socket per request: these run
 * a few times per sandbox start and stop, never in a loop.
 *
 * Why rtnetlink and not an execve of iproute2's `ip`: the kernel answers
 * each request with its own errno (EEXIST, EPERM, ENODEV), which the caller
 * turns into a message naming the field; the reply to RTM_GETLINK tells a tap
 * from anything else (IFLA_INFO_KIND), which a stop needs before it deletes
 * an interface; and vmlua needs no iproute2 on the host.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "net.h"

/* ---- names ------------------------------------------------------------ */

int vl_check_ifname(const char *name, vl_error *e)
{
	size_t len = strlen(name);

	if (len == 0 || len > VL_IFNAME_MAX)
		return vl_err(e, EINVAL, "interface name '%s' must be 1-%d bytes", name, VL_IFNAME_MAX);
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return vl_err(e, EINVAL, "interface name '%s' is not allowed", name);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		/* the kernel's dev_valid_name, plus ':' (alias syntax) */
		if (c <= 0x20 || c == 0x7f || c == '/' || c == ':')
			return vl_err(e, EINVAL, "interface name '%s' must not contain '/', ':', spaces or "
				      "control characters", name);
	}
	return 0;
}

/* ---- netlink requests ------------------------------------------------- */

#define NL_BUF 16384

/* A request: header, family message (ifinfomsg or ifaddrmsg), attributes. */
struct nl_req {
	struct nlmsghdr h;
	char body[512];
};

static void *nl_tail(struct nl_req *r)
{
	return (char *)&r->h + NLMSG_ALIGN(r->h.nlmsg_len);
}

static void nl_put(struct nl_req *r, const void *p, size_t n)
{
	memcpy(nl_tail(r), p, n);
	r->h.nlmsg_len = (uint32_t)(NLMSG_ALIGN(r->h.nlmsg_len) + n);
}

static void nl_attr(struct nl_req *r, unsigned short type, const void *data, size_t n)
{
	struct rtattr *a = nl_tail(r);
	a->rta_type = type;
	a->rta_len = (unsigned short)RTA_LENGTH(n);
	memcpy(RTA_DATA(a), data, n);
	r->h.nlmsg_len = (uint32_t)(NLMSG_ALIGN(r->h.nlmsg_len) + RTA_ALIGN(a->rta_len));
}

static void nl_init(struct nl_req *r, unsigned short type, unsigned short flags)
{
	memset(r, 0, sizeof *r);
	r->h.nlmsg_len = NLMSG_LENGTH(0);
	r->h.nlmsg_type = type;
	r->h.nlmsg_flags = (unsigned short)(NLM_F_REQUEST | flags);
}

typedef int (*nl_each)(const struct nlmsghdr *h, void *arg);

/* Read replies to sequence seq until the ack, an error or the end of a
 * dump; each other message goes to each. 0, or -1 (the kernel's errno). */
static int nl_replies(int fd, uint32_t seq, nl_each each, void *arg, const char *what, vl_error *e)
{
	char *buf = malloc(NL_BUF);
	if (buf == NULL)
		return vl_err_sys(e, ENOMEM, "%s", what);
	for (;;) {
		ssize_t n = recv(fd, buf, NL_BUF, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int err = n < 0 ? errno : EIO;
			free(buf);
			return vl_err_sys(e, err, "%s: netlink", what);
		}
		size_t left = (size_t)n;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
			if (h->nlmsg_seq != seq)
				continue;
			if (h->nlmsg_type == NLMSG_DONE) {
				free(buf);
				return 0;
			}
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *err = NLMSG_DATA(h);
				int code = h->nlmsg_len >= NLMSG_LENGTH(sizeof *err) ? -err->error : EIO;
				free(buf);
				return code == 0 ? 0 : vl_err_sys(e, code, "%s", what);
			}
			if (each != NULL && each(h, arg) < 0) {
				free(buf);
				return vl_err_sys(e, ENOMEM, "%s", what);
			}
		}
	}
}

/* Send r and read its replies. A dump ends with NLMSG_DONE; any other
 * request asks for an ack (NLM_F_DUMP's bits mean NLM_F_EXCL on a new
 * object, so the flags cannot tell the two apart). */
static int nl_talk(struct nl_req *r, int dump, nl_each each, void *arg, const char *what, vl_error *e)
{
	static uint32_t seq;
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return vl_err_sys(e, errno, "%s: netlink socket", what);
	if (!dump)
		r->h.nlmsg_flags |= NLM_F_ACK;
	r->h.nlmsg_seq = ++seq;
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	ssize_t sent;
	do
		sent = sendto(fd, &r->h, r->h.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel);
	while (sent < 0 && errno == EINTR);
	int rc = sent < 0 ? vl_err_sys(e, errno, "%s: netlink send", what)
			  : nl_replies(fd, r->h.nlmsg_seq, each, arg, what, e);
	close(fd);
	return rc;
}

/* ---- links ------------------------------------------------------------ */

static void parse_linkinfo(const struct rtattr *info, vl_link *l)
{
	int len = (int)RTA_PAYLOAD(info);
	for (const struct rtattr *a = RTA_DATA(info); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type == IFLA_INFO_KIND) {
			size_t n = RTA_PAYLOAD(a);
			if (n >= sizeof l->kind)
				n = sizeof l->kind - 1;
			memcpy(l->kind, RTA_DATA(a), n);
			l->kind[n] = '\0';
		}
	}
}

static int each_link(const struct nlmsghdr *h, void *arg)
{
	vl_link *l = arg;
	if (h->nlmsg_type != RTM_NEWLINK || h->nlmsg_len < NLMSG_LENGTH(sizeof(struct ifinfomsg)))
		return 0;
	const struct ifinfomsg *ifi = NLMSG_DATA(h);
	l->index = ifi->ifi_index;
	l->flags = ifi->ifi_flags;
	int len = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof *ifi));
	for (const struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		size_t n = RTA_PAYLOAD(a);
		if (a->rta_type == IFLA_IFNAME) {
			snprintf(l->name, sizeof l->name, "%.*s", (int)strnlen(RTA_DATA(a), n), (const char *)RTA_DATA(a));
		} else if (a->rta_type == IFLA_MTU && n >= sizeof(uint32_t)) {
			memcpy(&l->mtu, RTA_DATA(a), sizeof(uint32_t));
		} else if (a->rta_type == IFLA_ADDRESS && n == 6) {
			memcpy(l->mac, RTA_DATA(a), 6);
			l->has_mac = 1;
		} else if (a->rta_type == IFLA_LINKINFO) {
			parse_linkinfo(a, l);
		}
	}
	return 0;
}

int vl_link_get(int index, const char *name, vl_link *out, vl_error *e)
{
	struct nl_req r;
	char what[64];

	memset(out, 0, sizeof *out);
	if (index <= 0 && (name == NULL || vl_check_ifname(name, e) < 0))
		return name == NULL ? vl_err(e, EINVAL, "no interface index or name") : -1;
	if (index > 0)
		snprintf(what, sizeof what, "interface %d", index);
	else
		snprintf(what, sizeof what, "interface %s", name);
	nl_init(&r, RTM_GETLINK, 0);
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = index > 0 ? index : 0 };
	nl_put(&r, &ifi, sizeof ifi);
	if (index <= 0)
		nl_attr(&r, IFLA_IFNAME, name, strlen(name) + 1);
	if (nl_talk(&r, 0, each_link, out, what, e) < 0)
		return -1;
	if (out->index == 0)
		return vl_err_sys(e, ENODEV, "%s", what);
	return 0;
}

int vl_link_set_up(int index, int up, vl_error *e)
{
	struct nl_req r;
	char what[64];

	snprintf(what, sizeof what, "set interface %d %s", index, up ? "up" : "down");
	nl_init(&r, RTM_NEWLINK, 0);
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = index,
				 .ifi_flags = up ? IFF_UP : 0, .ifi_change = IFF_UP };
	nl_put(&r, &ifi, sizeof ifi);
	return nl_talk(&r, 0, NULL, NULL, what, e);
}

int vl_link_delete(int index, vl_error *e)
{
	struct nl_req r;
	char what[64];

	snprintf(what, sizeof what, "delete interface %d", index);
	nl_init(&r, RTM_DELLINK, 0);
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = index };
	nl_put(&r, &ifi, sizeof ifi);
	return nl_talk(&r, 0, NULL, NULL, what, e);
}

/* ---- addresses ---------------------------------------------------------- */

/* "a.b.c.d/n" to the address and the prefix length. 0 or -1. */
static int parse_cidr(const char *cidr, struct in_addr *addr, int *prefix)
{
	char host[INET_ADDRSTRLEN];
	const char *slash = strchr(cidr, '/');
	if (slash == NULL || (size_t)(slash - cidr) >= sizeof host)
		return -1;
	memcpy(host, cidr, (size_t)(slash - cidr));
	host[slash - cidr] = '\0';
	if (inet_pton(AF_INET, host, addr) != 1)
		return -1;
	char *end;
	errno = 0;
	long p = strtol(slash + 1, &end, 10);
	if (slash[1] == '\0' || *end != '\0' || errno != 0 || p < 0 || p > 32)
		return -1;
	*prefix = (int)p;
	return 0;
}

int vl_addr_add(int index, const char *cidr, vl_error *e)
{
	struct nl_req r;
	struct in_addr addr;
	int prefix;
	char what[96];

	if (parse_cidr(cidr, &addr, &prefix) < 0)
		return vl_err(e, EINVAL, "address '%s' is not an IPv4 address with a prefix length (10.0.0.1/24)",
			      cidr);
	snprintf(what, sizeof what, "add address %s to interface %d", cidr, index);
	nl_init(&r, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
	struct ifaddrmsg ifa = { .ifa_family = AF_INET, .ifa_prefixlen = (unsigned char)prefix,
				 .ifa_scope = RT_SCOPE_UNIVERSE, .ifa_index = (unsigned)index };
	nl_put(&r, &ifa, sizeof ifa);
	nl_attr(&r, IFA_LOCAL, &addr, sizeof addr);
	nl_attr(&r, IFA_ADDRESS, &addr, sizeof addr);
	return nl_talk(&r, 0, NULL, NULL, what, e);
}

struct addr_acc {
	vl_addr *list;
	size_t n, cap;
};

static int each_addr(const struct nlmsghdr *h, void *arg)
{
	struct addr_acc *acc = arg;
	if (h->nlmsg_type != RTM_NEWADDR || h->nlmsg_len < NLMSG_LENGTH(sizeof(struct ifaddrmsg)))
		return 0;
	const struct ifaddrmsg *ifa = NLMSG_DATA(h);
	if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6)
		return 0;
	const void *local = NULL, *address = NULL;
	int len = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof *ifa));
	size_t want = ifa->ifa_family == AF_INET ? 4 : 16;
	for (const struct rtattr *a = IFA_RTA(ifa); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (RTA_PAYLOAD(a) != want)
			continue;
		if (a->rta_type == IFA_LOCAL)
			local = RTA_DATA(a);
		else if (a->rta_type == IFA_ADDRESS)
			address = RTA_DATA(a);
	}
	/* IFA_LOCAL is the interface's own address on point-to-point links */
	const void *own = local != NULL ? local : address;
	if (own == NULL)
		return 0;
	if (acc->n == acc->cap) {
		size_t cap = acc->cap ? acc->cap * 2 : 16;
		vl_addr *grown = realloc(acc->list, cap * sizeof *grown);
		if (grown == NULL)
			return -1;
		acc->list = grown;
		acc->cap = cap;
	}
	vl_addr *out = &acc->list[acc->n++];
	memset(out, 0, sizeof *out);
	out->index = (int)ifa->ifa_index;
	out->family = ifa->ifa_family;
	out->prefix = ifa->ifa_prefixlen;
	inet_ntop(ifa->ifa_family, own, out->text, sizeof out->text);
	return 0;
}

int vl_addr_list(vl_addr **out, size_t *n, vl_error *e)
{
	struct nl_req r;
	struct addr_acc acc = { 0 };

	nl_init(&r, RTM_GETADDR, NLM_F_DUMP);
	struct ifaddrmsg ifa = { .ifa_family = AF_UNSPEC };
	nl_put(&r, &ifa, sizeof ifa);
	if (nl_talk(&r, 1, each_addr, &acc, "list addresses", e) < 0) {
		free(acc.list);
		return -1;
	}
	*out = acc.list;
	*n = acc.n;
	return 0;
}

/* ---- taps ------------------------------------------------------------- */

int vl_tap_create(const char *device, const char *name, long owner, long group, vl_error *e)
{
	if (vl_check_ifname(name, e) < 0)
		return -1;
	if (device == NULL)
		device = VL_TUN_DEVICE;
	/* TUNSETIFF on an existing tap would attach to it, not fail. */
	if (if_nametoindex(name) != 0)
		return vl_err(e, EEXIST, "create tap %s: an interface of that name exists already", name);
	int fd = open(device, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return vl_err_sys(e, errno, "create tap %s: open %s", name, device);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof ifr);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
	/* Until TUNSETPERSIST the tap lives as long as fd: closing it after a
	 * failure removes it again. */
	int err = 0, index = 0;
	const char *step = "";
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		err = errno;
	else if (owner >= 0 && ioctl(fd, TUNSETOWNER, (unsigned long)owner) < 0)
		err = errno, step = ": set its owner";
	else if (group >= 0 && ioctl(fd, TUNSETGROUP, (unsigned long)group) < 0)
		err = errno, step = ": set its group";
	else if (ioctl(fd, TUNSETPERSIST, 1UL) < 0)
		err = errno, step = ": make it persistent";
	else if ((index = (int)if_nametoindex(ifr.ifr_name)) == 0) {
		err = errno, step = ": find its index";
		(void)ioctl(fd, TUNSETPERSIST, 0UL);
	}
	close(fd);
	if (err != 0)
		return vl_err_sys(e, err, "create tap %s%s", name, step);
	return index;
}

/* ---- capabilities ------------------------------------------------------- */

int vl_can_net_admin(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	memset(data, 0, sizeof data);
	if (syscall(SYS_capget, &hdr, data) < 0)
		return 0;
	return (data[CAP_TO_INDEX(CAP_NET_ADMIN)].effective & CAP_TO_MASK(CAP_NET_ADMIN)) != 0;
}
