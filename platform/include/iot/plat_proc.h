/* SPDX-License-Identifier: Apache-2.0 */
/* Child processes for configured command handlers: run an executable with argv and an explicit
 * environment in its own process group, capture bounded stdout/stderr, enforce a timeout (the whole
 * group is killed). Non-blocking by design: the caller polls from its main loop. */
#ifndef IOT_PLAT_PROC_H
#define IOT_PLAT_PROC_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iot/err.h"

/** What to run. Borrowed for the call to plat_proc_start only. */
struct plat_proc_spec {
    const char *path;        /**< absolute path of the executable (no PATH search) */
    char *const *argv;       /**< NULL-terminated; NULL = { path, NULL } */
    char *const *envp;       /**< NULL-terminated; NULL = an empty environment */
    uint32_t timeout_ms;     /**< 0 = no timeout */
    size_t max_output;       /**< bytes kept per stream (stdout, stderr); the rest is read and dropped */
};

/** How it ended. Strings are NUL-terminated, iot_malloc'd; free with plat_proc_result_clear. */
struct plat_proc_result {
    int exit_code;           /**< exit status when it exited normally, else -1 */
    int term_signal;         /**< the signal that ended it, else 0 */
    bool timed_out;          /**< killed (SIGKILL to its process group) at the timeout */
    uint64_t duration_ms;
    char *out, *err;         /**< captured stdout / stderr (at most max_output bytes each) */
    size_t out_len, err_len;
    uint64_t out_total, err_total; /**< bytes the child wrote (> *_len when truncated) */
};

struct plat_proc;

/**
 * @brief Start @p spec. stdin is /dev/null; no other descriptor of ours is inherited; signal
 * dispositions and the signal mask are reset to defaults; the child leads a new process group.
 * @return IOT_OK, IOT_ERR_INVAL (path not absolute), IOT_ERR_NOT_FOUND (cannot execute: logged),
 *         IOT_ERR_IO, IOT_ERR_NOMEM
 */
enum iot_err plat_proc_start(const struct plat_proc_spec *spec, struct plat_proc **out);

/**
 * @brief Read what is available, reap the child, enforce the timeout. Waits at most @p wait_ms for
 * output or an exit (0: just look).
 * @return IOT_ERR_AGAIN (still running), IOT_OK (finished: take the result)
 */
enum iot_err plat_proc_poll(struct plat_proc *p, uint32_t wait_ms);

/** @brief Move the result of a finished process into @p r (call once, after poll returned IOT_OK).
 *  @return IOT_OK, IOT_ERR_AGAIN (not finished) */
enum iot_err plat_proc_take_result(struct plat_proc *p, struct plat_proc_result *r);

/** @brief Free @p p; a child still running is killed (its whole group) and reaped. NULL is a no-op. */
void plat_proc_destroy(struct plat_proc *p);

void plat_proc_result_clear(struct plat_proc_result *r);

/** @brief True when @p path is a regular file this process may execute. */
bool plat_proc_executable(const char *path);

/**
 * @brief Start, wait (bounded by spec->timeout_ms; spec->timeout_ms 0 is refused) and collect.
 * Blocking: for tools and tests, not for the agent's loop.
 * @return IOT_OK (r filled), IOT_ERR_INVAL, and the codes of plat_proc_start
 */
enum iot_err plat_proc_run(const struct plat_proc_spec *spec, struct plat_proc_result *r);

#endif
