/* SPDX-License-Identifier: Apache-2.0 */
/* Keys and certificates of iot-pki with mbedTLS 2.28: one DRBG and one loaded CA serve a whole run,
 * so bulk device issuance costs one key generation + one signature per device. */
#define _GNU_SOURCE /* syncfs */
#define IOT_LOG_TAG "pki"
#include "pki.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/asn1write.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/x509_crt.h>

#include "iot/log.h"
#include "iot/mem.h"
#include "iot/plat_file.h"
#include "iot/topic.h"

/* PEM of a P-256 key or certificate is < 1.5 KiB; leave room. */
#define PEM_CAP 4096
#define SERIAL_LEN 16
#define DN_CAP 256

struct pki {
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    bool ca_loaded;
    mbedtls_x509_crt ca_crt;
    mbedtls_pk_context ca_key;
    char ca_dn[DN_CAP]; /* issuer name string for certificates we sign */
    bool validity_set;  /* pki_set_validity: the next certificates' window (tests) */
    int64_t not_before_offset_s;
    uint32_t validity_days;
};

static void log_tls(const char *what, const char *path, int code)
{
    char msg[160];
    mbedtls_strerror(code, msg, sizeof msg);
    IOT_LOG(IOT_LOG_ERROR, "%s%s%s: %s (mbedTLS -0x%04x)", what, path ? " " : "", path ? path : "",
            msg, (unsigned)-code);
}

enum iot_err pki_create(struct pki **out)
{
    if (!out)
        return IOT_ERR_INVAL;
    struct pki *p = iot_calloc(1, sizeof *p);
    if (!p)
        return IOT_ERR_NOMEM;
    mbedtls_entropy_init(&p->entropy);
    mbedtls_ctr_drbg_init(&p->drbg);
    mbedtls_x509_crt_init(&p->ca_crt);
    mbedtls_pk_init(&p->ca_key);
    static const char pers[] = "iot-pki";
    int ret = mbedtls_ctr_drbg_seed(&p->drbg, mbedtls_entropy_func, &p->entropy,
                                    (const unsigned char *)pers, sizeof pers - 1);
    if (ret != 0) {
        log_tls("cannot seed the random generator", NULL, ret);
        pki_destroy(p);
        return IOT_ERR_TLS;
    }
    *out = p;
    return IOT_OK;
}

void pki_destroy(struct pki *p)
{
    if (!p)
        return;
    mbedtls_pk_free(&p->ca_key);
    mbedtls_x509_crt_free(&p->ca_crt);
    mbedtls_ctr_drbg_free(&p->drbg);
    mbedtls_entropy_free(&p->entropy);
    mbedtls_platform_zeroize(p, sizeof *p);
    iot_free(p);
}

enum iot_err pki__path(char out[PKI_PATH_MAX], const char *dir, const char *name)
{
    int n = snprintf(out, PKI_PATH_MAX, "%s/%s", dir, name);
    if (n < 0 || n >= PKI_PATH_MAX) {
        IOT_LOG(IOT_LOG_ERROR, "path too long: %s/%s", dir, name);
        return IOT_ERR_INVAL;
    }
    return IOT_OK;
}

static int write_all(int fd, const uint8_t *b, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, b, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        b += n;
        len -= (size_t)n;
    }
    return 0;
}

enum iot_err pki__file_write(const char *path, const void *buf, size_t len, unsigned mode,
                             bool durable)
{
    char tmp[PKI_PATH_MAX + 8];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return IOT_ERR_INVAL;
    /* Created 0600 whatever the final mode, so a key is never readable by others, even briefly. */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        IOT_LOG(IOT_LOG_ERROR, "cannot create %s: %s", tmp, strerror(errno));
        return IOT_ERR_IO;
    }
    if (fchmod(fd, (mode_t)mode) != 0 || write_all(fd, buf, len) != 0 ||
        (durable && fdatasync(fd) != 0)) {
        IOT_LOG(IOT_LOG_ERROR, "cannot write %s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return IOT_ERR_IO;
    }
    if (close(fd) != 0 || rename(tmp, path) != 0) {
        IOT_LOG(IOT_LOG_ERROR, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return IOT_ERR_IO;
    }
    return IOT_OK;
}

/* One fsync of the directory makes a batch of renames durable (cheaper than one per file). */
static void dir_sync(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

/* ---- keys ---- */

static enum iot_err key_generate(struct pki *p, mbedtls_pk_context *key)
{
    int ret = mbedtls_pk_setup(key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
    if (ret == 0)
        ret = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(*key),
                                  mbedtls_ctr_drbg_random, &p->drbg);
    if (ret != 0) {
        log_tls("cannot generate a P-256 key", NULL, ret);
        return IOT_ERR_TLS;
    }
    return IOT_OK;
}

static enum iot_err key_write(mbedtls_pk_context *key, const char *path, bool durable)
{
    unsigned char pem[PEM_CAP];
    int ret = mbedtls_pk_write_key_pem(key, pem, sizeof pem);
    if (ret != 0) {
        log_tls("cannot encode private key for", path, ret);
        return IOT_ERR_TLS;
    }
    enum iot_err rc = pki__file_write(path, pem, strlen((char *)pem), 0600, durable);
    mbedtls_platform_zeroize(pem, sizeof pem);
    return rc;
}

static enum iot_err pubkey_write(mbedtls_pk_context *key, const char *path)
{
    unsigned char pem[PEM_CAP];
    int ret = mbedtls_pk_write_pubkey_pem(key, pem, sizeof pem);
    if (ret != 0) {
        log_tls("cannot encode public key for", path, ret);
        return IOT_ERR_TLS;
    }
    return pki__file_write(path, pem, strlen((char *)pem), 0644, true);
}

/* ---- extensions mbedTLS 2.28 has no helper for ---- */

/* [tag] IMPLICIT raw bytes, written backwards as asn1write does. Returns length or a negative code.
 */
static int asn1_tagged(unsigned char **c, unsigned char *start, unsigned char tag, const void *data,
                       size_t n)
{
    int ret;
    size_t len = 0;
    MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_raw_buffer(c, start, data, n));
    MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_len(c, start, n));
    MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_tag(c, start, tag));
    return (int)len;
}

/* SubjectAltName ::= SEQUENCE OF GeneralName { dNSName [2] "localhost", iPAddress [7] 127.0.0.1 }
 */
static int san_localhost(unsigned char **c, unsigned char *start)
{
    static const unsigned char ip[4] = {127, 0, 0, 1};
    static const char dns[] = "localhost";
    int ret;
    size_t len = 0;
    MBEDTLS_ASN1_CHK_ADD(len,
                         asn1_tagged(c, start, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7, ip, sizeof ip));
    MBEDTLS_ASN1_CHK_ADD(
        len, asn1_tagged(c, start, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2, dns, sizeof dns - 1));
    MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_len(c, start, len));
    MBEDTLS_ASN1_CHK_ADD(
        len, mbedtls_asn1_write_tag(c, start, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
    return (int)len;
}

/* ExtKeyUsageSyntax ::= SEQUENCE SIZE (1..MAX) OF KeyPurposeId, here exactly one purpose. */
static int eku_one(unsigned char **c, unsigned char *start, const char *oid, size_t oid_len)
{
    int ret;
    size_t len = 0;
    MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_oid(c, start, oid, oid_len));
    MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_len(c, start, len));
    MBEDTLS_ASN1_CHK_ADD(
        len, mbedtls_asn1_write_tag(c, start, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
    return (int)len;
}

static int set_profile_extensions(mbedtls_x509write_cert *w, enum pki_profile profile)
{
    unsigned char buf[128];
    unsigned char *c = buf + sizeof buf;
    int ret;
    if (profile == PKI_PROFILE_CA) {
        /* pathlen 0: this CA signs end-entity certificates only, never another CA. */
        if ((ret = mbedtls_x509write_crt_set_basic_constraints(w, 1, 0)) != 0)
            return ret;
        return mbedtls_x509write_crt_set_key_usage(w, MBEDTLS_X509_KU_KEY_CERT_SIGN |
                                                          MBEDTLS_X509_KU_CRL_SIGN);
    }
    if ((ret = mbedtls_x509write_crt_set_basic_constraints(w, 0, -1)) != 0 ||
        (ret = mbedtls_x509write_crt_set_key_usage(w, MBEDTLS_X509_KU_DIGITAL_SIGNATURE)) != 0)
        return ret;
    if (profile == PKI_PROFILE_SERVER) {
        ret = eku_one(&c, buf, MBEDTLS_OID_SERVER_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH));
    } else {
        ret = eku_one(&c, buf, MBEDTLS_OID_CLIENT_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH));
    }
    if (ret < 0)
        return ret;
    ret = mbedtls_x509write_crt_set_extension(w, MBEDTLS_OID_EXTENDED_KEY_USAGE,
                                              MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE), 0,
                                              c, (size_t)ret);
    if (ret != 0 || profile != PKI_PROFILE_SERVER)
        return ret;
    c = buf + sizeof buf;
    if ((ret = san_localhost(&c, buf)) < 0)
        return ret;
    return mbedtls_x509write_crt_set_extension(w, MBEDTLS_OID_SUBJECT_ALT_NAME,
                                               MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0, c,
                                               (size_t)ret);
}

/* ---- certificates ---- */

/* "YYYYMMDDhhmmss" in UTC for @p t shifted by @p years (29 Feb becomes 28 Feb). */
static void validity_time(time_t t, int years, char out[16])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    tm.tm_year += years;
    if (years != 0 && tm.tm_mon == 1 && tm.tm_mday == 29)
        tm.tm_mday = 28;
    if (strftime(out, 16, "%Y%m%d%H%M%S", &tm) != 14)
        out[0] = 0; /* rejected by mbedtls_x509write_crt_set_validity, reported there */
}

static int profile_years(enum pki_profile profile)
{
    switch (profile) {
    case PKI_PROFILE_CA:
        return 10;
    case PKI_PROFILE_DEVICE:
        return 5;
    case PKI_PROFILE_SERVER:
    case PKI_PROFILE_CLIENT:
        break;
    }
    return 2;
}

/*
 * Sign a certificate for @p subject_key. For PKI_PROFILE_CA it is self-signed with @p subject_key
 * and
 * @p subject_dn; otherwise the loaded CA signs it.
 */
static enum iot_err cert_write(struct pki *p, enum pki_profile profile, const char *subject_dn,
                               mbedtls_pk_context *subject_key, const char *path, bool durable)
{
    mbedtls_x509write_cert w;
    mbedtls_mpi serial;
    unsigned char pem[PEM_CAP];
    unsigned char sn[SERIAL_LEN];
    char not_before[16], not_after[16];
    enum iot_err rc = IOT_ERR_TLS;
    bool self = profile == PKI_PROFILE_CA;
    const char *step = "random serial";
    int ret;

    mbedtls_x509write_crt_init(&w);
    mbedtls_mpi_init(&serial);
    /* Positive (top bit clear), never zero, always SERIAL_LEN bytes: within RFC 5280's 20 octets.
     */
    if ((ret = mbedtls_ctr_drbg_random(&p->drbg, sn, sizeof sn)) != 0)
        goto out;
    sn[0] = (unsigned char)((sn[0] & 0x7f) | 0x40);
    if ((ret = mbedtls_mpi_read_binary(&serial, sn, sizeof sn)) != 0)
        goto out;

    /* Back-date an hour so a device whose clock lags a little still accepts a fresh certificate. */
    time_t now = time(NULL);
    validity_time(now - 3600, 0, not_before);
    validity_time(now, profile_years(profile), not_after);
    if (p->validity_set && !self) {
        time_t nb = now + (time_t)p->not_before_offset_s;
        validity_time(nb, 0, not_before);
        validity_time(nb + (time_t)p->validity_days * 86400, 0, not_after);
    }

    mbedtls_x509write_crt_set_version(&w, MBEDTLS_X509_CRT_VERSION_3);
    mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
    mbedtls_x509write_crt_set_subject_key(&w, subject_key);
    mbedtls_x509write_crt_set_issuer_key(&w, self ? subject_key : &p->ca_key);
    step = "certificate fields";
    if ((ret = mbedtls_x509write_crt_set_serial(&w, &serial)) != 0 ||
        (ret = mbedtls_x509write_crt_set_validity(&w, not_before, not_after)) != 0 ||
        (ret = mbedtls_x509write_crt_set_subject_name(&w, subject_dn)) != 0 ||
        (ret = mbedtls_x509write_crt_set_issuer_name(&w, self ? subject_dn : p->ca_dn)) != 0)
        goto out;
    step = "certificate extensions";
    if ((ret = set_profile_extensions(&w, profile)) != 0 ||
        (ret = mbedtls_x509write_crt_set_subject_key_identifier(&w)) != 0 ||
        (ret = mbedtls_x509write_crt_set_authority_key_identifier(&w)) != 0)
        goto out;
    step = "signing the certificate";
    if ((ret = mbedtls_x509write_crt_pem(&w, pem, sizeof pem, mbedtls_ctr_drbg_random, &p->drbg)) !=
        0)
        goto out;
    rc = pki__file_write(path, pem, strlen((char *)pem), 0644, durable);
out:
    if (rc == IOT_ERR_TLS) {
        char what[128];
        snprintf(what, sizeof what, "%s failed for", step);
        log_tls(what, path, ret);
    }
    mbedtls_mpi_free(&serial);
    mbedtls_x509write_crt_free(&w);
    return rc;
}

enum iot_err pki_ca_load(struct pki *p, const char *dir)
{
    char crt_path[PKI_PATH_MAX], key_path[PKI_PATH_MAX];
    if (!p || !dir || pki__path(crt_path, dir, PKI_CA_CRT) != IOT_OK ||
        pki__path(key_path, dir, PKI_CA_KEY) != IOT_OK)
        return IOT_ERR_INVAL;
    if (!plat_file_readable(crt_path) || !plat_file_readable(key_path)) {
        IOT_LOG(IOT_LOG_ERROR, "%s is not a PKI directory: cannot read %s (run `iot-pki init %s`)",
                dir, plat_file_readable(crt_path) ? key_path : crt_path, dir);
        return IOT_ERR_NOT_FOUND;
    }
    mbedtls_pk_free(&p->ca_key);
    mbedtls_x509_crt_free(&p->ca_crt);
    mbedtls_pk_init(&p->ca_key);
    mbedtls_x509_crt_init(&p->ca_crt);
    p->ca_loaded = false;

    int ret = mbedtls_x509_crt_parse_file(&p->ca_crt, crt_path);
    if (ret != 0) {
        log_tls("cannot parse CA certificate", crt_path, ret);
        return IOT_ERR_TLS;
    }
    if (!p->ca_crt.ca_istrue) {
        IOT_LOG(IOT_LOG_ERROR, "%s is not a CA certificate (basicConstraints CA:false)", crt_path);
        return IOT_ERR_TLS;
    }
    ret = mbedtls_pk_parse_keyfile(&p->ca_key, key_path, NULL);
    if (ret != 0) {
        log_tls("cannot parse CA private key", key_path, ret);
        return IOT_ERR_TLS;
    }
    ret = mbedtls_pk_check_pair(&p->ca_crt.pk, &p->ca_key);
    if (ret != 0) {
        IOT_LOG(IOT_LOG_ERROR, "%s does not match the key of %s", key_path, crt_path);
        return IOT_ERR_TLS;
    }
    ret = mbedtls_x509_dn_gets(p->ca_dn, sizeof p->ca_dn, &p->ca_crt.subject);
    if (ret < 0) {
        log_tls("cannot read the CA's subject name in", crt_path, ret);
        return IOT_ERR_TLS;
    }
    p->ca_loaded = true;
    return IOT_OK;
}

static enum iot_err issue(struct pki *p, enum pki_profile profile, const char *cn,
                          const char *crt_path, const char *key_path, bool durable)
{
    if (!p || !cn || !crt_path || !key_path || profile == PKI_PROFILE_CA)
        return IOT_ERR_INVAL;
    if (!p->ca_loaded) {
        IOT_LOG(IOT_LOG_ERROR, "no CA loaded to sign %s", crt_path);
        return IOT_ERR_INVAL;
    }
    char dn[DN_CAP];
    if (snprintf(dn, sizeof dn, "CN=%s,O=iot-stack", cn) >= (int)sizeof dn)
        return IOT_ERR_INVAL;
    mbedtls_pk_context key;
    mbedtls_pk_init(&key);
    enum iot_err rc = key_generate(p, &key);
    if (rc == IOT_OK)
        rc = key_write(&key, key_path, durable);
    if (rc == IOT_OK)
        rc = cert_write(p, profile, dn, &key, crt_path, durable);
    mbedtls_pk_free(&key);
    return rc;
}

enum iot_err pki_issue(struct pki *p, enum pki_profile profile, const char *cn,
                       const char *crt_path, const char *key_path)
{
    return issue(p, profile, cn, crt_path, key_path, true);
}

enum iot_err pki_device_id_check(const char *id, const char **why)
{
    const char *reason = NULL;
    if (!id || !iot_device_id_valid(id))
        reason = "a device id is 1 to 64 characters of A-Z a-z 0-9 _ -";
    else if (strncasecmp(id, PKI_CLOUD_CN, sizeof PKI_CLOUD_CN - 1) == 0)
        reason = "ids starting with \"" PKI_CLOUD_CN "\" are reserved for the cloud service";
    if (reason) {
        if (why)
            *why = reason;
        return IOT_ERR_INVAL;
    }
    return IOT_OK;
}

/* True when crt_path/key_path hold a pair issued by the loaded CA for @p id. */
static bool device_pair_valid(struct pki *p, const char *id, const char *crt_path,
                              const char *key_path)
{
    if (!plat_file_readable(crt_path) || !plat_file_readable(key_path))
        return false;
    mbedtls_x509_crt crt;
    mbedtls_pk_context key;
    mbedtls_x509_crt_init(&crt);
    mbedtls_pk_init(&key);
    uint32_t flags = 0;
    /* The key matches when its public point equals the certificate's. mbedtls_pk_check_pair would
     * also recompute d*G (as costly as issuing anew); this check is against mix-ups of files, not
     * against someone who can write the key file. */
    bool ok = mbedtls_x509_crt_parse_file(&crt, crt_path) == 0 &&
              mbedtls_x509_crt_verify(&crt, &p->ca_crt, NULL, id, &flags, NULL, NULL) == 0 &&
              mbedtls_pk_parse_keyfile(&key, key_path, NULL) == 0 &&
              mbedtls_pk_get_type(&key) == MBEDTLS_PK_ECKEY &&
              mbedtls_pk_get_type(&crt.pk) == MBEDTLS_PK_ECKEY &&
              mbedtls_ecp_point_cmp(&mbedtls_pk_ec(key)->Q, &mbedtls_pk_ec(crt.pk)->Q) == 0;
    mbedtls_pk_free(&key);
    mbedtls_x509_crt_free(&crt);
    return ok;
}

enum iot_err pki_set_validity(struct pki *p, int64_t not_before_offset_s, uint32_t days)
{
    /* Within mbedTLS's years 0000-9999 with a wide margin; a window must not be empty. */
    if (!p || days == 0 || days > 36500 || not_before_offset_s < -36500LL * 86400 ||
        not_before_offset_s > 36500LL * 86400)
        return IOT_ERR_INVAL;
    p->validity_set = true;
    p->not_before_offset_s = not_before_offset_s;
    p->validity_days = days;
    return IOT_OK;
}

enum iot_err pki_issue_device(struct pki *p, const char *dir, const char *id, bool force,
                              enum pki_issue_result *result)
{
    const char *why = NULL;
    if (!p || !dir || !result)
        return IOT_ERR_INVAL;
    if (pki_device_id_check(id, &why) != IOT_OK) {
        IOT_LOG(IOT_LOG_ERROR, "invalid device id \"%s\": %s", id ? id : "(null)", why);
        return IOT_ERR_INVAL;
    }
    char ddir[PKI_PATH_MAX], name[IOT_DEVICE_ID_MAX + 8];
    char crt_path[PKI_PATH_MAX], key_path[PKI_PATH_MAX];
    enum iot_err rc = pki__path(ddir, dir, PKI_DEVICES);
    if (rc != IOT_OK || (access(ddir, F_OK) != 0 && (rc = plat_dir_ensure(ddir, 0700)) != IOT_OK))
        return rc;
    snprintf(name, sizeof name, "%s.crt", id);
    if ((rc = pki__path(crt_path, ddir, name)) != IOT_OK)
        return rc;
    snprintf(name, sizeof name, "%s.key", id);
    if ((rc = pki__path(key_path, ddir, name)) != IOT_OK)
        return rc;
    if (!force && device_pair_valid(p, id, crt_path, key_path)) {
        *result = PKI_KEPT;
        return IOT_OK;
    }
    /* No fsync per file: 2000 of them cost ~1 ms each in bulk. pki_devices_sync flushes the batch
     * once; a crash before that leaves old, new or broken pairs, and broken ones are reissued. */
    rc = issue(p, PKI_PROFILE_DEVICE, id, crt_path, key_path, false);
    if (rc == IOT_OK)
        *result = PKI_ISSUED;
    return rc;
}

/* ---- init ---- */

static enum iot_err write_ca(struct pki *p, const char *dir)
{
    char crt_path[PKI_PATH_MAX], key_path[PKI_PATH_MAX], dn[DN_CAP];
    unsigned char tag[4];
    char hex[9];
    enum iot_err rc;
    if ((rc = pki__path(crt_path, dir, PKI_CA_CRT)) != IOT_OK ||
        (rc = pki__path(key_path, dir, PKI_CA_KEY)) != IOT_OK)
        return rc;
    /* A random tag in the CA's name tells two PKIs apart in logs and error messages. */
    if (mbedtls_ctr_drbg_random(&p->drbg, tag, sizeof tag) != 0)
        return IOT_ERR_TLS;
    snprintf(hex, sizeof hex, "%02x%02x%02x%02x", tag[0], tag[1], tag[2], tag[3]);
    snprintf(dn, sizeof dn, "CN=iot-stack CA %s,O=iot-stack", hex);

    mbedtls_pk_context key;
    mbedtls_pk_init(&key);
    rc = key_generate(p, &key);
    if (rc == IOT_OK)
        rc = key_write(&key, key_path, true);
    if (rc == IOT_OK)
        rc = cert_write(p, PKI_PROFILE_CA, dn, &key, crt_path, true);
    mbedtls_pk_free(&key);
    return rc;
}

static enum iot_err write_cmd_sign(struct pki *p, const char *dir)
{
    char key_path[PKI_PATH_MAX], pub_path[PKI_PATH_MAX];
    enum iot_err rc;
    if ((rc = pki__path(key_path, dir, PKI_CMD_SIGN_KEY)) != IOT_OK ||
        (rc = pki__path(pub_path, dir, PKI_CMD_SIGN_PUB)) != IOT_OK)
        return rc;
    mbedtls_pk_context key;
    mbedtls_pk_init(&key);
    rc = key_generate(p, &key);
    if (rc == IOT_OK)
        rc = key_write(&key, key_path, true);
    if (rc == IOT_OK)
        rc = pubkey_write(&key, pub_path);
    mbedtls_pk_free(&key);
    return rc;
}

static enum iot_err issue_named(struct pki *p, const char *dir, enum pki_profile profile,
                                const char *cn, const char *crt_name, const char *key_name)
{
    char crt_path[PKI_PATH_MAX], key_path[PKI_PATH_MAX];
    enum iot_err rc;
    if ((rc = pki__path(crt_path, dir, crt_name)) != IOT_OK ||
        (rc = pki__path(key_path, dir, key_name)) != IOT_OK)
        return rc;
    return pki_issue(p, profile, cn, crt_path, key_path);
}

enum iot_err pki_init_dir(struct pki *p, const struct pki_init_opts *o)
{
    if (!p || !o || !o->dir || !o->dir[0] || o->port == 0 || o->port > 65535)
        return IOT_ERR_INVAL;
    if (!pki__bind_valid(o->bind)) {
        IOT_LOG(IOT_LOG_ERROR, "bad bind address \"%s\" (an IP address or host name)",
                o->bind ? o->bind : "");
        return IOT_ERR_INVAL;
    }
    char path[PKI_PATH_MAX];
    enum iot_err rc;
    if ((rc = plat_dir_ensure(o->dir, 0700)) != IOT_OK)
        return rc;
    /* Also when DIR already existed: it holds private keys. */
    if (chmod(o->dir, 0700) != 0) {
        IOT_LOG(IOT_LOG_ERROR, "cannot chmod 0700 %s: %s", o->dir, strerror(errno));
        return IOT_ERR_IO;
    }
    static const char *const existing[] = {PKI_CA_KEY, PKI_CA_CRT};
    for (size_t i = 0; i < sizeof existing / sizeof existing[0]; i++) {
        if ((rc = pki__path(path, o->dir, existing[i])) != IOT_OK)
            return rc;
        if (access(path, F_OK) == 0 && !o->force) {
            IOT_LOG(IOT_LOG_ERROR,
                    "%s already holds a PKI (%s exists); refusing to overwrite it (use --force to "
                    "replace the CA and every certificate)",
                    o->dir, path);
            return IOT_ERR_FULL;
        }
    }
    if ((rc = pki__path(path, o->dir, PKI_DEVICES)) != IOT_OK)
        return rc;
    if (o->force && access(path, F_OK) == 0)
        IOT_LOG(IOT_LOG_WARN,
                "%s holds certificates of the replaced CA; `iot-pki device` reissues them", path);
    if ((rc = plat_dir_ensure(path, 0700)) != IOT_OK)
        return rc;

    if ((rc = write_ca(p, o->dir)) != IOT_OK || (rc = pki_ca_load(p, o->dir)) != IOT_OK ||
        (rc = issue_named(p, o->dir, PKI_PROFILE_SERVER, "localhost", PKI_BROKER_CRT,
                          PKI_BROKER_KEY)) != IOT_OK ||
        (rc = issue_named(p, o->dir, PKI_PROFILE_CLIENT, PKI_CLOUD_CN, PKI_CLOUD_CRT,
                          PKI_CLOUD_KEY)) != IOT_OK ||
        (rc = write_cmd_sign(p, o->dir)) != IOT_OK || (rc = pki_acl_write(o->dir)) != IOT_OK ||
        (rc = pki_broker_conf_write(o->dir, o->port, o->bind)) != IOT_OK)
        return rc;
    dir_sync(o->dir);
    return IOT_OK;
}

enum iot_err pki_devices_sync(const char *dir)
{
    char path[PKI_PATH_MAX];
    if (!dir || pki__path(path, dir, PKI_DEVICES) != IOT_OK)
        return IOT_ERR_INVAL;
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        IOT_LOG(IOT_LOG_ERROR, "cannot open %s: %s", path, strerror(errno));
        return IOT_ERR_IO;
    }
    /* One syncfs writes every file of the batch and the renames (Linux); then the directory. */
    int rc = syncfs(fd) != 0 || fsync(fd) != 0 ? -1 : 0;
    if (rc != 0)
        IOT_LOG(IOT_LOG_ERROR, "cannot sync %s: %s", path, strerror(errno));
    close(fd);
    return rc == 0 ? IOT_OK : IOT_ERR_IO;
}
