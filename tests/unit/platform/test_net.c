/* SPDX-License-Identifier: Apache-2.0 */
/* plat_tcp_nodelay_to: Nagle is switched off on exactly the connections to the given peer (both
 * loopback connections to one listener), not on a connection to another port or on a listener;
 * with a limit of 1, only on the newest (highest descriptor) connection that lacks it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "iot/plat_net.h"

static struct sockaddr_in loopback(unsigned port)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((unsigned short)port);
    return a;
}

static int listener(unsigned *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = loopback(0);
    socklen_t len = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 4), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static int client(unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = loopback(port);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

static int nodelay(int fd)
{
    int v = -1;
    socklen_t len = sizeof v;
    assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &len), 0);
    return v;
}

static void test_nodelay_only_on_connections_to_the_peer(void **state)
{
    (void)state;
    unsigned p1, p2;
    int l1 = listener(&p1), l2 = listener(&p2);
    int a = client(p1), b = client(p1), other = client(p2);
    assert_true(b > a);
    assert_int_equal(nodelay(a), 0);
    assert_int_equal(plat_tcp_nodelay_to("127.0.0.1", p1, 1), 1); /* the newest: b */
    assert_int_equal(nodelay(b), 1);
    assert_int_equal(nodelay(a), 0);
    assert_int_equal(plat_tcp_nodelay_to("127.0.0.1", p1, 1), 1); /* then a */
    assert_int_equal(nodelay(a), 1);
    assert_int_equal(plat_tcp_nodelay_to("127.0.0.1", p1, 0), 0); /* both set already */
    assert_int_equal(nodelay(other), 0);
    assert_int_equal(nodelay(l1), 0);
    /* a name resolves too; no limit */
    assert_int_equal(plat_tcp_nodelay_to("localhost", p2, 0), 1);
    assert_int_equal(nodelay(other), 1);
    assert_int_equal(plat_tcp_nodelay_to("127.0.0.1", 1, 0), 0);
    assert_int_equal(plat_tcp_nodelay_to("no-such-host.invalid", p1, 0), 0);
    assert_int_equal(plat_tcp_nodelay_to(NULL, p1, 0), 0);
    close(a);
    close(b);
    close(other);
    close(l1);
    close(l2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nodelay_only_on_connections_to_the_peer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
