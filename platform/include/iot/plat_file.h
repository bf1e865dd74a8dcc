/* SPDX-License-Identifier: Apache-2.0 */
/* Files: whole-file reads, atomic replace, directories. */
#ifndef IOT_PLAT_FILE_H
#define IOT_PLAT_FILE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "iot/err.h"

/**
 * @brief Read a whole file of at most @p max bytes. The buffer gets a NUL after the data (so text can
 * be used as a string); caller frees with iot_free.
 * @return IOT_OK, IOT_ERR_NOT_FOUND (no such file), IOT_ERR_FULL (larger than max), IOT_ERR_IO, IOT_ERR_NOMEM
 */
enum iot_err plat_file_read(const char *path, size_t max, uint8_t **out, size_t *out_len);

/**
 * @brief Replace @p path atomically: write a temp file beside it, optionally fsync it, rename over,
 * and (with @p durable) fsync the directory, so a crash leaves the old or the new content, never a mix.
 * @return IOT_OK, IOT_ERR_IO
 */
enum iot_err plat_file_write_atomic(const char *path, const void *buf, size_t len, bool durable);

/** @brief mkdir -p with @p mode for created directories. @return IOT_OK, IOT_ERR_IO */
enum iot_err plat_dir_ensure(const char *path, unsigned mode);

/** @brief True when @p path exists and is readable by this process. */
bool plat_file_readable(const char *path);

/** @brief Names of entries in @p dir (no "." and ".."), sorted; caller frees each and the array with iot_free.
 *  @return IOT_OK, IOT_ERR_NOT_FOUND, IOT_ERR_NOMEM, IOT_ERR_IO (also when reading stops on an error) */
enum iot_err plat_dir_list(const char *dir, char ***names, size_t *n);

#endif
