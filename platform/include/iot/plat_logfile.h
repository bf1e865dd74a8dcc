/* SPDX-License-Identifier: Apache-2.0 */
/* Files for append-only logs: positional reads and writes, preallocation, data-only sync, directory
 * sync and unlink. The device's on-disk store (device/src/store_log.c) reaches the OS only here. */
#ifndef IOT_PLAT_LOGFILE_H
#define IOT_PLAT_LOGFILE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iot/err.h"

/** An open file (opaque). */
struct plat_lfile;

/**
 * @brief Open @p path for reading and writing; with @p create, create it (mode 0600) when missing.
 * @return IOT_OK, IOT_ERR_NOT_FOUND (missing and !create), IOT_ERR_IO (errno logged), IOT_ERR_NOMEM
 */
enum iot_err plat_lfile_open(const char *path, bool create, struct plat_lfile **out);

/** @brief Close (NULL is a no-op). Does not sync. */
void plat_lfile_close(struct plat_lfile *f);

/** @brief Current size in bytes. @return IOT_OK, IOT_ERR_IO */
enum iot_err plat_lfile_size(struct plat_lfile *f, uint64_t *size);

/**
 * @brief Read up to @p len bytes at @p off; *n < len only at the end of the file.
 * @return IOT_OK, IOT_ERR_IO
 */
enum iot_err plat_lfile_pread(struct plat_lfile *f, uint64_t off, void *buf, size_t len, size_t *n);

/** @brief Write all @p len bytes at @p off (one write() in the common case). @return IOT_OK, IOT_ERR_IO,
 *  IOT_ERR_FULL (no space left on the device) */
enum iot_err plat_lfile_pwrite(struct plat_lfile *f, uint64_t off, const void *buf, size_t len);

/**
 * @brief Reserve @p len bytes of disk from offset 0 (the file reads as zeros where unwritten), so later
 * in-place writes need no allocation and a data-only sync flushes no metadata.
 * @return IOT_OK, IOT_ERR_FULL (no space), IOT_ERR_IO
 */
enum iot_err plat_lfile_preallocate(struct plat_lfile *f, uint64_t len);

/** @brief fdatasync: the data written so far survives a power cut. @return IOT_OK, IOT_ERR_IO */
enum iot_err plat_lfile_sync(struct plat_lfile *f);

/** @brief fsync a directory, so created, renamed or removed entries survive a power cut.
 *  @return IOT_OK, IOT_ERR_IO */
enum iot_err plat_dir_sync(const char *dir);

/** @brief Remove a file. @return IOT_OK, IOT_ERR_NOT_FOUND, IOT_ERR_IO */
enum iot_err plat_file_remove(const char *path);

/** @brief Bytes of disk the file occupies (st_blocks * 512): what the store costs on flash.
 *  @return IOT_OK, IOT_ERR_IO */
enum iot_err plat_lfile_disk_bytes(struct plat_lfile *f, uint64_t *bytes);

#endif
