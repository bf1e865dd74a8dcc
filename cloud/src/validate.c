/* SPDX-License-Identifier: Apache-2.0 */
/* Topic, size, decode and field checks of incoming messages. Pure: no I/O, no clock, no globals.
 * Every failure names one machine-readable reason and a human detail. */
#include "validate.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const reason_names[INGEST_REASON_COUNT] = {
    [INGEST_REASON_UNKNOWN_TOPIC] = "unknown_topic",
    [INGEST_REASON_OVERSIZE] = "oversize",
    [INGEST_REASON_DECODE_FAILED] = "decode_failed",
    [INGEST_REASON_ID_MISMATCH] = "id_mismatch",
    [INGEST_REASON_BAD_EPOCH] = "bad_epoch",
    [INGEST_REASON_NO_SAMPLES] = "no_samples",
    [INGEST_REASON_TOO_MANY_SAMPLES] = "too_many_samples",
    [INGEST_REASON_BAD_SEQ] = "bad_seq",
    [INGEST_REASON_BAD_TIME] = "bad_time",
    [INGEST_REASON_TOO_MANY_METRICS] = "too_many_metrics",
    [INGEST_REASON_BAD_METRIC_NAME] = "bad_metric_name",
    [INGEST_REASON_BAD_UNIT] = "bad_unit",
    [INGEST_REASON_NON_FINITE_VALUE] = "non_finite_value",
    [INGEST_REASON_BAD_DROPPED_RANGE] = "bad_dropped_range",
    [INGEST_REASON_BAD_PRESENCE] = "bad_presence",
    [INGEST_REASON_BAD_RESULT] = "bad_result",
    [INGEST_REASON_BAD_REPORTED] = "bad_reported",
};

const char *ingest_reason_name(enum ingest_reason r)
{
    return (unsigned)r < INGEST_REASON_COUNT ? reason_names[r] : "unknown";
}

__attribute__((format(printf, 3, 4))) static enum iot_err
reject(struct ingest_reject *rej, enum ingest_reason reason, const char *fmt, ...)
{
    rej->reason = reason;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rej->detail, sizeof rej->detail, fmt, ap);
    va_end(ap);
    return IOT_ERR_MALFORMED;
}

static bool metric_name_ok(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (n >= INGEST_METRIC_NAME_MAX)
            return false;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == ':' || c == '-'))
            return false;
    }
    return n > 0;
}

static bool unit_ok(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        if (n >= INGEST_UNIT_MAX || (unsigned char)s[n] < 0x20 || s[n] == 0x7f)
            return false;
    }
    return true;
}

/* Device-chosen strings end up in logs and details: keep them short and printable there. */
static const char *safe_str(const char *s, char *buf, size_t cap)
{
    size_t i = 0;
    for (; s && s[i] && i + 1 < cap; i++)
        buf[i] = ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e) ? '?' : s[i];
    buf[i] = 0;
    return buf;
}

static enum iot_err check_sample(const Iot__V1__Sample *s, size_t idx, int64_t received_ms,
                                 struct ingest_reject *rej)
{
    if (!s)
        return reject(rej, INGEST_REASON_DECODE_FAILED, "sample %zu missing", idx);
    if (s->seq == 0)
        return reject(rej, INGEST_REASON_BAD_SEQ, "sample %zu: seq 0 (seq starts at 1)", idx);
    if (s->time_ms < INGEST_MIN_TIME_MS || s->time_ms > received_ms + INGEST_MAX_FUTURE_MS)
        return reject(rej, INGEST_REASON_BAD_TIME,
                      "sample seq %llu: time_ms %lld outside [2000-01-01, receive time + 1 day]",
                      (unsigned long long)s->seq, (long long)s->time_ms);
    if (s->n_metrics > INGEST_MAX_METRICS)
        return reject(rej, INGEST_REASON_TOO_MANY_METRICS, "sample seq %llu: %zu metrics (max %d)",
                      (unsigned long long)s->seq, s->n_metrics, INGEST_MAX_METRICS);
    for (size_t j = 0; j < s->n_metrics; j++) {
        const Iot__V1__Metric *m = s->metrics[j];
        char buf[INGEST_METRIC_NAME_MAX + 1];
        if (!m || !m->name)
            return reject(rej, INGEST_REASON_DECODE_FAILED, "sample seq %llu: metric %zu missing",
                          (unsigned long long)s->seq, j);
        if (!metric_name_ok(m->name))
            return reject(rej, INGEST_REASON_BAD_METRIC_NAME,
                          "sample seq %llu: metric %zu name '%s' not [A-Za-z0-9_.:-]{1,64}",
                          (unsigned long long)s->seq, j, safe_str(m->name, buf, sizeof buf));
        if (m->unit && !unit_ok(m->unit))
            return reject(rej, INGEST_REASON_BAD_UNIT,
                          "sample seq %llu: metric %s unit too long or not printable",
                          (unsigned long long)s->seq, m->name);
        if (!isfinite(m->value))
            return reject(rej, INGEST_REASON_NON_FINITE_VALUE, "sample seq %llu: metric %s is %s",
                          (unsigned long long)s->seq, m->name, isnan(m->value) ? "NaN" : "Inf");
    }
    return IOT_OK;
}

enum iot_err ingest_validate_telemetry(const Iot__V1__TelemetryBatch *b, const char *topic_id,
                                       int64_t received_ms, struct ingest_reject *rej)
{
    char buf[IOT_DEVICE_ID_MAX + 1];
    if (!b || !topic_id || !rej)
        return IOT_ERR_INVAL;
    if (!b->device_id || strcmp(b->device_id, topic_id) != 0)
        return reject(rej, INGEST_REASON_ID_MISMATCH, "payload device_id '%s' != topic id '%s'",
                      safe_str(b->device_id, buf, sizeof buf), topic_id);
    if (b->epoch == 0)
        return reject(rej, INGEST_REASON_BAD_EPOCH, "epoch is 0");
    if (b->n_samples == 0)
        return reject(rej, INGEST_REASON_NO_SAMPLES, "batch has no samples");
    if (b->n_samples > INGEST_MAX_SAMPLES)
        return reject(rej, INGEST_REASON_TOO_MANY_SAMPLES, "%zu samples (max %d)", b->n_samples,
                      INGEST_MAX_SAMPLES);
    for (size_t i = 0; i < b->n_samples; i++) {
        enum iot_err rc = check_sample(b->samples[i], i, received_ms, rej);
        if (rc != IOT_OK)
            return rc;
    }
    if (b->n_dropped > INGEST_MAX_DROPPED)
        return reject(rej, INGEST_REASON_BAD_DROPPED_RANGE, "%zu dropped ranges (max %d)",
                      b->n_dropped, INGEST_MAX_DROPPED);
    for (size_t i = 0; i < b->n_dropped; i++) {
        const Iot__V1__SeqRange *r = b->dropped[i];
        if (!r || r->first == 0 || r->first > r->last)
            return reject(rej, INGEST_REASON_BAD_DROPPED_RANGE,
                          "dropped range %zu: [%llu, %llu] (need 0 < first <= last)", i,
                          r ? (unsigned long long)r->first : 0ULL,
                          r ? (unsigned long long)r->last : 0ULL);
    }
    return IOT_OK;
}

enum iot_err ingest_validate_presence(const Iot__V1__Presence *p, const char *topic_id,
                                      struct ingest_reject *rej)
{
    char buf[IOT_DEVICE_ID_MAX + 1];
    if (!p || !topic_id || !rej)
        return IOT_ERR_INVAL;
    if (!p->device_id || strcmp(p->device_id, topic_id) != 0)
        return reject(rej, INGEST_REASON_ID_MISMATCH, "payload device_id '%s' != topic id '%s'",
                      safe_str(p->device_id, buf, sizeof buf), topic_id);
    if (p->state != IOT__V1__PRESENCE__STATE__ONLINE &&
        p->state != IOT__V1__PRESENCE__STATE__OFFLINE)
        return reject(rej, INGEST_REASON_BAD_PRESENCE, "state %d is neither ONLINE nor OFFLINE",
                      (int)p->state);
    if (p->agent_version && strlen(p->agent_version) > 64)
        return reject(rej, INGEST_REASON_BAD_PRESENCE, "agent_version longer than 64 bytes");
    return IOT_OK;
}

static bool text_ok(const char *s, size_t max)
{
    size_t n = 0;
    for (; s && s[n]; n++)
        if (n >= max)
            return false;
    return true;
}

enum iot_err ingest_validate_result(const Iot__V1__CommandResult *r, const char *topic_id,
                                    struct ingest_reject *rej)
{
    char buf[IOT_DEVICE_ID_MAX + 1];
    if (!r || !topic_id || !rej)
        return IOT_ERR_INVAL;
    if (!r->device_id || strcmp(r->device_id, topic_id) != 0)
        return reject(rej, INGEST_REASON_ID_MISMATCH, "payload device_id '%s' != topic id '%s'",
                      safe_str(r->device_id, buf, sizeof buf), topic_id);
    if (!r->command_id || !r->command_id[0] || !text_ok(r->command_id, 128))
        return reject(rej, INGEST_REASON_BAD_RESULT, "command_id empty or longer than 128 bytes");
    if (r->status < IOT__V1__COMMAND_RESULT__STATUS__OK ||
        r->status > IOT__V1__COMMAND_RESULT__STATUS__BAD_SIGNATURE)
        return reject(rej, INGEST_REASON_BAD_RESULT, "status %d unknown", (int)r->status);
    if (!text_ok(r->message, INGEST_MAX_RESULT_MESSAGE))
        return reject(rej, INGEST_REASON_BAD_RESULT, "message longer than %d bytes",
                      INGEST_MAX_RESULT_MESSAGE);
    if (r->n_outputs > INGEST_MAX_OUTPUTS)
        return reject(rej, INGEST_REASON_BAD_RESULT, "%zu outputs (max %d)", r->n_outputs,
                      INGEST_MAX_OUTPUTS);
    for (size_t i = 0; i < r->n_outputs; i++)
        if (!r->outputs[i] || !r->outputs[i]->key || !text_ok(r->outputs[i]->key, 64) ||
            !text_ok(r->outputs[i]->value, INGEST_MAX_OUTPUT_VALUE))
            return reject(rej, INGEST_REASON_BAD_RESULT,
                          "output %zu: key over 64 or value over %d bytes", i,
                          INGEST_MAX_OUTPUT_VALUE);
    return IOT_OK;
}

enum iot_err ingest_validate_reported(const Iot__V1__ReportedState *r, const char *topic_id,
                                      struct ingest_reject *rej)
{
    char buf[IOT_DEVICE_ID_MAX + 1];
    if (!r || !topic_id || !rej)
        return IOT_ERR_INVAL;
    if (!r->device_id || strcmp(r->device_id, topic_id) != 0)
        return reject(rej, INGEST_REASON_ID_MISMATCH, "payload device_id '%s' != topic id '%s'",
                      safe_str(r->device_id, buf, sizeof buf), topic_id);
    if (r->version > (uint64_t)INT64_MAX)
        return reject(rej, INGEST_REASON_BAD_REPORTED, "version above 2^63");
    if (r->n_settings > INGEST_MAX_OUTPUTS)
        return reject(rej, INGEST_REASON_BAD_REPORTED, "%zu settings (max %d)", r->n_settings,
                      INGEST_MAX_OUTPUTS);
    for (size_t i = 0; i < r->n_settings; i++)
        if (!r->settings[i] || !r->settings[i]->key || !r->settings[i]->key[0] ||
            !text_ok(r->settings[i]->key, 64) ||
            !text_ok(r->settings[i]->value, INGEST_MAX_SETTING_VALUE))
            return reject(rej, INGEST_REASON_BAD_REPORTED,
                          "setting %zu: empty key, key over 64 or value over %d bytes", i,
                          INGEST_MAX_SETTING_VALUE);
    return IOT_OK;
}

enum iot_err ingest_message_decode(const char *topic, const uint8_t *payload, size_t len,
                                   int64_t received_ms, struct ingest_decoded *out,
                                   struct ingest_reject *rej)
{
    return ingest_message_decode_in(NULL, topic, payload, len, received_ms, out, rej);
}

enum iot_err ingest_message_decode_in(struct iot_pb_arena *arena, const char *topic,
                                      const uint8_t *payload, size_t len, int64_t received_ms,
                                      struct ingest_decoded *out, struct ingest_reject *rej)
{
    if (!topic || (!payload && len) || !out || !rej)
        return IOT_ERR_INVAL;
    memset(out, 0, sizeof *out);
    ProtobufCAllocator *alloc = arena ? &arena->alloc : iot_pb_allocator();
    out->in_arena = arena != NULL;
    if (iot_topic_parse(topic, out->device_id, &out->kind) != IOT_OK ||
        (out->kind != IOT_TOPIC_TELEMETRY && out->kind != IOT_TOPIC_STATUS &&
         out->kind != IOT_TOPIC_RESPONSES && out->kind != IOT_TOPIC_REPORTED))
        return reject(rej, INGEST_REASON_UNKNOWN_TOPIC,
                      "not devices/{id}/telemetry, /status, /responses or /state/reported");
    if (len > IOT_MAX_PAYLOAD)
        return reject(rej, INGEST_REASON_OVERSIZE, "payload %zu bytes > %u", len, IOT_MAX_PAYLOAD);

    enum iot_err rc;
    if (out->kind == IOT_TOPIC_TELEMETRY) {
        out->telemetry = iot__v1__telemetry_batch__unpack(alloc, len, payload);
        if (!out->telemetry)
            return reject(rej, INGEST_REASON_DECODE_FAILED, "not a TelemetryBatch (%zu bytes)", len);
        rc = ingest_validate_telemetry(out->telemetry, out->device_id, received_ms, rej);
    } else if (out->kind == IOT_TOPIC_STATUS) {
        out->presence = iot__v1__presence__unpack(alloc, len, payload);
        if (!out->presence)
            return reject(rej, INGEST_REASON_DECODE_FAILED, "not a Presence (%zu bytes)", len);
        rc = ingest_validate_presence(out->presence, out->device_id, rej);
    } else if (out->kind == IOT_TOPIC_RESPONSES) {
        out->result = iot__v1__command_result__unpack(alloc, len, payload);
        if (!out->result)
            return reject(rej, INGEST_REASON_DECODE_FAILED, "not a CommandResult (%zu bytes)", len);
        rc = ingest_validate_result(out->result, out->device_id, rej);
    } else {
        out->reported = iot__v1__reported_state__unpack(alloc, len, payload);
        if (!out->reported)
            return reject(rej, INGEST_REASON_DECODE_FAILED, "not a ReportedState (%zu bytes)", len);
        rc = ingest_validate_reported(out->reported, out->device_id, rej);
    }
    if (rc != IOT_OK)
        ingest_decoded_free(out);
    return rc;
}

void ingest_decoded_free(struct ingest_decoded *d)
{
    if (!d)
        return;
    if (d->in_arena) { /* the arena's reset releases it */
        d->telemetry = NULL;
        d->presence = NULL;
        d->result = NULL;
        d->reported = NULL;
        return;
    }
    if (d->telemetry)
        iot__v1__telemetry_batch__free_unpacked(d->telemetry, iot_pb_allocator());
    if (d->presence)
        iot__v1__presence__free_unpacked(d->presence, iot_pb_allocator());
    if (d->result)
        iot__v1__command_result__free_unpacked(d->result, iot_pb_allocator());
    if (d->reported)
        iot__v1__reported_state__free_unpacked(d->reported, iot_pb_allocator());
    d->telemetry = NULL;
    d->presence = NULL;
    d->result = NULL;
    d->reported = NULL;
}
