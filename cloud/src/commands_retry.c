/* SPDX-License-Identifier: Apache-2.0 */
/* The retry list of device-driven command updates (see commands_internal.h): a bounded FIFO with a
 * backoff per entry. Pure bookkeeping: no store, no lock, no clock of its own (times are passed
 * in), so the unit tests drive it alone. commands_dispatch.c decides what to keep and retries. */
#include <stdint.h>
#include <string.h>

#include "commands_internal.h"
#include "iot/mem.h"

void commands__retry_init(struct retry_list *r, size_t max)
{
    memset(r, 0, sizeof *r);
    r->max = max;
}

void commands__retry_deinit(struct retry_list *r)
{
    for (size_t i = 0; i < r->n; i++)
        iot_free(r->v[i].ev.result_json);
    iot_free(r->v);
    memset(r, 0, sizeof *r);
}

uint32_t commands__retry_backoff_ms(unsigned tries)
{
    uint32_t ms = RETRY_BACKOFF_MIN_MS;
    for (unsigned i = 1; i < tries && ms < RETRY_BACKOFF_MAX_MS; i++)
        ms *= 2;
    return ms < RETRY_BACKOFF_MAX_MS ? ms : RETRY_BACKOFF_MAX_MS;
}

enum iot_err commands__retry_push(struct retry_list *r, struct inbox_ev *ev, int64_t at_ms,
                                  enum iot_err err, uint64_t now_ms)
{
    if (r->n >= r->max)
        return IOT_ERR_FULL;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        if (cap > r->max)
            cap = r->max;
        struct retry_entry *v = iot_realloc(r->v, cap * sizeof *v);
        if (!v)
            return IOT_ERR_NOMEM;
        r->v = v;
        r->cap = cap;
    }
    struct retry_entry *e = &r->v[r->n++];
    e->ev = *ev;
    ev->result_json = NULL;
    e->at_ms = at_ms;
    e->first_mono_ms = now_ms;
    e->tries = 1;
    e->due_mono_ms = now_ms + commands__retry_backoff_ms(e->tries);
    e->last_err = err;
    /* Not due before an older update of its command (see commands__retry_wait_ms). */
    for (size_t i = 0; i + 1 < r->n; i++)
        if (strcmp(r->v[i].ev.cid, e->ev.cid) == 0 && r->v[i].due_mono_ms > e->due_mono_ms)
            e->due_mono_ms = r->v[i].due_mono_ms;
    return IOT_OK;
}

/* An entry before index @p end names @p cid. */
static bool has_before(const struct retry_list *r, const char *cid, size_t end)
{
    for (size_t i = 0; i < end; i++)
        if (strcmp(r->v[i].ev.cid, cid) == 0)
            return true;
    return false;
}

bool commands__retry_has(const struct retry_list *r, const char *cid)
{
    return has_before(r, cid, r->n);
}

size_t commands__retry_next(const struct retry_list *r, size_t from, uint64_t now_ms)
{
    for (size_t i = from; i < r->n; i++)
        if (r->v[i].due_mono_ms <= now_ms && !has_before(r, r->v[i].ev.cid, i))
            return i;
    return r->n;
}

void commands__retry_failed(struct retry_list *r, size_t i, enum iot_err err, uint64_t now_ms)
{
    struct retry_entry *e = &r->v[i];
    e->tries++;
    e->due_mono_ms = now_ms + commands__retry_backoff_ms(e->tries);
    e->last_err = err;
    /* Newer updates of the command wait for it: none is due earlier (commands__retry_wait_ms). */
    for (size_t j = i + 1; j < r->n; j++)
        if (r->v[j].due_mono_ms < e->due_mono_ms && strcmp(r->v[j].ev.cid, e->ev.cid) == 0)
            r->v[j].due_mono_ms = e->due_mono_ms;
}

void commands__retry_remove(struct retry_list *r, size_t i)
{
    iot_free(r->v[i].ev.result_json);
    memmove(&r->v[i], &r->v[i + 1], (r->n - i - 1) * sizeof r->v[0]);
    r->n--;
}

/* Every entry counts, not only the oldest of each command: a newer update is never due before an
 * older one of its command (push and failed keep it so), so the minimum is an entry that can go. */
uint32_t commands__retry_wait_ms(const struct retry_list *r, uint64_t now_ms)
{
    uint64_t due = UINT64_MAX;
    for (size_t i = 0; i < r->n; i++)
        if (r->v[i].due_mono_ms < due)
            due = r->v[i].due_mono_ms;
    if (due == UINT64_MAX)
        return UINT32_MAX;
    if (due <= now_ms)
        return 0;
    return due - now_ms > UINT32_MAX - 1 ? UINT32_MAX - 1 : (uint32_t)(due - now_ms);
}
