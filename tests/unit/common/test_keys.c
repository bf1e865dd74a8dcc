/* SPDX-License-Identifier: Apache-2.0 */
/* The key-pair helper of test_keys.h (mbedTLS key generation, files through plat_file). */
#include "test_keys.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <string.h>

#include "iot/err.h"
#include "iot/plat_file.h"

void test_keys_write_pair(const char *priv, const char *pub)
{
    mbedtls_pk_context pk;
    mbedtls_entropy_context ent;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_pk_init(&pk);
    mbedtls_entropy_init(&ent);
    mbedtls_ctr_drbg_init(&drbg);
    assert_int_equal(mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &ent, NULL, 0), 0);
    assert_int_equal(mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), 0);
    assert_int_equal(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(pk),
                                         mbedtls_ctr_drbg_random, &drbg),
                     0);
    unsigned char buf[1024];
    assert_int_equal(mbedtls_pk_write_key_pem(&pk, buf, sizeof buf), 0);
    assert_int_equal(plat_file_write_atomic(priv, buf, strlen((char *)buf), false), IOT_OK);
    assert_int_equal(mbedtls_pk_write_pubkey_pem(&pk, buf, sizeof buf), 0);
    assert_int_equal(plat_file_write_atomic(pub, buf, strlen((char *)buf), false), IOT_OK);
    mbedtls_pk_free(&pk);
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&ent);
}
