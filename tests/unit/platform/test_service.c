/* SPDX-License-Identifier: Apache-2.0 */
/* plat_service: readiness, watchdog and stopping notifications reach $NOTIFY_SOCKET as systemd
 * expects them; without the environment everything is a no-op. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "iot/plat_service.h"

static int sock = -1;
static char path[108];

static int setup(void **state)
{
    (void)state;
    snprintf(path, sizeof path, "/tmp/iot-notify-%d.sock", (int)getpid());
    unlink(path);
    sock = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    if (sock < 0 || bind(sock, (struct sockaddr *)&a, sizeof a) != 0)
        return -1;
    struct timeval tv = {.tv_sec = 2};
    setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    close(sock);
    unlink(path);
    return 0;
}

static void expect_datagram(const char *want)
{
    char buf[256];
    ssize_t n = recv(sock, buf, sizeof buf - 1, 0);
    assert_true(n > 0);
    buf[n] = 0;
    assert_string_equal(buf, want);
}

static void test_without_systemd_nothing_and_no_watchdog(void **state)
{
    (void)state;
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    plat_service_ready();
    plat_service_watchdog();
    assert_int_equal(plat_service_watchdog_ms(), 0);
    char buf[16];
    assert_true(recv(sock, buf, sizeof buf, MSG_DONTWAIT) < 0); /* nothing was sent */
}

static void test_notifications_reach_the_socket(void **state)
{
    (void)state;
    char pid[16];
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    setenv("NOTIFY_SOCKET", path, 1);
    setenv("WATCHDOG_USEC", "30000000", 1);
    setenv("WATCHDOG_PID", pid, 1);
    assert_int_equal(plat_service_watchdog_ms(), 30000);
    plat_service_ready();
    expect_datagram("READY=1");
    plat_service_watchdog();
    expect_datagram("WATCHDOG=1");
    plat_service_status("42 samples buffered");
    expect_datagram("STATUS=42 samples buffered");
    plat_service_stopping();
    expect_datagram("STOPPING=1");
    setenv("WATCHDOG_PID", "1", 1); /* the watchdog belongs to another process */
    assert_int_equal(plat_service_watchdog_ms(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_without_systemd_nothing_and_no_watchdog),
        cmocka_unit_test(test_notifications_reach_the_socket),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
