/* SPDX-License-Identifier: Apache-2.0 */
/* Application crypto over mbedTLS 2.28: CTR-DRBG randomness, SHA-256, HMAC, ECDSA P-256. */
#define IOT_LOG_TAG "plat.crypto"
#include "iot/plat_crypto.h"

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/md.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>
#include <pthread.h>
#include <string.h>

#include "iot/log.h"
#include "iot/mem.h"
#include "iot/plat_file.h"

static pthread_mutex_t rng_lock = PTHREAD_MUTEX_INITIALIZER;
static mbedtls_entropy_context rng_entropy;
static mbedtls_ctr_drbg_context rng_drbg;
static int rng_ready;

static int rng_seed_locked(void)
{
    if (rng_ready)
        return 0;
    mbedtls_entropy_init(&rng_entropy);
    mbedtls_ctr_drbg_init(&rng_drbg);
    static const char pers[] = "iot-stack";
    int rc = mbedtls_ctr_drbg_seed(&rng_drbg, mbedtls_entropy_func, &rng_entropy,
                                   (const unsigned char *)pers, sizeof pers - 1);
    if (rc != 0) {
        IOT_LOG(IOT_LOG_ERROR, "cannot seed the random generator (mbedtls -0x%04x)", (unsigned)-rc);
        return rc;
    }
    rng_ready = 1;
    return 0;
}

/* mbedTLS-style RNG callback for signing (randomised k even though deterministic ECDSA is available). */
static int rng_cb(void *ctx, unsigned char *out, size_t len)
{
    (void)ctx;
    return plat_random(out, len) == IOT_OK ? 0 : -1;
}

enum iot_err plat_random(void *buf, size_t len)
{
    pthread_mutex_lock(&rng_lock);
    int rc = rng_seed_locked();
    unsigned char *p = buf;
    while (rc == 0 && len > 0) {
        size_t chunk = len > MBEDTLS_CTR_DRBG_MAX_REQUEST ? MBEDTLS_CTR_DRBG_MAX_REQUEST : len;
        rc = mbedtls_ctr_drbg_random(&rng_drbg, p, chunk);
        p += chunk;
        len -= chunk;
    }
    pthread_mutex_unlock(&rng_lock);
    return rc == 0 ? IOT_OK : IOT_ERR_TLS;
}

uint32_t plat_random_below(uint32_t bound)
{
    if (bound <= 1)
        return 0;
    uint32_t limit = UINT32_MAX - UINT32_MAX % bound, v;
    do {
        if (plat_random(&v, sizeof v) != IOT_OK)
            return 0;
    } while (v >= limit);
    return v % bound;
}

void plat_sha256(const void *data, size_t len, uint8_t out[32])
{
    mbedtls_sha256_ret(data, len, out, 0);
}

void plat_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len, uint8_t out[32])
{
    mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), key, key_len, data, len, out);
}

int plat_ct_memcmp(const void *a, const void *b, size_t len)
{
    const volatile uint8_t *x = a, *y = b;
    uint8_t acc = 0;
    for (size_t i = 0; i < len; i++)
        acc |= (uint8_t)(x[i] ^ y[i]);
    return acc != 0;
}

void plat_hex(const uint8_t *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = 0;
}

struct plat_signer {
    mbedtls_ecdsa_context ecdsa;
};
struct plat_verifier {
    mbedtls_ecdsa_context ecdsa;
};

static void log_mbedtls(const char *what, const char *path, int rc)
{
    char msg[160];
    mbedtls_strerror(rc, msg, sizeof msg);
    IOT_LOG(IOT_LOG_ERROR, "%s %s: %s (mbedtls -0x%04x)", what, path, msg, (unsigned)-rc);
}

/* Parse a PEM key file and copy its EC key into a persistent ECDSA context. */
static enum iot_err load_ec(const char *path, int private_key, mbedtls_ecdsa_context *out)
{
    if (!plat_file_readable(path))
        return IOT_ERR_NOT_FOUND;
    mbedtls_pk_context pk;
    mbedtls_pk_init(&pk);
    int rc = private_key ? mbedtls_pk_parse_keyfile(&pk, path, NULL)
                         : mbedtls_pk_parse_public_keyfile(&pk, path);
    if (rc != 0) {
        log_mbedtls(private_key ? "cannot parse private key" : "cannot parse public key", path, rc);
        mbedtls_pk_free(&pk);
        return IOT_ERR_TLS;
    }
    const mbedtls_ecp_keypair *kp =
        mbedtls_pk_get_type(&pk) == MBEDTLS_PK_ECKEY ? mbedtls_pk_ec(pk) : NULL;
    if (!kp || kp->grp.id != MBEDTLS_ECP_DP_SECP256R1) {
        IOT_LOG(IOT_LOG_ERROR, "%s: not an ECDSA P-256 key", path);
        mbedtls_pk_free(&pk);
        return IOT_ERR_TLS;
    }
    mbedtls_ecdsa_init(out);
    rc = mbedtls_ecdsa_from_keypair(out, kp);
    mbedtls_pk_free(&pk);
    if (rc != 0) {
        log_mbedtls("cannot use key", path, rc);
        mbedtls_ecdsa_free(out);
        return IOT_ERR_TLS;
    }
    return IOT_OK;
}

enum iot_err plat_signer_load(const char *pem_path, struct plat_signer **out)
{
    struct plat_signer *s = iot_malloc(sizeof *s);
    if (!s)
        return IOT_ERR_NOMEM;
    enum iot_err rc = load_ec(pem_path, 1, &s->ecdsa);
    if (rc != IOT_OK) {
        iot_free(s);
        return rc;
    }
    *out = s;
    return IOT_OK;
}

enum iot_err plat_signer_sign(struct plat_signer *s, const void *msg, size_t len, uint8_t *sig,
                              size_t sig_cap, size_t *sig_len)
{
    if (sig_cap < MBEDTLS_ECDSA_MAX_SIG_LEN(256))
        return IOT_ERR_INVAL;
    uint8_t hash[32];
    plat_sha256(msg, len, hash);
    int rc = mbedtls_ecdsa_write_signature(&s->ecdsa, MBEDTLS_MD_SHA256, hash, sizeof hash, sig,
                                           sig_len, rng_cb, NULL);
    return rc == 0 ? IOT_OK : IOT_ERR_TLS;
}

void plat_signer_destroy(struct plat_signer *s)
{
    if (!s)
        return;
    mbedtls_ecdsa_free(&s->ecdsa);
    iot_free(s);
}

enum iot_err plat_verifier_load(const char *pem_path, struct plat_verifier **out)
{
    struct plat_verifier *v = iot_malloc(sizeof *v);
    if (!v)
        return IOT_ERR_NOMEM;
    enum iot_err rc = load_ec(pem_path, 0, &v->ecdsa);
    if (rc != IOT_OK) {
        iot_free(v);
        return rc;
    }
    *out = v;
    return IOT_OK;
}

enum iot_err plat_verifier_verify(struct plat_verifier *v, const void *msg, size_t len,
                                  const uint8_t *sig, size_t sig_len)
{
    uint8_t hash[32];
    plat_sha256(msg, len, hash);
    return mbedtls_ecdsa_read_signature(&v->ecdsa, hash, sizeof hash, sig, sig_len) == 0 ? IOT_OK
                                                                                      : IOT_ERR_TLS;
}

void plat_verifier_destroy(struct plat_verifier *v)
{
    if (!v)
        return;
    mbedtls_ecdsa_free(&v->ecdsa);
    iot_free(v);
}
