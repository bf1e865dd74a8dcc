/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of iot-pki's library part (tools/pki/pki.c, broker_conf.c): certificates parse and
 * chain with mbedTLS, carry the right names and extensions, ids are checked, files get the right
 * modes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdbool.h>
#include <cmocka.h>

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include "iot/log.h"
#include "iot/mem.h"
#include "iot/plat_file.h"
#include "iot/topic.h"
#include "pki.h"

static char base_dir[256];
static unsigned dir_seq;
static char last_error[512];

static void capture_sink(void *ctx, enum iot_log_level lvl, const char *tag, const char *line)
{
    (void)ctx;
    (void)tag;
    if (lvl <= IOT_LOG_ERROR)
        snprintf(last_error, sizeof last_error, "%s", line);
}

/* rm -rf of the test's own temp tree (depth-bounded: the tree is at most 3 levels deep). */
static int rm_rf(const char *path, int depth)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return -1;
    if (S_ISDIR(st.st_mode) && depth < 8) {
        DIR *d = opendir(path);
        struct dirent *e;
        while (d && (e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char sub[PKI_PATH_MAX];
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            rm_rf(sub, depth + 1);
        }
        if (d)
            closedir(d);
    }
    return remove(path);
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(base_dir, sizeof base_dir, "%s/test_pki.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(base_dir))
        return -1;
    /* mosquitto.conf holds resolved paths: compare against the resolved temp dir. */
    char resolved[PATH_MAX];
    if (!realpath(base_dir, resolved) || strlen(resolved) >= sizeof base_dir)
        return -1;
    memcpy(base_dir, resolved, strlen(resolved) + 1);
    iot_log_set_sink(capture_sink, NULL);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    iot_log_set_sink(NULL, NULL);
    return rm_rf(base_dir, 0);
}

/* A fresh PKI directory path (not created) under the test's temp dir. */
static void new_dir(char out[PKI_PATH_MAX])
{
    snprintf(out, PKI_PATH_MAX, "%s/pki%u", base_dir, ++dir_seq);
}

static void path_of(char out[PKI_PATH_MAX], const char *dir, const char *name)
{
    assert_int_equal(pki__path(out, dir, name), IOT_OK);
}

/* init a PKI in a fresh directory; returns the pki with the CA loaded. */
static struct pki *init_pki(char dir[PKI_PATH_MAX])
{
    struct pki *p = NULL;
    new_dir(dir);
    assert_int_equal(pki_create(&p), IOT_OK);
    struct pki_init_opts o = {.dir = dir, .port = 18883, .bind = "127.0.0.1", .force = false};
    assert_int_equal(pki_init_dir(p, &o), IOT_OK);
    return p;
}

static void parse_crt(mbedtls_x509_crt *crt, const char *dir, const char *name)
{
    char path[PKI_PATH_MAX];
    path_of(path, dir, name);
    mbedtls_x509_crt_init(crt);
    assert_int_equal(mbedtls_x509_crt_parse_file(crt, path), 0);
}

static void assert_cn(const mbedtls_x509_crt *crt, const char *cn)
{
    const mbedtls_x509_name *n = &crt->subject;
    for (; n; n = n->next) {
        if (MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid) == 0) {
            assert_int_equal(n->val.len, strlen(cn));
            assert_memory_equal(n->val.p, cn, strlen(cn));
            return;
        }
    }
    fail_msg("no CN in certificate");
}

static void assert_mode(const char *dir, const char *name, unsigned mode)
{
    char path[PKI_PATH_MAX];
    struct stat st;
    path_of(path, dir, name);
    assert_int_equal(stat(path, &st), 0);
    if ((st.st_mode & 07777) != mode)
        fail_msg("%s has mode %o, want %o", path, st.st_mode & 07777, mode);
}

static char *read_text(const char *dir, const char *name)
{
    char path[PKI_PATH_MAX];
    uint8_t *buf = NULL;
    size_t len = 0;
    path_of(path, dir, name);
    assert_int_equal(plat_file_read(path, 1 << 20, &buf, &len), IOT_OK);
    return (char *)buf;
}

static void test_pki_init_chain_verifies(void **state)
{
    (void)state;
    char dir[PKI_PATH_MAX];
    struct pki *p = init_pki(dir);
    mbedtls_x509_crt ca, broker, cloud;
    parse_crt(&ca, dir, PKI_CA_CRT);
    parse_crt(&broker, dir, PKI_BROKER_CRT);
    parse_crt(&cloud, dir, PKI_CLOUD_CRT);

    assert_true(ca.ca_istrue);
    assert_int_equal(mbedtls_x509_crt_check_key_usage(&ca, MBEDTLS_X509_KU_KEY_CERT_SIGN |
                                                               MBEDTLS_X509_KU_CRL_SIGN),
                     0);
    assert_false(broker.ca_istrue);
    assert_false(cloud.ca_istrue);
    assert_true(broker.serial.len >= 1 && broker.serial.len <= 20);
    assert_true((broker.serial.p[0] & 0x80) == 0); /* positive */

    uint32_t flags = 0;
    assert_int_equal(mbedtls_x509_crt_verify(&ca, &ca, NULL, NULL, &flags, NULL, NULL), 0);
    assert_int_equal(mbedtls_x509_crt_verify(&broker, &ca, NULL, "localhost", &flags, NULL, NULL),
                     0);
    assert_int_equal(mbedtls_x509_crt_verify(&cloud, &ca, NULL, PKI_CLOUD_CN, &flags, NULL, NULL),
                     0);
    /* The name check really runs: a wrong CN fails. */
    assert_int_not_equal(mbedtls_x509_crt_verify(&cloud, &ca, NULL, "someone", &flags, NULL, NULL),
                         0);

    assert_int_equal(
        mbedtls_x509_crt_check_extended_key_usage(&broker, MBEDTLS_OID_SERVER_AUTH,
                                                  MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)),
        0);
    assert_int_not_equal(
        mbedtls_x509_crt_check_extended_key_usage(&broker, MBEDTLS_OID_CLIENT_AUTH,
                                                  MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)),
        0);
    assert_int_equal(
        mbedtls_x509_crt_check_extended_key_usage(&cloud, MBEDTLS_OID_CLIENT_AUTH,
                                                  MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)),
        0);
    assert_cn(&cloud, PKI_CLOUD_CN);

    mbedtls_x509_crt_free(&ca);
    mbedtls_x509_crt_free(&broker);
    mbedtls_x509_crt_free(&cloud);
    pki_destroy(p);
}

static void test_pki_server_cert_has_san_localhost_and_ip(void **state)
{
    (void)state;
    char dir[PKI_PATH_MAX];
    struct pki *p = init_pki(dir);
    mbedtls_x509_crt broker;
    parse_crt(&broker, dir, PKI_BROKER_CRT);
    assert_true(broker.ext_types & MBEDTLS_X509_EXT_SUBJECT_ALT_NAME);
    assert_true(broker.ext_types & MBEDTLS_X509_EXT_EXTENDED_KEY_USAGE);
    bool dns = false, ip = false;
    static const unsigned char lo[4] = {127, 0, 0, 1};
    for (const mbedtls_x509_sequence *s = &broker.subject_alt_names; s && s->buf.p; s = s->next) {
        if (s->buf.tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_X509_SAN_DNS_NAME) &&
            s->buf.len == 9 && memcmp(s->buf.p, "localhost", 9) == 0)
            dns = true;
        if (s->buf.tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_X509_SAN_IP_ADDRESS) &&
            s->buf.len == 4 && memcmp(s->buf.p, lo, 4) == 0)
            ip = true;
    }
    assert_true(dns);
    assert_true(ip);
    mbedtls_x509_crt_free(&broker);
    pki_destroy(p);
}

static void test_pki_issue_device_cn_equals_id(void **state)
{
    (void)state;
    char dir[PKI_PATH_MAX];
    struct pki *p = init_pki(dir);
    enum pki_issue_result res;
    assert_int_equal(pki_issue_device(p, dir, "dev-42_X", false, &res), IOT_OK);
    assert_int_equal(res, PKI_ISSUED);

    mbedtls_x509_crt ca, dev;
    parse_crt(&ca, dir, PKI_CA_CRT);
    parse_crt(&dev, dir, PKI_DEVICES "/dev-42_X.crt");
    assert_cn(&dev, "dev-42_X");
    uint32_t flags = 0;
    assert_int_equal(mbedtls_x509_crt_verify(&dev, &ca, NULL, "dev-42_X", &flags, NULL, NULL), 0);
    assert_int_equal(mbedtls_x509_crt_check_extended_key_usage(
                         &dev, MBEDTLS_OID_CLIENT_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)),
                     0);
    assert_mode(dir, PKI_DEVICES "/dev-42_X.key", 0600);
    assert_mode(dir, PKI_DEVICES "/dev-42_X.crt", 0644);

    /* The key file holds the certificate's key. */
    char key_path[PKI_PATH_MAX];
    mbedtls_pk_context key;
    mbedtls_pk_init(&key);
    path_of(key_path, dir, PKI_DEVICES "/dev-42_X.key");
    assert_int_equal(mbedtls_pk_parse_keyfile(&key, key_path, NULL), 0);
    assert_int_equal(mbedtls_pk_check_pair(&dev.pk, &key), 0);
    mbedtls_pk_free(&key);

    /* A valid pair is kept; --force issues a new one (new serial). */
    assert_int_equal(pki_issue_device(p, dir, "dev-42_X", false, &res), IOT_OK);
    assert_int_equal(res, PKI_KEPT);
    assert_int_equal(pki_issue_device(p, dir, "dev-42_X", true, &res), IOT_OK);
    assert_int_equal(res, PKI_ISSUED);
    mbedtls_x509_crt dev2;
    parse_crt(&dev2, dir, PKI_DEVICES "/dev-42_X.crt");
    assert_false(dev2.serial.len == dev.serial.len &&
                 memcmp(dev2.serial.p, dev.serial.p, dev.serial.len) == 0);

    mbedtls_x509_crt_free(&dev2);
    mbedtls_x509_crt_free(&dev);
    mbedtls_x509_crt_free(&ca);
    pki_destroy(p);
}

static void test_pki_device_id_invalid_or_reserved_refused(void **state)
{
    (void)state;
    char dir[PKI_PATH_MAX];
    struct pki *p = init_pki(dir);
    char long_id[IOT_DEVICE_ID_MAX + 2];
    memset(long_id, 'a', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = 0;
    const char *bad[] = {"",      "a/b",       "a b",         "dev+1",     "dev#",      "../x",
                         long_id, "iot-cloud", "iot-cloud-2", "IOT-Cloud", "iot-cloudy"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *why = NULL;
        enum pki_issue_result res;
        if (pki_device_id_check(bad[i], &why) != IOT_ERR_INVAL)
            fail_msg("id \"%s\" accepted", bad[i]);
        assert_non_null(why);
        assert_int_equal(pki_issue_device(p, dir, bad[i], false, &res), IOT_ERR_INVAL);
    }
    assert_int_equal(pki_device_id_check(NULL, NULL), IOT_ERR_INVAL);
    assert_int_equal(pki_device_id_check("iot-clou", NULL), IOT_OK);
    assert_int_equal(pki_device_id_check("my-iot-cloud", NULL), IOT_OK);
    long_id[IOT_DEVICE_ID_MAX] = 0; /* exactly 64 */
    assert_int_equal(pki_device_id_check(long_id, NULL), IOT_OK);

    /* Nothing was written for the refused ids. */
    char devices[PKI_PATH_MAX];
    char **names = NULL;
    size_t n = 0;
    path_of(devices, dir, PKI_DEVICES);
    assert_int_equal(plat_dir_list(devices, &names, &n), IOT_OK);
    assert_int_equal(n, 0);
    iot_free(names);
    pki_destroy(p);
}

static void test_pki_init_existing_refused_without_force(void **state)
{
    (void)state;
    char dir[PKI_PATH_MAX];
    struct pki *p = init_pki(dir);
    enum pki_issue_result res;
    assert_int_equal(pki_issue_device(p, dir, "dev-1", false, &res), IOT_OK);
    char *ca_before = read_text(dir, PKI_CA_CRT);

    struct pki_init_opts o = {.dir = dir, .port = 18883, .bind = "127.0.0.1", .force = false};
    last_error[0] = 0;
    assert_int_equal(pki_init_dir(p, &o), IOT_ERR_FULL);
    assert_non_null(strstr(last_error, "--force"));
    assert_non_null(strstr(last_error, dir));
    char *ca_same = read_text(dir, PKI_CA_CRT);
    assert_string_equal(ca_before, ca_same);

    o.force = true;
    assert_int_equal(pki_init_dir(p, &o), IOT_OK);
    char *ca_new = read_text(dir, PKI_CA_CRT);
    assert_string_not_equal(ca_before, ca_new);
    /* The old CA's device certificate no longer verifies, so it is reissued, not kept. */
    assert_int_equal(pki_issue_device(p, dir, "dev-1", false, &res), IOT_OK);
    assert_int_equal(res, PKI_ISSUED);

    iot_free(ca_before);
    iot_free(ca_same);
    iot_free(ca_new);
    pki_destroy(p);
}

static void test_pki_key_files_mode_0600(void **state)
{
    (void)state;
    char dir[PKI_PATH_MAX];
    umask(0); /* the modes must not depend on the caller's umask */
    struct pki *p = init_pki(dir);
    umask(022);
    struct stat st;
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    assert_mode(dir, PKI_CA_KEY, 0600);
    assert_mode(dir, PKI_BROKER_KEY, 0600);
    assert_mode(dir, PKI_CLOUD_KEY, 0600);
    assert_mode(dir, PKI_CMD_SIGN_KEY, 0600);
    assert_mode(dir, PKI_CA_CRT, 0644);
    assert_mode(dir, PKI_CMD_SIGN_PUB, 0644);
    assert_mode(dir, PKI_DEVICES, 0700);
    pki_destroy(p);
}

static void test_pki_cmd_sign_pair_matches(void **state)
{
    (void)state;
    char dir[PKI_PATH_MAX], key_path[PKI_PATH_MAX], pub_path[PKI_PATH_MAX];
    struct pki *p = init_pki(dir);
    mbedtls_pk_context key, pub;
    mbedtls_pk_init(&key);
    mbedtls_pk_init(&pub);
    path_of(key_path, dir, PKI_CMD_SIGN_KEY);
    path_of(pub_path, dir, PKI_CMD_SIGN_PUB);
    assert_int_equal(mbedtls_pk_parse_keyfile(&key, key_path, NULL), 0);
    assert_int_equal(mbedtls_pk_parse_public_keyfile(&pub, pub_path), 0);
    assert_true(mbedtls_pk_can_do(&pub, MBEDTLS_PK_ECKEY));
    assert_int_equal(mbedtls_pk_get_bitlen(&pub), 256);
    assert_int_equal(mbedtls_pk_check_pair(&pub, &key), 0);
    mbedtls_pk_free(&key);
    mbedtls_pk_free(&pub);
    pki_destroy(p);
}

static void test_pki_ca_load_mismatched_key_refused(void **state)
{
    (void)state;
    char dir[PKI_PATH_MAX], ca_key[PKI_PATH_MAX], cloud_key[PKI_PATH_MAX];
    struct pki *p = init_pki(dir);
    path_of(ca_key, dir, PKI_CA_KEY);
    path_of(cloud_key, dir, PKI_CLOUD_KEY);
    assert_int_equal(rename(cloud_key, ca_key), 0);
    last_error[0] = 0;
    assert_int_equal(pki_ca_load(p, dir), IOT_ERR_TLS);
    assert_non_null(strstr(last_error, "does not match"));
    /* No CA loaded any more: issuing refuses. */
    enum pki_issue_result res;
    assert_int_equal(pki_issue_device(p, dir, "dev-1", false, &res), IOT_ERR_INVAL);

    char missing[PKI_PATH_MAX];
    new_dir(missing);
    assert_int_equal(pki_ca_load(p, missing), IOT_ERR_NOT_FOUND);
    assert_non_null(strstr(last_error, PKI_CA_CRT));
    pki_destroy(p);
}

static void test_pki_broker_conf_contents(void **state)
{
    (void)state;
    char dir[PKI_PATH_MAX], data[PKI_PATH_MAX];
    struct pki *p = init_pki(dir);
    assert_int_equal(pki_broker_conf_write(dir, 23456, "127.0.0.1"), IOT_OK);
    char *conf = read_text(dir, PKI_BROKER_CONF);
    static const char *const want[] = {"\nper_listener_settings false\n",
                                       "\nlistener 23456 127.0.0.1\n",
                                       "\nrequire_certificate true\n",
                                       "\nuse_identity_as_username true\n",
                                       "\nallow_anonymous false\n",
                                       "\npersistence true\n",
                                       "\nmax_queued_messages 1000000\n",
                                       "\nmax_queued_bytes 536870912\n",
                                       "\nmax_inflight_messages 100\n",
                                       "\nset_tcp_nodelay true\n",
                                       "\nmax_packet_size 1048576\n",
                                       "\nlog_dest stderr\n",
                                       "\ntls_version tlsv1.2\n"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        if (!strstr(conf, want[i]))
            fail_msg("mosquitto.conf lacks \"%s\"", want[i] + 1);
    }
    bool has_user_root = strstr(conf, "\nuser root\n") != NULL;
    assert_true(has_user_root == (geteuid() == 0));
    /* Absolute paths (the init dir is already absolute here) into DIR. */
    char line[PKI_PATH_MAX + 64];
    snprintf(line, sizeof line, "\ncafile %s/ca.crt\n", dir);
    assert_non_null(strstr(conf, line));
    snprintf(line, sizeof line, "\nacl_file %s/acl\n", dir);
    assert_non_null(strstr(conf, line));
    snprintf(line, sizeof line, "\npersistence_location %s/mosquitto-data/\n", dir);
    assert_non_null(strstr(conf, line));
    path_of(data, dir, PKI_BROKER_DATA);
    struct stat st;
    assert_int_equal(stat(data, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    iot_free(conf);

    assert_int_equal(pki_broker_conf_write(dir, 0, "127.0.0.1"), IOT_ERR_INVAL);
    assert_int_equal(pki_broker_conf_write(dir, 65536, "127.0.0.1"), IOT_ERR_INVAL);
    assert_int_equal(pki_broker_conf_write(dir, 1883, "1.2.3.4 extra"), IOT_ERR_INVAL);
    char missing[PKI_PATH_MAX];
    new_dir(missing);
    assert_int_equal(plat_dir_ensure(missing, 0700), IOT_OK);
    assert_int_equal(pki_broker_conf_write(missing, 1883, "127.0.0.1"), IOT_ERR_NOT_FOUND);
    pki_destroy(p);
}

static void test_pki_acl_grants_exactly_the_contract(void **state)
{
    (void)state;
    char dir[PKI_PATH_MAX];
    struct pki *p = init_pki(dir);
    char *acl = read_text(dir, PKI_ACL);
    /* Every non-comment line, in order. */
    static const char *const want[] = {
        "user iot-cloud",
        "topic read devices/+/telemetry",
        "topic read devices/+/status",
        "topic read devices/+/responses",
        "topic read devices/+/state/reported",
        "topic write devices/+/commands",
        "topic write devices/+/receipts",
        "topic write devices/+/state/desired",
        "pattern write devices/%u/telemetry",
        "pattern write devices/%u/status",
        "pattern write devices/%u/responses",
        "pattern write devices/%u/state/reported",
        "pattern read devices/%u/commands",
        "pattern read devices/%u/receipts",
        "pattern read devices/%u/state/desired",
    };
    size_t k = 0;
    char *save = NULL;
    for (char *l = strtok_r(acl, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (l[0] == '#' || l[0] == 0)
            continue;
        assert_true(k < sizeof want / sizeof want[0]);
        assert_string_equal(l, want[k]);
        k++;
    }
    assert_int_equal(k, sizeof want / sizeof want[0]);
    iot_free(acl);
    pki_destroy(p);
}

static void test_pki_init_bad_options_refused(void **state)
{
    (void)state;
    struct pki *p = NULL;
    char dir[PKI_PATH_MAX];
    new_dir(dir);
    assert_int_equal(pki_create(&p), IOT_OK);
    struct pki_init_opts o = {.dir = dir, .port = 0, .bind = "127.0.0.1"};
    assert_int_equal(pki_init_dir(p, &o), IOT_ERR_INVAL);
    o.port = 8883;
    o.bind = "bad addr";
    assert_int_equal(pki_init_dir(p, &o), IOT_ERR_INVAL);
    assert_false(plat_file_readable(dir)); /* nothing created */
    assert_int_equal(pki_create(NULL), IOT_ERR_INVAL);
    pki_destroy(NULL);
    pki_destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pki_init_chain_verifies),
        cmocka_unit_test(test_pki_server_cert_has_san_localhost_and_ip),
        cmocka_unit_test(test_pki_issue_device_cn_equals_id),
        cmocka_unit_test(test_pki_device_id_invalid_or_reserved_refused),
        cmocka_unit_test(test_pki_init_existing_refused_without_force),
        cmocka_unit_test(test_pki_key_files_mode_0600),
        cmocka_unit_test(test_pki_cmd_sign_pair_matches),
        cmocka_unit_test(test_pki_ca_load_mismatched_key_refused),
        cmocka_unit_test(test_pki_broker_conf_contents),
        cmocka_unit_test(test_pki_acl_grants_exactly_the_contract),
        cmocka_unit_test(test_pki_init_bad_options_refused),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
