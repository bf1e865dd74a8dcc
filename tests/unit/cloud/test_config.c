/* SPDX-License-Identifier: Apache-2.0 */
/* cloud_config_load / cloud_config_check_files: defaults, values, and errors that name
 * file, line, section and key. No network. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ingest/config.h"

static char path[64];

static const char *write_conf(const char *text)
{
    if (path[0])
        unlink(path);
    snprintf(path, sizeof path, "/tmp/test_cloud_config.XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t n = strlen(text);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    close(fd);
    return path;
}

static int teardown(void **state)
{
    (void)state;
    if (path[0])
        unlink(path);
    path[0] = 0;
    return 0;
}

static void test_config_load_empty_file_gives_defaults(void **state)
{
    (void)state;
    struct cloud_config c, d;
    char err[256];
    assert_int_equal(cloud_config_load(write_conf("; nothing\n"), &c, err, sizeof err), IOT_OK);
    cloud_config_defaults(&d);
    assert_memory_equal(&c, &d, sizeof c);
    assert_string_equal(c.storage, "./iot-cloud.db");
    assert_string_equal(c.instance, "iot-cloud-1");
    assert_string_equal(c.mqtt.client_id, "iot-cloud-1");
    assert_string_equal(c.mqtt.host, "127.0.0.1");
    assert_int_equal(c.mqtt.port, 8883);
    assert_string_equal(c.mqtt.share_group, "iot-cloud");
    assert_int_equal(c.mqtt.session_expiry_s, 604800);
    assert_int_equal(c.mqtt.keepalive_s, 30);
    assert_int_equal(c.mqtt.queue_max, 10000);
    assert_string_equal(c.http.listen, "127.0.0.1");
    assert_int_equal(c.http.port, 8080);
    assert_int_equal(c.log_level, IOT_LOG_INFO);
}

static void test_config_load_all_keys_are_applied(void **state)
{
    (void)state;
    struct cloud_config c;
    char err[256];
    const char *text = "[cloud]\nstorage = sqlite:/var/lib/iot/x.db\ninstance = eu1\n"
                       "[mqtt]\nhost = broker.local\nport = 18883\nca_file = ca.pem\n"
                       "cert_file = c.pem\nkey_file = k.pem\nshare_group = g1\n"
                       "session_expiry_s = 3600\nkeepalive_s = 10\nqueue_max = 5\n"
                       "[http]\nlisten = ::1\nport = 0\ntoken = s3cret\n[log]\nlevel = debug\n";
    assert_int_equal(cloud_config_load(write_conf(text), &c, err, sizeof err), IOT_OK);
    assert_string_equal(c.storage, "/var/lib/iot/x.db");
    assert_string_equal(c.instance, "eu1");
    assert_string_equal(c.mqtt.client_id, "iot-cloud-eu1");
    assert_string_equal(c.mqtt.host, "broker.local");
    assert_int_equal(c.mqtt.port, 18883);
    assert_string_equal(c.mqtt.ca_file, "ca.pem");
    assert_string_equal(c.mqtt.cert_file, "c.pem");
    assert_string_equal(c.mqtt.key_file, "k.pem");
    assert_string_equal(c.mqtt.share_group, "g1");
    assert_int_equal(c.mqtt.session_expiry_s, 3600);
    assert_int_equal(c.mqtt.keepalive_s, 10);
    assert_int_equal(c.mqtt.queue_max, 5);
    assert_string_equal(c.http.listen, "::1");
    assert_int_equal(c.http.port, 0);
    assert_string_equal(c.http.token, "s3cret");
    assert_int_equal(c.log_level, IOT_LOG_DEBUG);
}

static void test_config_load_explicit_client_id_is_kept(void **state)
{
    (void)state;
    struct cloud_config c;
    char err[256];
    const char *text = "[mqtt]\nclient_id = fixed-id\n[cloud]\ninstance = other\n";
    assert_int_equal(cloud_config_load(write_conf(text), &c, err, sizeof err), IOT_OK);
    assert_string_equal(c.mqtt.client_id, "fixed-id");
}

static void test_config_load_unknown_key_names_file_line_section_key(void **state)
{
    (void)state;
    struct cloud_config c;
    char err[256];
    const char *p = write_conf("[mqtt]\nhost = x\n\nprot = 1883\n");
    assert_int_equal(cloud_config_load(p, &c, err, sizeof err), IOT_ERR_INVAL);
    char want[128];
    snprintf(want, sizeof want, "%s:4: [mqtt] prot: unknown key", p);
    assert_string_equal(err, want);
}

static void test_config_load_unknown_section_is_error(void **state)
{
    (void)state;
    struct cloud_config c;
    char err[256];
    assert_int_equal(cloud_config_load(write_conf("[mqqt]\nhost = x\n"), &c, err, sizeof err),
                     IOT_ERR_INVAL);
    assert_non_null(strstr(err, ":2: [mqqt] host: unknown section"));
}

static void test_config_load_bad_number_is_error(void **state)
{
    (void)state;
    struct cloud_config c;
    char err[256];
    assert_int_equal(cloud_config_load(write_conf("[mqtt]\nport = 88x3\n"), &c, err, sizeof err),
                     IOT_ERR_INVAL);
    assert_non_null(strstr(err, ":2: [mqtt] port: not a number '88x3'"));
    assert_int_equal(cloud_config_load(write_conf("[mqtt]\nport = 70000\n"), &c, err, sizeof err),
                     IOT_ERR_INVAL);
    assert_non_null(strstr(err, "[mqtt] port: out of range 1..65535 '70000'"));
    assert_int_equal(cloud_config_load(write_conf("[http]\nport = -1\n"), &c, err, sizeof err),
                     IOT_ERR_INVAL);
    assert_non_null(strstr(err, "[http] port: not a non-negative number"));
    assert_int_equal(
        cloud_config_load(write_conf("[mqtt]\nqueue_max = 0\n"), &c, err, sizeof err),
        IOT_ERR_INVAL);
    assert_non_null(strstr(err, "[mqtt] queue_max: out of range"));
}

static void test_config_load_bad_level_is_error(void **state)
{
    (void)state;
    struct cloud_config c;
    char err[256];
    assert_int_equal(cloud_config_load(write_conf("[log]\nlevel = loud\n"), &c, err, sizeof err),
                     IOT_ERR_INVAL);
    assert_non_null(strstr(err, ":2: [log] level: must be error, warn, info or debug 'loud'"));
}

static void test_config_load_postgresql_url_selects_postgresql(void **state)
{
    (void)state;
    struct cloud_config c;
    char err[256];
    const char *text = "[cloud]\nstorage = postgresql://iot@127.0.0.1:5433/iot\n";
    assert_int_equal(cloud_config_load(write_conf(text), &c, err, sizeof err), IOT_OK);
    assert_int_equal(c.storage_kind, CLOUD_STORAGE_POSTGRESQL);
    assert_string_equal(c.storage, "postgresql://iot@127.0.0.1:5433/iot");
    assert_int_equal(cloud_config_load(write_conf("[cloud]\nstorage = mysql://x/y\n"), &c, err,
                                       sizeof err),
                     IOT_ERR_INVAL);
    assert_non_null(strstr(err, ":2: [cloud] storage: unknown storage URL scheme"));
}

static void test_config_load_syntax_error_names_line(void **state)
{
    (void)state;
    struct cloud_config c;
    char err[256];
    assert_int_equal(cloud_config_load(write_conf("[mqtt]\nhost = a\nthis is not ini\n"), &c, err,
                                       sizeof err),
                     IOT_ERR_INVAL);
    assert_non_null(strstr(err, ":3: syntax error"));
}

static void test_config_load_bad_share_group_is_error(void **state)
{
    (void)state;
    struct cloud_config c;
    char err[256];
    assert_int_equal(
        cloud_config_load(write_conf("[mqtt]\nshare_group = a/b\n"), &c, err, sizeof err),
        IOT_ERR_INVAL);
    assert_non_null(strstr(err, "[mqtt] share_group: must match"));
}

static void test_config_load_missing_file_is_not_found(void **state)
{
    (void)state;
    struct cloud_config c;
    char err[256];
    assert_int_equal(cloud_config_load("/nonexistent/cloud.conf", &c, err, sizeof err),
                     IOT_ERR_NOT_FOUND);
    assert_non_null(strstr(err, "/nonexistent/cloud.conf: cannot open"));
}

static void test_config_check_files_names_the_file(void **state)
{
    (void)state;
    struct cloud_config c;
    char err[256];
    cloud_config_defaults(&c);
    assert_int_equal(cloud_config_check_files(&c, err, sizeof err), IOT_ERR_INVAL);
    assert_non_null(strstr(err, "ca_file is required"));
    snprintf(c.mqtt.ca_file, sizeof c.mqtt.ca_file, "%s", write_conf("-----BEGIN X-----\n"));
    snprintf(c.mqtt.cert_file, sizeof c.mqtt.cert_file, "%s", path);
    snprintf(c.mqtt.key_file, sizeof c.mqtt.key_file, "/nonexistent/key.pem");
    assert_int_equal(cloud_config_check_files(&c, err, sizeof err), IOT_ERR_NOT_FOUND);
    assert_non_null(strstr(err, "key_file: cannot read '/nonexistent/key.pem'"));
    snprintf(c.mqtt.key_file, sizeof c.mqtt.key_file, "%s", path);
    assert_int_equal(cloud_config_check_files(&c, err, sizeof err), IOT_OK);
    /* A directory, or a file that is not PEM: refused at start-up, not at the first connect. */
    snprintf(c.mqtt.key_file, sizeof c.mqtt.key_file, "/tmp");
    assert_int_equal(cloud_config_check_files(&c, err, sizeof err), IOT_ERR_NOT_FOUND);
    assert_non_null(strstr(err, "key_file: cannot read '/tmp'"));
    snprintf(c.mqtt.ca_file, sizeof c.mqtt.ca_file, "%s", write_conf("x"));
    assert_int_equal(cloud_config_check_files(&c, err, sizeof err), IOT_ERR_INVAL);
    assert_non_null(strstr(err, "is not a PEM file"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_config_load_empty_file_gives_defaults, teardown),
        cmocka_unit_test_teardown(test_config_load_all_keys_are_applied, teardown),
        cmocka_unit_test_teardown(test_config_load_explicit_client_id_is_kept, teardown),
        cmocka_unit_test_teardown(test_config_load_unknown_key_names_file_line_section_key,
                                  teardown),
        cmocka_unit_test_teardown(test_config_load_unknown_section_is_error, teardown),
        cmocka_unit_test_teardown(test_config_load_bad_number_is_error, teardown),
        cmocka_unit_test_teardown(test_config_load_bad_level_is_error, teardown),
        cmocka_unit_test_teardown(test_config_load_postgresql_url_selects_postgresql, teardown),
        cmocka_unit_test_teardown(test_config_load_syntax_error_names_line, teardown),
        cmocka_unit_test_teardown(test_config_load_bad_share_group_is_error, teardown),
        cmocka_unit_test_teardown(test_config_load_missing_file_is_not_found, teardown),
        cmocka_unit_test_teardown(test_config_check_files_names_the_file, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
