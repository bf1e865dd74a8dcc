/* SPDX-License-Identifier: Apache-2.0 */
/* platform/: files (atomic replace, bounded reads), crypto (known vectors, sign/verify), events, mem. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "iot/err.h"
#include "iot/mem.h"
#include "iot/plat_clock.h"
#include "iot/plat_crypto.h"
#include "iot/plat_event.h"
#include "iot/plat_file.h"
#include "test_keys.h"

static char dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/iot-plat-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

static void test_file_write_atomic_then_read_same(void **state)
{
    (void)state;
    char p[300];
    snprintf(p, sizeof p, "%s/a/b/state", dir);
    char d[300];
    snprintf(d, sizeof d, "%s/a/b", dir);
    assert_int_equal(plat_dir_ensure(d, 0700), IOT_OK);
    assert_int_equal(plat_file_write_atomic(p, "hello", 5, true), IOT_OK);
    assert_int_equal(plat_file_write_atomic(p, "world!", 6, false), IOT_OK);
    uint8_t *buf;
    size_t n;
    assert_int_equal(plat_file_read(p, 100, &buf, &n), IOT_OK);
    assert_int_equal(n, 6);
    assert_string_equal((char *)buf, "world!");
    iot_free(buf);
    char tmp[310];
    snprintf(tmp, sizeof tmp, "%s.tmp", p);
    assert_false(plat_file_readable(tmp)); /* no temp file left behind */
}

static void test_file_read_limits(void **state)
{
    (void)state;
    char p[300];
    snprintf(p, sizeof p, "%s/big", dir);
    char data[10000];
    memset(data, 'x', sizeof data);
    assert_int_equal(plat_file_write_atomic(p, data, sizeof data, false), IOT_OK);
    uint8_t *buf = NULL;
    size_t n = 0;
    assert_int_equal(plat_file_read(p, 9999, &buf, &n), IOT_ERR_FULL);
    assert_int_equal(plat_file_read(p, 10000, &buf, &n), IOT_OK);
    assert_int_equal(n, 10000);
    iot_free(buf);
    snprintf(p, sizeof p, "%s/missing", dir);
    assert_int_equal(plat_file_read(p, 10, &buf, &n), IOT_ERR_NOT_FOUND);
}

static void test_dir_list_sorted(void **state)
{
    (void)state;
    char d[300], p[320];
    snprintf(d, sizeof d, "%s/list", dir);
    assert_int_equal(plat_dir_ensure(d, 0700), IOT_OK);
    const char *names[] = {"c", "a", "b"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", d, names[i]);
        assert_int_equal(plat_file_write_atomic(p, "", 0, false), IOT_OK);
    }
    char **v;
    size_t n;
    assert_int_equal(plat_dir_list(d, &v, &n), IOT_OK);
    assert_int_equal(n, 3);
    assert_string_equal(v[0], "a");
    assert_string_equal(v[2], "c");
    for (size_t i = 0; i < n; i++)
        iot_free(v[i]);
    iot_free(v);
}

static void test_sha256_hmac_known_vectors(void **state)
{
    (void)state;
    uint8_t out[32];
    char hex[65];
    plat_sha256("abc", 3, out);
    plat_hex(out, 32, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    /* RFC 4231 test case 2 */
    const char *data = "what do ya want for nothing?";
    plat_hmac_sha256("Jefe", 4, data, strlen(data), out);
    plat_hex(out, 32, hex);
    assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    assert_int_equal(plat_ct_memcmp("abcd", "abcd", 4), 0);
    assert_int_not_equal(plat_ct_memcmp("abcd", "abce", 4), 0);
}

static void test_random_differs_and_bounded(void **state)
{
    (void)state;
    uint8_t a[16], b[16];
    assert_int_equal(plat_random(a, sizeof a), IOT_OK);
    assert_int_equal(plat_random(b, sizeof b), IOT_OK);
    assert_memory_not_equal(a, b, sizeof a);
    for (int i = 0; i < 1000; i++)
        assert_true(plat_random_below(7) < 7);
}

static void test_sign_verify_and_tamper(void **state)
{
    (void)state;
    char priv[300], pub[300], pub2[300], priv2[300];
    snprintf(priv, sizeof priv, "%s/k.pem", dir);
    snprintf(pub, sizeof pub, "%s/k.pub", dir);
    snprintf(priv2, sizeof priv2, "%s/k2.pem", dir);
    snprintf(pub2, sizeof pub2, "%s/k2.pub", dir);
    test_keys_write_pair(priv, pub);
    test_keys_write_pair(priv2, pub2);
    struct plat_signer *s;
    struct plat_verifier *v, *v2;
    assert_int_equal(plat_signer_load(priv, &s), IOT_OK);
    assert_int_equal(plat_verifier_load(pub, &v), IOT_OK);
    assert_int_equal(plat_verifier_load(pub2, &v2), IOT_OK);
    uint8_t msg[] = "set_setpoint 21.5";
    uint8_t sig[80];
    size_t n;
    assert_int_equal(plat_signer_sign(s, msg, sizeof msg, sig, sizeof sig, &n), IOT_OK);
    assert_int_equal(plat_verifier_verify(v, msg, sizeof msg, sig, n), IOT_OK);
    assert_int_equal(plat_verifier_verify(v2, msg, sizeof msg, sig, n), IOT_ERR_TLS);
    msg[0] ^= 1;
    assert_int_equal(plat_verifier_verify(v, msg, sizeof msg, sig, n), IOT_ERR_TLS);
    msg[0] ^= 1;
    sig[n - 1] ^= 1;
    assert_int_equal(plat_verifier_verify(v, msg, sizeof msg, sig, n), IOT_ERR_TLS);
    char missing[300];
    snprintf(missing, sizeof missing, "%s/none.pub", dir);
    struct plat_verifier *v3;
    assert_int_equal(plat_verifier_load(missing, &v3), IOT_ERR_NOT_FOUND);
    /* a private-key PEM is not accepted where a public key is expected */
    assert_int_equal(plat_verifier_load(priv2, &v3), IOT_ERR_TLS);
    plat_signer_destroy(s);
    plat_verifier_destroy(v);
    plat_verifier_destroy(v2);
}

static void test_event_signal_wakes_and_times_out(void **state)
{
    (void)state;
    struct plat_event *ev;
    assert_int_equal(plat_event_create(&ev), IOT_OK);
    assert_int_equal(plat_event_wait(ev, 0), IOT_ERR_TIMEOUT);
    plat_event_signal(ev);
    plat_event_signal(ev);
    assert_int_equal(plat_event_wait(ev, 1000), IOT_OK);
    assert_int_equal(plat_event_wait(ev, 10), IOT_ERR_TIMEOUT); /* signals coalesce */
    plat_event_destroy(ev);
}

static void test_mem_fail_after_injects(void **state)
{
    (void)state;
    iot_mem_fail_after(2);
    void *a = iot_malloc(8);
    assert_non_null(a);
    assert_null(iot_malloc(8));
    assert_null(iot_strdup("x"));
    iot_mem_fail_after(0);
    void *b = iot_malloc(8);
    assert_non_null(b);
    iot_free(a);
    iot_free(b);
}

static void test_clock_monotonic(void **state)
{
    (void)state;
    uint64_t a = plat_mono_ms();
    plat_sleep_ms(5);
    assert_true(plat_mono_ms() >= a + 5);
    assert_true(plat_wall_ms() > 1600000000000LL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_write_atomic_then_read_same),
        cmocka_unit_test(test_file_read_limits),
        cmocka_unit_test(test_dir_list_sorted),
        cmocka_unit_test(test_sha256_hmac_known_vectors),
        cmocka_unit_test(test_random_differs_and_bounded),
        cmocka_unit_test(test_sign_verify_and_tamper),
        cmocka_unit_test(test_event_signal_wakes_and_times_out),
        cmocka_unit_test(test_mem_fail_after_injects),
        cmocka_unit_test(test_clock_monotonic),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
