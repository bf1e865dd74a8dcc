/* SPDX-License-Identifier: Apache-2.0 */
/* Socket options on connections a library opened for us. */
#ifndef IOT_PLAT_NET_H
#define IOT_PLAT_NET_H

/**
 * @brief Disable Nagle's algorithm (TCP_NODELAY) on connected TCP sockets of this process whose
 * peer is @p host (name or address, every address it resolves to) port @p port and that still
 * have it: the highest descriptors first, at most @p limit of them (0: all). A process with many
 * connections to one broker (iot-sim) calls it with limit 1 once per new connection: the new
 * socket is found first and the walk stops there.
 *
 * Why: Paho MQTT C 1.3 (Debian 12's) never sets TCP_NODELAY and offers neither an option nor the
 * descriptor (eclipse-paho/paho.mqtt.c#530). A QoS 1 exchange then meets the peer's delayed ACK:
 * a small publish written while the previous small packet (a PUBACK) is unacknowledged waits up
 * to 40 ms. Measured here: each command round trip paid it twice (~85 ms instead of ~10).
 * Call it once the connection is up (Paho's connect-success callback). Linux (/proc/self/fd).
 * @return how many sockets it set (0 when none matched or @p host does not resolve)
 */
unsigned plat_tcp_nodelay_to(const char *host, unsigned port, unsigned limit);

#endif
