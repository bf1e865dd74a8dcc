/* SPDX-License-Identifier: Apache-2.0 */
/* Hand-written rather than cJSON: this runs for every stored sample on the ingest worker, and
 * building a cJSON tree costs an allocation per node; this appends into one reused buffer. */
#include "sample_json.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "iot/mem.h"

static bool reserve(struct sample_json *o, size_t more)
{
    if (o->len + more + 1 <= o->cap)
        return true;
    size_t cap = o->cap ? o->cap : 256;
    while (cap < o->len + more + 1)
        cap *= 2;
    char *b = iot_realloc(o->buf, cap);
    if (!b)
        return false;
    o->buf = b;
    o->cap = cap;
    return true;
}

static bool put_str(struct sample_json *o, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;
    while (s[n])
        n++;
    if (!reserve(o, n * 6 + 2)) /* worst case: every byte as \u00XX */
        return false;
    char *p = o->buf + o->len;
    *p++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            *p++ = '\\';
            *p++ = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            *p++ = '\\';
            *p++ = 'u';
            *p++ = '0';
            *p++ = '0';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 15];
        } else {
            *p++ = (char)c;
        }
    }
    *p++ = '"';
    o->len = (size_t)(p - o->buf);
    return true;
}

static bool put_raw(struct sample_json *o, const char *s, size_t n)
{
    if (!reserve(o, n))
        return false;
    for (size_t i = 0; i < n; i++)
        o->buf[o->len++] = s[i];
    return true;
}

/* Shortest of %.15g and %.17g that reads back exactly (21.5 stays "21.5", not 21.500000000000000). */
static bool put_double(struct sample_json *o, double v)
{
    if (!isfinite(v))
        return put_raw(o, "null", 4);
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%.15g", v);
    if (strtod(tmp, NULL) != v)
        n = snprintf(tmp, sizeof tmp, "%.17g", v);
    return n > 0 && put_raw(o, tmp, (size_t)n);
}

enum iot_err sample_json_encode(struct sample_json *o, const Iot__V1__Sample *smp)
{
    o->len = 0;
    bool ok = put_raw(o, "[", 1);
    for (size_t j = 0; ok && j < smp->n_metrics; j++) {
        const Iot__V1__Metric *m = smp->metrics[j];
        ok = put_raw(o, j ? ",[" : "[", j ? 2 : 1) && put_str(o, m->name ? m->name : "") &&
             put_raw(o, ",", 1) && put_double(o, m->value);
        if (ok && m->unit && m->unit[0])
            ok = put_raw(o, ",", 1) && put_str(o, m->unit);
        ok = ok && put_raw(o, "]", 1);
    }
    ok = ok && put_raw(o, "]", 1);
    if (!ok)
        return IOT_ERR_NOMEM;
    o->buf[o->len] = '\0';
    return IOT_OK;
}

void sample_json_free(struct sample_json *o)
{
    iot_free(o->buf);
    *o = (struct sample_json){0};
}
