/* SPDX-License-Identifier: Apache-2.0 */
/* Test support: write protobuf payloads (valid or deliberately bad) to stdout for mosquitto_pub -s.
 * Never linked into products.
 *   iot-test-payload telemetry ID EPOCH FIRST_SEQ [COUNT]   a valid TelemetryBatch
 *   iot-test-payload presence ID online|offline CONNECTION  a Presence
 *   iot-test-payload garbage N                              N pseudo-random bytes
 *   iot-test-payload receipt ID EPOCH FIRST LAST            a Receipt (as iot-cloud sends) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "iot.pb-c.h"
#include "test_msg.h"

static int write_out(const uint8_t *buf, size_t len)
{
    return fwrite(buf, 1, len, stdout) == len ? 0 : 1;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int telemetry(const char *id, uint64_t epoch, uint64_t first, size_t count)
{
    Iot__V1__TelemetryBatch b = IOT__V1__TELEMETRY_BATCH__INIT;
    Iot__V1__Sample *samples = calloc(count, sizeof *samples);
    Iot__V1__Sample **sp = calloc(count, sizeof *sp);
    Iot__V1__Metric m = IOT__V1__METRIC__INIT;
    Iot__V1__Metric *mp = &m;
    if (!samples || !sp)
        return 1;
    m.name = "temperature";
    m.value = 21.5;
    m.unit = "C";
    for (size_t i = 0; i < count; i++) {
        iot__v1__sample__init(&samples[i]);
        samples[i].seq = first + i;
        samples[i].time_ms = now_ms();
        samples[i].n_metrics = 1;
        samples[i].metrics = &mp;
        sp[i] = &samples[i];
    }
    b.device_id = (char *)id;
    b.epoch = epoch;
    b.n_samples = count;
    b.samples = sp;
    size_t len = iot__v1__telemetry_batch__get_packed_size(&b);
    uint8_t *buf = malloc(len ? len : 1);
    iot__v1__telemetry_batch__pack(&b, buf);
    int rc = write_out(buf, len);
    free(buf);
    free(sp);
    free(samples);
    return rc;
}

static int presence(const char *id, int online, uint64_t connection)
{
    Iot__V1__Presence p = IOT__V1__PRESENCE__INIT;
    p.device_id = (char *)id;
    p.state = online ? IOT__V1__PRESENCE__STATE__ONLINE : IOT__V1__PRESENCE__STATE__OFFLINE;
    p.reason = online ? IOT__V1__PRESENCE__REASON__CONNECTED : IOT__V1__PRESENCE__REASON__CLEAN_SHUTDOWN;
    p.agent_version = "test";
    p.connection = connection;
    p.time_ms = now_ms();
    uint8_t buf[256];
    size_t len = iot__v1__presence__pack(&p, buf);
    return write_out(buf, len);
}

/* A Receipt for seqs FIRST..LAST of EPOCH (what iot-cloud publishes after a commit). */
static int receipt(const char *id, uint64_t epoch, uint64_t first, uint64_t last)
{
    uint8_t buf[256];
    size_t len;
    if (test_msg_receipt(id, epoch, first, last, buf, sizeof buf, &len) != IOT_OK)
        return 1;
    return write_out(buf, len);
}

/* command, desired, decode-result, decode-reported: make_payload_cmd.c (-1: not one of those). */
int payload_cmd_main(int argc, char **argv);

int main(int argc, char **argv)
{
    int cmd_rc = payload_cmd_main(argc, argv);
    if (cmd_rc >= 0 && cmd_rc != 2)
        return cmd_rc;
    if (argc == 6 && strcmp(argv[1], "receipt") == 0)
        return receipt(argv[2], strtoull(argv[3], NULL, 0), strtoull(argv[4], NULL, 0),
                       strtoull(argv[5], NULL, 0));
    if (argc >= 5 && strcmp(argv[1], "telemetry") == 0)
        return telemetry(argv[2], strtoull(argv[3], NULL, 0), strtoull(argv[4], NULL, 0),
                         argc > 5 ? strtoul(argv[5], NULL, 0) : 1);
    if (argc == 5 && strcmp(argv[1], "presence") == 0)
        return presence(argv[2], strcmp(argv[3], "online") == 0, strtoull(argv[4], NULL, 0));
    if (argc == 3 && strcmp(argv[1], "garbage") == 0) {
        size_t n = strtoul(argv[2], NULL, 0);
        uint32_t x = 2463534242u;
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            putchar((int)(x & 0xff));
        }
        return 0;
    }
    fprintf(stderr, "usage: iot-test-payload telemetry ID EPOCH FIRST_SEQ [COUNT]\n"
                    "       iot-test-payload command KEYFILE DEVICE_ID NAME [k=v ...] [--id CID]\n"
                    "                        [--expires-in-ms N] [--forge]\n"
                    "       iot-test-payload desired VERSION [k=v ...]\n"
                    "       iot-test-payload decode-result|decode-reported|decode-telemetry [--hex]\n"
                    "       iot-test-payload presence ID online|offline CONNECTION\n"
                    "       iot-test-payload garbage N\n"
                    "       iot-test-payload receipt ID EPOCH FIRST LAST\n");
    return 2;
}
