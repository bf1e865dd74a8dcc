/* SPDX-License-Identifier: Apache-2.0 */
/* Unit-test helper: fresh P-256 key pairs as PEM files (for plat_signer / plat_verifier tests and
 * the command-signing fixtures). Uses cmocka assertions: call it from a cmocka test only. */
#ifndef IOT_TEST_KEYS_H
#define IOT_TEST_KEYS_H

/**
 * @brief Generate a P-256 key pair and write the private key (PEM) to @p priv and the public key
 * (PEM) to @p pub. Every step is asserted: the calling test fails if any of them does.
 */
void test_keys_write_pair(const char *priv, const char *pub);

#endif
