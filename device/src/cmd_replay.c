/* SPDX-License-Identifier: Apache-2.0 */
/* The replay set of command ids (see cmd_replay.h). File layout, little-endian:
 *   "IOTRPL02" | u32 count | i64 floor_issued_ms
 *   | count x (u8 state | u16 id_len | id | i64 issued_ms | i64 expires_ms | u32 res_len | res)
 *   | sha256
 * oldest first. "IOTRPL01" (no floor, no times) is still read. The whole file is rewritten per
 * change: commands are rare, the file is bounded by max x (id + AGENT_REPLAY_RESULT_MAX), and one
 * atomic replace keeps it simple and crash-safe. */
#define IOT_LOG_TAG "agent.replay"
#include "cmd_replay.h"

#include <stdio.h>
#include <string.h>

#include "iot/log.h"
#include "iot/mem.h"
#include "iot/plat_crypto.h"
#include "iot/plat_file.h"

#define REPLAY_MAGIC "IOTRPL02"
#define REPLAY_MAGIC_V1 "IOTRPL01"
#define REPLAY_ID_MAX 255u

struct entry {
    char *id; /* NULL = free */
    uint8_t state;
    int64_t issued_ms, expires_ms; /* of the signed Command; 0 = unknown */
    uint8_t *res;
    size_t len;
};

struct agent_replay {
    char path[600];
    uint32_t max;
    struct entry *e; /* ring of max entries */
    uint32_t head;   /* oldest */
    uint32_t n;
    int64_t floor_ms; /* highest issued_ms ever evicted */
};

static struct entry *at(const struct agent_replay *r, uint32_t i)
{
    return &r->e[(r->head + i) % r->max];
}

static void entry_free(struct entry *e)
{
    iot_free(e->id);
    iot_free(e->res);
    memset(e, 0, sizeof *e);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint8_t *put_i64(uint8_t *p, int64_t v)
{
    uint64_t u = (uint64_t)v;
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(u >> (8 * i));
    return p + 8;
}

static int64_t get_i64(const uint8_t *p)
{
    uint64_t u = 0;
    for (int i = 8; i-- > 0;)
        u = u << 8 | p[i];
    return (int64_t)u;
}

static enum iot_err save(const struct agent_replay *r)
{
    size_t size = 8 + 4 + 8 + 32;
    for (uint32_t i = 0; i < r->n; i++)
        size += 1 + 2 + strlen(at(r, i)->id) + 8 + 8 + 4 + at(r, i)->len;
    uint8_t *buf = iot_malloc(size);
    if (!buf)
        return IOT_ERR_NOMEM;
    uint8_t *p = buf;
    memcpy(p, REPLAY_MAGIC, 8);
    p += 8;
    put_u32(p, r->n);
    p += 4;
    p = put_i64(p, r->floor_ms);
    for (uint32_t i = 0; i < r->n; i++) {
        const struct entry *e = at(r, i);
        size_t idl = strlen(e->id);
        *p++ = e->state;
        *p++ = (uint8_t)idl;
        *p++ = (uint8_t)(idl >> 8);
        memcpy(p, e->id, idl);
        p += idl;
        p = put_i64(p, e->issued_ms);
        p = put_i64(p, e->expires_ms);
        put_u32(p, (uint32_t)e->len);
        p += 4;
        if (e->len)
            memcpy(p, e->res, e->len);
        p += e->len;
    }
    plat_sha256(buf, (size_t)(p - buf), p);
    enum iot_err rc = plat_file_write_atomic(r->path, buf, size, true);
    iot_free(buf);
    if (rc != IOT_OK)
        IOT_LOG(IOT_LOG_ERROR, "cannot write %s: %s", r->path, iot_err_str(rc));
    return rc;
}

/* Append at the newest end, evicting the oldest when full. Takes ownership of @p e's buffers.
 * An evicted id could be re-delivered and would look new: the floor remembers how recent the
 * forgotten commands were, so the caller can refuse anything issued at or before it. */
static void push(struct agent_replay *r, struct entry *e)
{
    if (r->n == r->max) {
        if (at(r, 0)->issued_ms > r->floor_ms)
            r->floor_ms = at(r, 0)->issued_ms;
        entry_free(at(r, 0));
        r->head = (r->head + 1) % r->max;
        r->n--;
    }
    *at(r, r->n) = *e;
    r->n++;
}

/* Bounds-checked cursor over the file. */
struct cur {
    const uint8_t *p, *end;
};

static bool take(struct cur *c, size_t n, const uint8_t **out)
{
    if ((size_t)(c->end - c->p) < n)
        return false;
    *out = c->p;
    c->p += n;
    return true;
}

static enum iot_err parse(struct agent_replay *r, const uint8_t *buf, size_t len)
{
    uint8_t sum[32];
    if (len < 8 + 4 + 32)
        return IOT_ERR_MALFORMED;
    bool v1 = memcmp(buf, REPLAY_MAGIC_V1, 8) == 0;
    if (!v1 && memcmp(buf, REPLAY_MAGIC, 8) != 0)
        return IOT_ERR_MALFORMED;
    plat_sha256(buf, len - 32, sum);
    if (plat_ct_memcmp(sum, buf + len - 32, 32) != 0)
        return IOT_ERR_MALFORMED;
    struct cur c = {buf + 12, buf + len - 32};
    uint32_t count = get_u32(buf + 8);
    if (!v1) {
        const uint8_t *fl;
        if (!take(&c, 8, &fl))
            return IOT_ERR_MALFORMED;
        r->floor_ms = get_i64(fl);
    } else {
        IOT_LOG(IOT_LOG_INFO, "%s: format %s (no command times), rewritten as %s at the next "
                "change", r->path, REPLAY_MAGIC_V1, REPLAY_MAGIC);
    }
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t *hdr, *id, *times = NULL, *rl, *res;
        if (!take(&c, 3, &hdr))
            return IOT_ERR_MALFORMED;
        size_t idl = (size_t)hdr[1] | (size_t)hdr[2] << 8;
        if (idl == 0 || idl > REPLAY_ID_MAX || !take(&c, idl, &id) ||
            (!v1 && !take(&c, 16, &times)) || !take(&c, 4, &rl))
            return IOT_ERR_MALFORMED;
        size_t resl = get_u32(rl);
        if (resl > AGENT_REPLAY_RESULT_MAX || !take(&c, resl, &res) ||
            (hdr[0] != AGENT_REPLAY_RUNNING && hdr[0] != AGENT_REPLAY_DONE))
            return IOT_ERR_MALFORMED;
        struct entry e = {.state = hdr[0], .len = resl};
        if (times) {
            e.issued_ms = get_i64(times);
            e.expires_ms = get_i64(times + 8);
        }
        e.id = iot_malloc(idl + 1);
        e.res = resl ? iot_malloc(resl) : NULL;
        if (!e.id || (resl && !e.res)) {
            entry_free(&e);
            return IOT_ERR_NOMEM;
        }
        memcpy(e.id, id, idl);
        e.id[idl] = 0;
        if (resl)
            memcpy(e.res, res, resl);
        push(r, &e); /* a smaller max than last time keeps the newest (and raises the floor) */
    }
    return c.p == c.end ? IOT_OK : IOT_ERR_MALFORMED;
}

enum iot_err agent_replay_open(const char *dir, uint32_t max, struct agent_replay **out)
{
    if (!dir || !out || max == 0)
        return IOT_ERR_INVAL;
    struct agent_replay *r = iot_calloc(1, sizeof *r);
    if (!r)
        return IOT_ERR_NOMEM;
    r->max = max;
    r->e = iot_calloc(max, sizeof *r->e);
    if (!r->e ||
        snprintf(r->path, sizeof r->path, "%s/%s", dir, AGENT_REPLAY_FILE) >= (int)sizeof r->path) {
        enum iot_err err = r->e ? IOT_ERR_INVAL : IOT_ERR_NOMEM;
        agent_replay_close(r);
        return err;
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    enum iot_err rc = plat_file_read(r->path, 64u * 1024u * 1024u, &buf, &len);
    if (rc == IOT_ERR_NOT_FOUND) {
        *out = r;
        return IOT_OK;
    }
    if (rc == IOT_OK)
        rc = parse(r, buf, len);
    iot_free(buf);
    if (rc == IOT_ERR_MALFORMED || rc == IOT_ERR_FULL) {
        char bad[620];
        snprintf(bad, sizeof bad, "%s.bad", r->path);
        IOT_LOG(IOT_LOG_ERROR, "%s is damaged; moved to %s, starting with no remembered commands "
                "(a command re-delivered before it expires could run again)", r->path, bad);
        for (uint32_t i = 0; i < r->n; i++)
            entry_free(at(r, i));
        r->n = r->head = 0;
        r->floor_ms = 0;
        if (rename(r->path, bad) != 0)
            IOT_LOG(IOT_LOG_WARN, "cannot rename %s", r->path);
        rc = IOT_OK;
    }
    if (rc != IOT_OK) {
        IOT_LOG(IOT_LOG_ERROR, "cannot read %s: %s", r->path, iot_err_str(rc));
        agent_replay_close(r);
        return rc;
    }
    *out = r;
    return IOT_OK;
}

void agent_replay_close(struct agent_replay *r)
{
    if (!r)
        return;
    for (uint32_t i = 0; r->e && i < r->n; i++)
        entry_free(at(r, i));
    iot_free(r->e);
    iot_free(r);
}

static struct entry *find(const struct agent_replay *r, const char *id)
{
    for (uint32_t i = r->n; i-- > 0;) {
        struct entry *e = at(r, i);
        if (strcmp(e->id, id) == 0)
            return e;
    }
    return NULL;
}

enum agent_replay_state agent_replay_find(const struct agent_replay *r, const char *id,
                                          const uint8_t **res, size_t *len)
{
    const struct entry *e = r && id ? find(r, id) : NULL;
    if (!e)
        return AGENT_REPLAY_NONE;
    if (res)
        *res = e->res;
    if (len)
        *len = e->len;
    return (enum agent_replay_state)e->state;
}

static bool id_ok(const char *id) { return id && id[0] && strlen(id) <= REPLAY_ID_MAX; }

enum iot_err agent_replay_begin(struct agent_replay *r, const char *id, int64_t issued_ms,
                                int64_t expires_ms)
{
    if (!r || !id_ok(id) || find(r, id))
        return IOT_ERR_INVAL;
    struct entry e = {.id = iot_strdup(id), .state = AGENT_REPLAY_RUNNING,
                      .issued_ms = issued_ms, .expires_ms = expires_ms};
    if (!e.id)
        return IOT_ERR_NOMEM;
    push(r, &e);
    enum iot_err rc = save(r);
    if (rc != IOT_OK) {
        /* Not on disk: forget it, so the caller's refusal to run it is the whole story. (An id
         * evicted for it stays forgotten and the floor stays raised: never lowered.) */
        r->n--;
        entry_free(at(r, r->n));
    }
    return rc;
}

enum iot_err agent_replay_finish(struct agent_replay *r, const char *id, const uint8_t *res,
                                 size_t len)
{
    if (!r || !id_ok(id) || len > AGENT_REPLAY_RESULT_MAX || (len && !res))
        return IOT_ERR_INVAL;
    uint8_t *copy = len ? iot_malloc(len) : NULL;
    if (len && !copy)
        return IOT_ERR_NOMEM;
    if (len)
        memcpy(copy, res, len);
    struct entry *e = find(r, id);
    if (!e) {
        struct entry ne = {.id = iot_strdup(id)};
        if (!ne.id) {
            iot_free(copy);
            return IOT_ERR_NOMEM;
        }
        push(r, &ne);
        e = at(r, r->n - 1);
    }
    iot_free(e->res);
    e->res = copy;
    e->len = len;
    e->state = AGENT_REPLAY_DONE;
    return save(r);
}

size_t agent_replay_count(const struct agent_replay *r) { return r ? r->n : 0; }

int64_t agent_replay_floor_ms(const struct agent_replay *r) { return r ? r->floor_ms : 0; }
