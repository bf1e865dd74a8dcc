/* SPDX-License-Identifier: Apache-2.0 */
/* iot-test-payload subcommands for commands and desired state (the rest is in make_payload.c):
 *   command KEYFILE DEVICE_ID NAME [k=v ...] [--id CID] [--expires-in-ms N] [--forge]
 *                           a SignedCommand signed with KEYFILE (P-256 PEM); --forge breaks the
 *                           signature; N may be negative (already expired); default 60000
 *   desired VERSION [k=v ...]   a DesiredState
 *   decode-result [--hex]   CommandResult(s) on stdin -> "ID STATUS CODE MESSAGE k=v ..." lines
 *                           (--hex: one hex payload per line, as mosquitto_sub -F %x prints)
 *   decode-reported [--hex] ReportedState(s) on stdin -> "VERSION DEVICE k=v ..." lines
 *   decode-telemetry [--hex] TelemetryBatch(es) on stdin -> "SEQ TIME_MS name=value ..." lines
 * Never linked into products. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "iot.pb-c.h"
#include "iot/plat_crypto.h"
#include "test_msg.h"

#define MAX_KV TEST_MSG_MAX_PARAMS
#define MAX_IN (1024u * 1024u)

int payload_cmd_main(int argc, char **argv);

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int emit(const uint8_t *buf, size_t len)
{
    return fwrite(buf, 1, len, stdout) == len && fflush(stdout) == 0 ? 0 : 1;
}

/* Split "k=v" arguments into @p kv ("k", "v", ..., NULL; 2 * MAX_KV + 1 entries).
 * @return 0, or -1 on a bad one. */
static int split_kv(char **args, int n, const char **kv)
{
    int k = 0;
    for (int i = 0; i < n && k < MAX_KV; i++) {
        char *eq = strchr(args[i], '=');
        if (!eq || eq == args[i]) {
            fprintf(stderr, "iot-test-payload: '%s' is not key=value\n", args[i]);
            return -1;
        }
        *eq = 0;
        kv[2 * k] = args[i];
        kv[2 * k++ + 1] = eq + 1;
    }
    kv[2 * k] = NULL;
    return 0;
}

static int command(int argc, char **argv)
{
    if (argc < 5)
        return 2;
    const char *keyfile = argv[2], *device = argv[3], *name = argv[4];
    char id[40] = "";
    int64_t expires_in = 60000;
    bool forge = false;
    char *kvargs[MAX_KV];
    int nkv = 0;
    for (int i = 5; i < argc; i++) {
        if (strcmp(argv[i], "--id") == 0 && i + 1 < argc)
            snprintf(id, sizeof id, "%s", argv[++i]);
        else if (strcmp(argv[i], "--expires-in-ms") == 0 && i + 1 < argc)
            expires_in = strtoll(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--forge") == 0)
            forge = true;
        else if (nkv < MAX_KV)
            kvargs[nkv++] = argv[i];
    }
    if (!id[0]) {
        uint8_t r[8];
        if (plat_random(r, sizeof r) != IOT_OK)
            return 1;
        plat_hex(r, sizeof r, id);
    }
    const char *kv[2 * MAX_KV + 1];
    if (split_kv(kvargs, nkv, kv) < 0)
        return 2;
    struct plat_signer *s;
    if (plat_signer_load(keyfile, &s) != IOT_OK) {
        fprintf(stderr, "iot-test-payload: cannot load signing key %s\n", keyfile);
        return 1;
    }
    struct test_msg_command c = {.id = id, .device_id = device, .name = name, .params = kv,
                                 .issued_ms = wall_ms(), .key_id = "cmd-sign", .forge = forge};
    c.expires_ms = c.issued_ms + expires_in;
    uint8_t *out;
    size_t len;
    enum iot_err rc = test_msg_signed_command(s, &c, &out, &len);
    plat_signer_destroy(s);
    if (rc != IOT_OK)
        return 1;
    int ret = emit(out, len);
    free(out);
    return ret;
}

static int desired(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    const char *kv[2 * MAX_KV + 1];
    if (split_kv(argv + 3, argc - 3, kv) < 0)
        return 2;
    uint8_t buf[8192];
    size_t len;
    if (test_msg_desired(strtoull(argv[2], NULL, 10), kv, buf, sizeof buf, &len) != IOT_OK)
        return 1;
    return emit(buf, len);
}

/* A value on one line: newlines and tabs escaped. */
static void put_text(const char *s)
{
    for (; s && *s; s++) {
        if (*s == '\n')
            fputs("\\n", stdout);
        else if (*s == '\t')
            fputs("\\t", stdout);
        else
            putchar(*s);
    }
}

static void print_result(const uint8_t *buf, size_t len)
{
    Iot__V1__CommandResult *r = iot__v1__command_result__unpack(NULL, len, buf);
    if (!r) {
        printf("UNDECODABLE\n");
        return;
    }
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&iot__v1__command_result__status__descriptor, r->status);
    printf("%s %s %d ", r->command_id[0] ? r->command_id : "-", v ? v->name : "?", (int)r->code);
    put_text(r->message);
    for (size_t i = 0; i < r->n_outputs; i++) {
        printf(" %s=", r->outputs[i]->key);
        put_text(r->outputs[i]->value);
    }
    putchar('\n');
    iot__v1__command_result__free_unpacked(r, NULL);
}

static void print_reported(const uint8_t *buf, size_t len)
{
    Iot__V1__ReportedState *r = iot__v1__reported_state__unpack(NULL, len, buf);
    if (!r) {
        printf("UNDECODABLE\n");
        return;
    }
    printf("%" PRIu64 " %s", r->version, r->device_id);
    for (size_t i = 0; i < r->n_settings; i++) {
        printf(" %s=", r->settings[i]->key);
        put_text(r->settings[i]->value);
    }
    putchar('\n');
    iot__v1__reported_state__free_unpacked(r, NULL);
}

static void print_telemetry(const uint8_t *buf, size_t len)
{
    Iot__V1__TelemetryBatch *b = iot__v1__telemetry_batch__unpack(NULL, len, buf);
    if (!b) {
        printf("UNDECODABLE\n");
        return;
    }
    for (size_t i = 0; i < b->n_samples; i++) {
        const Iot__V1__Sample *s = b->samples[i];
        printf("%" PRIu64 " %" PRId64, s->seq, s->time_ms);
        for (size_t k = 0; k < s->n_metrics; k++)
            printf(" %s=%.4f", s->metrics[k]->name, s->metrics[k]->value);
        putchar('\n');
    }
    iot__v1__telemetry_batch__free_unpacked(b, NULL);
}

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

static int decode(int argc, char **argv, void (*print)(const uint8_t *, size_t))
{
    bool hex = argc > 2 && strcmp(argv[2], "--hex") == 0;
    uint8_t *in = malloc(MAX_IN);
    if (!in)
        return 1;
    size_t n = fread(in, 1, MAX_IN, stdin);
    if (!hex) {
        print(in, n);
        free(in);
        return 0;
    }
    uint8_t *msg = malloc(MAX_IN / 2 + 1);
    size_t m = 0;
    int hi = -1;
    for (size_t i = 0; msg && i <= n; i++) {
        int ch = i < n ? in[i] : '\n';
        if (ch == '\n') {
            if (m || hi >= 0)
                print(msg, m);
            m = 0;
            hi = -1;
            continue;
        }
        int v = hexval(ch);
        if (v < 0)
            continue;
        if (hi < 0) {
            hi = v;
        } else {
            msg[m++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    free(msg);
    free(in);
    return 0;
}

int payload_cmd_main(int argc, char **argv)
{
    if (argc < 2)
        return -1;
    if (strcmp(argv[1], "command") == 0)
        return command(argc, argv);
    if (strcmp(argv[1], "desired") == 0)
        return desired(argc, argv);
    if (strcmp(argv[1], "decode-result") == 0)
        return decode(argc, argv, print_result);
    if (strcmp(argv[1], "decode-reported") == 0)
        return decode(argc, argv, print_reported);
    if (strcmp(argv[1], "decode-telemetry") == 0)
        return decode(argc, argv, print_telemetry);
    return -1;
}
