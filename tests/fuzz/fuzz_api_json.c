/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: request bodies of the cloud's HTTP API (cloud/src/api_json.c: api_parse_command,
 * api_parse_desired) and its integer query parameters (api_parse_i64). The input is a body;
 * without a trailing NUL, so a read past the length is caught. Invariants checked: an accepted
 * body is UTF-8 text without NULs and gives a valid name and bounded strings; a refusal says why. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "api_json.h"
#include "fuzz_common.h"
#include "iot/mem.h"
#include "json_util.h"

static const struct cloud_commands_config cfg = {
    .key_id = "k", .default_timeout_s = 60, .max_timeout_s = 3600};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_init(argc, argv);
    json_util_init();
    return 0;
}

/* Independent of api_json.c's check: strict UTF-8 (no overlongs, surrogates, > U+10FFFF), no NUL. */
static bool utf8_text(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        size_t len;
        uint32_t min, cp;
        if (c == 0)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            len = 2, min = 0x80, cp = c & 0x1fu;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3, min = 0x800, cp = c & 0x0fu;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4, min = 0x10000, cp = c & 0x07u;
        } else {
            return false;
        }
        if (i + len > n)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (p[i + k] & 0x3fu);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

/* Abort unless the parse was accepted with its invariants @p kept, or refused as malformed with a
 * detail. */
static void check_answer(enum iot_err rc, bool kept, const char *detail)
{
    if (rc == IOT_OK ? !kept : (rc != IOT_ERR_MALFORMED || !detail[0]))
        abort();
}

/* The first bytes of the input as a C string of at most @p cap - 1 characters. */
static void prefix_string(char *out, size_t cap, const uint8_t *data, size_t size)
{
    size_t n = size < cap - 1 ? size : cap - 1;
    memcpy(out, data, n);
    out[n] = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char detail[256];
    struct cmd_request *rq = iot_malloc(sizeof *rq);
    struct desired_request *dr = iot_malloc(sizeof *dr);
    if (!rq || !dr)
        goto out;

    /* The body as it arrives: not NUL-terminated. */
    detail[0] = 0;
    enum iot_err rc = api_parse_command((const char *)data, size, "fz-1", NULL, &cfg, rq, detail,
                                        sizeof detail);
    if (rc == IOT_OK && !utf8_text(data, size))
        abort(); /* accepted a body that is not UTF-8 text */
    check_answer(rc,
                 rc == IOT_OK && rq->name[0] && strcmp(rq->device_id, "fz-1") == 0 &&
                     rq->n_params <= CMD_PARAMS_MAX && rq->timeout_s != 0 &&
                     rq->timeout_s <= cfg.max_timeout_s,
                 detail);
    /* With an Idempotency-Key header made of the first bytes. */
    char hdr[48];
    prefix_string(hdr, sizeof hdr, data, size);
    (void)api_parse_command((const char *)data, size, "fz-1", hdr, &cfg, rq, detail, sizeof detail);

    detail[0] = 0;
    rc = api_parse_desired((const char *)data, size, dr, detail, sizeof detail);
    check_answer(rc, rc == IOT_OK && dr->n != 0 && dr->n <= DESIRED_MAX, detail);

    /* A query parameter value (NUL-terminated: the HTTP server hands over C strings). */
    char q[64];
    prefix_string(q, sizeof q, data, size);
    int64_t v;
    if (api_parse_i64(q, 0, 60, &v) && (v < 0 || v > 60))
        abort();
out:
    iot_free(rq);
    iot_free(dr);
    return 0;
}
