/* SPDX-License-Identifier: Apache-2.0 */
/* plat_cert.h over mbedTLS 2.28's X.509 parser (the same library that makes the certificates in
 * iot-pki). Paho's OpenSSL does the TLS itself; this only reads the files first. */
#include "iot/plat_cert.h"

#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static void set_err(char *err, size_t errlen, const char *what, const char *path, int mrc)
{
    if (!err || !errlen)
        return;
    char m[160];
    mbedtls_strerror(mrc, m, sizeof m);
    snprintf(err, errlen, "%s %s: %s", what, path, m);
}

/* X.509 times are UTC calendar fields: days from the civil date, no time zone or libc locale. */
static int64_t x509_ms(const mbedtls_x509_time *t)
{
    int64_t y = t->year, m = t->mon, d = t->day;
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = era * 146097 + doe - 719468;
    return ((days * 24 + t->hour) * 60 + t->min) * 60000 + (int64_t)t->sec * 1000;
}

enum iot_err plat_cert_inspect(const char *cert_path, const char *key_path,
                               struct plat_cert_info *out, char *err, size_t errlen)
{
    if (!cert_path || !out)
        return IOT_ERR_INVAL;
    memset(out, 0, sizeof *out);
    mbedtls_x509_crt crt;
    mbedtls_pk_context key;
    mbedtls_x509_crt_init(&crt);
    mbedtls_pk_init(&key);
    enum iot_err rc = IOT_ERR_MALFORMED;
    int mrc = mbedtls_x509_crt_parse_file(&crt, cert_path);
    if (mrc < 0) {
        set_err(err, errlen, "certificate", cert_path, mrc);
        rc = mrc == MBEDTLS_ERR_PK_FILE_IO_ERROR ? IOT_ERR_IO : IOT_ERR_MALFORMED;
        goto out;
    }
    for (const mbedtls_x509_name *n = &crt.subject; n; n = n->next) {
        if (n->oid.p && MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid) == 0) {
            size_t len = n->val.len < sizeof out->cn - 1 ? n->val.len : sizeof out->cn - 1;
            memcpy(out->cn, n->val.p, len);
            out->cn[len] = '\0';
            break;
        }
    }
    out->not_before_ms = x509_ms(&crt.valid_from);
    out->not_after_ms = x509_ms(&crt.valid_to);
    if (key_path) {
        mrc = mbedtls_pk_parse_keyfile(&key, key_path, NULL);
        if (mrc < 0) {
            set_err(err, errlen, "private key", key_path, mrc);
            rc = mrc == MBEDTLS_ERR_PK_FILE_IO_ERROR ? IOT_ERR_IO : IOT_ERR_MALFORMED;
            goto out;
        }
        if (mbedtls_pk_check_pair(&crt.pk, &key) != 0) {
            if (err && errlen)
                snprintf(err, errlen, "private key %s is not the key of certificate %s",
                         key_path, cert_path);
            rc = IOT_ERR_INVAL;
            goto out;
        }
    }
    rc = IOT_OK;
out:
    mbedtls_pk_free(&key);
    mbedtls_x509_crt_free(&crt);
    return rc;
}

void plat_cert_time_str(int64_t ms, char *buf, size_t cap)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || strftime(buf, cap, "%Y-%m-%d %H:%M UTC", &tm) == 0)
        snprintf(buf, cap, "@%lld s", (long long)(ms / 1000));
}
