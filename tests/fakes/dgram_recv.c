/*
 * dgram_recv PATH|@NAME [COUNT]: a stand-in for systemd's notify socket.
 * Binds a unix datagram socket, prints "ready", then prints each of COUNT
 * (default 1) datagrams it receives on a line of its own and exits 0.
 * Gives up after 10 s without a datagram (exit 1), so a failing test
 * cannot leave it behind.
 */
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 2 || strlen(argv[1]) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		fprintf(stderr, "usage: dgram_recv PATH|@NAME [COUNT]\n");
		return 2;
	}
	int count = argc > 2 ? atoi(argv[2]) : 1;
	const char *path = argv[1];
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	size_t len = strlen(path);
	memcpy(sun.sun_path, path, len);
	socklen_t slen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
	if (path[0] == '@') {
		sun.sun_path[0] = '\0';
		slen--;
	} else {
		unlink(path);
	}
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, slen) < 0) {
		perror("dgram_recv: bind");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	for (int i = 0; i < count; i++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 10000) != 1) {
			fprintf(stderr, "dgram_recv: nothing received\n");
			return 1;
		}
		char buf[4096];
		ssize_t n = recv(fd, buf, sizeof buf, 0);
		if (n < 0) {
			perror("dgram_recv: recv");
			return 1;
		}
		printf("%.*s\n", (int)n, buf);
		fflush(stdout);
	}
	if (path[0] != '@')
		unlink(path);
	return 0;
}
