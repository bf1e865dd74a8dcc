/* SPDX-License-Identifier: Apache-2.0 */
/* CRC-32C (Castagnoli), the checksum of the device store's records. Portable C, no tables to ship. */
#ifndef IOT_CRC32C_H
#define IOT_CRC32C_H
#include <stddef.h>
#include <stdint.h>

/**
 * @brief Extend @p crc (0 to start) over @p len bytes of @p data. crc32c(0, "123456789", 9) ==
 * 0xE3069283. Thread-safe: the tables are built on first use, idempotently.
 */
uint32_t iot_crc32c(uint32_t crc, const void *data, size_t len);

#endif
