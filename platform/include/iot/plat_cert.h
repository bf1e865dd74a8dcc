/* SPDX-License-Identifier: Apache-2.0 */
/* What a device's TLS certificate says about itself (mbedTLS), checked before the first connect so
 * that a wrong file, a key of another certificate, another device's certificate or an expired one
 * is reported as such instead of as an anonymous TLS handshake failure. */
#ifndef IOT_PLAT_CERT_H
#define IOT_PLAT_CERT_H
#include <stddef.h>
#include <stdint.h>

#include "iot/err.h"

struct plat_cert_info {
    char cn[128];          /**< subject CN ("" when the subject has none) */
    int64_t not_before_ms; /**< validity period, Unix ms (UTC) */
    int64_t not_after_ms;
};

/**
 * @brief Parse the first certificate of the PEM file @p cert_path and, when @p key_path is not
 * NULL, check that the private key there belongs to it.
 * @param err receives a one-line reason on failure (may be NULL)
 * @return IOT_OK, IOT_ERR_MALFORMED (the certificate or key does not parse), IOT_ERR_INVAL (the key
 * is not the certificate's), IOT_ERR_NOT_FOUND / IOT_ERR_IO (cannot read a file)
 */
enum iot_err plat_cert_inspect(const char *cert_path, const char *key_path,
                               struct plat_cert_info *out, char *err, size_t errlen);

/** @brief Format Unix ms as "YYYY-MM-DD HH:MM UTC" into @p buf (cap >= 24). */
void plat_cert_time_str(int64_t ms, char *buf, size_t cap);

#endif
