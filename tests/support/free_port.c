/* SPDX-License-Identifier: Apache-2.0 */
/* Test support: print a free TCP port on 127.0.0.1 (bind to port 0, read it back, close).
 * Mosquitto has no "port 0", so the tests pick a port this way. Never linked into products. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        perror("socket");
        return 1;
    }
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        perror("bind");
        close(fd);
        return 1;
    }
    printf("%u\n", (unsigned)ntohs(a.sin_port));
    close(fd);
    return 0;
}
