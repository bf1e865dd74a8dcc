/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's message-level MQTT seam. The Paho adapter (mqtt_paho.c) implements it for real; a fake
 * (tests/fakes/fake_mqtt.c) drives the agent's logic in unit tests. Every operation is non-blocking:
 * results arrive later as events that the agent's main loop drains with agent_mqtt_next_event(). */
#ifndef AGENT_MQTT_H
#define AGENT_MQTT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iot/err.h"

struct plat_event;

/** Connect parameters. Borrowed for the call only: implementations copy what they keep. */
struct agent_mqtt_opts {
    const char *host;
    uint16_t port;
    const char *client_id;
    const char *ca_file, *cert_file, *key_file; /**< mutual TLS, server certificate verified */
    uint32_t keepalive_s;
    uint32_t connect_timeout_s;
    uint32_t max_outstanding;                   /**< publishes the caller may have outstanding */
    const char *will_topic;                     /**< NULL: no Last Will */
    const uint8_t *will_payload;
    size_t will_len;
    int will_qos;
    bool will_retained;
};

enum agent_mqtt_event_kind {
    AGENT_MQTT_EV_CONNECTED,      /**< the last connect() succeeded */
    AGENT_MQTT_EV_CONNECT_FAILED, /**< the last connect() failed: code, reason */
    AGENT_MQTT_EV_LOST,           /**< an established connection was lost: code, reason */
    AGENT_MQTT_EV_PUBLISHED,      /**< publish(token) completed: code 0 = acknowledged, else failed */
    AGENT_MQTT_EV_MESSAGE,        /**< an incoming message: topic, payload (owned by the event) */
    AGENT_MQTT_EV_DISCONNECTED    /**< our disconnect() completed (or failed: code != 0) */
};

/** Codes in events: 0 = success; negative = client library code; positive = MQTT 5 reason code. */
struct agent_mqtt_event {
    enum agent_mqtt_event_kind kind;
    uint64_t token;
    int code;
    char reason[200];  /**< human-readable; "" when none */
    char *topic;       /**< MESSAGE only (iot_malloc'd); release with agent_mqtt_event_clear() */
    uint8_t *payload;  /**< MESSAGE only (iot_malloc'd) */
    size_t len;
    char *response_topic;     /**< MESSAGE only: MQTT 5 response topic, or NULL (iot_malloc'd) */
    uint8_t *correlation;     /**< MESSAGE only: MQTT 5 correlation data, or NULL (iot_malloc'd) */
    size_t correlation_len;
};

/** MQTT 5 properties of an outgoing publish (borrowed for the call). */
struct agent_mqtt_pub_props {
    const char *response_topic;  /**< NULL: none */
    const uint8_t *correlation;  /**< NULL: none */
    size_t correlation_len;
};

struct agent_mqtt_ops {
    /** Start connecting; the result is an EV_CONNECTED or EV_CONNECT_FAILED event.
     *  @return IOT_OK (started), IOT_ERR_INVAL, IOT_ERR_IO (could not start: logged) */
    enum iot_err (*connect)(void *ctx, const struct agent_mqtt_opts *o);
    /** Queue a publish (buffer copied); completion is an EV_PUBLISHED event carrying @p token.
     *  @return IOT_OK, IOT_ERR_CLOSED (not connected), IOT_ERR_FULL, IOT_ERR_IO */
    enum iot_err (*publish)(void *ctx, const char *topic, const uint8_t *buf, size_t len, int qos,
                            bool retained, uint64_t token);
    /** Subscribe (result not reported yet). @return IOT_OK, IOT_ERR_CLOSED, IOT_ERR_IO */
    enum iot_err (*subscribe)(void *ctx, const char *filter, int qos);
    /** Start a normal disconnect (MQTT 5 reason 0: the broker does not publish the will); the result is
     *  an EV_DISCONNECTED event. @return IOT_OK, IOT_ERR_CLOSED (was not connected) */
    enum iot_err (*disconnect)(void *ctx, uint32_t timeout_ms);
    /** Take the oldest pending event. @return IOT_OK, IOT_ERR_AGAIN (none) */
    enum iot_err (*next_event)(void *ctx, struct agent_mqtt_event *ev);
    /** Free everything; pending events are dropped. */
    void (*destroy)(void *ctx);
    /** Optional (NULL: publish without properties): publish() with MQTT 5 properties @p props
     *  (may be NULL). Same contract and codes as publish(). */
    enum iot_err (*publish_props)(void *ctx, const char *topic, const uint8_t *buf, size_t len,
                                  int qos, bool retained, const struct agent_mqtt_pub_props *props,
                                  uint64_t token);
};

struct agent_mqtt {
    const struct agent_mqtt_ops *ops;
    void *ctx;
};

static inline enum iot_err agent_mqtt_connect(struct agent_mqtt *m, const struct agent_mqtt_opts *o)
{
    return m->ops->connect(m->ctx, o);
}
static inline enum iot_err agent_mqtt_publish(struct agent_mqtt *m, const char *topic,
                                              const uint8_t *buf, size_t len, int qos,
                                              bool retained, uint64_t token)
{
    return m->ops->publish(m->ctx, topic, buf, len, qos, retained, token);
}
static inline enum iot_err agent_mqtt_publish_props(struct agent_mqtt *m, const char *topic,
                                                    const uint8_t *buf, size_t len, int qos,
                                                    bool retained,
                                                    const struct agent_mqtt_pub_props *props,
                                                    uint64_t token)
{
    if (!props || !m->ops->publish_props)
        return m->ops->publish(m->ctx, topic, buf, len, qos, retained, token);
    return m->ops->publish_props(m->ctx, topic, buf, len, qos, retained, props, token);
}
static inline enum iot_err agent_mqtt_subscribe(struct agent_mqtt *m, const char *filter, int qos)
{
    return m->ops->subscribe(m->ctx, filter, qos);
}
static inline enum iot_err agent_mqtt_disconnect(struct agent_mqtt *m, uint32_t timeout_ms)
{
    return m->ops->disconnect(m->ctx, timeout_ms);
}
static inline enum iot_err agent_mqtt_next_event(struct agent_mqtt *m, struct agent_mqtt_event *ev)
{
    return m->ops->next_event(m->ctx, ev);
}
static inline void agent_mqtt_destroy(struct agent_mqtt *m)
{
    if (m && m->ops)
        m->ops->destroy(m->ctx);
}

/** @brief Free the topic, payload and properties of a MESSAGE event (no-op for others). */
void agent_mqtt_event_clear(struct agent_mqtt_event *ev);

/**
 * @brief The Paho MQTTAsync adapter (MQTT 5, mutual TLS, no automatic reconnect, no persistence).
 * Paho's threads only queue events and signal @p wake; @p wake must outlive the adapter.
 * @return IOT_OK, IOT_ERR_NOMEM
 */
enum iot_err agent_mqtt_paho_create(struct plat_event *wake, struct agent_mqtt *out);

#endif
