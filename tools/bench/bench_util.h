/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the benchmark programs (header-only, not part of any product): monotonic time,
 * the process's CPU time, and "--name VALUE" options. */
#ifndef IOT_BENCH_UTIL_H
#define IOT_BENCH_UTIL_H
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/** @brief The monotonic clock in seconds (for intervals only; its origin is arbitrary). */
static inline double bench_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/** @brief The monotonic clock in whole microseconds (for intervals only). */
static inline long long bench_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/** @brief CPU seconds (user + system) this process has used so far, all threads. */
static inline double bench_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/**
 * @brief The value that follows the option @p name ("--port 1883") in argv[1..argc-1], or @p def
 * when the option is absent or has no value after it. The first occurrence wins.
 */
static inline const char *bench_arg_of(int argc, char **argv, const char *name, const char *def)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return def;
}

#endif
