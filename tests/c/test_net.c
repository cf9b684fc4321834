/*
 * net.c: taps, links and addresses through /dev/net/tun and rtnetlink.
 * The test runs in a network namespace of its own (unshare(CLONE_NEWNET),
 * which needs root, as creating a tap does), so it never touches the host's
 * interfaces; at the end it drops CAP_NET_ADMIN and checks the refusals.
 */
#include <errno.h>
#include <linux/capability.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "net.h"
#include "tap.h"

static void test_names(void)
{
	vl_error e;
	OK(vl_check_ifname("vl0a1b2c3d", &e) == 0, "a short name is valid");
	OK(vl_check_ifname("abcdefghijklmno", &e) == 0, "15 bytes are valid");
	OK(vl_check_ifname("abcdefghijklmnop", &e) < 0 && e.code == EINVAL && strstr(e.msg, "1-15 bytes"),
	   "16 bytes are not (%s)", e.msg);
	OK(vl_check_ifname("", &e) < 0 && e.code == EINVAL, "an empty name is not");
	OK(vl_check_ifname("a/b", &e) < 0 && strstr(e.msg, "'/'"), "a slash is not (%s)", e.msg);
	OK(vl_check_ifname("a:b", &e) < 0, "a colon is not");
	OK(vl_check_ifname("a b", &e) < 0, "a space is not");
	OK(vl_check_ifname("..", &e) < 0, "'..' is not");
}

static int has_addr(int index, const char *text, int prefix)
{
	vl_addr *list = NULL;
	size_t n = 0;
	vl_error e;
	int found = 0;

	if (vl_addr_list(&list, &n, &e) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		found |= list[i].index == index && list[i].family == AF_INET && list[i].prefix == prefix &&
			 strcmp(list[i].text, text) == 0;
	free(list);
	return found;
}

static void test_loopback(void)
{
	vl_link l = { 0 };
	vl_error e;

	OK(vl_link_get(0, "lo", &l, &e) == 0 && l.index == 1 && strcmp(l.name, "lo") == 0 && l.kind[0] == '\0',
	   "lo by name: index %d, no kind", l.index);
	OK(vl_link_get(1, NULL, &l, &e) == 0 && strcmp(l.name, "lo") == 0, "lo by index");
	OK(vl_link_get(0, NULL, &l, &e) < 0 && e.code == EINVAL, "neither index nor name is EINVAL");
	OK(vl_link_get(0, "nosuch0", &l, &e) < 0 && e.code == ENODEV && strstr(e.msg, "interface nosuch0"),
	   "a missing name is ENODEV (%s)", e.msg);
	OK(vl_link_get(4242, NULL, &l, &e) < 0 && e.code == ENODEV, "a missing index is ENODEV");
}

static void test_tap(void)
{
	vl_link l = { 0 };
	vl_error e;

	int index = vl_tap_create(NULL, "vltest0", (long)getuid(), -1, &e);
	OK(index > 0, "tap_create gives an index (%d%s%s)", index, index < 0 ? ": " : "", index < 0 ? e.msg : "");
	OK(vl_link_get(index, NULL, &l, &e) == 0 && strcmp(l.name, "vltest0") == 0 && strcmp(l.kind, "tun") == 0,
	   "the tap outlives its fd (persistent) and is a tun device (kind '%s')", l.kind);
	OK(!(l.flags & IFF_UP) && l.has_mac, "it starts down, with a MAC address");
	OK(vl_tap_create(NULL, "vltest0", -1, -1, &e) < 0 && e.code == EEXIST && strstr(e.msg, "vltest0"),
	   "the same name again is EEXIST (%s)", e.msg);
	OK(vl_tap_create(NULL, "lo", -1, -1, &e) < 0 && e.code == EEXIST, "so is any other interface's name");

	OK(vl_addr_add(index, "10.99.0.1/30", &e) == 0, "addr_add");
	OK(has_addr(index, "10.99.0.1", 30) == 1, "addr_list shows the address with its prefix");
	OK(vl_addr_add(index, "10.99.0.1/30", &e) < 0 && e.code == EEXIST, "the same address again is EEXIST");
	OK(vl_addr_add(index, "10.99.0.1", &e) < 0 && e.code == EINVAL && strstr(e.msg, "prefix length"),
	   "no prefix is EINVAL (%s)", e.msg);
	OK(vl_addr_add(index, "300.1.1.1/24", &e) < 0 && e.code == EINVAL, "a bad address is EINVAL");
	OK(vl_addr_add(index, "10.0.0.1/33", &e) < 0 && e.code == EINVAL, "a prefix over 32 is EINVAL");
	OK(vl_addr_add(index, "10.0.0.1/", &e) < 0 && e.code == EINVAL, "an empty prefix is EINVAL");

	OK(vl_link_set_up(index, 1, &e) == 0 && vl_link_get(index, NULL, &l, &e) == 0 && (l.flags & IFF_UP),
	   "link_set_up brings it up");
	OK(vl_link_set_up(index, 0, &e) == 0 && vl_link_get(index, NULL, &l, &e) == 0 && !(l.flags & IFF_UP),
	   "and down");

	OK(vl_link_delete(index, &e) == 0, "link_delete");
	OK(vl_link_get(index, NULL, &l, &e) < 0 && e.code == ENODEV, "the tap is gone");
	OK(has_addr(index, "10.99.0.1", 30) == 0, "and so is its address");
	OK(vl_link_delete(index, &e) < 0 && e.code == ENODEV, "deleting it again is ENODEV");

	OK(vl_tap_create("/nonexistent/tun", "vltest1", -1, -1, &e) < 0 && e.code == ENOENT &&
		   strstr(e.msg, "open /nonexistent/tun"),
	   "a missing tun device is ENOENT, named (%s)", e.msg);
	OK(vl_link_get(0, "vltest1", &l, &e) < 0 && e.code == ENODEV, "and creates nothing");
	OK(vl_tap_create(NULL, "bad/name", -1, -1, &e) < 0 && e.code == EINVAL, "a bad name is EINVAL");
}

/* Drop CAP_NET_ADMIN from the effective set. 0 or -1. */
static int drop_net_admin(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	if (syscall(SYS_capget, &hdr, data) < 0)
		return -1;
	data[CAP_TO_INDEX(CAP_NET_ADMIN)].effective &= ~CAP_TO_MASK(CAP_NET_ADMIN);
	return (int)syscall(SYS_capset, &hdr, data);
}

static void test_without_net_admin(void)
{
	vl_link l = { 0 };
	vl_error e;

	OK(vl_can_net_admin() == 1, "root has CAP_NET_ADMIN");
	OK(drop_net_admin() == 0, "drop it");
	OK(vl_can_net_admin() == 0, "can_net_admin says so");
	OK(vl_tap_create(NULL, "vltest2", -1, -1, &e) < 0 && e.code == EPERM && strstr(e.msg, "create tap vltest2"),
	   "tap_create is EPERM (%s)", e.msg);
	OK(vl_link_get(0, "vltest2", &l, &e) < 0 && e.code == ENODEV, "and leaves nothing");
	OK(vl_link_set_up(1, 1, &e) < 0 && e.code == EPERM, "link_set_up is EPERM");
}

int main(void)
{
	test_names();
	if (!OK(unshare(CLONE_NEWNET) == 0, "a network namespace of our own (needs root: %s)", strerror(errno)))
		return tap_done();
	test_loopback();
	test_tap();
	test_without_net_admin();
	return tap_done();
}
