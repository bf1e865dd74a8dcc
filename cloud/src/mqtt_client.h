/* SPDX-License-Identifier: Apache-2.0 */
/* The cloud's MQTT connection (implemented over Paho in mqtt_paho.c, the only file that includes
 * MQTTAsync.h): mutual TLS, MQTT 5 persistent session, shared subscriptions, reconnect with backoff. */
#ifndef INGEST_MQTT_CLIENT_H
#define INGEST_MQTT_CLIENT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ingest/config.h"
#include "iot/err.h"

struct ingest_mqtt;

/**
 * Called on Paho's thread for each message. Must copy what it keeps; may block for backpressure
 * (Paho holds its own mutex meanwhile, so every other Paho call waits: the adapter's publishes go
 * through an outbox and never make the caller wait). Return false to have the message delivered
 * again later (it stays with Paho; note that Paho has already PUBACKed it).
 */
typedef bool (*ingest_mqtt_message_fn)(void *ctx, const char *topic, const void *payload, size_t len);
/** Called on Paho's thread (or in ingest_mqtt_tick) when the connection comes up or goes down. */
typedef void (*ingest_mqtt_state_fn)(void *ctx, bool connected);

/** Completion of an ingest_mqtt_publish (Paho's thread): @p ok when the broker acknowledged it. */
typedef void (*ingest_mqtt_published_fn)(void *ctx, uint64_t token, bool ok);

/** Most topic kinds the cloud subscribes to. */
#define INGEST_MQTT_MAX_FILTERS 8

struct ingest_mqtt_handlers {
    ingest_mqtt_message_fn on_message;
    ingest_mqtt_state_fn on_state;
    ingest_mqtt_published_fn on_published; /**< optional */
    void *ctx;
    /** Device topic suffixes subscribed as $share/{group}/devices/+/{suffix}, QoS 1. None given:
     *  telemetry and status. */
    const char *suffixes[INGEST_MQTT_MAX_FILTERS];
};

/** One outgoing message. */
struct ingest_mqtt_pub {
    const char *topic;
    const void *payload;
    size_t len;
    int qos;
    bool retained;
    uint32_t expiry_s;            /**< MQTT 5 message expiry interval; 0 = none */
    const char *response_topic;   /**< MQTT 5 response topic; NULL = none */
    const void *correlation;      /**< MQTT 5 correlation data; NULL = none */
    size_t correlation_len;
    uint64_t token;               /**< passed back to on_published */
};

/**
 * @brief Create the client (no network yet). @p cfg and @p h are copied.
 * @return IOT_OK, IOT_ERR_INVAL, IOT_ERR_NOMEM, IOT_ERR_INTERNAL (Paho refused; logged)
 */
enum iot_err ingest_mqtt_create(const struct cloud_mqtt_config *cfg,
                                const struct ingest_mqtt_handlers *h, struct ingest_mqtt **out);

/**
 * @brief Drive (re)connection: starts a connect when none is up and the backoff has passed.
 * Call periodically from one thread (the main loop). Non-blocking.
 */
void ingest_mqtt_tick(struct ingest_mqtt *m, uint64_t now_mono_ms);

/**
 * @brief Queue a publish (thread-safe, non-blocking: copied into the outbox, handed to Paho by the
 * adapter's sender thread). Completion goes to on_published, also when Paho refuses it later.
 * @return IOT_OK (queued), IOT_ERR_CLOSED (not connected: nothing queued), IOT_ERR_INVAL,
 * IOT_ERR_FULL (the outbox is full), IOT_ERR_NOMEM
 */
enum iot_err ingest_mqtt_publish(struct ingest_mqtt *m, const struct ingest_mqtt_pub *p);

/** @brief True while connected (and subscribed or subscribing). Thread-safe. */
bool ingest_mqtt_connected(struct ingest_mqtt *m);

/**
 * @brief Stop reconnecting and disconnect cleanly (the session is kept by the broker for
 * session_expiry_s), waiting at most @p timeout_ms. After it returns no new messages arrive.
 */
void ingest_mqtt_disconnect(struct ingest_mqtt *m, uint32_t timeout_ms);

/** @brief Destroy (NULL-safe). Call ingest_mqtt_disconnect() first. */
void ingest_mqtt_destroy(struct ingest_mqtt *m);

#endif
