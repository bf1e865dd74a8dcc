/* SPDX-License-Identifier: Apache-2.0 */
/* iotctl output for people: aligned tables, times, ages, numbers; and JSON for scripts. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "iotctl.h"

struct table {
    size_t ncols, nrows, cap;
    char **cells; /* nrows * ncols, row 0 = headers */
};

struct table *table_new(size_t ncols, const char *const *headers)
{
    struct table *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->ncols = ncols;
    table_add(t, headers);
    return t;
}

void table_add(struct table *t, const char *const *cells)
{
    if (!t)
        return;
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **p = realloc(t->cells, cap * t->ncols * sizeof *p);
        if (!p)
            return;
        t->cells = p;
        t->cap = cap;
    }
    for (size_t i = 0; i < t->ncols; i++)
        t->cells[t->nrows * t->ncols + i] = strdup(cells[i] ? cells[i] : "");
    t->nrows++;
}

void table_print(struct table *t)
{
    if (!t)
        return;
    size_t w[32] = {0};
    size_t nc = t->ncols < 32 ? t->ncols : 32;
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t i = 0; i < nc; i++) {
            const char *cell = t->cells[r * t->ncols + i];
            size_t l = cell ? strlen(cell) : 0;
            if (l > w[i])
                w[i] = l;
        }
    }
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t i = 0; i < nc; i++) {
            const char *cell = t->cells[r * t->ncols + i];
            if (i + 1 == nc)
                printf("%s\n", cell ? cell : "");
            else
                printf("%-*s  ", (int)w[i], cell ? cell : "");
        }
    }
}

void table_free(struct table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t);
}

int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void fmt_time_ms(double ms, char *out, size_t cap)
{
    if (!(ms > 0)) {
        snprintf(out, cap, "-");
        return;
    }
    time_t s = (time_t)(ms / 1000.0);
    struct tm tm;
    gmtime_r(&s, &tm);
    char d[32];
    strftime(d, sizeof d, "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(out, cap, "%s.%03dZ", d, (int)fmod(ms, 1000.0));
}

void fmt_age_ms(double ms, char *out, size_t cap)
{
    if (!(ms > 0)) {
        snprintf(out, cap, "-");
        return;
    }
    double s = ((double)now_ms() - ms) / 1000.0;
    if (s < 0)
        s = 0;
    if (s < 120)
        snprintf(out, cap, "%.0fs ago", s);
    else if (s < 7200)
        snprintf(out, cap, "%.0fm ago", s / 60);
    else if (s < 172800)
        snprintf(out, cap, "%.0fh ago", s / 3600);
    else
        snprintf(out, cap, "%.0fd ago", s / 86400);
}

void fmt_num(double v, char *out, size_t cap)
{
    if (v == floor(v) && fabs(v) < 1e15)
        snprintf(out, cap, "%.0f", v);
    else
        snprintf(out, cap, "%.3f", v);
}

void print_json(const cJSON *j)
{
    char *s = cJSON_Print(j);
    if (s)
        printf("%s\n", s);
    cJSON_free(s);
}

const char *jstr(const cJSON *o, const char *key, const char *dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) && v->valuestring ? v->valuestring : dflt;
}

double jnum(const cJSON *o, const char *key, double dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

void fmt_kv(const cJSON *obj, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, obj)
    {
        char v[128];
        if (cJSON_IsString(it))
            snprintf(v, sizeof v, "%s", it->valuestring);
        else if (cJSON_IsNumber(it))
            fmt_num(it->valuedouble, v, sizeof v);
        else if (cJSON_IsBool(it))
            snprintf(v, sizeof v, "%s", cJSON_IsTrue(it) ? "true" : "false");
        else
            snprintf(v, sizeof v, "...");
        int n = snprintf(out + used, cap - used, "%s%s=%s", used ? " " : "",
                         it->string ? it->string : "?", v);
        if (n < 0 || (size_t)n >= cap - used)
            break;
        used += (size_t)n;
    }
}
