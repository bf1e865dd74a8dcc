/* SPDX-License-Identifier: Apache-2.0 */
/* A scripted agent_mqtt: records connects and publishes; the test decides when connects succeed,
 * which publishes are acknowledged, and when the connection drops. No broker, no threads. */
#ifndef FAKE_MQTT_H
#define FAKE_MQTT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/mqtt.h"

#define FAKE_MQTT_MAX_EVENTS 1024
#define FAKE_MQTT_MAX_SUBS 32

struct fake_pub {
    char topic[128];
    uint8_t *payload;
    size_t len;
    int qos;
    bool retained;
    uint64_t token;
    bool completed;  /**< acked or failed, or voided by a connection loss */
    int connection;  /**< n_connects at the time of the publish */
    uint8_t correlation[256]; /**< MQTT 5 correlation data sent (publish_props) */
    size_t correlation_len;
    bool has_correlation;
};

struct fake_mqtt {
    struct fake_pub *pubs;
    size_t n_pubs, cap_pubs;
    int n_connects;        /**< connect() calls */
    bool connecting, connected;
    int n_disconnects;
    bool destroyed;
    enum iot_err connect_rc;  /**< what connect() returns (IOT_OK by default) */
    struct agent_mqtt_opts last_opts;
    char will_topic[128];
    uint8_t will[512];
    size_t will_len;
    char client_id[128];
    char subs[FAKE_MQTT_MAX_SUBS][128]; /**< subscribe() filters, in call order (first 32) */
    int sub_qos[FAKE_MQTT_MAX_SUBS];
    size_t n_subs;
    struct agent_mqtt_event q[FAKE_MQTT_MAX_EVENTS];
    size_t q_head, q_len;
};

void fake_mqtt_init(struct fake_mqtt *f);
/** @brief Free what the fake recorded (call after the agent destroyed its side). */
void fake_mqtt_free(struct fake_mqtt *f);
/** @brief The ops to hand to the agent (destroy() only marks the fake destroyed). */
struct agent_mqtt fake_mqtt_iface(struct fake_mqtt *f);

/** @brief Complete the pending connect: success, or failure with @p code. */
void fake_mqtt_connack(struct fake_mqtt *f, bool ok, int code);
/** @brief Complete publish @p token with @p code (0 = PUBACK). */
void fake_mqtt_complete(struct fake_mqtt *f, uint64_t token, int code);
/** @brief Acknowledge every publish not completed yet. @return how many */
size_t fake_mqtt_ack_all(struct fake_mqtt *f);
/** @brief Drop the connection: outstanding publishes are voided, an EV_LOST is queued. */
void fake_mqtt_lose(struct fake_mqtt *f, const char *reason);
/** @brief Queue an incoming message, with optional MQTT 5 response topic and correlation data. */
void fake_mqtt_deliver(struct fake_mqtt *f, const char *topic, const uint8_t *payload, size_t len,
                       const char *response_topic, const uint8_t *corr, size_t corr_len);
/** @brief True when subscribe(@p filter) was called (on any connection; n_subs counts calls). */
bool fake_mqtt_subscribed(const struct fake_mqtt *f, const char *filter);
/** @brief Publishes not completed yet. */
size_t fake_mqtt_outstanding(const struct fake_mqtt *f);

#endif
