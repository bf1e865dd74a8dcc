/* SPDX-License-Identifier: Apache-2.0 */
/* iotctl internals: settings, the HTTP layer over libcurl (one place that turns transport and HTTP
 * failures into words and exit codes), small output helpers, and the subcommands. */
#ifndef IOTCTL_H
#define IOTCTL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

/** Exit codes (documented in --help). */
enum ctl_exit {
    CTL_OK = 0,            /**< done; send: the command succeeded (or was queued, no --wait) */
    CTL_ERROR = 1,         /**< local error: config file, bad answer, out of memory */
    CTL_USAGE = 2,         /**< bad command line */
    CTL_FAILED = 3,        /**< the command ran and failed (ERROR, UNKNOWN_COMMAND) */
    CTL_REJECTED = 4,      /**< the device refused it (REJECTED, BAD_SIGNATURE) */
    CTL_EXPIRED = 5,       /**< it expired before the device answered */
    CTL_CANCELLED = 6,     /**< it was cancelled */
    CTL_TIMEOUT = 7,       /**< --wait ran out before a final state */
    CTL_NOT_FOUND = 8,     /**< HTTP 404: unknown device or command */
    CTL_UNAUTHORIZED = 9,  /**< HTTP 401: missing or wrong token */
    CTL_UNREACHABLE = 10,  /**< no HTTP answer: connection refused, unknown host, timeout */
    CTL_HTTP_ERROR = 11,   /**< any other HTTP error status */
    CTL_INTERRUPTED = 130  /**< Ctrl-C (SIGINT/SIGTERM) during a request */
};

struct ctl {
    char url[512];      /**< base URL without a trailing slash */
    char token[512];    /**< bearer token; "" = none */
    bool json;          /**< --json: machine-readable output */
    long http_timeout_s;/**< per request (long-polls add their wait) */
};

struct http_resp {
    long status;        /**< 0 when there was no HTTP answer */
    char *body;         /**< NUL-terminated; free with http_resp_free */
    size_t len;
};

void http_resp_free(struct http_resp *r);

/**
 * @brief One request to c->url + @p path with the bearer token; @p body (JSON) may be NULL.
 * @p extra_s extends the timeout (long-polls). On a transport failure or a non-2xx status, prints one
 * line to stderr (what failed, and what to check) unless @p quiet_404 and the status is 404.
 * @return CTL_OK (2xx; @p r filled), CTL_UNREACHABLE, CTL_UNAUTHORIZED, CTL_NOT_FOUND,
 *         CTL_HTTP_ERROR, CTL_ERROR (out of memory)
 */
int ctl_http(const struct ctl *c, const char *method, const char *path, const char *body,
             long extra_s, bool quiet_404, struct http_resp *r);

/** @brief ctl_http + parse the JSON body into *@p out (caller cJSON_Delete's). */
int ctl_http_json(const struct ctl *c, const char *method, const char *path, const char *body,
                  long extra_s, bool quiet_404, cJSON **out);

/** Called for each Server-Sent Event (event name, data). Return false to stop. */
typedef bool (*ctl_sse_fn)(void *ctx, const char *event, const char *data);
/**
 * @brief Follow GET @p path as an event stream until @p fn returns false, @p for_s seconds pass
 * (0 = no limit), *@p stop becomes non-zero (a signal) or the server ends it.
 * @return CTL_OK, or the codes of ctl_http
 */
int ctl_sse(const struct ctl *c, const char *path, ctl_sse_fn fn, void *ctx, long for_s,
            volatile int *stop);

/** @brief Percent-encode @p s into @p out (cap @p cap). @return false if it does not fit */
bool ctl_url_escape(const char *s, char *out, size_t cap);

/* ---- output helpers (output.c) ---- */

/** A table printed with aligned columns; cells are copied. */
struct table;
struct table *table_new(size_t ncols, const char *const *headers);
void table_add(struct table *t, const char *const *cells);
void table_print(struct table *t);
void table_free(struct table *t);

/** @brief "2026-05-01 10:00:00.123Z" (UTC) for Unix ms; "-" for <= 0. */
void fmt_time_ms(double ms, char *out, size_t cap);
/** @brief "5s ago", "3m ago", "2h ago", "4d ago" relative to now; "-" for <= 0. */
void fmt_age_ms(double ms, char *out, size_t cap);
/** @brief A number as a short text: integers without decimals, else up to 3 decimals. */
void fmt_num(double v, char *out, size_t cap);
/** @brief Print @p j pretty (--json output) to stdout. */
void print_json(const cJSON *j);
/** @brief A JSON string member or @p dflt. */
const char *jstr(const cJSON *o, const char *key, const char *dflt);
/** @brief A JSON number member or @p dflt. */
double jnum(const cJSON *o, const char *key, double dflt);
/** @brief "k=v k2=v2" from a flat JSON object of strings/numbers into @p out. */
void fmt_kv(const cJSON *obj, char *out, size_t cap);
/** @brief Wall clock in Unix ms. */
int64_t now_ms(void);

/* ---- subcommands (commands.c, send.c) ---- */

int cmd_devices(struct ctl *c, int argc, char **argv);
int cmd_device(struct ctl *c, int argc, char **argv);
int cmd_telemetry(struct ctl *c, int argc, char **argv);
int cmd_tail(struct ctl *c, int argc, char **argv);
int cmd_send(struct ctl *c, int argc, char **argv);
int cmd_desired(struct ctl *c, int argc, char **argv);

/** @brief Check that the device is in the registry. Prints "unknown device" on 404.
 *  @return CTL_OK or the codes of ctl_http */
int ctl_device_known(const struct ctl *c, const char *id);

/** @brief Parse "--since" values: 90s, 10m, 2h, 1d, 500ms (ago), Unix seconds or ms, or
 *  YYYY-MM-DD[THH:MM[:SS]][Z] (UTC). @return false when not understood */
bool ctl_parse_since(const char *s, int64_t now, int64_t *out_ms);

/** @brief When @p argv holds -h/--help: print @p usage and return true. */
bool ctl_want_help(int argc, char **argv, const char *usage);
/** @brief Print "iotctl: <message>" and @p usage to stderr. @return CTL_USAGE */
int ctl_usage_error(const char *usage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** @brief A decimal in [min, max]. */
bool ctl_parse_long(const char *s, long min, long max, long *out);
/** @brief A device id: [A-Za-z0-9_-]{1,64}. */
bool ctl_id_ok(const char *id);

/** Set by SIGINT/SIGTERM while tail or send --wait runs. */
extern volatile int ctl_stop;

#endif
