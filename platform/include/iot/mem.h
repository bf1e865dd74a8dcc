/* SPDX-License-Identifier: Apache-2.0 */
/* All allocations of our code go through these, so tests can cap and fail them. */
#ifndef IOT_MEM_H
#define IOT_MEM_H
#include <stddef.h>

void *iot_malloc(size_t n);
void *iot_calloc(size_t n, size_t size);
void *iot_realloc(void *p, size_t n);
void iot_free(void *p);
/** @brief Duplicate a NUL-terminated string (NULL on NULL or on allocation failure). */
char *iot_strdup(const char *s);

/**
 * @brief Test hook: make the allocation that is the @p nth from now (1-based) and all later ones fail;
 * 0 turns failure injection off. Not thread-safe; for single-threaded unit tests.
 */
void iot_mem_fail_after(unsigned long nth);

#endif
