/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the fuzz targets (tests/fuzz/fuzz_*.c): the libFuzzer entry points, quiet logging and
 * scratch directories. Test code only; never linked into products. */
#ifndef IOT_FUZZ_COMMON_H
#define IOT_FUZZ_COMMON_H
#include <stddef.h>
#include <stdint.h>

/** @brief libFuzzer's entry point: one input. Must not keep @p data. @return 0 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/** @brief Optional one-time set-up (libFuzzer calls it before the first input). @return 0 */
int LLVMFuzzerInitialize(int *argc, char ***argv);

/**
 * @brief Route the project's log lines to a sink that formats and discards them (formatting of
 * hostile strings is exercised; output is not flooded). Set IOT_FUZZ_LOG=1 to keep them on stderr.
 */
void fuzz_quiet_logs(void);

/**
 * @brief The usual body of LLVMFuzzerInitialize: fuzz_quiet_logs(); @p argc and @p argv are not
 * used. A target without other set-up: `return fuzz_init(argc, argv);`. @return 0
 */
int fuzz_init(int *argc, char ***argv);

/**
 * @brief fuzz_init, then fuzz_scratch_dir(@p name); aborts when the directory cannot be made.
 * @return the directory's path (static storage)
 */
const char *fuzz_init_scratch(int *argc, char ***argv, const char *name);

/**
 * @brief A fresh private directory for @p name (under /dev/shm when it exists, else /tmp), removed
 * at exit. @return its path (static storage; one per process), or NULL on failure
 */
const char *fuzz_scratch_dir(const char *name);

/** @brief Remove every plain file in @p dir (not recursive). */
void fuzz_clear_dir(const char *dir);

/** @brief Write @p len bytes to @p path (created or truncated). @return 0, or -1 */
int fuzz_write_file(const char *path, const uint8_t *data, size_t len);

#endif
