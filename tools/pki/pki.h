/* SPDX-License-Identifier: Apache-2.0 */
/* iot-pki internals: P-256 keys and X.509 certificates (mbedTLS 2.28), the PKI directory layout,
 * and the Mosquitto configuration + ACL writers. No printing to stdout here; errors go through
 * IOT_LOG. */
#ifndef IOT_PKI_H
#define IOT_PKI_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iot/err.h"

/* File names inside a PKI directory (DESIGN.md "Security"). */
#define PKI_CA_CRT "ca.crt"
#define PKI_CA_KEY "ca.key"
#define PKI_BROKER_CRT "broker.crt"
#define PKI_BROKER_KEY "broker.key"
#define PKI_CLOUD_CRT "cloud.crt"
#define PKI_CLOUD_KEY "cloud.key"
#define PKI_CMD_SIGN_KEY "cmd-sign.key"
#define PKI_CMD_SIGN_PUB "cmd-sign.pub"
#define PKI_ACL "acl"
#define PKI_BROKER_CONF "mosquitto.conf"
#define PKI_BROKER_DATA "mosquitto-data"
#define PKI_DEVICES "devices"

/** The MQTT username (certificate CN) of the cloud service; devices may not use it or any id it
 * prefixes. */
#define PKI_CLOUD_CN "iot-cloud"
#define PKI_DEFAULT_PORT 8883u
#define PKI_DEFAULT_BIND "127.0.0.1"
/** Longest path we build inside a PKI directory. */
#define PKI_PATH_MAX 4096

/** What a certificate is for; decides its extensions. */
enum pki_profile {
    PKI_PROFILE_CA,     /**< self-signed, CA:true, keyCertSign|cRLSign, 10 years */
    PKI_PROFILE_SERVER, /**< CA:false, serverAuth, SAN DNS:localhost + IP:127.0.0.1, 2 years */
    PKI_PROFILE_CLIENT, /**< CA:false, clientAuth, 2 years (cloud) */
    PKI_PROFILE_DEVICE  /**< CA:false, clientAuth, 5 years (devices live long in the field) */
};

/** Holds the DRBG and, once loaded or created, the CA. Heap object: pki_create / pki_destroy. */
struct pki;

/**
 * @brief Seed a CTR-DRBG from the system entropy source.
 * @return IOT_OK, IOT_ERR_NOMEM, IOT_ERR_TLS (seeding failed, logged)
 */
enum iot_err pki_create(struct pki **out);
/** @brief Free @p p and wipe its key material. NULL is a no-op. */
void pki_destroy(struct pki *p);

/** Options of `iot-pki init`. */
struct pki_init_opts {
    const char *dir;  /**< created with mode 0700 (parents too) */
    unsigned port;    /**< listener port of mosquitto.conf, 1..65535 */
    const char *bind; /**< listener address of mosquitto.conf */
    bool force;       /**< replace an existing PKI in @p dir */
};

/**
 * @brief Create a whole PKI in opts->dir: CA, broker and cloud certificates, command-signing key
 * pair, ACL and mosquitto.conf. Private keys are written 0600, public files 0644. The new CA stays
 * loaded in
 * @p p, so pki_issue_device can follow without pki_ca_load.
 * @return IOT_OK, IOT_ERR_INVAL (bad options), IOT_ERR_FULL (a PKI exists there and !force),
 *         IOT_ERR_IO, IOT_ERR_TLS, IOT_ERR_NOMEM (each logged with the file concerned)
 */
enum iot_err pki_init_dir(struct pki *p, const struct pki_init_opts *opts);

/**
 * @brief Load DIR/ca.crt and DIR/ca.key into @p p (once; reused for every later issuance).
 * @return IOT_OK, IOT_ERR_NOT_FOUND (a file is missing), IOT_ERR_TLS (unparsable, or key does not
 *         match the certificate), IOT_ERR_NOMEM
 */
enum iot_err pki_ca_load(struct pki *p, const char *dir);

/**
 * @brief Check a device id: iot_device_id_valid() and not reserved (case-insensitive prefix
 * "iot-cloud"). On failure @p why (if not NULL) gets a static explanation.
 * @return IOT_OK, IOT_ERR_INVAL
 */
enum iot_err pki_device_id_check(const char *id, const char **why);

/** Outcome of pki_issue_device. */
enum pki_issue_result {
    PKI_ISSUED, /**< a new key + certificate were written */
    PKI_KEPT    /**< a valid pair from this CA already existed and !force */
};

/**
 * @brief Issue DIR/devices/ID.crt + ID.key (CN = @p id, clientAuth) with the loaded CA. Without
 * @p force an existing pair that verifies against the CA and whose key matches is kept as it is.
 * Files are not fsync'ed one by one: call pki_devices_sync after a batch.
 * @pre pki_ca_load or pki_init_dir succeeded on @p p for the same @p dir.
 * @return IOT_OK, IOT_ERR_INVAL (bad or reserved id, no CA loaded), IOT_ERR_IO, IOT_ERR_TLS,
 * IOT_ERR_NOMEM
 */
enum iot_err pki_issue_device(struct pki *p, const char *dir, const char *id, bool force,
                              enum pki_issue_result *result);

/**
 * @brief Give the certificates @p p issues from now on (not the CA) a validity window of @p days
 * starting @p not_before_offset_s seconds from now (negative: in the past). For tests of expired
 * and not-yet-valid certificates; the default is 1 hour ago to the profile's years.
 * @return IOT_OK, IOT_ERR_INVAL (days 0 or above 36500, offset beyond 100 years)
 */
enum iot_err pki_set_validity(struct pki *p, int64_t not_before_offset_s, uint32_t days);

/**
 * @brief Make a batch of pki_issue_device calls durable: one syncfs + fsync of DIR/devices
 * (pki_issue_device does not fsync each file).
 * @return IOT_OK, IOT_ERR_INVAL, IOT_ERR_IO
 */
enum iot_err pki_devices_sync(const char *dir);

/**
 * @brief Generate a P-256 key and a certificate of @p profile for @p cn signed by the loaded CA,
 * and write them to @p crt_path (0644) and @p key_path (0600). Used by init and device; exposed for
 * tests.
 * @return IOT_OK, IOT_ERR_INVAL (no CA loaded, or profile CA), IOT_ERR_IO, IOT_ERR_TLS,
 * IOT_ERR_NOMEM
 */
enum iot_err pki_issue(struct pki *p, enum pki_profile profile, const char *cn,
                       const char *crt_path, const char *key_path);

/* ---- broker_conf.c ---- */

/**
 * @brief Write DIR/acl: the cloud user reads device-to-cloud topics and writes cloud-to-device
 * topics; each device (pattern %u) the reverse on its own topics only.
 * @return IOT_OK, IOT_ERR_IO
 */
enum iot_err pki_acl_write(const char *dir);

/**
 * @brief (Re)write DIR/mosquitto.conf for a mutual-TLS listener on @p bind:@p port with the no-loss
 * queue settings, and create DIR/mosquitto-data/. Paths in the file are absolute. Adds `user root`
 * when running as root (Mosquitto would otherwise switch to a user who cannot read the 0600 keys).
 * @return IOT_OK, IOT_ERR_INVAL (port 0 or > 65535, bad bind address), IOT_ERR_NOT_FOUND (DIR is
 * not a PKI: no ca.crt), IOT_ERR_IO
 */
enum iot_err pki_broker_conf_write(const char *dir, unsigned port, const char *bind);

/* ---- shared between pki.c and broker_conf.c ---- */

/**
 * @brief Write @p len bytes to @p path atomically (temp + rename, fsync with @p durable) with @p
 * mode.
 * @return IOT_OK, IOT_ERR_IO (logged with the path)
 */
enum iot_err pki__file_write(const char *path, const void *buf, size_t len, unsigned mode,
                             bool durable);

/** @brief True when @p s can be a listener address (IP address or host name characters). */
bool pki__bind_valid(const char *s);

/** @brief snprintf "%s/%s" into @p out (PKI_PATH_MAX). @return IOT_OK, IOT_ERR_INVAL (too long) */
enum iot_err pki__path(char out[PKI_PATH_MAX], const char *dir, const char *name);

#endif
