/* SPDX-License-Identifier: Apache-2.0 */
/* Parsing of /v1 request bodies (see api_json.h). */
#include "api_json.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "webhooks.h"

__attribute__((format(printf, 3, 4))) static enum iot_err bad(char *detail, size_t cap,
                                                              const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, cap, fmt, ap);
    va_end(ap);
    return IOT_ERR_MALFORMED;
}

static bool idem_key_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > CMD_IDEM_KEY_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
            return false;
    return true;
}

/* A scalar as text: strings as they are, integers without a fraction, booleans as true/false. */
static bool scalar_text(const cJSON *v, char *out, size_t cap)
{
    if (cJSON_IsString(v)) {
        if (!json_text_ok(v->valuestring, cap - 1))
            return false;
        snprintf(out, cap, "%s", v->valuestring);
        return true;
    }
    if (cJSON_IsBool(v)) {
        snprintf(out, cap, "%s", cJSON_IsTrue(v) ? "true" : "false");
        return true;
    }
    if (cJSON_IsNumber(v) && isfinite(v->valuedouble)) {
        double d = v->valuedouble;
        if (d == floor(d) && fabs(d) < 9007199254740992.0)
            snprintf(out, cap, "%.0f", d);
        else
            snprintf(out, cap, "%.17g", d);
        return true;
    }
    return false;
}

/* A string map: object of scalars into keys[]/values[] of the given widths. */
static enum iot_err parse_map(const cJSON *obj, const char *what, size_t max,
                              struct cmd_param *out, size_t *n_out, char *detail, size_t cap)
{
    if (!cJSON_IsObject(obj))
        return bad(detail, cap, "%s must be an object of strings", what);
    size_t n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, obj) {
        if (n >= max)
            return bad(detail, cap, "%s: more than %zu entries", what, max);
        if (!json_name_ok(it->string, CMD_KEY_MAX))
            return bad(detail, cap, "%s: key must match [A-Za-z0-9_.:-]{1,%d}", what,
                       CMD_KEY_MAX);
        for (size_t j = 0; j < n; j++)
            if (strcmp(out[j].key, it->string) == 0)
                return bad(detail, cap, "%s: duplicate key '%s'", what, it->string);
        if (!scalar_text(it, out[n].value, sizeof out[n].value))
            return bad(detail, cap,
                       "%s.%s must be a string (at most %d bytes, no control characters), a "
                       "number or a boolean",
                       what, it->string, CMD_VALUE_MAX);
        snprintf(out[n].key, sizeof out[n].key, "%s", it->string);
        n++;
    }
    *n_out = n;
    return IOT_OK;
}

/* JSON text is UTF-8 (RFC 8259) without NUL bytes: cJSON would stop a string at a NUL (what
 * follows is silently ignored) and pass invalid UTF-8 on into commands and JSON answers.
 * @return the offset of the first bad byte, or @p len */
static size_t utf8_check(const unsigned char *p, size_t len)
{
    for (size_t i = 0; i < len;) {
        unsigned c = p[i];
        size_t n = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2
                 : (c & 0xf8) == 0xf0 ? 3 : 4;
        if (c == 0 || n == 4 || i + n >= len)
            return i;
        uint32_t cp = n == 0 ? c : n == 1 ? c & 0x1f : n == 2 ? c & 0x0f : c & 0x07;
        for (size_t k = 1; k <= n; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return i;
            cp = cp << 6 | (p[i + k] & 0x3f);
        }
        /* overlong forms, surrogates, beyond U+10FFFF */
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
            return i;
        i += n + 1;
    }
    return len;
}

static cJSON *parse_object(const char *body, size_t len, char *detail, size_t cap)
{
    if (!body || len == 0) {
        bad(detail, cap, "empty body: a JSON object is required");
        return NULL;
    }
    size_t badat = utf8_check((const unsigned char *)body, len);
    if (badat < len) {
        bad(detail, cap, "body is not UTF-8 text without NUL bytes (at byte %zu)", badat);
        return NULL;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        bad(detail, cap, "body is not valid JSON (at byte %td)", at && at >= body ? at - body : 0);
        return NULL;
    }
    while (end && (size_t)(end - body) < len && (*end == ' ' || *end == '\n' || *end == '\r' ||
                                                  *end == '\t'))
        end++;
    if (end && (size_t)(end - body) < len && *end) {
        cJSON_Delete(root);
        bad(detail, cap, "trailing data after the JSON object");
        return NULL;
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        bad(detail, cap, "body must be a JSON object");
        return NULL;
    }
    return root;
}

enum iot_err api_parse_command(const char *body, size_t len, const char *device_id,
                               const char *idem_header, const struct cloud_commands_config *cfg,
                               struct cmd_request *out, char *detail, size_t cap)
{
    if (!device_id || !cfg || !out || !detail || cap == 0)
        return IOT_ERR_INVAL;
    memset(out, 0, sizeof *out);
    snprintf(out->device_id, sizeof out->device_id, "%s", device_id);
    out->timeout_s = cfg->default_timeout_s;
    cJSON *root = parse_object(body, len, detail, cap);
    if (!root)
        return IOT_ERR_MALFORMED;
    enum iot_err rc = IOT_OK;
    bool have_name = false;
    const cJSON *it;
    static const char *const fields[] = {"name", "params", "timeout_s", "callback_url",
                                         "idempotency_key"};
    unsigned seen = 0;
    cJSON_ArrayForEach(it, root) {
        const char *k = it->string;
        /* A field given twice is refused: which one wins differs between JSON parsers. */
        for (unsigned f = 0; f < sizeof fields / sizeof fields[0]; f++) {
            if (strcmp(k, fields[f]) == 0 && (seen & (1u << f)))
                rc = bad(detail, cap, "duplicate field '%s'", k);
            if (strcmp(k, fields[f]) == 0)
                seen |= 1u << f;
        }
        if (rc != IOT_OK)
            break;
        if (strcmp(k, "name") == 0) {
            if (!cJSON_IsString(it) || !json_name_ok(it->valuestring, CMD_NAME_MAX)) {
                rc = bad(detail, cap, "name must be a string matching [A-Za-z0-9_.:-]{1,%d}",
                         CMD_NAME_MAX);
                break;
            }
            snprintf(out->name, sizeof out->name, "%s", it->valuestring);
            have_name = true;
        } else if (strcmp(k, "params") == 0) {
            if (cJSON_IsNull(it))
                continue;
            rc = parse_map(it, "params", CMD_PARAMS_MAX, out->params, &out->n_params, detail,
                           cap);
            if (rc != IOT_OK)
                break;
        } else if (strcmp(k, "timeout_s") == 0) {
            double d = cJSON_IsNumber(it) ? it->valuedouble : -1;
            if (!(d >= 1 && d <= cfg->max_timeout_s && d == floor(d))) {
                rc = bad(detail, cap, "timeout_s must be an integer from 1 to %u",
                         cfg->max_timeout_s);
                break;
            }
            out->timeout_s = (uint32_t)d;
        } else if (strcmp(k, "callback_url") == 0) {
            if (cJSON_IsNull(it))
                continue;
            if (!cJSON_IsString(it) || !webhooks_url_ok(it->valuestring)) {
                rc = bad(detail, cap, "callback_url must be an absolute http:// or https:// URL "
                                      "of at most %d bytes",
                         WEBHOOK_URL_MAX);
                break;
            }
            snprintf(out->callback_url, sizeof out->callback_url, "%s", it->valuestring);
        } else if (strcmp(k, "idempotency_key") == 0) {
            if (!cJSON_IsString(it) || !idem_key_ok(it->valuestring)) {
                rc = bad(detail, cap, "idempotency_key must be 1..%d printable ASCII characters",
                         CMD_IDEM_KEY_MAX);
                break;
            }
            snprintf(out->idem_key, sizeof out->idem_key, "%s", it->valuestring);
        } else {
            char shown[65];
            snprintf(shown, sizeof shown, "%s", k);
            rc = bad(detail, cap, "unknown field '%s' (name, params, timeout_s, callback_url, "
                                  "idempotency_key)",
                     json_text_ok(shown, 64) ? shown : "?");
            break;
        }
    }
    cJSON_Delete(root);
    if (rc != IOT_OK)
        return rc;
    if (!have_name)
        return bad(detail, cap, "name is required");
    if (idem_header) {
        if (!idem_key_ok(idem_header))
            return bad(detail, cap, "Idempotency-Key must be 1..%d printable ASCII characters",
                       CMD_IDEM_KEY_MAX);
        snprintf(out->idem_key, sizeof out->idem_key, "%s", idem_header);
    }
    return IOT_OK;
}

enum iot_err api_parse_desired(const char *body, size_t len, struct desired_request *out,
                               char *detail, size_t cap)
{
    if (!out || !detail || cap == 0)
        return IOT_ERR_INVAL;
    memset(out, 0, sizeof *out);
    cJSON *root = parse_object(body, len, detail, cap);
    if (!root)
        return IOT_ERR_MALFORMED;
    enum iot_err rc = IOT_OK;
    const cJSON *settings = NULL, *it;
    cJSON_ArrayForEach(it, root) {
        if (strcmp(it->string, "settings") == 0 && settings) {
            rc = bad(detail, cap, "duplicate field 'settings'");
            break;
        } else if (strcmp(it->string, "settings") == 0) {
            settings = it;
        } else {
            rc = bad(detail, cap, "unknown field (only settings)");
            break;
        }
    }
    if (rc == IOT_OK && !settings)
        rc = bad(detail, cap, "settings is required");
    if (rc == IOT_OK)
        rc = parse_map(settings, "settings", DESIRED_MAX, out->settings, &out->n, detail, cap);
    if (rc == IOT_OK && out->n == 0)
        rc = bad(detail, cap, "settings must not be empty");
    cJSON_Delete(root);
    return rc;
}
