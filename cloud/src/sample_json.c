/* SPDX-License-Identifier: Apache-2.0 */
/* Hand-written rather than cJSON: this runs for every stored sample on the ingest worker, and
 * building a cJSON tree costs an allocation per node; this appends into one reused buffer. */
#include "sample_json.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
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

/* Fixed-point fast path: the fewest decimals d (0..9) such that the integer r = |v| * 10^d, read
 * back as r / 10^d, is exactly v. Both are exact doubles (r < 2^53), so the correctly rounded
 * division equals what a JSON reader's strtod makes of the decimal text: the text reads back
 * exactly. Sensor values (21.5, 0.1, 1013.25, 7) take this path at a few dozen instructions;
 * snprintf("%.15g") plus the strtod check cost ~4,000 per value, a quarter of the ingest worker's
 * time per message (callgrind). Returns the length written to @p out, or 0 for "not found". */
static size_t fixed_point(double v, char out[32])
{
    static const double p10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
    double a = fabs(v);
    for (unsigned d = 0; d < sizeof p10 / sizeof p10[0]; d++) {
        double scaled = a * p10[d];
        if (scaled >= 9007199254740992.0) /* 2^53: no longer an exact integer */
            return 0;
        uint64_t r = (uint64_t)(scaled + 0.5);
        if ((double)r / p10[d] != a)
            continue;
        char digits[24];
        unsigned nd = 0;
        do {
            digits[nd++] = (char)('0' + r % 10);
            r /= 10;
        } while (r);
        while (nd <= d) /* at least one digit before the point */
            digits[nd++] = '0';
        size_t n = 0;
        if (signbit(v))
            out[n++] = '-';
        for (unsigned i = nd; i-- > 0;) {
            out[n++] = digits[i];
            if (i == d && d)
                out[n++] = '.';
        }
        return n;
    }
    return 0;
}

/* Fixed-point when short, else the shortest of %.15g and %.17g that reads back exactly (21.5 stays
 * "21.5", not 21.500000000000000). */
static bool put_double(struct sample_json *o, double v)
{
    if (!isfinite(v))
        return put_raw(o, "null", 4);
    char tmp[32];
    size_t fast = fixed_point(v, tmp);
    if (fast)
        return put_raw(o, tmp, fast);
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
