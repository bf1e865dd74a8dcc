/* SPDX-License-Identifier: Apache-2.0 */
/* The storage interface of ingestion: a struct of function pointers, so SQLite or PostgreSQL is
 * chosen at start-up ([cloud] storage). One writer thread uses a store; it is not thread-safe. */
#ifndef INGEST_STORE_H
#define INGEST_STORE_H
#include <stddef.h>
#include <stdint.h>

#include "ingest/config.h"
#include "iot.pb-c.h"
#include "iot/err.h"

/** Outcome of storing one validated TelemetryBatch. */
struct ingest_telemetry_result {
    uint32_t stored;    /**< samples inserted now (with their metrics) */
    uint32_t duplicate; /**< samples whose (device_id, epoch, seq) was already stored */
};

enum ingest_presence_result {
    INGEST_PRESENCE_APPLIED, /**< the device row now reflects this Presence */
    INGEST_PRESENCE_STALE    /**< older than what is stored (lower connection counter, or ONLINE
                                  after the OFFLINE of the same connection): ignored */
};

/** Sequence bookkeeping over all devices (for metrics), from the per-(device, epoch) summaries. */
struct ingest_seq_totals {
    uint64_t missing;     /**< samples missing between the lowest and highest stored seq of each
                               device epoch, not counting those the device reported dropped */
    uint64_t gap_epochs;  /**< device epochs with at least one missing sample */
    uint64_t dropped;     /**< samples the devices reported dropped (dropped_ranges) */
};

/** A message put aside. @p payload may be a prefix of what arrived (see ingest docs). */
struct ingest_dead_letter {
    int64_t received_ms;
    const char *topic;
    const char *reason; /**< machine-readable, e.g. "bad_seq" */
    const char *detail; /**< for humans */
    const uint8_t *payload;
    size_t len;
};

/**
 * Storage backend. All calls happen between begin() and commit()/rollback() except close().
 * Unsigned 64-bit protocol values (epoch, seq, connection) are stored as their two's-complement
 * int64 (a cast): order comparisons in SQL are therefore only meaningful below 2^63, which the
 * counters never reach; epochs are random and are compared for equality only.
 */
struct ingest_store_ops {
    /** @return IOT_OK, IOT_ERR_IO */
    enum iot_err (*begin)(void *ctx);
    /** @return IOT_OK, IOT_ERR_IO (the transaction is rolled back), IOT_ERR_AGAIN (rolled back: a
     *  concurrent transaction of another instance won a lock conflict; retry the batch) */
    enum iot_err (*commit)(void *ctx);
    void (*rollback)(void *ctx);
    /** Insert samples once per (device_id, epoch, seq), their metrics only for new rows, the dropped
     *  ranges, the per-(device, epoch) seq summary, and update the device row (created when
     *  unknown). A backend may defer the writes to commit() (PostgreSQL sends a whole batch in one
     *  statement): @p b is read during the call only; @p res must stay valid until commit() or
     *  rollback() returns, and holds the outcome once commit() returned IOT_OK.
     *  @return IOT_OK, IOT_ERR_IO, IOT_ERR_NOMEM */
    enum iot_err (*put_telemetry)(void *ctx, const Iot__V1__TelemetryBatch *b, int64_t received_ms,
                                  struct ingest_telemetry_result *res);
    /** Apply a Presence if not stale (see enum ingest_presence_result). @return IOT_OK, IOT_ERR_IO */
    enum iot_err (*put_presence)(void *ctx, const Iot__V1__Presence *p, int64_t received_ms,
                                 enum ingest_presence_result *res);
    /** @return IOT_OK, IOT_ERR_IO */
    enum iot_err (*put_dead_letter)(void *ctx, const struct ingest_dead_letter *dl);
    /** Store a validated ReportedState on the device row (created when unknown) unless a higher
     *  version is already stored. @return IOT_OK, IOT_ERR_IO, IOT_ERR_NOMEM */
    enum iot_err (*put_reported)(void *ctx, const Iot__V1__ReportedState *r, int64_t received_ms);
    /** Totals for metrics, outside a transaction (may be NULL). @return IOT_OK, IOT_ERR_IO */
    enum iot_err (*seq_totals)(void *ctx, struct ingest_seq_totals *out);
    /** Close and free the backend (NULL-safe through ingest_store_close). */
    void (*close)(void *ctx);
};

struct ingest_store {
    const struct ingest_store_ops *ops;
    void *ctx;
};

/**
 * @brief Open (creating if needed) a SQLite database in WAL mode with synchronous=NORMAL, and create
 * or upgrade the schema (PRAGMA user_version = 4; 2 added the API tables, 3 the seq summaries, 4
 * moved a sample's metrics into one JSON column of its row, `metrics` becoming a view).
 * @return IOT_OK, IOT_ERR_IO (cannot open or not a database; logged with the path),
 * IOT_ERR_INVAL (schema of a newer version), IOT_ERR_NOMEM
 */
enum iot_err ingest_store_sqlite_open(const char *path, struct ingest_store *out);

/**
 * @brief Connect to PostgreSQL (@p url: a libpq connection URI or string), create or migrate the
 * schema (table schema_version; an advisory lock serialises instances starting together), and
 * prepare the statements. Telemetry of a whole batch goes in one statement at commit.
 * @return IOT_OK, IOT_ERR_IO (cannot connect or a statement failed; logged without the password),
 * IOT_ERR_INVAL (schema of a newer version), IOT_ERR_NOMEM
 */
enum iot_err ingest_store_pg_open(const char *url, struct ingest_store *out);

/**
 * @brief Open the backend that @p kind and @p storage name (a SQLite path or a postgresql:// URI).
 * @return as ingest_store_sqlite_open / ingest_store_pg_open
 */
enum iot_err ingest_store_open(enum cloud_storage_kind kind, const char *storage, struct ingest_store *out);

/**
 * @brief @p storage for logs: a URI's password replaced by "***".
 * @return @p buf
 */
const char *ingest_storage_redact(const char *storage, char *buf, size_t cap);

static inline enum iot_err ingest_store_begin(struct ingest_store *s) { return s->ops->begin(s->ctx); }
static inline enum iot_err ingest_store_commit(struct ingest_store *s) { return s->ops->commit(s->ctx); }
static inline void ingest_store_rollback(struct ingest_store *s) { s->ops->rollback(s->ctx); }
static inline enum iot_err ingest_store_put_telemetry(struct ingest_store *s,
                                                      const Iot__V1__TelemetryBatch *b,
                                                      int64_t received_ms,
                                                      struct ingest_telemetry_result *res)
{
    return s->ops->put_telemetry(s->ctx, b, received_ms, res);
}
static inline enum iot_err ingest_store_put_presence(struct ingest_store *s,
                                                     const Iot__V1__Presence *p,
                                                     int64_t received_ms,
                                                     enum ingest_presence_result *res)
{
    return s->ops->put_presence(s->ctx, p, received_ms, res);
}
static inline enum iot_err ingest_store_put_dead_letter(struct ingest_store *s,
                                                        const struct ingest_dead_letter *dl)
{
    return s->ops->put_dead_letter(s->ctx, dl);
}
static inline enum iot_err ingest_store_put_reported(struct ingest_store *s,
                                                     const Iot__V1__ReportedState *r,
                                                     int64_t received_ms)
{
    return s->ops->put_reported(s->ctx, r, received_ms);
}
static inline enum iot_err ingest_store_seq_totals(struct ingest_store *s,
                                                   struct ingest_seq_totals *out)
{
    return s->ops->seq_totals ? s->ops->seq_totals(s->ctx, out) : IOT_ERR_NOT_FOUND;
}
/** @brief Close the store; no-op when it was never opened. */
static inline void ingest_store_close(struct ingest_store *s)
{
    if (s && s->ops) {
        s->ops->close(s->ctx);
        s->ops = NULL;
        s->ctx = NULL;
    }
}

#endif
