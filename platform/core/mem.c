/* SPDX-License-Identifier: Apache-2.0 */
/* Allocation wrappers with a failure-injection hook for unit tests. */
#include "iot/mem.h"

#include <stdlib.h>
#include <string.h>

static unsigned long fail_countdown; /* 0 = off */

static int should_fail(void)
{
    if (fail_countdown == 0)
        return 0;
    if (fail_countdown == 1)
        return 1; /* stays at 1: every later allocation fails too */
    fail_countdown--;
    return 0;
}

void iot_mem_fail_after(unsigned long nth) { fail_countdown = nth; }

void *iot_malloc(size_t n) { return should_fail() ? NULL : malloc(n ? n : 1); }

void *iot_calloc(size_t n, size_t size) { return should_fail() ? NULL : calloc(n ? n : 1, size ? size : 1); }

void *iot_realloc(void *p, size_t n) { return should_fail() ? NULL : realloc(p, n ? n : 1); }

void iot_free(void *p) { free(p); }

char *iot_strdup(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = iot_malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}
