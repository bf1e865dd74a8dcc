/* SPDX-License-Identifier: Apache-2.0 */
/* Randomness and the crypto the application owns (mbedTLS). MQTT's TLS is Paho's (OpenSSL). */
#ifndef IOT_PLAT_CRYPTO_H
#define IOT_PLAT_CRYPTO_H
#include <stddef.h>
#include <stdint.h>
#include "iot/err.h"

/** @brief Fill @p buf with cryptographically strong random bytes. Thread-safe. @return IOT_OK, IOT_ERR_TLS */
enum iot_err plat_random(void *buf, size_t len);
/** @brief Uniform random integer in [0, bound) (bound > 0). Falls back to 0 on RNG failure. */
uint32_t plat_random_below(uint32_t bound);

void plat_sha256(const void *data, size_t len, uint8_t out[32]);
void plat_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len, uint8_t out[32]);
/** @brief Compare in time independent of where the buffers differ. @return 0 when equal. */
int plat_ct_memcmp(const void *a, const void *b, size_t len);
/** @brief Lower-case hex of @p len bytes into @p out (2*len+1 bytes). */
void plat_hex(const uint8_t *in, size_t len, char *out);

/** ECDSA P-256 / SHA-256 with a key parsed once (persistent context: ~3x faster than per-call parsing). */
struct plat_signer;
struct plat_verifier;

/** @brief Load a PEM private key (P-256). @return IOT_OK, IOT_ERR_NOT_FOUND, IOT_ERR_TLS (logged with the reason) */
enum iot_err plat_signer_load(const char *pem_path, struct plat_signer **out);
/** @brief DER signature into @p sig (cap >= 72). */
enum iot_err plat_signer_sign(struct plat_signer *s, const void *msg, size_t len, uint8_t *sig,
                              size_t sig_cap, size_t *sig_len);
void plat_signer_destroy(struct plat_signer *s);

/** @brief Load a PEM public key (P-256) from a file. */
enum iot_err plat_verifier_load(const char *pem_path, struct plat_verifier **out);
/** @return IOT_OK when valid, IOT_ERR_TLS when the signature does not verify. */
enum iot_err plat_verifier_verify(struct plat_verifier *v, const void *msg, size_t len,
                                  const uint8_t *sig, size_t sig_len);
void plat_verifier_destroy(struct plat_verifier *v);

#endif
