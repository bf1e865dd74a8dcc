/* SPDX-License-Identifier: Apache-2.0 */
/* cJSON helpers (see json_util.h). */
#include "json_util.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "iot/mem.h"

void json_util_init(void)
{
    cJSON_Hooks h = {.malloc_fn = iot_malloc, .free_fn = iot_free};
    cJSON_InitHooks(&h);
}

bool json_name_ok(const char *s, size_t max)
{
    if (!s)
        return false;
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (n >= max)
            return false;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == ':' || c == '-'))
            return false;
    }
    return n > 0;
}

bool json_text_ok(const char *s, size_t max)
{
    if (!s)
        return false;
    size_t n = 0;
    for (; s[n]; n++) {
        unsigned char c = (unsigned char)s[n];
        if (n >= max || c < 0x20 || c == 0x7f)
            return false;
    }
    return true;
}

void json_add_raw(cJSON *obj, const char *key, const char *text)
{
    cJSON *v = text ? cJSON_Parse(text) : NULL;
    if (!v)
        v = cJSON_CreateNull();
    if (v && !cJSON_AddItemToObject(obj, key, v))
        cJSON_Delete(v);
}

void json_add_u64_str(cJSON *obj, const char *key, uint64_t v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    cJSON_AddStringToObject(obj, key, buf);
}

char *json_print(const cJSON *obj)
{
    return obj ? cJSON_PrintUnformatted(obj) : NULL;
}
